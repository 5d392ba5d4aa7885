/**
 * Throttle: one request of the caller taken from a `RateLimiter`; refused → 429
 * `too_many_requests` with `Retry-After`. Every answer of a throttled route carries the
 * limiter's view as `RateLimit` and `RateLimit-Policy` (IETF httpapi ratelimit-headers draft),
 * the 429 included. Public routes (no caller) are not throttled here; API Gateway's stage
 * throttling covers them.
 */
import type { MiddlewareObj } from '@middy/core';
import { DomainError } from '../../core/errors.ts';
import type { RateDecision, RateLimiter } from '../../core/rate-limit.ts';
import type { HttpEvent, HttpResult } from '../contract.ts';
import { callerKey, stateOf } from './state.ts';

export interface ThrottleOptions {
  limiter: RateLimiter;
  /** The policy's window in seconds (`w`): how long a full quota takes to come back. */
  windowSeconds: number;
  /** The policy's name in both headers. @default 'default' */
  policy?: string;
}

const POLICY_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** `RateLimit` and `RateLimit-Policy` for one decision. */
export function rateLimitHeaders(d: RateDecision, windowSeconds: number, policy = 'default'): Record<string, string> {
  const whole = (n: number) => Math.max(0, Math.ceil(n));
  return {
    ratelimit: `"${policy}";r=${Math.max(0, Math.floor(d.remaining))};t=${whole(d.resetSeconds)}`,
    'ratelimit-policy': `"${policy}";q=${whole(d.limit)};w=${whole(windowSeconds)}`,
  };
}

export function throttleMiddleware(options: ThrottleOptions): MiddlewareObj<HttpEvent, HttpResult> {
  const { limiter, windowSeconds, policy = 'default' } = options;
  if (typeof limiter?.take !== 'function') throw new TypeError('throttle: limiter must implement take()');
  if (!Number.isFinite(windowSeconds) || windowSeconds <= 0) {
    throw new RangeError(`throttle: windowSeconds must be a positive number, got ${windowSeconds}`);
  }
  if (!POLICY_NAME.test(policy)) throw new RangeError(`throttle: policy name ${JSON.stringify(policy)} is not a token`);
  return {
    before: async (request) => {
      const state = stateOf(request);
      if (!state.caller || state.caller.role === 'anonymous') return;
      const decision = await limiter.take(callerKey(state.caller));
      Object.assign(state.headers, rateLimitHeaders(decision, windowSeconds, policy));
      if (!decision.allowed) {
        const wait = Math.max(1, Math.ceil(decision.retryAfterSeconds));
        throw new DomainError('too_many_requests', 429, 'Request rate limit exceeded.', {}, undefined, wait);
      }
    },
  };
}
