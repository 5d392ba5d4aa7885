/**
 * Money conversion is the one place where floats meet integers, so it is tested against an
 * independent oracle: the decimal text of an amount, split into whole and fractional digits.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addMicros,
  formatCredits,
  MAX_CREDITS,
  MAX_MICROS,
  MICROS_PER_CREDIT,
  MoneyError,
  micros,
  parseCredits,
  subMicros,
} from './money.ts';

/** `whole.frac` (frac as exactly `digits` characters) as the JSON number a client would send. */
const literal = (whole: number, frac: number, digits = 6) => Number(`${whole}.${String(frac).padStart(digits, '0')}`);

describe('parseCredits / formatCredits round trip', () => {
  it('format then parse gives back every integer amount of micro-credits in range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_MICROS }), (m) => {
        expect(parseCredits(formatCredits(m))).toBe(m);
      }),
      { numRuns: 20_000 },
    );
  });

  it('round-trips negative amounts too (mint) when negatives are allowed', () => {
    fc.assert(
      fc.property(fc.integer({ min: -MAX_MICROS, max: 0 }), (m) => {
        // -0 and 0 are the same amount of money.
        expect(parseCredits(formatCredits(m), { allowNegative: true }) === m).toBe(true);
      }),
      { numRuns: 5_000 },
    );
  });

  it('parses every decimal literal with at most 6 decimals to exactly whole * 1e6 + frac', () => {
    const amount = fc.record({
      whole: fc.integer({ min: 0, max: MAX_CREDITS - 1 }),
      frac: fc.integer({ min: 0, max: MICROS_PER_CREDIT - 1 }),
    });
    fc.assert(
      fc.property(amount, ({ whole, frac }) => {
        expect(parseCredits(literal(whole, frac))).toBe(whole * MICROS_PER_CREDIT + frac);
      }),
      { numRuns: 20_000 },
    );
  });

  it('formats to a number whose decimal text has at most 6 decimals', () => {
    fc.assert(
      fc.property(fc.integer({ min: -MAX_MICROS, max: MAX_MICROS }), (m) => {
        expect(String(formatCredits(m))).toMatch(/^-?\d+(?:\.\d{1,6})?$/);
      }),
    );
  });
});

describe('parseCredits exactness on floating-point traps', () => {
  // Multiplying by 1e6 would get several of these wrong (1.005 * 1e6 = 1004999.9999999999).
  it.each([
    [1.005, 1_005_000],
    [0.000001, 1],
    [0.1, 100_000],
    [0.3, 300_000],
    [0.7, 700_000],
    [1.1, 1_100_000],
    [4.35, 4_350_000],
    [120.5, 120_500_000],
    [123456.789012, 123_456_789_012],
    [999999999.999999, 999_999_999_999_999],
    [1_000_000_000, MAX_MICROS],
    [0, 0],
  ])('%d credits = %d micro-credits', (credits, expected) => {
    expect(parseCredits(credits)).toBe(expected);
  });

  it('rejects the result of float arithmetic that carries hidden digits (0.1 + 0.2)', () => {
    expect(() => parseCredits(0.1 + 0.2)).toThrow(MoneyError);
  });

  it('formats classic amounts back to the literal', () => {
    expect(formatCredits(micros(1_005_000))).toBe(1.005);
    expect(formatCredits(micros(1))).toBe(0.000001);
    expect(formatCredits(micros(-1))).toBe(-0.000001);
    expect(formatCredits(micros(999_999_999_999_999))).toBe(999999999.999999);
    expect(formatCredits(micros(123_456_789_012))).toBe(123456.789012);
  });
});

describe('parseCredits rejections', () => {
  it.each([0.0000001, 1.1234567, 0.1234567, 1e-7, 5e-324])('rejects %d (more than 6 decimals)', (v) => {
    expect(() => parseCredits(v)).toThrow(/6 decimal places/);
  });

  it('rejects every amount with a seventh decimal digit', () => {
    const sevenDecimals = fc.record({
      whole: fc.integer({ min: 0, max: 99_999 }),
      frac: fc.integer({ min: 0, max: 999_999 }),
      seventh: fc.integer({ min: 1, max: 9 }),
    });
    fc.assert(
      fc.property(sevenDecimals, ({ whole, frac, seventh }) => {
        const v = literal(whole, frac * 10 + seventh, 7);
        expect(() => parseCredits(v)).toThrow(MoneyError);
        expect(() => parseCredits(-v, { allowNegative: true })).toThrow(MoneyError);
      }),
    );
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])('rejects %d', (v) => {
    expect(() => parseCredits(v)).toThrow(/finite/);
    expect(() => parseCredits(v, { allowNegative: true })).toThrow(MoneyError);
  });

  it('rejects negatives unless allowed', () => {
    expect(() => parseCredits(-1)).toThrow(/negative/);
    expect(() => parseCredits(-0.000001)).toThrow(/negative/);
    expect(parseCredits(-1.5, { allowNegative: true })).toBe(-1_500_000);
    fc.assert(
      fc.property(fc.double({ max: -Number.MIN_VALUE, noNaN: true }), (v) => {
        expect(() => parseCredits(v)).toThrow(MoneyError);
      }),
    );
  });

  it('rejects zero only when asked to', () => {
    expect(parseCredits(0)).toBe(0);
    expect(parseCredits(0, { allowZero: true })).toBe(0);
    expect(() => parseCredits(0, { allowZero: false })).toThrow(/greater than 0/);
    expect(() => parseCredits(-0, { allowZero: false })).toThrow(MoneyError);
  });

  it('rejects amounts above 1e9 credits, whatever their sign', () => {
    expect(() => parseCredits(1_000_000_000.000001)).toThrow(/exceed/);
    expect(() => parseCredits(1_000_000_001)).toThrow(/exceed/);
    expect(() => parseCredits(-1_000_000_001, { allowNegative: true })).toThrow(/exceed/);
    expect(() => parseCredits(Number.MAX_VALUE)).toThrow(/exceed/);
    fc.assert(
      fc.property(fc.double({ min: MAX_CREDITS, max: Number.MAX_VALUE, noNaN: true, minExcluded: true }), (v) => {
        expect(() => parseCredits(v)).toThrow(MoneyError);
      }),
    );
  });

  it('rejects anything that is not a number (strings, bigints, null, objects…)', () => {
    fc.assert(
      fc.property(
        fc
          .anything({ withBigInt: true, withBoxedValues: true, withNullPrototype: true })
          .filter((v) => typeof v !== 'number'),
        (v) => {
          expect(() => parseCredits(v)).toThrow(/must be a number/);
        },
      ),
    );
    for (const v of ['1', '0.5', 1n, null, undefined, true, [1], { amount: 1 }, new Number(1)]) {
      expect(() => parseCredits(v)).toThrow(MoneyError);
    }
  });

  it('never returns anything but a safe integer within ±MAX_MICROS, for any double', () => {
    fc.assert(
      fc.property(fc.double(), fc.boolean(), (v, allowNegative) => {
        let result: number;
        try {
          result = parseCredits(v, { allowNegative });
        } catch (err) {
          expect(err).toBeInstanceOf(MoneyError);
          return;
        }
        expect(Number.isSafeInteger(result)).toBe(true);
        expect(Math.abs(result)).toBeLessThanOrEqual(MAX_MICROS);
        // Whatever was accepted formats back to the very same number.
        expect(formatCredits(result)).toBe(v === 0 ? 0 : v);
      }),
      { numRuns: 5_000 },
    );
  });
});

describe('integer arithmetic', () => {
  it('micros() accepts safe integers only', () => {
    expect(micros(42)).toBe(42);
    expect(micros(-42)).toBe(-42);
    for (const bad of [1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect(() => micros(bad)).toThrow(MoneyError);
    }
  });

  it('formatCredits refuses non-integers instead of rounding them', () => {
    expect(() => formatCredits(1.5)).toThrow(MoneyError);
  });

  it('addMicros and subMicros are exact and refuse to leave the safe-integer range', () => {
    expect(addMicros(micros(100_000), micros(200_000))).toBe(300_000);
    expect(subMicros(micros(100_000), micros(300_000))).toBe(-200_000);
    expect(() => addMicros(micros(Number.MAX_SAFE_INTEGER), micros(1))).toThrow(MoneyError);
    expect(() => subMicros(micros(Number.MIN_SAFE_INTEGER), micros(1))).toThrow(MoneyError);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_MICROS }), fc.integer({ min: 0, max: MAX_MICROS }), (a, b) => {
        expect(subMicros(addMicros(micros(a), micros(b)), micros(b))).toBe(a);
      }),
    );
  });
});
