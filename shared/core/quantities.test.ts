/**
 * Exact ticks: the float fast paths give exactly what BigInt arithmetic on the decimals (and on
 * n ÷ d token rates) gives, supply round-trips through its doubles, and token capacity is the
 * whole tokens per hour a budget buys.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decimalOf,
  maxTokens,
  QUANTUM_DECIMALS,
  quantaOf,
  quantaUp,
  rateOfTicks,
  supplyTicks,
  TOKEN_TICKS,
  tokensPerHour,
  tokenTicksNear,
  tokenTicksUp,
  unitsOf,
} from './quantities.ts';

const ceilDiv = (a: bigint, b: bigint) => Number((a + b - 1n) / b);

/** Token capacities: whole tokens per hour ÷ 3600 (as configured) or arbitrary decimals. */
const tokenCapacityArb = fc.oneof(
  fc.integer({ min: 1, max: 1e12 }).map((h) => ({ cap: h / 3600, p: BigInt(h), q: 3600n })),
  fc.integer({ min: 1, max: 1e9 }).map((n) => ({ cap: n / 1000, p: BigInt(n), q: 1000n })),
);

describe('decimals and quanta', () => {
  it('reads a double as the decimal it prints as', () => {
    expect(decimalOf(0.1)).toEqual({ digits: 1n, scale: 1 });
    expect(decimalOf(1e21)).toEqual({ digits: 10n ** 21n, scale: 0 });
    expect(decimalOf(5e-324)).toEqual({ digits: 5n, scale: 324 });
    expect(decimalOf(-1)).toBeUndefined();
    expect(decimalOf(Number.POSITIVE_INFINITY)).toBeUndefined();
  });

  it('counts quanta only for whole multiples', () => {
    expect(quantaOf(0.007, 3)).toBe(7n);
    expect(quantaOf(100, 3)).toBe(100_000n);
    expect(quantaOf(0.0001, 4)).toBe(1n);
    expect(quantaOf(0.0005, 3)).toBeUndefined();
    expect(quantaOf(1e-300, 3)).toBeUndefined();
  });
});

describe('tokensPerHour', () => {
  it('is the budget over the price per million, rounded down to a whole token', () => {
    expect(tokensPerHour({ max_spend_usd_per_hour: 10, usd_per_million_tokens: 2 })).toBe(5_000_000n);
    expect(tokensPerHour({ max_spend_usd_per_hour: 10, usd_per_million_tokens: 3 })).toBe(3_333_333n);
    // In floats 0.3 ÷ 0.1 × 1e6 = 2 999 999.9999999995.
    expect(tokensPerHour({ max_spend_usd_per_hour: 0.3, usd_per_million_tokens: 0.1 })).toBe(3_000_000n);
    expect(tokensPerHour({ max_spend_usd_per_hour: 1e-7, usd_per_million_tokens: 1 })).toBe(0n);
  });
});

describe('unitsOf', () => {
  it('counts quantized capacity in quanta and token capacity in TOKEN_TICKS', () => {
    const u = unitsOf({ cpu: 100, memory: 12.345, tokens: 5e6 / 3600, attention: 1 });
    expect([u.cpu.capacity, u.memory.capacity, u.tokens.capacity, u.attention.capacity]).toEqual([
      100_000,
      12_345,
      TOKEN_TICKS,
      10_000,
    ]);
    // 12 500 ÷ 9 tokens per second: ticks per token/s = TOKEN_TICKS × 9 ÷ 12 500, reduced.
    expect(Number(u.tokens.num) / Number(u.tokens.den)).toBe((TOKEN_TICKS * 9) / 12_500);
  });

  it('refuses capacities below one quantum or not positive', () => {
    expect(() => unitsOf({ cpu: 0.0009, memory: 1, tokens: 1, attention: 1 })).toThrow(RangeError);
    expect(() => unitsOf({ cpu: 1, memory: 1, tokens: 0, attention: 1 })).toThrow(RangeError);
    expect(() => unitsOf({ cpu: 1, memory: 1, tokens: 1, attention: Number.NaN })).toThrow(RangeError);
  });
});

describe('needs and supply in ticks', () => {
  it('counts a quantity in quanta exactly as its decimal, rounded up', () => {
    const unit = unitsOf({ cpu: 100, memory: 100, tokens: 1, attention: 1 }).cpu;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100_000_000 }), fc.integer({ min: 0, max: 7 }), (n, shift) => {
        const q = n / 10 ** shift;
        const d = decimalOf(q);
        if (!d) throw new Error('unreachable');
        const exact = ceilDiv(d.digits * 10n ** BigInt(QUANTUM_DECIMALS.cpu), 10n ** BigInt(d.scale));
        expect(quantaUp(q, unit)).toBe(exact);
      }),
      { numRuns: 2000 },
    );
  });

  it('counts a token need n ÷ d exactly, rounded up, the fast path included', () => {
    fc.assert(
      fc.property(
        tokenCapacityArb,
        fc.integer({ min: 1, max: 86_400 }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        ({ cap, p, q }, d, n) => {
          const unit = unitsOf({ cpu: 1, memory: 1, tokens: cap, attention: 1 }).tokens;
          // n ÷ d tokens per second in ticks of cap ÷ TOKEN_TICKS = n × TOKEN_TICKS × q ÷ (d × p).
          const exact = ceilDiv(BigInt(n) * BigInt(TOKEN_TICKS) * q, BigInt(d) * p);
          expect(tokenTicksUp(n / d, d, unit)).toBe(exact);
          // The largest acceptable total is the last one that fits.
          const most = maxTokens(d, unit);
          expect(tokenTicksUp(most / d, d, unit)).toBeLessThanOrEqual(TOKEN_TICKS);
          expect(tokenTicksUp((most + 1) / d, d, unit)).toBeGreaterThan(TOKEN_TICKS);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('reads back the supply doubles it writes, and reads the capacity as the whole capacity', () => {
    fc.assert(
      fc.property(tokenCapacityArb, fc.double({ min: 0, max: 1, noNaN: true }), ({ cap }, share) => {
        const units = unitsOf({ cpu: 100, memory: 33.333, tokens: cap, attention: 0.7 });
        for (const unit of Object.values(units)) {
          const m = Math.floor(unit.capacity * share);
          expect(supplyTicks(rateOfTicks(m, unit), unit)).toBe(m);
        }
        expect(supplyTicks(cap, units.tokens)).toBe(TOKEN_TICKS);
        expect(supplyTicks(33.333, units.memory)).toBe(33_333);
        expect(supplyTicks(-1e-13, units.cpu)).toBe(0);
        expect(supplyTicks(1e300, units.cpu)).toBe(100_000);
      }),
      { numRuns: 500 },
    );
  });

  it('rounds a supply that is not a whole number of ticks down, exactly', () => {
    const unit = unitsOf({ cpu: 100, memory: 100, tokens: 1, attention: 1 }).cpu;
    expect(supplyTicks(50.0005, unit)).toBe(50_000);
    expect(supplyTicks(0.0009999, unit)).toBe(0);
    // 0.1 + 0.2 = 0.30000000000000004 is a hair above 300 quanta.
    expect(supplyTicks(0.1 + 0.2, unit)).toBe(300);
  });

  it('without a duration, counts the rate of a whole number of ticks as those ticks', () => {
    const unit = unitsOf({ cpu: 1, memory: 1, tokens: 5e6 / 3600, attention: 1 }).tokens;
    expect(tokenTicksNear(6250 / 9, unit)).toBe(TOKEN_TICKS / 2);
    expect(tokenTicksNear(12_500 / 9, unit)).toBe(TOKEN_TICKS);
    expect(tokenTicksNear(0, unit)).toBe(0);
  });
});
