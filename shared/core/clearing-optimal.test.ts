/**
 * Exact clearing: it finds the true optimum (checked against brute force), never does worse
 * than either greedy policy, and equals greedy where greedy is trivially optimal.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ClearingBid, type ClearingMarket, clear, needTicks, supplyTicksOf } from './clearing.ts';
import { clearOptimal, OPTIMAL_MAX_BIDS } from './clearing-optimal.ts';
import { ECONOMY_DEFAULTS } from './market-config.ts';
import { unitsOf } from './quantities.ts';
import { capacityOf, initialPrices, type PerResource } from './resources.ts';

const capacity = capacityOf(ECONOMY_DEFAULTS);
const market: ClearingMarket = { capacity, supply: capacity, prices: initialPrices(ECONOMY_DEFAULTS) };

const bidArb = fc.record({
  amount: fc.integer({ min: 1, max: 1_000_000 }),
  cpu: fc.integer({ min: 0, max: 70 }),
  memory: fc.integer({ min: 0, max: 70 }),
  attention: fc.constantFrom(0, 0, 0.2, 0.5, 0.8),
});
const bidsArb = (max: number) =>
  fc.array(bidArb, { minLength: 1, maxLength: max }).map((rows) =>
    rows.map(
      (r, i): ClearingBid => ({
        bid_id: `b${String(i).padStart(2, '0')}`,
        amount: r.amount,
        placed_at: i,
        duration_seconds: 60,
        rates:
          r.cpu + r.memory + r.attention === 0 ? { cpu: 1 } : { cpu: r.cpu, memory: r.memory, attention: r.attention },
      }),
    ),
  );

function bruteForce(bids: readonly ClearingBid[], supply: PerResource): number {
  const units = unitsOf(capacity);
  const room = supplyTicksOf({ supply }, units);
  const ticks = bids.map((b) => needTicks(b.rates, b.duration_seconds, units));
  let best = 0;
  for (let mask = 0; mask < 1 << bids.length; mask++) {
    const used = [0, 0, 0, 0];
    let value = 0;
    bids.forEach((b, i) => {
      if (!(mask & (1 << i))) return;
      value += b.amount;
      ticks[i]?.forEach((t, k) => {
        used[k] = (used[k] as number) + t;
      });
    });
    if (used.every((u, k) => u <= (room[k] as number)) && value > best) best = value;
  }
  return best;
}

describe('clearOptimal', () => {
  it('finds the brute-force optimum', () => {
    fc.assert(
      fc.property(bidsArb(10), (bids) => {
        const opt = clearOptimal(bids, market);
        expect(opt.proven).toBe(true);
        expect(opt.revenue).toBe(bruteForce(bids, capacity));
        const byId = new Map(bids.map((b) => [b.bid_id, b]));
        expect(opt.winners.reduce((s, id) => s + (byId.get(id)?.amount ?? 0), 0)).toBe(opt.revenue);
      }),
      { numRuns: 150 },
    );
  });

  it('is never below either greedy policy', () => {
    fc.assert(
      fc.property(bidsArb(OPTIMAL_MAX_BIDS), (bids) => {
        const opt = clearOptimal(bids, market);
        expect(opt.revenue).toBeGreaterThanOrEqual(clear(bids, market, 'total').revenue);
        expect(opt.revenue).toBeGreaterThanOrEqual(clear(bids, market, 'density').revenue);
      }),
      { numRuns: 60 },
    );
  });

  it('equals greedy when everything fits, or when every bundle is the same', () => {
    fc.assert(
      fc.property(bidsArb(12), (bids) => {
        const fitting = bids.map((b) => ({ ...b, rates: { cpu: 100 / (bids.length + 1) } }));
        const all = fitting.reduce((s, b) => s + b.amount, 0);
        expect(clearOptimal(fitting, market).revenue).toBe(all);
        expect(clear(fitting, market).revenue).toBe(all);
        const same = bids.map((b) => ({ ...b, rates: { cpu: 30, attention: 0.3 } }));
        expect(clearOptimal(same, market).revenue).toBe(clear(same, market, 'total').revenue);
      }),
      { numRuns: 60 },
    );
  });

  it('beats greedy where greedy is short-sighted', () => {
    const bids: ClearingBid[] = [
      { bid_id: 'big', amount: 10, placed_at: 0, duration_seconds: 60, rates: { cpu: 60 } },
      { bid_id: 'a', amount: 9, placed_at: 1, duration_seconds: 60, rates: { cpu: 50 } },
      { bid_id: 'b', amount: 9, placed_at: 2, duration_seconds: 60, rates: { cpu: 50 } },
    ];
    expect(clear(bids, market, 'total').revenue).toBe(10);
    expect(clearOptimal(bids, market)).toMatchObject({ revenue: 18, winners: ['a', 'b'], proven: true });
  });

  it('leaves out bundles that cannot fit the supply', () => {
    const bids: ClearingBid[] = [{ bid_id: 'x', amount: 5, placed_at: 0, duration_seconds: 60, rates: { cpu: 60 } }];
    expect(clearOptimal(bids, { capacity, supply: { ...capacity, cpu: 50 } })).toMatchObject({
      revenue: 0,
      winners: [],
    });
  });

  it('refuses more than the supported number of bids and reports a cut-off search', () => {
    const many = Array.from({ length: OPTIMAL_MAX_BIDS + 1 }, (_, i) => ({
      bid_id: `b${i}`,
      amount: i + 1,
      placed_at: i,
      duration_seconds: 60,
      rates: { cpu: 10 + (i % 7) },
    }));
    expect(() => clearOptimal(many, market)).toThrow(RangeError);
    const cut = clearOptimal(many.slice(0, 20), market, { maxNodes: 3 });
    expect(cut.proven).toBe(false);
    expect(cut.revenue).toBeGreaterThanOrEqual(clear(many.slice(0, 20), market).revenue);
  });
});
