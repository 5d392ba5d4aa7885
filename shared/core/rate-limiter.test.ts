import { describe, expect, it } from 'vitest';
import type { Clock } from './ports.ts';
import { InProcessRateLimiter } from './token-bucket.ts';

function clock(): Clock & { advance(ms: number): void } {
  let now = 1_700_000_000_000;
  return {
    now: () => now,
    advance: (ms) => {
      now += ms;
    },
  };
}

describe('InProcessRateLimiter', () => {
  it('refuses impossible policies', () => {
    expect(() => new InProcessRateLimiter({ ratePerSecond: 0, burst: 5 }, clock())).toThrow(RangeError);
    expect(() => new InProcessRateLimiter({ ratePerSecond: 1, burst: 0 }, clock())).toThrow(RangeError);
  });

  it('reports limit, remaining, reset and retry per caller', async () => {
    const c = clock();
    const limiter = new InProcessRateLimiter({ ratePerSecond: 2, burst: 2 }, c);
    expect(limiter.windowSeconds).toBe(1);
    expect(await limiter.take('a')).toEqual({
      allowed: true,
      limit: 2,
      remaining: 1,
      resetSeconds: 1,
      retryAfterSeconds: 0,
    });
    expect(await limiter.take('a')).toMatchObject({ allowed: true, remaining: 0 });
    expect(await limiter.take('a')).toEqual({
      allowed: false,
      limit: 2,
      remaining: 0,
      resetSeconds: 1,
      retryAfterSeconds: 1,
    });
    expect(await limiter.take('b')).toMatchObject({ allowed: true, remaining: 1 });
    c.advance(500);
    expect(await limiter.take('a')).toMatchObject({ allowed: true, remaining: 0 });
  });
});
