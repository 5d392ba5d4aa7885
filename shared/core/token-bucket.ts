/**
 * Token buckets for request throttling: the pure arithmetic, shared by the in-process buckets
 * below and the table-backed limiter (`shared/adapters/dynamodb/rate-limiter.ts`), and the
 * in-process buckets themselves (one map per container; tests and a single process).
 *
 * A bucket is kept as its *theoretical arrival time* `tat` (the generic cell rate algorithm,
 * the exact equivalent of a token bucket): with `I = 1 / rate` per token, the bucket holds
 * `burst − max(0, tat − now) / I` tokens, a request conforms when `tat ≤ now + (burst − 1)·I`,
 * and taking a token sets `tat = max(tat, now) + I`. One number per caller, and the common
 * step (`tat += I` under a condition) is an atomic `ADD` in DynamoDB. Times are integer
 * microseconds, so every comparison is exact (in JavaScript and in DynamoDB alike); `I` is
 * rounded up to a whole microsecond, which can only make the limit stricter (by < 1 ppm at
 * the rates configured here).
 */
import type { Clock } from './ports.ts';
import type { RateDecision, RateLimiter } from './rate-limit.ts';

export interface BucketOptions {
  /** Tokens added per second. */
  ratePerSecond: number;
  /** Bucket size: the burst allowed after a quiet period. */
  burst: number;
  /** Bound on the number of callers tracked (least recently seen are dropped). */
  maxKeys?: number;
}

/** A bucket's constants, in microseconds. */
export interface BucketMath {
  burst: number;
  /** `I`: the time one token takes to come back. */
  intervalUs: number;
  /** `(burst − 1)·I`: how far `tat` may run ahead of now for a request to conform. */
  toleranceUs: number;
}

const US_PER_SECOND = 1_000_000;

export function bucketMath(opts: Pick<BucketOptions, 'ratePerSecond' | 'burst'>): BucketMath {
  if (!(Number.isFinite(opts.ratePerSecond) && opts.ratePerSecond > 0)) {
    throw new RangeError(`ratePerSecond must be a positive number, got ${opts.ratePerSecond}`);
  }
  if (!(Number.isInteger(opts.burst) && opts.burst >= 1)) {
    throw new RangeError(`burst must be an integer ≥ 1, got ${opts.burst}`);
  }
  const intervalUs = Math.ceil(US_PER_SECOND / opts.ratePerSecond);
  return { burst: opts.burst, intervalUs, toleranceUs: (opts.burst - 1) * intervalUs };
}

/** A clock reading (ms, possibly fractional) in whole microseconds. */
export const microsOf = (ms: number): number => Math.floor(ms * 1000);

/** Whether a request at `nowUs` may take a token from a bucket at `tat` (undefined: full). */
export function conforms(tat: number | undefined, nowUs: number, m: BucketMath): boolean {
  return tat === undefined || tat <= nowUs + m.toleranceUs;
}

/** The bucket after a conforming request has taken its token. */
export function tatAfterTake(tat: number | undefined, nowUs: number, m: BucketMath): number {
  return Math.max(tat ?? nowUs, nowUs) + m.intervalUs;
}

/**
 * What to tell the caller: `tat` is the bucket after this request (after the take when it was
 * allowed, unchanged when it was not).
 */
export function decisionAt(tat: number | undefined, nowUs: number, allowed: boolean, m: BucketMath): RateDecision {
  const debt = Math.max(0, (tat ?? nowUs) - nowUs);
  return {
    allowed,
    limit: m.burst,
    remaining: Math.max(0, m.burst - Math.ceil(debt / m.intervalUs)),
    resetSeconds: Math.ceil(debt / US_PER_SECOND),
    // Whole seconds, and never 0 on a refusal: 0 would mean "go ahead".
    retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((debt - m.toleranceUs) / US_PER_SECOND)),
  };
}

/** One request against a bucket: the decision and the bucket to keep. */
export function take(
  tat: number | undefined,
  nowUs: number,
  m: BucketMath,
): { decision: RateDecision; tat: number | undefined } {
  if (!conforms(tat, nowUs, m)) return { decision: decisionAt(tat, nowUs, false, m), tat };
  const next = tatAfterTake(tat, nowUs, m);
  return { decision: decisionAt(next, nowUs, true, m), tat: next };
}

/** Per-caller buckets in this process, least recently seen dropped beyond `maxKeys`. */
export class TokenBuckets {
  private readonly buckets = new Map<string, number>();
  private readonly math: BucketMath;

  constructor(
    private readonly opts: BucketOptions,
    private readonly clock: Clock,
  ) {
    this.math = bucketMath(opts);
  }

  /** Takes one token and says what the rate-limit headers should tell the caller. */
  decide(key: string): RateDecision {
    const nowUs = microsOf(this.clock.now());
    const out = take(this.buckets.get(key), nowUs, this.math);
    this.buckets.delete(key);
    if (out.tat !== undefined) this.buckets.set(key, out.tat);
    this.evict();
    return out.decision;
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

/** Seconds for an empty bucket to fill again: the window a `RateLimit-Policy` names. */
export function windowSecondsOf(opts: Pick<BucketOptions, 'ratePerSecond' | 'burst'>): number {
  return Math.max(1, Math.ceil(opts.burst / opts.ratePerSecond));
}

/**
 * The in-process `RateLimiter`: per-caller buckets in this process's memory. Right for tests and
 * a single process; behind several Lambda containers each would keep its own buckets, which is
 * what the table-backed limiter is for.
 */
export class InProcessRateLimiter implements RateLimiter {
  private readonly buckets: TokenBuckets;
  readonly windowSeconds: number;

  constructor(opts: BucketOptions, clock: Clock) {
    this.buckets = new TokenBuckets(opts, clock);
    this.windowSeconds = windowSecondsOf(opts);
  }

  async take(callerKey: string): Promise<RateDecision> {
    return this.buckets.decide(callerKey);
  }
}
