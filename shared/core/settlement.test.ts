/**
 * The pure plans of the bid lifecycle: placement, cancellation and settlement decide the
 * movements, account effects, items and events (with their sequences) that the adapters write.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type PlaceBid, planCancellation, planPlacement, planRejection, type RoundBid } from './bids.ts';
import { micros } from './money.ts';
import { bidAggregate, holdTransferId, resolveTransferId } from './movements.ts';
import { seededRandom, ulidGenerator } from './ports.ts';
import { bundleRates } from './resources.ts';
import { roundAt } from './rounds.ts';
import {
  actionsOfSettlement,
  allocationIdOf,
  type Outcome,
  type SettlementSetting,
  settlementBatches,
  settlementEvents,
  settlementOrderOf,
  settlementPlan,
  settlementWrites,
} from './settlement.ts';

const NOW = Date.parse('2026-03-01T12:00:07Z');
const clock = { now: () => NOW };
const deps = () => ({ clock, ids: ulidGenerator(clock, seededRandom(1)) });
const INPUT: PlaceBid = {
  bid_id: 'b_1',
  agent_id: 'a_payer',
  beneficiary_id: 'a_other',
  bundle: { cpu: 10, tokens: 600 },
  duration_seconds: 60,
  amount: micros(4_500_000),
  rates: bundleRates({ cpu: 10, tokens: 600 }, 60),
};
const SETTING = {
  now: NOW,
  window: roundAt(NOW, 60),
  shard: 3,
  escrow: 'escrow#07',
  lock: { kind: 'version' as const, version: 12 },
  maxOpenBids: 5,
};

describe('placement plan', () => {
  it('holds the amount, adds an open bid under the cap, and numbers bid_placed 1 and the hold 2', () => {
    const plan = planPlacement(deps(), INPUT, SETTING, { scenario_id: 'fc_001' });
    expect(plan.change.movements.map((m) => m.record)).toEqual([
      expect.objectContaining({
        transfer_id: holdTransferId('b_1'),
        from: 'a_payer',
        to: 'escrow#07',
        amount: 4_500_000,
      }),
    ]);
    expect(plan.change.accounts).toEqual([
      expect.objectContaining({
        account_id: 'a_payer',
        balance: -4_500_000,
        open_bids: 1,
        open_bids_cap: 5,
        lock: SETTING.lock,
      }),
      expect.objectContaining({ account_id: 'escrow#07', balance: 4_500_000 }),
    ]);
    expect(plan.events.map((e) => [e.type, e.aggregate, e.sequence])).toEqual([
      ['bid_placed', bidAggregate('b_1'), 1],
      ['credits_transferred', bidAggregate('b_1'), 2],
    ]);
    expect(plan.bid).toMatchObject({
      status: 'pending',
      seq: 2,
      round: SETTING.window.round,
      beneficiary_id: 'a_other',
    });
    expect(plan.bid.origin).toEqual({ event_id: plan.events[0]?.event_id, scenario_id: 'fc_001' });
  });

  it('a cancellation voids the hold through the one resolution id and continues the bid sequence', () => {
    const placed = planPlacement(deps(), INPUT, SETTING, {});
    const cancel = planCancellation(deps(), placed.bid, { now: NOW + 1, escrow: 'escrow#07' }, {});
    expect(cancel.change.movements[0]?.record).toMatchObject({
      transfer_id: resolveTransferId('b_1'),
      from: 'escrow#07',
      to: 'a_payer',
      purpose: 'escrow_refund',
    });
    expect(cancel.change.accounts.find((a) => a.account_id === 'a_payer')).toMatchObject({
      balance: 4_500_000,
      open_bids: -1,
    });
    expect(cancel.events.map((e) => [e.type, e.sequence])).toEqual([
      ['credits_transferred', 3],
      ['bid_cancelled', 4],
    ]);
    expect(cancel.bid).toMatchObject({ status: 'cancelled', seq: 4 });
  });

  it('a refusal is the next event of the agent, under a sequence lock', () => {
    const plan = planRejection(deps(), 'a_payer', { reason: 'round_closed', bid_id: 'b_1' }, { seq: 41 }, {});
    expect(plan.events.map((e) => [e.type, e.aggregate, e.sequence])).toEqual([['bid_rejected', 'agent:a_payer', 42]]);
    expect(plan.change.accounts).toEqual([
      expect.objectContaining({ account_id: 'a_payer', seq: 1, balance: 0, lock: { kind: 'sequence', seq: 41 } }),
    ]);
  });
});

const shard = (id: string) => String(id.length % 4).padStart(2, '0');
const AT: SettlementSetting = {
  round: 'r_1772366400',
  clearingAt: NOW,
  settledAt: NOW + 5,
  escrowOf: (id) => `escrow#${shard(id)}`,
  burnOf: (id) => `burn#${shard(id)}`,
};

const roundBid = (i: number, agent: string, amount: number, seq = 2): RoundBid => ({
  bid_id: `b_${'x'.repeat(i % 5)}${i}`,
  round: AT.round,
  agent_id: agent,
  beneficiary_id: agent,
  bundle: { memory: 1, tokens: 100 },
  duration_seconds: 30,
  amount,
  rates: bundleRates({ memory: 1, tokens: 100 }, 30),
  status: 'pending',
  placed_at: new Date(NOW).toISOString(),
  placed_at_ms: NOW,
  seq,
  shard: i % 3,
});

const outcomeArb = fc.record({
  agent: fc.integer({ min: 0, max: 6 }),
  amount: fc.integer({ min: 1, max: 1e9 }),
  won: fc.boolean(),
});

describe('settlement plan', () => {
  it('posts winners to burn with an allocation, voids losers, and numbers each bid seq+1, seq+2', () => {
    const outcomes: Outcome[] = [
      { bid: roundBid(1, 'a_1', 5_000_000, 2), won: true },
      { bid: roundBid(2, 'a_2', 3_000_000, 2), won: false, reason: 'insufficient_supply' },
    ];
    const writes = settlementWrites(outcomes, AT);
    expect(writes.change.movements.map((m) => [m.record.purpose, m.record.from, m.record.to])).toEqual([
      ['resource_burn', AT.escrowOf(outcomes[0]?.bid.bid_id ?? ''), AT.burnOf(outcomes[0]?.bid.bid_id ?? '')],
      ['escrow_refund', AT.escrowOf(outcomes[1]?.bid.bid_id ?? ''), 'a_2'],
    ]);
    const a1 = writes.change.accounts.find((a) => a.account_id === 'a_1');
    expect(a1).toMatchObject({ balance: 0, total_out: 5_000_000, open_bids: -1 });
    const allocation = writes.items.find((i) => i.kind === 'allocation');
    expect(allocation).toMatchObject({
      allocation: {
        allocation_id: allocationIdOf(outcomes[0]?.bid.bid_id ?? ''),
        ends_at_ms: NOW + 30_000,
        tokens_remaining: 100,
      },
    });
    const events = settlementEvents(deps(), outcomes, writes, {});
    expect(events.map((e) => [e.type, e.sequence])).toEqual([
      ['credits_transferred', 3],
      ['resources_allocated', 4],
      ['credits_transferred', 3],
      ['bid_rejected', 4],
    ]);
    expect(events[3]?.data).toMatchObject({ reason: 'insufficient_supply' });
  });

  it('is deterministic: the same outcomes always make the same writes', () => {
    const outcomes: Outcome[] = [{ bid: roundBid(7, 'a_1', 10), won: true }];
    expect(settlementWrites(outcomes, AT)).toEqual(settlementWrites(outcomes, AT));
  });

  it('batches fit one transaction, keep every outcome once and in order, and count like the full plan', () => {
    fc.assert(
      fc.property(fc.array(outcomeArb, { maxLength: 120 }), fc.integer({ min: 1, max: 40 }), (xs, maxBids) => {
        const outcomes: Outcome[] = xs.map((x, i) => ({ bid: roundBid(i, `a_${x.agent}`, x.amount), won: x.won }));
        const batches = settlementBatches(outcomes, AT, { maxActions: 100, maxBids });
        expect(batches.flat()).toEqual(outcomes);
        for (const batch of batches) {
          expect(batch.length).toBeLessThanOrEqual(maxBids);
          expect(actionsOfSettlement(settlementWrites(batch, AT))).toBeLessThanOrEqual(100);
        }
        // Greedy: each batch but the last is full — one more outcome would not fit.
        batches.slice(0, -1).forEach((batch, i) => {
          const next = batches[i + 1]?.[0] as Outcome;
          const grown = [...batch, next];
          const fits = grown.length <= maxBids && actionsOfSettlement(settlementWrites(grown, AT)) <= 100;
          expect(fits).toBe(false);
        });
      }),
    );
  });

  it('a settlement plan keeps every outcome once, groups them by escrow shard and fits each batch', () => {
    fc.assert(
      fc.property(fc.array(outcomeArb, { maxLength: 120 }), (xs) => {
        const outcomes: Outcome[] = xs.map((x, i) => ({ bid: roundBid(i, `a_${x.agent}`, x.amount), won: x.won }));
        const plan = settlementPlan(outcomes, AT, { maxActions: 100, maxBids: 25 });
        const flat = plan.flat();
        expect([...flat].sort((a, b) => a.bid.bid_id.localeCompare(b.bid.bid_id))).toEqual(
          [...outcomes].sort((a, b) => a.bid.bid_id.localeCompare(b.bid.bid_id)),
        );
        const shards = flat.map((o) => AT.escrowOf(o.bid.bid_id));
        expect(shards).toEqual([...shards].sort());
        for (const batch of plan) expect(actionsOfSettlement(settlementWrites(batch, AT))).toBeLessThanOrEqual(100);
      }),
    );
  });

  it('a settlement order names each bid of its batch and how it ended', () => {
    const batch: Outcome[] = [
      { bid: roundBid(1, 'a_1', 10), won: true },
      { bid: roundBid(2, 'a_2', 5), won: false, reason: 'outbid' },
    ];
    expect(settlementOrderOf('r1', 42, batch, { correlation_id: 'r1' })).toEqual({
      round: 'r1',
      clearing_at_ms: 42,
      outcomes: [
        { bid_id: batch[0]?.bid.bid_id, won: true },
        { bid_id: batch[1]?.bid.bid_id, won: false, reason: 'outbid' },
      ],
      ctx: { correlation_id: 'r1' },
    });
  });

  it('money is conserved by every settlement', () => {
    fc.assert(
      fc.property(fc.array(outcomeArb, { minLength: 1, maxLength: 30 }), (xs) => {
        const outcomes: Outcome[] = xs.map((x, i) => ({ bid: roundBid(i, `a_${x.agent}`, x.amount), won: x.won }));
        const writes = settlementWrites(outcomes, AT);
        expect(writes.change.accounts.reduce((s, a) => s + a.balance, 0)).toBe(0);
        const burned = outcomes.filter((o) => o.won).reduce((s, o) => s + o.bid.amount, 0);
        const toBurn = writes.change.accounts
          .filter((a) => a.account_id.startsWith('burn#'))
          .reduce((s, a) => s + a.balance, 0);
        expect(toBurn).toBe(burned);
        expect(writes.items.filter((i) => i.kind === 'allocation')).toHaveLength(outcomes.filter((o) => o.won).length);
      }),
    );
  });
});
