/**
 * Request throttling per caller across every container: one item per caller in the table
 * (`RATE#<caller>` / `RATE`) holding its bucket's theoretical arrival time `tat` (integer µs;
 * the arithmetic is `shared/core/token-bucket.ts`). A request takes its token with ONE
 * conditional `UpdateItem` and no read:
 *
 * - the bucket has been used lately (`tat > now`): `ADD tat :interval` under
 *   `tat > :now AND tat <= :now + tolerance` — atomic, so containers taking tokens at the same
 *   time never lose each other's takes, and no read is needed;
 * - the bucket is full (no item, or `tat <= now`): `SET tat = :now + interval` under
 *   `attribute_not_exists(tat) OR tat <= :now` (a plain ADD would bank the idle time beyond
 *   the burst).
 *
 * Which form to try comes from the last `tat` this container saw for the caller; a failed
 * condition returns the stored item (`ALL_OLD`), which says which form holds or that the
 * request must be refused, so a lost race costs one more write, boundedly. Because `tat` only
 * grows, a `tat` seen here is a lower bound of the stored one: when even it refuses the
 * request, the refusal is certain and is answered without a call. Each write also sets
 * `expires_at` past the moment the bucket is full again (when the item means no more than its
 * absence), so DynamoDB TTL removes idle callers.
 *
 * On a DynamoDB error (after the SDK's own retries) the request is let through (fail-open):
 * the limiter guards fairness and capacity, not money — every change is guarded by its own
 * conditions and idempotency — and API Gateway's stage throttling still bounds the whole API,
 * whereas failing closed would turn a limiter outage into an outage of the API.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Clock } from '../../core/ports.ts';
import type { RateDecision, RateLimiter } from '../../core/rate-limit.ts';
import {
  type BucketMath,
  type BucketOptions,
  bucketMath,
  conforms,
  decisionAt,
  microsOf,
  tatAfterTake,
} from '../../core/token-bucket.ts';
import { keys } from '../../table.ts';
import type { TableRef } from './client.ts';

export interface TableRateLimiterOptions extends BucketOptions {
  table: TableRef;
  clock: Clock;
  /**
   * Conditional writes one request may make. Two suffice unless the item vanishes in between
   * (TTL); past the bound the request is refused, as other containers are then taking this
   * caller's tokens as fast as it can ask.
   * @default 3
   */
  maxAttempts?: number;
  /**
   * Seconds an item outlives the moment its bucket is full again, so that a clock a little
   * behind never lets TTL delete a bucket still in debt.
   * @default 60
   */
  ttlGraceSeconds?: number;
  /** Told of every DynamoDB error before the request is let through (log it, count it). */
  onError?: (error: unknown, callerKey: string) => void;
}

type Write = { ok: true; tat: number } | { ok: false; tat: number | undefined };

export class TableRateLimiter implements RateLimiter {
  private readonly math: BucketMath;
  /** The last `tat` seen per caller: a lower bound of the stored one. */
  private readonly seen = new Map<string, number>();
  private readonly maxAttempts: number;
  private readonly graceUs: number;

  constructor(private readonly opts: TableRateLimiterOptions) {
    this.math = bucketMath(opts);
    this.maxAttempts = opts.maxAttempts ?? 3;
    if (!(Number.isInteger(this.maxAttempts) && this.maxAttempts >= 1)) {
      throw new RangeError(`maxAttempts must be an integer ≥ 1, got ${opts.maxAttempts}`);
    }
    this.graceUs = (opts.ttlGraceSeconds ?? 60) * 1_000_000;
  }

  async take(callerKey: string): Promise<RateDecision> {
    const nowUs = microsOf(this.opts.clock.now());
    try {
      return await this.takeAt(callerKey, nowUs);
    } catch (error) {
      this.opts.onError?.(error, callerKey);
      // Fail-open (see the header): what this container last knew of the bucket, token taken.
      return decisionAt(tatAfterTake(this.seen.get(callerKey), nowUs, this.math), nowUs, true, this.math);
    }
  }

  private async takeAt(caller: string, nowUs: number): Promise<RateDecision> {
    let tat = this.seen.get(caller);
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      if (!conforms(tat, nowUs, this.math)) return this.refuse(tat, nowUs);
      const full = tat === undefined || tat <= nowUs;
      const out = full ? await this.refill(caller, nowUs) : await this.advance(caller, nowUs);
      this.remember(caller, out.tat);
      if (out.ok) return decisionAt(out.tat, nowUs, true, this.math);
      tat = out.tat;
    }
    return this.refuse(tat, nowUs);
  }

  private refuse(tat: number | undefined, nowUs: number): RateDecision {
    const decision = decisionAt(tat, nowUs, false, this.math);
    // Only reached past the attempt bound with a conforming `tat`: nothing to wait for but the race.
    if (decision.retryAfterSeconds === 0) return { ...decision, retryAfterSeconds: 1 };
    return decision;
  }

  /** The bucket was full: it now holds one token less than the burst. */
  private async refill(caller: string, nowUs: number): Promise<Write> {
    const next = nowUs + this.math.intervalUs;
    return this.write(caller, {
      UpdateExpression: 'SET tat = :next, expires_at = :exp, kind = :kind',
      // Full: never written, or refilled by the time elapsed since.
      ConditionExpression: 'attribute_not_exists(tat) OR tat <= :now',
      ExpressionAttributeValues: { ':next': next, ':now': nowUs, ':exp': this.expiresAt(next), ':kind': 'rate_limit' },
    });
  }

  /** The bucket was in use: one more token taken, if one is there. */
  private async advance(caller: string, nowUs: number): Promise<Write> {
    const { intervalUs, toleranceUs } = this.math;
    return this.write(caller, {
      UpdateExpression: 'ADD tat :interval SET expires_at = :exp',
      // Still in use (else `refill`: adding to an old `tat` would bank idle time), and a token is left.
      ConditionExpression: 'tat > :now AND tat <= :limit',
      ExpressionAttributeValues: {
        ':interval': intervalUs,
        ':now': nowUs,
        ':limit': nowUs + toleranceUs,
        // The `tat` this can leave is at most now + tolerance + interval.
        ':exp': this.expiresAt(nowUs + toleranceUs + intervalUs),
      },
    });
  }

  private async write(
    caller: string,
    update: Pick<
      ConstructorParameters<typeof UpdateCommand>[0],
      'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeValues'
    >,
  ): Promise<Write> {
    try {
      const out = await this.opts.table.doc.send(
        new UpdateCommand({
          TableName: this.opts.table.tableName,
          Key: keys.rateLimit(caller),
          ...update,
          ReturnValues: 'UPDATED_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { ok: true, tat: Number(out.Attributes?.tat) };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const old = error.Item ? unmarshall(error.Item) : undefined;
      return { ok: false, tat: typeof old?.tat === 'number' ? old.tat : undefined };
    }
  }

  /** Epoch seconds (TTL) when the item may go: its bucket is full again, plus the grace. */
  private expiresAt(tatUs: number): number {
    return Math.ceil((tatUs + this.graceUs) / 1_000_000);
  }

  private remember(caller: string, tat: number | undefined): void {
    this.seen.delete(caller);
    if (tat === undefined) return;
    this.seen.set(caller, tat);
    const max = this.opts.maxKeys ?? 100_000;
    while (this.seen.size > max) {
      const oldest = this.seen.keys().next().value;
      if (oldest === undefined) break;
      this.seen.delete(oldest);
    }
  }
}
