/**
 * The ledger under contention and faults, against DynamoDB Local: concurrent transfers racing on
 * the same accounts, hot payers, replayed transfer ids, injected conflicts and throttling. The
 * two-phase escrow is exercised through the paths that use it (placement, cancellation,
 * settlement) in settlement-races.test.ts and market.test.ts.
 */
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createServices, type Services } from '#shared/adapters/services';
import { DomainError } from '#shared/core/errors';
import { micros } from '#shared/core/money';
import { seededRandom, ulidGenerator } from '#shared/core/ports';
import { useApi } from '../harness/api.ts';

const api = useApi('ledger');

function services(writer?: (input: TransactWriteCommandInput, send: () => Promise<void>) => Promise<void>): Services {
  const table = { doc: api.table.client, tableName: api.table.tableName };
  const send = (input: TransactWriteCommandInput) =>
    api.table.client.send(new TransactWriteCommand(input)).then(() => undefined);
  const clock = { now: () => Date.now() };
  return createServices(api.config, {
    table,
    runtime: { clock, ids: ulidGenerator(clock, seededRandom(7)), random: seededRandom(11) },
    sleep: async () => {},
    ...(writer && { writer: (input) => writer(input, () => send(input)) }),
  });
}

const cancelled = (codes: string[]) =>
  new TransactionCanceledException({
    message: 'Transaction cancelled',
    $metadata: {},
    CancellationReasons: codes.map((Code) => ({ Code })),
  });

describe('concurrent transfers', () => {
  it('50 concurrent transfers between 10 agents keep every invariant', async () => {
    const agents = await Promise.all(Array.from({ length: 10 }, (_, i) => api.agent(`racer${i}`, 20)));
    const rnd = seededRandom(42);
    const pick = () => Math.floor(rnd.next() * agents.length);
    const jobs = Array.from({ length: 50 }, (_, i) => {
      const from = pick();
      let to = pick();
      if (to === from) to = (to + 1) % agents.length;
      const amount = Math.round((1 + rnd.next() * 7) * 1e6) / 1e6;
      return { i, from: agents[from], to: agents[to], amount };
    });
    const results = await Promise.all(
      jobs.map((j) =>
        api.call('POST', '/v1/transfers', {
          key: j.from?.key ?? '',
          idempotencyKey: `race-${j.i}`,
          body: { to_agent_id: j.to?.id, amount: j.amount },
        }),
      ),
    );
    const statuses = results.map((r) => r.status);
    // Every transfer either happened or was refused for lack of funds: no lost update, no 5xx.
    expect(
      statuses.every((s) => s === 201 || s === 409),
      statuses.join(','),
    ).toBe(true);
    expect(statuses.filter((s) => s === 201).length).toBeGreaterThan(25);
    await api.expectAuditClean();
    // Balances add up to what was granted.
    let total = 0;
    for (const a of agents) {
      const res = await api.call('GET', `/v1/agents/${a.id}`, { key: a.key });
      expect(res.body.balance).toBeGreaterThanOrEqual(0);
      total += Math.round(res.body.balance * 1e6);
    }
    expect(total).toBe(10 * 20 * 1e6);

    // Replaying all 50 with the same keys changes nothing.
    const before = await api.snapshot(['account', 'entry', 'transfer']);
    const replays = await Promise.all(
      jobs.map((j) =>
        api.call('POST', '/v1/transfers', {
          key: j.from?.key ?? '',
          idempotencyKey: `race-${j.i}`,
          body: { to_agent_id: j.to?.id, amount: j.amount },
        }),
      ),
    );
    expect(replays.map((r) => r.status)).toEqual(statuses);
    expect(await api.snapshot(['account', 'entry', 'transfer'])).toBe(before);
  });

  it('100 concurrent transfers among 3 hot payers answer only 201 or 409, and money stays exact', async () => {
    const agents = await Promise.all(['hot0', 'hot1', 'hot2'].map((n) => api.agent(n, 30)));
    const rnd = seededRandom(3);
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => {
        const from = agents[i % 3];
        const to = agents[(i + 1 + Math.floor(rnd.next() * 2)) % 3];
        return api.call('POST', '/v1/transfers', {
          key: from?.key ?? '',
          idempotencyKey: `hot-${i}`,
          body: { to_agent_id: to?.id, amount: 1 + Math.floor(rnd.next() * 4) },
        });
      }),
    );
    const statuses = results.map((r) => r.status);
    expect(
      statuses.filter((s) => s !== 201 && s !== 409),
      results
        .filter((r) => r.status !== 201 && r.status !== 409)
        .map((r) => r.text)
        .join('\n'),
    ).toEqual([]);
    expect(statuses.filter((s) => s === 201).length).toBeGreaterThan(50);
    let total = 0;
    for (const a of agents)
      total += Math.round((await api.call('GET', `/v1/agents/${a.id}`, { key: a.key })).body.balance * 1e6);
    expect(total).toBe(3 * 30 * 1e6);
    await api.expectAuditClean();
  });

  it('applies a replayed transfer id once even without the idempotency record', async () => {
    const a = await api.agent('replayer', 10);
    const b = await api.agent('replayee', 0);
    const s = services();
    const req = {
      transfer_id: 'tr_direct_1',
      from: a.id,
      to: b.id,
      amount: micros(2_500_000),
      purpose: 'transfer' as const,
      reference: null,
    };
    const [r1, r2, r3] = await Promise.all([1, 2, 3].map(() => s.ledger.transfer(req, { actor: a.id, ctx: {} })));
    expect([r1, r2, r3].filter((r) => r?.replayed === false)).toHaveLength(1);
    expect((await s.ledger.getAccount(a.id))?.balance).toBe(7_500_000);
    await expect(s.ledger.transfer({ ...req, amount: micros(1) }, { actor: a.id, ctx: {} })).rejects.toMatchObject({
      code: 'conflict',
      status: 409,
    });
    await api.expectAuditClean();
  });
});

describe('faults at the store adapter', () => {
  it('retries injected TransactionConflict and throttling, then commits once', async () => {
    const a = await api.agent('conflicted', 10);
    const b = await api.agent('conflictee', 0);
    let calls = 0;
    const s = services(async (_input, send) => {
      calls += 1;
      if (calls === 1) throw cancelled(['None', 'TransactionConflict', 'None', 'None', 'None', 'None']);
      if (calls === 2) throw Object.assign(new Error('slow down'), { name: 'ThrottlingException' });
      if (calls === 3) throw cancelled(['None', 'None', 'ThrottlingError', 'None', 'None', 'None']);
      await send();
    });
    const out = await s.ledger.transfer(
      {
        transfer_id: 'tr_conflict',
        from: a.id,
        to: b.id,
        amount: micros(1_000_000),
        purpose: 'transfer',
        reference: null,
      },
      { actor: a.id, ctx: {} },
    );
    expect(out.replayed).toBe(false);
    expect(calls).toBe(4);
    expect((await s.ledger.getAccount(b.id))?.balance).toBe(1_000_000);
    await api.expectAuditClean();
  });

  it('gives up after bounded attempts with a 503 and Retry-After, writing nothing', async () => {
    const a = await api.agent('starved', 10);
    const b = await api.agent('starvee', 0);
    const s = services(async () => {
      throw cancelled(['None', 'TransactionConflict']);
    });
    const before = await api.snapshot();
    const err = await s.ledger
      .transfer(
        { transfer_id: 'tr_starved', from: a.id, to: b.id, amount: micros(1), purpose: 'transfer', reference: null },
        { actor: a.id, ctx: {} },
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect(err).toMatchObject({ code: 'service_unavailable', status: 503, retryAfter: 1 });
    expect(await api.snapshot()).toBe(before);
  });

  it('retries throttled reads while planning, and ends in a 503 when they stay throttled', async () => {
    const a = await api.agent('read-throttled', 10);
    const b = await api.agent('read-throttlee', 0);
    /** The table's client, with its next `failures` reads throttled. */
    const throttled = (failures: number) => {
      let left = failures;
      const doc = new Proxy(api.table.client, {
        get(target, prop, receiver) {
          if (prop !== 'send') return Reflect.get(target, prop, receiver);
          return (command: { constructor: { name: string } }) => {
            if (command.constructor.name !== 'TransactWriteCommand' && left-- > 0) {
              return Promise.reject(Object.assign(new Error('slow down'), { name: 'ThrottlingException' }));
            }
            return target.send(command as Parameters<typeof target.send>[0]);
          };
        },
      });
      const clock = { now: () => Date.now() };
      return createServices(api.config, {
        table: { doc, tableName: api.table.tableName },
        runtime: { clock, ids: ulidGenerator(clock, seededRandom(7)), random: seededRandom(11) },
        sleep: async () => {},
      });
    };
    const transfer = (s: Services, id: string) =>
      s.ledger.transfer(
        { transfer_id: id, from: a.id, to: b.id, amount: micros(1), purpose: 'transfer', reference: null },
        { actor: a.id, ctx: {} },
      );
    expect((await transfer(throttled(3), 'tr_read_throttled')).replayed).toBe(false);
    expect((await services().ledger.getAccount(b.id))?.balance).toBe(1);
    const before = await api.snapshot();
    const err = await transfer(throttled(1_000), 'tr_read_starved').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'service_unavailable', status: 503, retryAfter: 1 });
    expect(await api.snapshot()).toBe(before);
    await api.expectAuditClean();
  });

  it('maps a concurrent debit (optimistic lock miss) to a replan, not an error', async () => {
    const a = await api.agent('locked', 10);
    const b = await api.agent('lockee', 0);
    let first = true;
    const s = services(async (_input, send) => {
      if (first) {
        first = false;
        // Another request changes the sender between our read and our write.
        await api.call('POST', '/v1/transfers', {
          key: a.key,
          idempotencyKey: 'sneaky',
          body: { to_agent_id: b.id, amount: 9 },
        });
      }
      await send();
    });
    const err = await s.ledger
      .transfer(
        {
          transfer_id: 'tr_after_sneak',
          from: a.id,
          to: b.id,
          amount: micros(2_000_000),
          purpose: 'transfer',
          reference: null,
        },
        { actor: a.id, ctx: {} },
      )
      .catch((e: unknown) => e);
    // The replan sees the new balance (1) and refuses 2 with the precise problem.
    expect(err).toMatchObject({ code: 'insufficient_balance', extensions: { required: 2, available: 1 } });
    await api.expectAuditClean();
  });
});
