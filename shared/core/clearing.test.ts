/**
 * The clearing kernel: capacity is never exceeded, bundles are all-or-nothing, the order is
 * deterministic whatever the input order, reasons are right, and the statistics (revenue,
 * requested, utilization, clearing prices) add up.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BidBook,
  type ClearingBid,
  type ClearingMarket,
  clear,
  clearBook,
  needTicks,
  OUTCOME,
  priorityOrder,
  remainingSupply,
  supplyTicksOf,
} from './clearing.ts';
import { ECONOMY_DEFAULTS } from './market-config.ts';
import { unitsOf } from './quantities.ts';
import { capacityOf, initialPrices, type PerResource, RESOURCES } from './resources.ts';

const capacity = capacityOf(ECONOMY_DEFAULTS);
const prices = initialPrices(ECONOMY_DEFAULTS);
const market = (supply: Partial<PerResource> = {}): ClearingMarket => ({
  capacity,
  supply: { ...capacity, ...supply },
  prices,
});

let seq = 0;
function bid(amount: number, rates: Partial<PerResource>, extra: Partial<ClearingBid> = {}): ClearingBid {
  seq++;
  return {
    bid_id: `b${String(seq).padStart(4, '0')}`,
    amount,
    placed_at: 1_000 + seq,
    duration_seconds: 60,
    rates,
    ...extra,
  };
}

/** Random rounds: bundles drawn from a small pool so equal bundles (and equal keys) recur. */
const ratesArb = fc.record(
  {
    cpu: fc.integer({ min: 1, max: 60 }),
    memory: fc.constantFrom(0.5, 5, 12.25, 40),
    tokens: fc.integer({ min: 1, max: 900 }),
    attention: fc.constantFrom(0.05, 0.1, 0.25, 0.5, 0.7),
  },
  { requiredKeys: [] },
);
const roundArb = fc
  .record({
    pool: fc.array(ratesArb, { minLength: 1, maxLength: 6 }),
    bids: fc.array(
      fc.record({
        pick: fc.nat(),
        amount: fc.integer({ min: 0, max: 5_000_000 }),
        placed_at: fc.integer({ min: 0, max: 5 }),
      }),
      { maxLength: 80 },
    ),
    used: fc.record({
      cpu: fc.integer({ min: 0, max: 100 }),
      memory: fc.integer({ min: 0, max: 100 }),
      tokens: fc.integer({ min: 0, max: 1388 }),
      attention: fc.constantFrom(0, 0.3, 0.9, 1),
    }),
  })
  .map(({ pool, bids, used }) => {
    const usable = pool.map((r) => (Object.keys(r).length === 0 ? { cpu: 1 } : r));
    const list: ClearingBid[] = bids.map((b, i) => ({
      bid_id: `b${String(i).padStart(3, '0')}`,
      amount: b.amount,
      placed_at: b.placed_at,
      duration_seconds: 60,
      rates: usable[b.pick % usable.length] as Partial<PerResource>,
    }));
    const supply = {
      cpu: 100 - used.cpu,
      memory: 100 - used.memory,
      tokens: capacity.tokens - used.tokens,
      attention: 1 - used.attention,
    };
    return { bids: list, market: market(supply) };
  });

function shuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1_103_515_245) + 12_345) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

const units = unitsOf(capacity);
const ticksOf = (b: ClearingBid) => needTicks(b.rates, b.duration_seconds, units);

describe('clear: invariants', () => {
  it('never allocates beyond the supply, and every bid is a winner or a loser', () => {
    fc.assert(
      fc.property(roundArb, fc.constantFrom('total' as const, 'density' as const), ({ bids, market: m }, policy) => {
        const d = clear(bids, m, policy);
        const byId = new Map(bids.map((b) => [b.bid_id, b]));
        const ids = [...d.winners, ...d.losers.map((l) => l.bid_id)];
        expect(ids.sort()).toEqual(bids.map((b) => b.bid_id).sort());
        expect(d.winner_count + d.loser_count).toBe(bids.length);
        const full = supplyTicksOf(m, units);
        for (const [k, r] of RESOURCES.entries()) {
          const used = d.winners.reduce((s, id) => s + (ticksOf(byId.get(id) as ClearingBid)[k] as number), 0);
          expect(used).toBeLessThanOrEqual(full[k] as number);
          const rate = d.winners.reduce((s, id) => s + (byId.get(id)?.rates[r] ?? 0), 0);
          expect(rate).toBeLessThanOrEqual(m.supply[r] * (1 + 1e-12) + 1e-12);
          expect(d.utilization[r]).toBeLessThanOrEqual(1);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('is greedy all-or-nothing: a loser did not fit what higher-priority winners left, with the right reason', () => {
    fc.assert(
      fc.property(roundArb, fc.constantFrom('total' as const, 'density' as const), ({ bids, market: m }, policy) => {
        const book = BidBook.from(bids);
        const d = clearBook(book, m, policy);
        const full = supplyTicksOf(m, units);
        const left = [...full];
        for (const i of d.order) {
          const t = ticksOf(bids[i] as ClearingBid);
          const fits = t.every((x, k) => x <= (left[k] as number));
          if (d.outcome[i] === OUTCOME.won) {
            expect(fits).toBe(true);
            t.forEach((x, k) => {
              left[k] = (left[k] as number) - x;
            });
          } else {
            expect(fits).toBe(false);
            const tooBig = t.some((x, k) => x > (full[k] as number));
            expect(d.outcome[i]).toBe(tooBig ? OUTCOME.insufficient_supply : OUTCOME.outbid);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('is deterministic: the same bids in any order give the same decision', () => {
    fc.assert(
      fc.property(roundArb, fc.integer(), fc.constantFrom('total' as const, 'density' as const), (r, seed, policy) => {
        const a = clear(r.bids, r.market, policy);
        const b = clear(shuffle(r.bids, seed), r.market, policy);
        expect(b).toEqual(a);
      }),
      { numRuns: 300 },
    );
  });

  it('under total, a higher amount never loses to a lower one for the same bundle', () => {
    fc.assert(
      fc.property(roundArb, ({ bids, market: m }) => {
        const d = clear(bids, m, 'total');
        const won = new Set(d.winners);
        for (const hi of bids) {
          if (won.has(hi.bid_id)) continue;
          for (const lo of bids) {
            if (lo.rates === hi.rates && lo.amount < hi.amount) expect(won.has(lo.bid_id)).toBe(false);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('reports revenue as the sum of winners, and requested and allocated rates', () => {
    fc.assert(
      fc.property(roundArb, ({ bids, market: m }) => {
        const d = clear(bids, m);
        const byId = new Map(bids.map((b) => [b.bid_id, b]));
        expect(d.revenue).toBe(d.winners.reduce((s, id) => s + (byId.get(id)?.amount ?? 0), 0));
        for (const r of RESOURCES) {
          const requested = bids.reduce((s, b) => s + (b.rates[r] ?? 0), 0);
          const allocated = d.winners.reduce((s, id) => s + (byId.get(id)?.rates[r] ?? 0), 0);
          expect(d.requested[r]).toBeCloseTo(requested, 6);
          expect(d.allocated[r]).toBeCloseTo(allocated, 6);
          const used = (capacity[r] - d.supply[r] + d.allocated[r]) / capacity[r];
          expect(d.utilization[r]).toBeCloseTo(Math.min(1, used), 9);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('agrees between the object and the columnar forms', () => {
    fc.assert(
      fc.property(roundArb, ({ bids, market: m }) => {
        const d = clear(bids, m, 'density');
        const book = BidBook.from(bids);
        const c = clearBook(book, m, 'density');
        const winners = [...c.order].filter((i) => c.outcome[i] === OUTCOME.won).map((i) => book.ids[i]);
        expect(winners).toEqual(d.winners);
        expect(c.revenue).toBe(d.revenue);
      }),
      { numRuns: 100 },
    );
  });
});

describe('clear: examples', () => {
  it('ranks by amount under total and by amount per footprint under density', () => {
    const big = bid(10_000_000, { cpu: 100 });
    const small = bid(5_000_000, { cpu: 10 });
    const rest = bid(4_000_000, { cpu: 90 });
    const total = clear([small, rest, big], market(), 'total');
    expect(total.winners).toEqual([big.bid_id]);
    expect(total.losers).toEqual([
      { bid_id: small.bid_id, reason: 'outbid' },
      { bid_id: rest.bid_id, reason: 'outbid' },
    ]);
    expect(total.revenue).toBe(10_000_000);
    // Density: small (5 cr per 10%) first, then big no longer fits, rest does.
    const density = clear([small, rest, big], market(), 'density');
    expect(density.winners).toEqual([small.bid_id, rest.bid_id]);
    expect(density.revenue).toBe(9_000_000);
  });

  it('breaks ties by placement time, then by bid id', () => {
    const late = bid(1_000_000, { attention: 1 }, { placed_at: 50, bid_id: 'a' });
    const early = bid(1_000_000, { attention: 1 }, { placed_at: 10, bid_id: 'z' });
    const sameTimeB = bid(1_000_000, { attention: 1 }, { placed_at: 10, bid_id: 'y' });
    expect(clear([late, early], market()).winners).toEqual(['z']);
    expect(clear([late, early, sameTimeB], market()).winners).toEqual(['y']);
  });

  it('fills a resource exactly to capacity with decimal quantities', () => {
    const bids = [bid(3, { attention: 0.1 }), bid(2, { attention: 0.2 }), bid(1, { attention: 0.7 })];
    const d = clear(bids, market());
    expect(d.winners).toHaveLength(3);
    expect(d.utilization.attention).toBe(1);
    const cpu = [bid(3, { cpu: 33.3 }), bid(2, { cpu: 66.7 }), bid(1, { cpu: 0.0001 })];
    expect(clear(cpu, market()).winners).toHaveLength(2);
  });

  it('tells outbid from insufficient supply', () => {
    const top = bid(9, { cpu: 60 });
    const second = bid(8, { cpu: 50 });
    const huge = bid(7, { cpu: 80, memory: 1 });
    const d = clear([top, second, huge], market({ cpu: 70 }));
    expect(d.winners).toEqual([top.bid_id]);
    expect(d.losers).toEqual([
      { bid_id: second.bid_id, reason: 'outbid' },
      { bid_id: huge.bid_id, reason: 'insufficient_supply' },
    ]);
    expect(d.insufficient).toEqual({ cpu: 1, memory: 0, tokens: 0, attention: 0 });
    // 30% was held by active allocations, 60% more is now allocated.
    expect(d.utilization.cpu).toBeCloseTo(0.9, 12);
    expect(d.requested.cpu).toBe(190);
  });

  it('observes the clearing price of the lowest-priority winner per resource, attributed by price share', () => {
    // Reference cost of the cheap bid: 0.001×10×100 + 0.2×0.5×100 = 1 + 10 = 11 credits; it pays 22.
    const rich = bid(50_000_000, { cpu: 20 }, { duration_seconds: 100 });
    const cheap = bid(22_000_000, { cpu: 10, attention: 0.5 }, { duration_seconds: 100 });
    const d = clear([rich, cheap], { ...market(), prices: { ...prices, cpu: 0.001, attention: 0.2 } });
    expect(d.winners).toEqual([rich.bid_id, cheap.bid_id]);
    expect(d.clearing_prices.cpu).toBeCloseTo(0.002, 12);
    expect(d.clearing_prices.attention).toBeCloseTo(0.4, 12);
    expect(d.clearing_prices.memory).toBeNull();
    expect(d.clearing_prices.tokens).toBeNull();
  });

  it('handles an empty round', () => {
    const d = clear([], market());
    expect(d).toMatchObject({ bids: 0, winner_count: 0, loser_count: 0, revenue: 0, winners: [], losers: [] });
    expect(d.utilization.cpu).toBe(0);
  });

  it('rejects malformed bids and markets', () => {
    expect(() => clear([bid(1.5, { cpu: 1 })], market())).toThrow(RangeError);
    expect(() => clear([bid(-1, { cpu: 1 })], market())).toThrow(RangeError);
    expect(() => clear([bid(1, { cpu: -1 })], market())).toThrow(RangeError);
    expect(() => clear([bid(1, { cpu: Number.NaN })], market())).toThrow(RangeError);
    expect(() => clear([bid(1, {})], market())).toThrow(RangeError);
    expect(() => clear([], { ...market(), capacity: { ...capacity, cpu: 0 } })).toThrow(RangeError);
    expect(() => clear([], market({ cpu: Number.NaN }))).toThrow(RangeError);
  });

  it('treats a supply below zero as none left', () => {
    const d = clear([bid(1, { cpu: 1 }), bid(1, { memory: 1 })], market({ cpu: -1e-13 }));
    expect(d.losers).toEqual([{ bid_id: expect.any(String), reason: 'insufficient_supply' }]);
    expect(d.supply.cpu).toBe(0);
    expect(d.utilization.cpu).toBe(1);
  });
});

describe('priorityOrder', () => {
  const reference = (keys: number[], placed: number[], ids: string[]) =>
    keys
      .map((_, i) => i)
      .sort(
        (a, b) =>
          (keys[b] as number) - (keys[a] as number) ||
          (placed[a] as number) - (placed[b] as number) ||
          ((ids[a] as string) < (ids[b] as string) ? -1 : 1),
      );

  it('matches a comparator sort on large inputs with many equal keys (radix path)', () => {
    const keyArb = fc.oneof(
      fc.integer({ min: 0, max: 20 }),
      fc.integer({ min: 0, max: 2 ** 53 - 1 }),
      fc.double({ min: 0, max: 1e300, noNaN: true }).map((x) => x + 0),
      fc.constant(Number.POSITIVE_INFINITY),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(keyArb, fc.integer({ min: 0, max: 3 })), { minLength: 256, maxLength: 1500 }),
        (rows) => {
          const keys = rows.map(([k]) => k);
          const placed = rows.map(([, p]) => p);
          const ids = rows.map((_, i) => `id${(i * 7919) % rows.length}`);
          const got = priorityOrder(Float64Array.from(keys), Float64Array.from(placed), ids, rows.length);
          expect([...got]).toEqual(reference(keys, placed, ids));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('matches a comparator sort on small inputs', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 40 }), (keys) => {
        const placed = keys.map(() => 0);
        const ids = keys.map((_, i) => `x${40 - i}`);
        const got = priorityOrder(Float64Array.from(keys), Float64Array.from(placed), ids, keys.length);
        expect([...got]).toEqual(reference(keys, placed, ids));
      }),
    );
  });
});

describe('remainingSupply', () => {
  it('subtracts active allocations exactly, never below zero', () => {
    expect(remainingSupply(capacity, [{ cpu: 33.3 }, { cpu: 66.7 }]).cpu).toBe(0);
    expect(remainingSupply(capacity, [{ cpu: 50 }, { attention: 0.3 }])).toMatchObject({ cpu: 50, attention: 0.7 });
    expect(remainingSupply(capacity, [{ cpu: 80 }, { cpu: 80 }]).cpu).toBe(0);
    expect(remainingSupply(capacity, []).tokens).toBeCloseTo(capacity.tokens, 6);
  });
});

describe('BidBook', () => {
  it('grows past its initial capacity and resets for reuse', () => {
    const book = new BidBook(2);
    for (let i = 0; i < 10; i++) book.add(`b${i}`, i + 1, i, 60, 1, 0, 0, 0);
    expect(book.size).toBe(10);
    expect(clearBook(book, market()).winner_count).toBe(10);
    book.reset();
    expect(book.size).toBe(0);
    expect(clearBook(book, market()).bids).toBe(0);
  });
});
