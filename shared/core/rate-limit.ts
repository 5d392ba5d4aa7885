/**
 * The contract between the HTTP stack's throttle and whatever counts requests: a limiter takes
 * one request of a caller and says whether it may run and what the `RateLimit` / `Retry-After`
 * headers should tell the caller. Implementations: an in-process token bucket (tests, one
 * process) and a table-backed one shared by every container, so a limit holds per caller.
 */

export interface RateDecision {
  allowed: boolean;
  /** Requests allowed in a full window (the bucket's burst). */
  limit: number;
  /** Requests left now, after this one when it was allowed. */
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** Seconds until the next request may succeed; 0 when allowed. */
  retryAfterSeconds: number;
}

export interface RateLimiter {
  take(callerKey: string): Promise<RateDecision>;
}
