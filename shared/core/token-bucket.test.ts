/**
 * Per-caller token buckets with an injected clock: the burst, the refill, the Retry-After they
 * compute and the bound on memory.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Clock } from './ports.ts';
import {
  type BucketOptions,
  bucketMath,
  decisionAt,
  InProcessRateLimiter,
  microsOf,
  TokenBuckets,
  take,
} from './token-bucket.ts';

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
    const results = Array.from({ length: 7 }, () => b.decide('a').retryAfterSeconds);
    expect(results).toEqual([0, 0, 0, 0, 0, 1, 1]);
  });

  it('refills at the configured rate as the clock advances', () => {
    const { buckets: b, advance } = buckets({ ratePerSecond: 2, burst: 2 });
    expect([b.decide('a').retryAfterSeconds, b.decide('a').retryAfterSeconds]).toEqual([0, 0]);
    expect(b.decide('a').retryAfterSeconds).toBeGreaterThan(0);
    advance(499);
    expect(b.decide('a').retryAfterSeconds).toBeGreaterThan(0);
    advance(1);
    expect(b.decide('a').retryAfterSeconds).toBe(0);
    expect(b.decide('a').retryAfterSeconds).toBeGreaterThan(0);
  });

  it('never holds more than the burst, however long the caller was quiet', () => {
    const { buckets: b, advance } = buckets({ ratePerSecond: 10, burst: 3 });
    b.decide('a').retryAfterSeconds;
    advance(3_600_000);
    expect(Array.from({ length: 4 }, () => b.decide('a').retryAfterSeconds)).toEqual([0, 0, 0, 1]);
  });

  it('keeps one bucket per caller', () => {
    const { buckets: b } = buckets({ ratePerSecond: 1, burst: 1 });
    expect(b.decide('a').retryAfterSeconds).toBe(0);
    expect(b.decide('a').retryAfterSeconds).toBeGreaterThan(0);
    expect(b.decide('b').retryAfterSeconds).toBe(0);
  });

  it('answers the whole seconds until a token is available, at least 1', () => {
    const slow = buckets({ ratePerSecond: 0.25, burst: 1 });
    slow.buckets.decide('a').retryAfterSeconds;
    expect(slow.buckets.decide('a').retryAfterSeconds).toBe(4);
    slow.advance(1_000);
    expect(slow.buckets.decide('a').retryAfterSeconds).toBe(3);
    slow.advance(2_500);
    expect(slow.buckets.decide('a').retryAfterSeconds).toBe(1);

    const fast = buckets({ ratePerSecond: 100, burst: 1 });
    fast.buckets.decide('a').retryAfterSeconds;
    // 10 ms away, but Retry-After is in whole seconds and 0 would mean "go ahead".
    expect(fast.buckets.decide('a').retryAfterSeconds).toBe(1);
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
          const wait = b.decide('a').retryAfterSeconds;
          if (wait > 0) {
            expect(Number.isInteger(wait)).toBe(true);
            advance(wait * 1000);
            expect(b.decide('a').retryAfterSeconds).toBe(0);
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
          if (b.decide('a').retryAfterSeconds === 0) allowed++;
          expect(allowed).toBeLessThanOrEqual(burst + (elapsed / 1000) * ratePerSecond + 1e-9);
        }
      }),
    );
  });

  it('tracks at most maxKeys callers', () => {
    const { buckets: b } = buckets({ ratePerSecond: 1, burst: 1, maxKeys: 100 });
    for (let i = 0; i < 10_000; i++) b.decide(`caller-${i}`);
    expect(tracked(b)).toBe(100);
  });

  it('drops the least recently seen caller first', () => {
    const { buckets: b } = buckets({ ratePerSecond: 0.001, burst: 1, maxKeys: 2 });
    expect(b.decide('a').retryAfterSeconds).toBe(0);
    expect(b.decide('b').retryAfterSeconds).toBe(0);
    expect(b.decide('a').retryAfterSeconds).toBeGreaterThan(0); // a is seen again: b is now the oldest
    expect(b.decide('c').retryAfterSeconds).toBe(0); // evicts b, keeps a
    expect(b.decide('a').retryAfterSeconds).toBeGreaterThan(0); // a's empty bucket survived
    expect(b.decide('b').retryAfterSeconds).toBe(0); // b was forgotten: it starts again with a full bucket
  });

  it('says what the RateLimit headers should: limit, remaining, reset', () => {
    const { buckets: b, advance } = buckets({ ratePerSecond: 2, burst: 3 });
    expect(b.decide('a')).toEqual({ allowed: true, limit: 3, remaining: 2, resetSeconds: 1, retryAfterSeconds: 0 });
    expect(b.decide('a')).toMatchObject({ allowed: true, remaining: 1, resetSeconds: 1 });
    expect(b.decide('a')).toMatchObject({ allowed: true, remaining: 0, resetSeconds: 2 });
    expect(b.decide('a')).toEqual({ allowed: false, limit: 3, remaining: 0, resetSeconds: 2, retryAfterSeconds: 1 });
    advance(500);
    expect(b.decide('a')).toMatchObject({ allowed: true, remaining: 0 });
    advance(10_000);
    expect(b.decide('a')).toMatchObject({ allowed: true, remaining: 2 });
  });

  it('behaves exactly as a bucket of tokens refilled from the elapsed time', () => {
    // The reference: tokens (in µs of refill) topped up by the elapsed time, capped, one taken.
    const scenario = fc.record({
      ratePerSecond: fc.constantFrom(0.25, 0.5, 1, 2, 4, 5, 8, 20, 100, 1000),
      burst: fc.integer({ min: 1, max: 30 }),
      gaps: fc.array(fc.integer({ min: 0, max: 5_000 }), { maxLength: 100 }),
    });
    fc.assert(
      fc.property(scenario, ({ ratePerSecond, burst, gaps }) => {
        const m = bucketMath({ ratePerSecond, burst });
        let tat: number | undefined;
        let tokens = burst * m.intervalUs;
        let now = 1_700_000_000_000_000;
        for (const gap of gaps) {
          tokens = Math.min(burst * m.intervalUs, tokens + gap * 1000);
          now += gap * 1000;
          const expected = tokens >= m.intervalUs;
          if (expected) tokens -= m.intervalUs;
          const out = take(tat, now, m);
          tat = out.tat;
          expect(out.decision.allowed).toBe(expected);
          expect(out.decision.remaining).toBe(Math.floor(tokens / m.intervalUs));
        }
      }),
    );
  });

  it('rounds the interval up, so the limit can only get stricter', () => {
    expect(bucketMath({ ratePerSecond: 3, burst: 1 }).intervalUs).toBe(333_334);
    expect(bucketMath({ ratePerSecond: 50, burst: 100 })).toEqual({
      burst: 100,
      intervalUs: 20_000,
      toleranceUs: 1_980_000,
    });
    expect(microsOf(1.5)).toBe(1_500);
  });

  it('refuses options that describe no bucket', () => {
    for (const bad of [
      { ratePerSecond: 0, burst: 1 },
      { ratePerSecond: -1, burst: 1 },
      { ratePerSecond: Number.NaN, burst: 1 },
      { ratePerSecond: Number.POSITIVE_INFINITY, burst: 1 },
      { ratePerSecond: 1, burst: 0 },
      { ratePerSecond: 1, burst: 1.5 },
    ]) {
      expect(() => bucketMath(bad)).toThrow(RangeError);
    }
  });

  it('tells a refused caller when the bucket is full again and when to retry', () => {
    const m = bucketMath({ ratePerSecond: 1, burst: 2 });
    // Two tokens taken at 0: full again at 2 s, the next token at 1 s.
    expect(decisionAt(2_000_000, 0, false, m)).toEqual({
      allowed: false,
      limit: 2,
      remaining: 0,
      resetSeconds: 2,
      retryAfterSeconds: 1,
    });
    expect(decisionAt(undefined, 0, true, m)).toMatchObject({ remaining: 2, resetSeconds: 0 });
  });

  it('serves the limiter contract in process', async () => {
    const time = manualClock();
    const limiter = new InProcessRateLimiter({ ratePerSecond: 1, burst: 1 }, time.clock);
    expect((await limiter.take('a')).allowed).toBe(true);
    expect(await limiter.take('a')).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
    expect((await limiter.take('b')).allowed).toBe(true);
    time.advance(1_000);
    expect((await limiter.take('a')).allowed).toBe(true);
  });
});
