/**
 * The `best` policy: feasible, all-or-nothing and maximal (no loser fits what the winners
 * left), deterministic whatever the input order, never below any of its greedy orders nor above
 * the exact optimum; its lazy orders are exactly the kernel's priority order; and the
 * documented example where bidding more makes a bundle lose.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BidBook,
  type ClearingBid,
  type ClearingMarket,
  clear,
  clearBook,
  lazyOrder,
  needTicks,
  OUTCOME,
  priorityOrder,
  supplyTicksOf,
} from './clearing.ts';
import { clearOptimal } from './clearing-optimal.ts';
import { ECONOMY_DEFAULTS } from './market-config.ts';
import { unitsOf } from './quantities.ts';
import { capacityOf, initialPrices, type PerResource } from './resources.ts';

const capacity = capacityOf(ECONOMY_DEFAULTS);
const prices = initialPrices(ECONOMY_DEFAULTS);
const units = unitsOf(capacity);

const rowArb = fc.record({
  amount: fc.integer({ min: 0, max: 5_000_000 }),
  cpu: fc.constantFrom(0, 5, 10, 20, 35, 60, 120),
  memory: fc.constantFrom(0, 0, 10, 25, 50),
  tokens: fc.constantFrom(0, 0, 100, 900),
  attention: fc.constantFrom(0, 0, 0.1, 0.3, 0.6),
  placed_at: fc.integer({ min: 0, max: 3 }),
});
const roundArb = (max: number) =>
  fc
    .record({
      rows: fc.array(rowArb, { maxLength: max }),
      held: fc.constantFrom(0, 0.3, 0.7),
    })
    .map(({ rows, held }) => {
      const bids: ClearingBid[] = rows.map((r, i) => {
        const rates: Partial<PerResource> = {};
        if (r.cpu) rates.cpu = r.cpu;
        if (r.memory) rates.memory = r.memory;
        if (r.tokens) rates.tokens = r.tokens / 60;
        if (r.attention) rates.attention = r.attention;
        if (Object.keys(rates).length === 0) rates.cpu = 1;
        return {
          bid_id: `b${String(i).padStart(3, '0')}`,
          amount: r.amount,
          placed_at: r.placed_at,
          duration_seconds: 60,
          rates,
        };
      });
      const supply = { ...capacity, cpu: 100 * (1 - held), attention: 1 - held };
      const market: ClearingMarket = { capacity, supply, prices };
      return { bids, market };
    });

const ticksOf = (b: ClearingBid) => needTicks(b.rates, b.duration_seconds, units);

describe('best', () => {
  it('is feasible, all-or-nothing and maximal, with the right loss reasons', () => {
    fc.assert(
      fc.property(roundArb(60), ({ bids, market }) => {
        const book = BidBook.from(bids);
        const d = clearBook(book, market, 'best');
        const full = supplyTicksOf(market, units);
        const left = [...full];
        bids.forEach((b, i) => {
          if (d.outcome[i] !== OUTCOME.won) return;
          ticksOf(b).forEach((t, k) => {
            left[k] = (left[k] as number) - t;
          });
        });
        expect(left.every((l) => l >= 0)).toBe(true);
        bids.forEach((b, i) => {
          if (d.outcome[i] === OUTCOME.won) return;
          const t = ticksOf(b);
          expect(t.every((x, k) => x <= (left[k] as number))).toBe(false);
          const tooBig = t.some((x, k) => x > (full[k] as number));
          expect(d.outcome[i]).toBe(tooBig ? OUTCOME.insufficient_supply : OUTCOME.outbid);
        });
        expect(d.winner_count).toBe([...d.outcome].filter((o) => o === OUTCOME.won).length);
      }),
      { numRuns: 300 },
    );
  });

  it('is deterministic: the same bids in any order give the same decision', () => {
    fc.assert(
      fc.property(roundArb(60), fc.integer(), ({ bids, market }, seed) => {
        const shuffled = [...bids];
        let s = seed >>> 0 || 1;
        for (let i = shuffled.length - 1; i > 0; i--) {
          s = (Math.imul(s, 1_103_515_245) + 12_345) >>> 0;
          const j = s % (i + 1);
          [shuffled[i], shuffled[j]] = [shuffled[j] as ClearingBid, shuffled[i] as ClearingBid];
        }
        expect(clear(shuffled, market, 'best')).toEqual(clear(bids, market, 'best'));
      }),
      { numRuns: 200 },
    );
  });

  it('never earns less than total or density, nor more than the exact optimum', () => {
    fc.assert(
      fc.property(roundArb(18), ({ bids, market }) => {
        const best = clear(bids, market, 'best').revenue;
        expect(best).toBeGreaterThanOrEqual(clear(bids, market, 'total').revenue);
        expect(best).toBeGreaterThanOrEqual(clear(bids, market, 'density').revenue);
        expect(best).toBeLessThanOrEqual(clearOptimal(bids, market).revenue);
      }),
      { numRuns: 300 },
    );
  });

  it('lists winners and losers by amount, as total does', () => {
    const a = { bid_id: 'a', amount: 9, placed_at: 0, duration_seconds: 60, rates: { cpu: 60 } };
    const b = { bid_id: 'b', amount: 6, placed_at: 1, duration_seconds: 60, rates: { cpu: 50 } };
    const c = { bid_id: 'c', amount: 5, placed_at: 2, duration_seconds: 60, rates: { cpu: 50 } };
    const d = clear([c, a, b], { capacity, supply: capacity, prices }, 'best');
    // Greedy by amount takes a (9); b and c together are worth 11.
    expect(d.winners).toEqual(['b', 'c']);
    expect(d.losers).toEqual([{ bid_id: 'a', reason: 'outbid' }]);
    expect(d.revenue).toBe(11);
  });

  it('is not monotone: bidding more can make a bundle lose (the example in docs/market.md)', () => {
    const round = (b3: number): ClearingBid[] =>
      (
        [
          ['b0', 2, { cpu: 50 }],
          ['b1', 10, { cpu: 20, memory: 50 }],
          ['b2', 7, { cpu: 30 }],
          ['b3', b3, { cpu: 60 }],
          ['b4', 7, { cpu: 10, memory: 90 }],
        ] as const
      ).map(([bid_id, amount, rates], i) => ({ bid_id, amount, placed_at: i, duration_seconds: 60, rates }));
    const market = { capacity, supply: capacity, prices };
    expect(clear(round(6), market, 'best').winners).toContain('b3');
    expect(clear(round(8), market, 'best').winners).not.toContain('b3');
    // Under total, more never hurts: b3 at 8 still wins.
    expect(clear(round(8), market, 'total').winners).toContain('b3');
  });
});

describe('lazyOrder', () => {
  it('yields, chunk after chunk, exactly the kernel priority order', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            key: fc.oneof(fc.constantFrom(0, 1, 1.5, 2, 1e6), fc.double({ min: 0, max: 1e12, noNaN: true })),
            placed: fc.integer({ min: 0, max: 3 }),
          }),
          { maxLength: 2000 },
        ),
        (rows) => {
          const keys = Float64Array.from(rows, (r) => r.key + 0);
          const placedAt = Float64Array.from(rows, (r) => r.placed);
          const ids = rows.map((_, i) => `i${String(i).padStart(4, '0')}`);
          const lazy = [...lazyOrder(keys, { placedAt, ids, pattern: new Uint8Array(rows.length) })].flatMap((c) => [
            ...c,
          ]);
          expect(lazy).toEqual([...priorityOrder(keys, placedAt, ids, rows.length)]);
        },
      ),
      { numRuns: 100 },
    );
  });
});
