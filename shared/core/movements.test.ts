/**
 * Movements and ledger changes: a change conserves money, names each account once, and counts
 * earnings and spending by the one rule (escrow parks and returns; a post is the payer's spending).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TRANSFER_PURPOSES } from './events.ts';
import { MINT_ACCOUNT } from './ledger.ts';
import type { Micros } from './money.ts';
import {
  actionsOfChange,
  countsAsEarnedOrSpent,
  grant,
  hold,
  humanReward,
  ledgerChange,
  type Movement,
  post,
  transfer,
  voidHold,
} from './movements.ts';

const AT = '2026-01-01T00:00:00.000Z';
const m = (n: number) => n as Micros;

describe('what counts as earned or spent', () => {
  it('escrow holds and refunds count as neither; every other purpose counts', () => {
    const parking = TRANSFER_PURPOSES.filter((p) => !countsAsEarnedOrSpent(p));
    expect(parking.sort()).toEqual(['bid_escrow', 'escrow_refund', 'service_escrow', 'service_refund']);
  });

  it("a hold and its void leave the agent's totals alone; a post is the payer's spending", () => {
    const held = ledgerChange([hold('b1', 'a_1', 'escrow#03', m(5), AT)]);
    expect(held.accounts.find((a) => a.account_id === 'a_1')).toMatchObject({ balance: -5, total_in: 0, total_out: 0 });
    const voided = ledgerChange([voidHold('b1', 'a_1', 'escrow#03', m(5), AT)]);
    expect(voided.accounts.find((a) => a.account_id === 'a_1')).toMatchObject({
      balance: 5,
      total_in: 0,
      total_out: 0,
    });
    const posted = ledgerChange([post('b1', 'a_1', 'escrow#03', 'burn#03', m(5), AT)]);
    expect(posted.accounts.map((a) => a.account_id)).toEqual(['escrow#03', 'burn#03', 'a_1']);
    expect(posted.accounts.find((a) => a.account_id === 'a_1')).toMatchObject({ balance: 0, total_out: 5 });
  });

  it('a hold and its resolution share nothing but the bid: distinct ids, one resolution id', () => {
    const h = hold('b1', 'a_1', 'escrow#03', m(5), AT).record.transfer_id;
    const p = post('b1', 'a_1', 'escrow#03', 'burn#03', m(5), AT).record.transfer_id;
    const v = voidHold('b1', 'a_1', 'escrow#03', m(5), AT).record.transfer_id;
    expect(h).not.toBe(p);
    expect(p).toBe(v); // exactly one resolution per bid: a post and a void can never both apply
  });

  it('a grant is minted: from mint, counted as the agent’s earnings', () => {
    const change = ledgerChange([grant('a_9', m(10), AT)]);
    expect(change.movements[0]?.record).toMatchObject({ from: MINT_ACCOUNT, to: 'a_9', purpose: 'agent_grant' });
    expect(change.accounts.find((a) => a.account_id === 'a_9')).toMatchObject({ balance: 10, total_in: 10 });
  });
});

describe('a ledger change', () => {
  const accounts = ['a_1', 'a_2', 'a_3', 'escrow#00', 'burn#00'];
  const movementArb = fc
    .record({
      kind: fc.constantFrom('transfer', 'hold', 'post', 'void'),
      a: fc.constantFrom('a_1', 'a_2', 'a_3'),
      b: fc.constantFrom('a_1', 'a_2', 'a_3'),
      amount: fc.integer({ min: 1, max: 1e12 }),
      id: fc.nat(50),
    })
    .filter((x) => x.a !== x.b)
    .map(({ kind, a, b, amount, id }): Movement => {
      if (kind === 'transfer') return transfer(`t${id}`, a, b, m(amount), AT);
      if (kind === 'hold') return hold(`b${id}`, a, 'escrow#00', m(amount), AT);
      if (kind === 'post') return post(`b${id}`, a, 'escrow#00', 'burn#00', m(amount), AT);
      return voidHold(`b${id}`, a, 'escrow#00', m(amount), AT);
    });

  it('conserves money, names every account once, and becomes 3 actions a movement plus 1 an account', () => {
    fc.assert(
      fc.property(fc.array(movementArb, { maxLength: 20 }), fc.array(fc.constantFrom(...accounts)), (ms, extra) => {
        const change = ledgerChange(
          ms,
          extra.map((id) => ({ account_id: id, open_bids: 1 })),
        );
        const ids = change.accounts.map((a) => a.account_id);
        expect(new Set(ids).size).toBe(ids.length);
        expect(change.accounts.reduce((s, a) => s + a.balance, 0)).toBe(0);
        const spent = ms
          .filter((x) => countsAsEarnedOrSpent(x.record.purpose))
          .reduce((s, x) => s + x.record.amount, 0);
        expect(change.accounts.reduce((s, a) => s + a.total_out, 0)).toBe(spent);
        expect(actionsOfChange(change)).toBe(ms.length * 3 + change.accounts.length);
      }),
    );
  });

  it('folds extra effects into the account they name, keeping the last lock and cap', () => {
    const change = ledgerChange(
      [hold('b1', 'a_1', 'escrow#00', m(2), AT)],
      [
        { account_id: 'a_1', open_bids: 1, open_bids_cap: 3, lock: { kind: 'version', version: 4 } },
        { account_id: 'a_1', seq: 2 },
      ],
    );
    expect(change.accounts[0]).toEqual({
      account_id: 'a_1',
      balance: -2,
      total_in: 0,
      total_out: 0,
      open_bids: 1,
      seq: 2,
      open_bids_cap: 3,
      lock: { kind: 'version', version: 4 },
    });
  });
});

describe('per-purpose tallies of mint and burn', () => {
  it('count what mint paid by purpose and what burn shards received by purpose, nothing else', () => {
    const change = ledgerChange([
      grant('a_1', m(100), AT),
      humanReward('pr_1', 'a_1', m(30), AT),
      humanReward('pr_2', 'a_2', m(5), AT),
      post('b_1', 'a_1', 'escrow#00', 'burn#01', m(7), AT),
      transfer('t_1', 'a_1', 'a_2', m(3), AT),
    ]);
    const byId = new Map(change.accounts.map((a) => [a.account_id, a]));
    expect(byId.get('mint')?.tallies).toEqual({ agent_grant: 100, human_reward: 35 });
    expect(byId.get('burn#01')?.tallies).toEqual({ resource_burn: 7 });
    expect(byId.get('a_1')?.tallies).toBeUndefined();
    expect(byId.get('escrow#00')?.tallies).toBeUndefined();
  });
});
