/**
 * Per-caller token buckets with an injected clock: the burst, the refill, the Retry-After they
 * compute and the bound on memory.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Clock } from './ports.ts';
import { type BucketOptions, TokenBuckets } from './token-bucket.ts';

function manualClock(start = 1_700_000_000_000) {
  let now = start;
  const clock: Clock = { now: () => now };
  return {
    clock,
    advance(ms: number) {
      now += ms;
    },
  };
}

function buckets(opts: BucketOptions) {
  const time = manualClock();
  return { ...time, buckets: new TokenBuckets(opts, time.clock) };
}

/** The number of callers tracked, to check the memory bound (not observable otherwise). */
const tracked = (b: TokenBuckets) => (b as unknown as { buckets: Map<string, unknown> }).buckets.size;

describe('TokenBuckets', () => {
  it('allows a full burst, then throttles', () => {
    const { buckets: b } = buckets({ ratePerSecond: 1, burst: 5 });
    const results = Array.from({ length: 7 }, () => b.take('a'));
    expect(results).toEqual([0, 0, 0, 0, 0, 1, 1]);
  });

  it('refills at the configured rate as the clock advances', () => {
    const { buckets: b, advance } = buckets({ ratePerSecond: 2, burst: 2 });
    expect([b.take('a'), b.take('a')]).toEqual([0, 0]);
    expect(b.take('a')).toBeGreaterThan(0);
    advance(499);
    expect(b.take('a')).toBeGreaterThan(0);
    advance(1);
    expect(b.take('a')).toBe(0);
    expect(b.take('a')).toBeGreaterThan(0);
  });

  it('never holds more than the burst, however long the caller was quiet', () => {
    const { buckets: b, advance } = buckets({ ratePerSecond: 10, burst: 3 });
    b.take('a');
    advance(3_600_000);
    expect(Array.from({ length: 4 }, () => b.take('a'))).toEqual([0, 0, 0, 1]);
  });

  it('keeps one bucket per caller', () => {
    const { buckets: b } = buckets({ ratePerSecond: 1, burst: 1 });
    expect(b.take('a')).toBe(0);
    expect(b.take('a')).toBeGreaterThan(0);
    expect(b.take('b')).toBe(0);
  });

  it('answers the whole seconds until a token is available, at least 1', () => {
    const slow = buckets({ ratePerSecond: 0.25, burst: 1 });
    slow.buckets.take('a');
    expect(slow.buckets.take('a')).toBe(4);
    slow.advance(1_000);
    expect(slow.buckets.take('a')).toBe(3);
    slow.advance(2_500);
    expect(slow.buckets.take('a')).toBe(1);

    const fast = buckets({ ratePerSecond: 100, burst: 1 });
    fast.buckets.take('a');
    // 10 ms away, but Retry-After is in whole seconds and 0 would mean "go ahead".
    expect(fast.buckets.take('a')).toBe(1);
  });

  it('lets a caller through once it has waited the Retry-After it was given', () => {
    const scenario = fc.record({
      ratePerSecond: fc.constantFrom(0.1, 0.25, 0.3, 0.5, 1, 2, 3, 7, 10, 100),
      burst: fc.integer({ min: 1, max: 10 }),
      gaps: fc.array(fc.integer({ min: 0, max: 3_000 }), { minLength: 1, maxLength: 40 }),
    });
    fc.assert(
      fc.property(scenario, ({ ratePerSecond, burst, gaps }) => {
        const { buckets: b, advance } = buckets({ ratePerSecond, burst });
        for (const gap of gaps) {
          advance(gap);
          const wait = b.take('a');
          if (wait > 0) {
            expect(Number.isInteger(wait)).toBe(true);
            advance(wait * 1000);
            expect(b.take('a')).toBe(0);
          }
        }
      }),
    );
  });

  it('never lets more than burst + rate × elapsed requests through', () => {
    const scenario = fc.record({
      ratePerSecond: fc.constantFrom(0.5, 1, 2, 5, 20),
      burst: fc.integer({ min: 1, max: 20 }),
      gaps: fc.array(fc.integer({ min: 0, max: 500 }), { maxLength: 200 }),
    });
    fc.assert(
      fc.property(scenario, ({ ratePerSecond, burst, gaps }) => {
        const { buckets: b, advance } = buckets({ ratePerSecond, burst });
        let allowed = 0;
        let elapsed = 0;
        for (const gap of gaps) {
          advance(gap);
          elapsed += gap;
          if (b.take('a') === 0) allowed++;
          expect(allowed).toBeLessThanOrEqual(burst + (elapsed / 1000) * ratePerSecond + 1e-9);
        }
      }),
    );
  });

  it('tracks at most maxKeys callers', () => {
    const { buckets: b } = buckets({ ratePerSecond: 1, burst: 1, maxKeys: 100 });
    for (let i = 0; i < 10_000; i++) b.take(`caller-${i}`);
    expect(tracked(b)).toBe(100);
  });

  it('drops the least recently seen caller first', () => {
    const { buckets: b } = buckets({ ratePerSecond: 0.001, burst: 1, maxKeys: 2 });
    expect(b.take('a')).toBe(0);
    expect(b.take('b')).toBe(0);
    expect(b.take('a')).toBeGreaterThan(0); // a is seen again: b is now the oldest
    expect(b.take('c')).toBe(0); // evicts b, keeps a
    expect(b.take('a')).toBeGreaterThan(0); // a's empty bucket survived
    expect(b.take('b')).toBe(0); // b was forgotten: it starts again with a full bucket
  });
});
