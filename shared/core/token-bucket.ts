/**
 * Per-caller token buckets for request throttling. Pure and clock-injected; the HTTP stack keeps
 * one map per container (AWS adds stage throttling in front).
 */
import type { Clock } from './ports.ts';

export interface BucketOptions {
  /** Tokens added per second. */
  ratePerSecond: number;
  /** Bucket size: the burst allowed after a quiet period. */
  burst: number;
  /** Bound on the number of callers tracked (least recently seen are dropped). */
  maxKeys?: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly opts: BucketOptions,
    private readonly clock: Clock,
  ) {}

  /** Takes one token; returns 0 when allowed, else the seconds until a token is available. */
  take(key: string): number {
    const now = this.clock.now();
    const b = this.buckets.get(key) ?? { tokens: this.opts.burst, at: now };
    const tokens = Math.min(this.opts.burst, b.tokens + ((now - b.at) / 1000) * this.opts.ratePerSecond);
    this.buckets.delete(key);
    if (tokens >= 1) {
      this.buckets.set(key, { tokens: tokens - 1, at: now });
      this.evict();
      return 0;
    }
    this.buckets.set(key, { tokens, at: now });
    return Math.max(1, Math.ceil((1 - tokens) / this.opts.ratePerSecond));
  }

  private evict() {
    const max = this.opts.maxKeys ?? 100_000;
    while (this.buckets.size > max) {
      const oldest = this.buckets.keys().next().value;
      if (oldest === undefined) break;
      this.buckets.delete(oldest);
    }
  }
}
