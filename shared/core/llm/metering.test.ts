/**
 * The reservation and charge arithmetic: properties over random prompts, bounds, weights and
 * budgets, and the exact cases a float would get wrong.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../errors.ts';
import { chargeOf, modelTokensWithin, reservationOf, weighted } from './metering.ts';

const weight = fc.integer({ min: 1, max: 1_000_000 }).map((m) => m / 1000);
const input = fc.record({
  prompt_tokens: fc.integer({ min: 0, max: 200_000 }),
  requested_max_tokens: fc.option(fc.integer({ min: 1, max: 1_000_000 }), { nil: undefined }),
  default_max_tokens: fc.integer({ min: 1, max: 100_000 }),
  weight,
  remaining: fc.integer({ min: 0, max: 10_000_000 }),
});

describe('reservationOf', () => {
  it('never reserves more than is left, covers the prompt and one token, and caps the bound', () => {
    fc.assert(
      fc.property(input, (i) => {
        let plan: ReturnType<typeof reservationOf>;
        try {
          plan = reservationOf(i);
        } catch (err) {
          // Refused only when not even the prompt and one completion token fit.
          expect(err).toBeInstanceOf(DomainError);
          expect((err as DomainError).code).toBe('quota_exceeded');
          expect(weighted(i.prompt_tokens + 1, i.weight)).toBeGreaterThan(i.remaining);
          return;
        }
        expect(plan.tokens).toBeLessThanOrEqual(i.remaining);
        expect(plan.max_tokens).toBeGreaterThanOrEqual(1);
        expect(plan.max_tokens).toBeLessThanOrEqual(i.requested_max_tokens ?? i.default_max_tokens);
        expect(plan.tokens).toBe(weighted(i.prompt_tokens + plan.max_tokens, i.weight));
        // Capped only by what is left: one more token would not fit.
        if (plan.max_tokens < (i.requested_max_tokens ?? i.default_max_tokens)) {
          expect(weighted(i.prompt_tokens + plan.max_tokens + 1, i.weight)).toBeGreaterThan(i.remaining);
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('defaults the bound, and refuses a prompt that does not fit with what it needs', () => {
    const base = { prompt_tokens: 10, default_max_tokens: 50, weight: 1, remaining: 1000 };
    expect(reservationOf(base)).toEqual({ max_tokens: 50, tokens: 60 });
    expect(reservationOf({ ...base, requested_max_tokens: 5 })).toEqual({ max_tokens: 5, tokens: 15 });
    expect(reservationOf({ ...base, remaining: 30 })).toEqual({ max_tokens: 20, tokens: 30 });
    expect(reservationOf({ ...base, weight: 2, remaining: 30 })).toEqual({ max_tokens: 5, tokens: 30 });
    expect(() => reservationOf({ ...base, remaining: 10 })).toThrow(/11 tokens requested, 10 left/);
  });
});

describe('weights', () => {
  it('charge usage × weight rounded up, in exact thousandths', () => {
    // 30 × 0.1 is 3.0000000000000004 in floats; the charge is exactly 3.
    expect(weighted(30, 0.1)).toBe(3);
    expect(weighted(31, 0.1)).toBe(4);
    expect(weighted(0, 2.5)).toBe(0);
    expect(chargeOf({ prompt_tokens: 8, completion_tokens: 5 }, 2.5)).toBe(33);
    expect(() => weighted(1.5, 1)).toThrow(RangeError);
    expect(() => weighted(1, 0.0001)).toThrow(RangeError);
  });

  it('charge twice the tokens for twice the weight, and never less than the tokens × weight', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e9 }), weight, (n, w) => {
        expect(weighted(n, w)).toBeGreaterThanOrEqual(n * w - 1e-6);
        expect(weighted(n, w)).toBeLessThan(n * w + 1);
        expect(weighted(n, w * 2) - 2 * weighted(n, w)).toBeLessThanOrEqual(0);
        expect(weighted(modelTokensWithin(n, w), w)).toBeLessThanOrEqual(n);
      }),
    );
  });
});
