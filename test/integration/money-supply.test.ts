/**
 * The money supply is bounded, against DynamoDB Local: minting stops at the economy's
 * `money.max_minted` and no account passes `money.max_balance`. A refusal is a clear 409 and
 * writes nothing; the ceilings are conditions of the ledger's own transaction, so concurrent
 * mints cannot pass them together.
 */
import { describe, expect, it } from 'vitest';
import { createServices, type Services } from '#shared/adapters/services';
import { loadConfig } from '#shared/config';
import { parseEconomyConfig } from '#shared/core/market-config';
import { micros } from '#shared/core/money';
import { useApi } from '../harness/api.ts';

const api = useApi('money');

function services(maxMinted = 100): Services {
  return createServices(loadConfig({ ...process.env, TABLE_NAME: api.table.tableName }), {
    table: { doc: api.table.client, tableName: api.table.tableName },
    economy: parseEconomyConfig({ money: { max_minted: maxMinted, max_balance: 60 } }),
  });
}

const credits = (n: number) => micros(n * 1_000_000);

describe('a bounded money supply', () => {
  it('refuses a grant past the minting ceiling with 409 money_supply_exhausted, writing nothing', async () => {
    const s = services();
    await s.agents.register({ name: 'first', initial_balance: credits(50) }, {});
    await s.agents.register({ name: 'second', initial_balance: credits(40) }, {});
    const before = await api.snapshot();
    await expect(s.agents.register({ name: 'third', initial_balance: credits(11) }, {})).rejects.toMatchObject({
      code: 'money_supply_exhausted',
      status: 409,
      extensions: { max_minted: 100, minted: 90 },
    });
    expect(await api.snapshot()).toBe(before);
    // What is left can still be minted, to the unit.
    await s.agents.register({ name: 'last', initial_balance: credits(10) }, {});
    await expect(s.agents.register({ name: 'none', initial_balance: micros(1) }, {})).rejects.toMatchObject({
      code: 'money_supply_exhausted',
    });
    await api.expectAuditClean();
  });

  it('concurrent grants never pass the ceiling together', async () => {
    // The previous test minted all 100; a ceiling of 105 leaves room for exactly 5 of 8 racers.
    const s = services(105);
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => s.agents.register({ name: `racer-${i}`, initial_balance: credits(1) }, {})),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    for (const r of results)
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'money_supply_exhausted' });
    await api.expectAuditClean();
  });
});

describe('a bounded balance', () => {
  it('refuses a transfer that would lift the payee above max_balance, and a grant above it', async () => {
    const s = services();
    const list = await s.agents.list({ limit: 10, caller: 'operator' });
    const byName = new Map(list.agents.map((a) => [a.name, a.agent_id]));
    const [first, second] = [byName.get('first') ?? '', byName.get('second') ?? ''];
    const before = await api.snapshot();
    await expect(
      s.ledger.transfer(
        {
          transfer_id: 'tr_ceiling_1',
          from: second,
          to: first,
          amount: credits(11),
          purpose: 'transfer',
          reference: null,
        },
        { actor: second, ctx: {} },
      ),
    ).rejects.toMatchObject({ code: 'balance_ceiling_exceeded', status: 409, extensions: { max_balance: 60 } });
    expect(await api.snapshot()).toBe(before);
    const fits = await s.ledger.transfer(
      {
        transfer_id: 'tr_ceiling_2',
        from: second,
        to: first,
        amount: credits(10),
        purpose: 'transfer',
        reference: null,
      },
      { actor: second, ctx: {} },
    );
    expect(fits.balance).toBe(credits(30));
    expect((await s.ledger.getAccount(first))?.balance).toBe(credits(60));
    await expect(
      services(1_000).agents.register({ name: 'too-rich', initial_balance: credits(61) }, {}),
    ).rejects.toMatchObject({
      code: 'balance_ceiling_exceeded',
    });
    await api.expectAuditClean();
  });
});
