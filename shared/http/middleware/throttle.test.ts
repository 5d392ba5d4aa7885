import { describe, expect, it, vi } from 'vitest';
import type { RateDecision, RateLimiter } from '../../core/rate-limit.ts';
import { fixtureRequest } from './middleware.fixtures.ts';
import { stateOf } from './state.ts';
import { rateLimitHeaders, throttleMiddleware } from './throttle.ts';

const decision = (d: Partial<RateDecision>): RateDecision => ({
  allowed: true,
  limit: 20,
  remaining: 19,
  resetSeconds: 1,
  retryAfterSeconds: 0,
  ...d,
});
const limiter = (d: RateDecision): RateLimiter & { take: ReturnType<typeof vi.fn> } => ({
  take: vi.fn(async () => d),
});

function throttled(key: string, caller?: { role: 'agent'; agent_id: string } | { role: 'operator' }) {
  const request = fixtureRequest(key);
  if (caller) stateOf(request).caller = caller;
  return request;
}

describe('rateLimitHeaders', () => {
  it('writes the IETF draft fields', () => {
    expect(rateLimitHeaders(decision({ remaining: 4, resetSeconds: 1.2, limit: 20 }), 1)).toEqual({
      ratelimit: '"default";r=4;t=2',
      'ratelimit-policy': '"default";q=20;w=1',
    });
    expect(rateLimitHeaders(decision({ remaining: -1, resetSeconds: -3 }), 2.5, 'burst').ratelimit).toBe(
      '"burst";r=0;t=0',
    );
  });
});

describe('throttleMiddleware', () => {
  it('validates its options', () => {
    expect(() => throttleMiddleware({ limiter: {} as RateLimiter, windowSeconds: 1 })).toThrow(/take/);
    expect(() => throttleMiddleware({ limiter: limiter(decision({})), windowSeconds: 0 })).toThrow(/windowSeconds/);
    expect(() => throttleMiddleware({ limiter: limiter(decision({})), windowSeconds: 1, policy: 'a b' })).toThrow(
      /token/,
    );
  });

  it('takes one request per caller key and records the headers for the answer', async () => {
    const l = limiter(decision({ remaining: 7 }));
    const request = throttled('POST /v1/transfers', { role: 'agent', agent_id: 'a_1' });
    await throttleMiddleware({ limiter: l, windowSeconds: 1 }).before?.(request);
    expect(l.take).toHaveBeenCalledWith('a_1');
    expect(stateOf(request).headers.ratelimit).toBe('"default";r=7;t=1');
    const operator = throttled('GET /v1/agents', { role: 'operator' });
    await throttleMiddleware({ limiter: l, windowSeconds: 1 }).before?.(operator);
    expect(l.take).toHaveBeenLastCalledWith('operator');
  });

  it('refuses with 429 and a whole Retry-After of at least one second, keeping the headers', async () => {
    const l = limiter(decision({ allowed: false, remaining: 0, retryAfterSeconds: 0.2 }));
    const request = throttled('POST /v1/transfers', { role: 'agent', agent_id: 'a_1' });
    await expect(throttleMiddleware({ limiter: l, windowSeconds: 1 }).before?.(request)).rejects.toMatchObject({
      status: 429,
      code: 'too_many_requests',
      retryAfter: 1,
    });
    expect(stateOf(request).headers['ratelimit-policy']).toBe('"default";q=20;w=1');
  });

  it('does not count requests without a caller (public routes)', async () => {
    const l = limiter(decision({}));
    await throttleMiddleware({ limiter: l, windowSeconds: 1 }).before?.(throttled('GET /v1/health'));
    expect(l.take).not.toHaveBeenCalled();
  });
});
