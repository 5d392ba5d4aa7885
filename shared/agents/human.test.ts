/**
 * The simulated human's taste and pace: scores are integers 0–10, the same for the same seed,
 * better for a prompt that fits its taste; it never rewards faster than its pace nor past the
 * share of the hour's ceiling it allows itself.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../core/ports.ts';
import { DEFAULT_TASTE, mayReward, type Pace, rewardCredits, scorePrompt } from './human.ts';

const prompt = (content: string, attention_price = 0.2) => ({ prompt_id: 'p_1', content, attention_price });

describe('taste', () => {
  it('scores are integers from 0 to 10, and the same for the same seed', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 600 }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.nat(),
        (text, price, seed) => {
          const a = scorePrompt(prompt(text, price), DEFAULT_TASTE, seededRandom(seed));
          const b = scorePrompt(prompt(text, price), DEFAULT_TASTE, seededRandom(seed));
          expect(a).toEqual(b);
          for (const s of [a.interesting, a.useful, a.understandable]) {
            expect(Number.isInteger(s) && s >= 0 && s <= 10).toBe(true);
          }
          expect(a.reason.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('prefers a prompt of its liked length and topics to a terse one', () => {
    const quiet = { ...DEFAULT_TASTE, noise: 0 };
    const good = scorePrompt(
      prompt(
        'An idea for a shared cache between agents. Demand for tokens peaks each round. ' +
          'A cache would make the work cheaper for all of us. Here is a short summary of the plan.',
      ),
      quiet,
      seededRandom(1),
    );
    const terse = scorePrompt(prompt('bid bid bid'), quiet, seededRandom(1));
    expect(rewardCredits(good, { w_i: 10, w_u: 10, w_n: 10 })).toBeGreaterThan(
      rewardCredits(terse, { w_i: 10, w_u: 10, w_n: 10 }),
    );
  });

  it('reads more kindly what paid more for its attention', () => {
    const quiet = { ...DEFAULT_TASTE, noise: 0 };
    const text = 'A summary of the last ten rounds of demand.';
    const dear = scorePrompt(prompt(text, 3.2), quiet, seededRandom(1));
    const cheap = scorePrompt(prompt(text, 0.05), quiet, seededRandom(1));
    expect(dear.interesting + dear.useful).toBeGreaterThan(cheap.interesting + cheap.useful);
  });
});

describe('pace', () => {
  const pace: Pace = { interval_ms: 3_000, hourly_ceiling: 10_000, burst_share: 0.2 };
  const hour = Date.UTC(2026, 11, 2, 8, 0, 0);

  it('waits its interval between rewards', () => {
    expect(mayReward(hour + 10_000, hour + 8_000, 0, 100, pace)).toBe(false);
    expect(mayReward(hour + 11_000, hour + 8_000, 0, 100, pace)).toBe(true);
    expect(mayReward(hour, undefined, 0, 100, pace)).toBe(true);
  });

  it('mints a burst at the start of the hour, then spreads the rest of the ceiling evenly', () => {
    expect(mayReward(hour + 1_000, undefined, 1_900, 100, pace)).toBe(true);
    expect(mayReward(hour + 1_000, undefined, 2_000, 100, pace)).toBe(false);
    expect(mayReward(hour + 1_800_000, undefined, 5_900, 100, pace)).toBe(true);
    expect(mayReward(hour + 1_800_000, undefined, 6_000, 100, pace)).toBe(false);
  });

  it('never passes the hourly ceiling', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3_599_999 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 1, max: 300 }),
        (t, minted, credits) => {
          if (mayReward(hour + t, undefined, minted, credits, pace))
            expect(minted + credits).toBeLessThanOrEqual(10_000);
        },
      ),
    );
  });
});
