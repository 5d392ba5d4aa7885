/**
 * The in-process `RateLimiter`: per-caller token buckets in this process's memory. Right for
 * tests and a single process (the local stack); behind several Lambda containers each keeps
 * its own buckets, which is what a shared, table-backed limiter is for.
 */
import type { Clock } from '../core/ports.ts';
import type { RateDecision, RateLimiter } from '../core/rate-limit.ts';
import { type BucketOptions, TokenBuckets } from '../core/token-bucket.ts';

export class InProcessRateLimiter implements RateLimiter {
  private readonly buckets: TokenBuckets;
  /** Seconds for an empty bucket to fill again: the policy's window. */
  readonly windowSeconds: number;

  constructor(opts: BucketOptions, clock: Clock) {
    // TokenBuckets validates the options.
    this.buckets = new TokenBuckets(opts, clock);
    this.windowSeconds = Math.max(1, Math.ceil(opts.burst / opts.ratePerSecond));
  }

  async take(callerKey: string): Promise<RateDecision> {
    return this.buckets.decide(callerKey);
  }
}
