/**
 * Runs one business operation as one `TransactWriteItems`, with the failure of every action
 * mapped index by index from `CancellationReasons`, and bounded, jittered retries on
 * transaction conflicts, throttling and optimistic-lock misses.
 *
 * An operation is a `plan(attempt)` function returning the actions to write: it is called
 * again on every attempt, so optimistic reads (account versions) are refreshed each time.
 */
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { serviceUnavailable } from '../../core/errors.ts';
import type { Random } from '../../core/ports.ts';
import { AccountLocks } from './account-locks.ts';
import type { TableRef } from './client.ts';

export type TxItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];
export type Item = Record<string, unknown>;

/**
 * What to do when an action's condition failed; `old` is the item as it was
 * (`ReturnValuesOnConditionCheckFailure: ALL_OLD`), undefined when it did not exist.
 */
export type OnConditionFailed<R> = (old: Item | undefined) => Resolution<R>;
export type Resolution<R> =
  /** Someone changed what we read: plan again. */
  | { kind: 'retry' }
  /** The operation already happened (guard item exists): answer with its original result. */
  | { kind: 'done'; result: R | Promise<R> }
  /** A business failure: throw this. */
  | { kind: 'fail'; error: Error };

export interface TxAction<R> {
  /** Names the action in errors and logs, e.g. `debit sender`. */
  label: string;
  item: TxItem;
  onConditionFailed?: OnConditionFailed<R>;
}

export interface TxPlan<R> {
  actions: TxAction<R>[];
  /** The operation's result once the transaction committed. */
  result: () => R;
}

/** Sends one transaction; replaceable so tests can inject conflicts and crashes. */
export type TransactWriter = (input: TransactWriteCommandInput) => Promise<void>;

export interface TxRunnerOptions {
  maxAttempts: number;
  random: Random;
  sleep?: (ms: number) => Promise<void>;
  /** Wraps the writer (fault injection in tests). */
  writer?: TransactWriter;
}

/** Cancellation codes worth retrying after a pause. */
const TRANSIENT_REASONS = new Set([
  'TransactionConflict',
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
  'RequestLimitExceeded',
]);
const TRANSIENT_ERRORS = new Set([
  'TransactionConflictException',
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'TransactionInProgressException',
  'InternalServerError',
]);

export const MAX_TRANSACTION_ACTIONS = 100;

export interface RunOptions {
  /**
   * Accounts the operation writes under a condition that other writers of this process would
   * break (a payer's balance and sequence, a payee it wakes): the operation waits for the
   * others of this process on them instead of racing them.
   */
  serialize?: readonly string[];
}

export class TxRunner {
  private readonly write: TransactWriter;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly locks = new AccountLocks();

  constructor(
    private readonly table: TableRef,
    private readonly opts: TxRunnerOptions,
  ) {
    this.write =
      opts.writer ??
      (async (input) => {
        await table.doc.send(new TransactWriteCommand(input));
      });
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  get tableName(): string {
    return this.table.tableName;
  }

  /** Full-jitter exponential backoff: uniform in [0, min(cap, base·2^attempt)). */
  private backoff(attempt: number): number {
    return Math.floor(this.opts.random.next() * Math.min(1_000, 15 * 2 ** attempt));
  }

  async run<R>(
    operation: string,
    plan: (attempt: number) => Promise<TxPlan<R> | { done: R }>,
    opts: RunOptions = {},
  ): Promise<R> {
    return this.locks.with(opts.serialize ?? [], () => this.attempts(operation, plan));
  }

  private async attempts<R>(
    operation: string,
    plan: (attempt: number) => Promise<TxPlan<R> | { done: R }>,
  ): Promise<R> {
    for (let attempt = 0; attempt < this.opts.maxAttempts; attempt++) {
      let p: TxPlan<R> | { done: R };
      try {
        p = await plan(attempt);
      } catch (err) {
        // The plan's reads meet the same throttling as the write: back off and replan, and end
        // in a 503 with Retry-After rather than a 500 when it lasts.
        if (!TRANSIENT_ERRORS.has((err as { name?: string } | null)?.name ?? '')) throw err;
        await this.sleep(this.backoff(attempt));
        continue;
      }
      // The plan found the operation already applied (its guard exists): nothing to write.
      if ('done' in p) return p.done;
      if (p.actions.length > MAX_TRANSACTION_ACTIONS) {
        throw new Error(`${operation}: ${p.actions.length} actions exceed one transaction`);
      }
      try {
        await this.write({
          TransactItems: p.actions.map((a) => withAllOld(a.item)),
        });
        return p.result();
      } catch (err) {
        const outcome = this.classify(err, p.actions);
        if (outcome.kind === 'done') return await outcome.result;
        if (outcome.kind === 'fail') throw outcome.error;
        // Optimistic retries replan at once after a short pause; conflicts and throttling back off.
        await this.sleep(this.backoff(attempt));
      }
    }
    throw serviceUnavailable(`${operation} could not complete under contention; retry later.`, 1);
  }

  private classify<R>(err: unknown, actions: TxAction<R>[]): Resolution<R> {
    if (err instanceof TransactionCanceledException) {
      const reasons = err.CancellationReasons ?? [];
      let transient = false;
      // Business outcomes (a guard that exists, a short balance) win over transient noise, and
      // the first failed action in plan order decides, so the mapping is deterministic.
      for (const [i, reason] of reasons.entries()) {
        const code = reason.Code ?? 'None';
        if (code === 'None') continue;
        if (code === 'ConditionalCheckFailed') {
          const action = actions[i];
          if (!action?.onConditionFailed) {
            return { kind: 'fail', error: new Error(`condition of "${action?.label ?? i}" failed unexpectedly`) };
          }
          const old = reason.Item ? unmarshall(reason.Item) : undefined;
          return action.onConditionFailed(old);
        }
        if (TRANSIENT_REASONS.has(code)) transient = true;
        else return { kind: 'fail', error: new Error(`transaction cancelled: ${code} at "${actions[i]?.label}"`) };
      }
      if (transient) return { kind: 'retry' };
      return { kind: 'fail', error: err };
    }
    const name = (err as { name?: string } | null)?.name ?? '';
    if (TRANSIENT_ERRORS.has(name)) return { kind: 'retry' };
    return { kind: 'fail', error: err instanceof Error ? err : new Error(String(err)) };
  }
}

function withAllOld(item: TxItem): TxItem {
  if (item.Put) return { Put: { ...item.Put, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } };
  if (item.Update) return { Update: { ...item.Update, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } };
  if (item.ConditionCheck)
    return { ConditionCheck: { ...item.ConditionCheck, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } };
  if (item.Delete) return { Delete: { ...item.Delete, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } };
  return item;
}
