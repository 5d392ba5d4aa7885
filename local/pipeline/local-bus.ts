/**
 * The local event bus: applies the shared RULES (with the same pattern matcher semantics as
 * EventBridge) to bus events and invokes the targets registered for them, standing in for the
 * custom bus and its rule targets.
 *
 * Delivery per target, like an EventBridge target with a retry policy and a DLQ:
 * - each target receives its events in the order given (one stream batch), and targets run
 *   independently of each other;
 * - a failure is retried a bounded number of times with jittered exponential backoff, then
 *   the bus event is written as a dead letter and the target moves on, so one bad event never
 *   blocks the stream;
 * - a permanent failure (a poison event) is dead-lettered at once: retrying cannot fix it;
 * - a transient failure (NATS unreachable) is NOT dead-lettered: the target holds, retrying
 *   with capped backoff until it succeeds or the bus stops. Dead-lettering an outage would
 *   only move the whole traffic into the dead letters; holding keeps every event and its
 *   order, and the stream poller does not checkpoint what is held.
 *
 * `putEvents` resolves once every target has handled (or dead-lettered) every event, and
 * rejects with BusStoppedError if the bus is stopped first.
 */
import { randomUUID } from 'node:crypto';
import type { DeadLetterSink } from '#shared/adapters/dynamodb/dead-letters';
import { errorMessage, isPermanent, isTransient } from '#shared/adapters/nats/errors';
import type { BusEvent, PipeBusEntry } from '#shared/adapters/outbox-relay';
import { toBusEvent } from '#shared/adapters/outbox-relay';
import { compilePattern } from '#shared/core/event-pattern';
import { cryptoRandom, type Random } from '#shared/core/ports';

export interface PipelineLogger {
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

/** A rule target: one bus event per call, like a Lambda invoked by EventBridge. */
export type BusTarget = ((event: BusEvent) => Promise<unknown>) & {
  /**
   * Optional: handles several events in one go (e.g. one batched write). Tried first; when it
   * fails, the events are delivered one by one with the usual retries and dead letters, so it
   * must be idempotent and have the same effect as handling the events one by one.
   */
  batch?: (events: readonly BusEvent[]) => Promise<unknown>;
};

/** A rule as the bus needs it (RULES satisfies this; tests may add their own targets). */
export interface BusRule {
  name: string;
  pattern: Readonly<Record<string, unknown>>;
  target: string;
}

export interface RetryPolicy {
  /** Attempts before a failing event is dead-lettered (the first one included). Default 5. */
  attempts: number;
  /** First backoff. Default 100 ms. */
  baseMs: number;
  /** Backoff cap. Default 5 s. */
  maxMs: number;
  /** Backoff cap while holding on a transient failure. Default 2 s. */
  holdMaxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 100, maxMs: 5_000, holdMaxMs: 2_000 };

export interface LocalBusOptions {
  rules: readonly BusRule[];
  targets: Readonly<Record<string, BusTarget | undefined>>;
  deadLetters: DeadLetterSink;
  logger: PipelineLogger;
  retry?: Partial<RetryPolicy>;
  random?: Random;
  /** Bus event ids. Default random UUIDs, like EventBridge. */
  newId?: () => string;
  now?: () => number;
}

export class BusStoppedError extends Error {
  override readonly name = 'BusStoppedError';
  constructor() {
    super('the local bus is stopping');
  }
}

export interface BusStats {
  events: number;
  invocations: number;
  retries: number;
  deadLettered: number;
}

export class LocalBus {
  readonly stats: BusStats = { events: 0, invocations: 0, retries: 0, deadLettered: 0 };
  private readonly rules: Array<BusRule & { matches(event: unknown): boolean }>;
  private readonly retry: RetryPolicy;
  private readonly warnedMissing = new Set<string>();
  private readonly stopping = new AbortController();
  /** Per (rule, target): the end of the work queued so far. */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(private readonly opts: LocalBusOptions) {
    // Compiled up front: a pattern the matcher cannot honour fails at startup, not per event.
    this.rules = opts.rules.map((r) => ({ ...r, ...compilePattern(r.pattern) }));
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
  }

  /** Turns Pipe entries into bus events (id, time) and delivers them. */
  putEntries(entries: readonly PipeBusEntry[]): Promise<void> {
    const now = this.opts.now ?? Date.now;
    const newId = this.opts.newId ?? randomUUID;
    return this.putEvents(
      entries.map((entry) => toBusEvent(entry, { id: newId(), time: new Date(now()).toISOString() })),
    );
  }

  /**
   * Delivers events to the targets their rules match. Each (rule, target) pair works through
   * its events in the order of the calls, independently of the other pairs, as EventBridge
   * targets do: a slow event log never delays NATS. Resolves when every target has handled (or
   * dead-lettered) these events; a caller may put the next batch before that.
   */
  async putEvents(events: readonly BusEvent[]): Promise<void> {
    this.stats.events += events.length;
    const perTarget = new Map<string, Array<{ rule: string; event: BusEvent }>>();
    for (const event of events) {
      for (const rule of this.rules) {
        if (!rule.matches(event)) continue;
        const key = `${rule.name}\u0000${rule.target}`;
        const list = perTarget.get(key) ?? [];
        list.push({ rule: rule.name, event });
        perTarget.set(key, list);
      }
    }
    const work = [...perTarget.entries()].map(([key, list]) => {
      const previous = this.queues.get(key) ?? Promise.resolve();
      const mine = previous.then(() => this.deliverAll(key.split('\u0000')[1] ?? '', list));
      // The next batch waits for this one, whatever its outcome.
      this.queues.set(
        key,
        mine.catch(() => {}),
      );
      return mine;
    });
    // allSettled: all of this call's work has ended when it returns, even after a failure.
    const outcomes = await Promise.allSettled(work);
    for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
  }

  private async deliverAll(target: string, list: ReadonlyArray<{ rule: string; event: BusEvent }>): Promise<void> {
    const handler = this.opts.targets[target];
    if (!handler) {
      if (!this.warnedMissing.has(target)) {
        this.warnedMissing.add(target);
        this.opts.logger.warn(`no local target "${target}": its events are skipped`, { rule: list[0]?.rule });
      }
      return;
    }
    if (this.stopping.signal.aborted) throw new BusStoppedError();
    if (handler.batch && list.length > 1) {
      this.stats.invocations++;
      try {
        await handler.batch(list.map((x) => x.event));
        return;
      } catch {
        // One by one below: retries, holds and dead letters apply per event.
      }
    }
    for (const { rule, event } of list) await this.deliver(rule, target, handler, event);
  }

  /** Ends holds and backoffs: pending `putEvents` calls reject with BusStoppedError. */
  stop(): void {
    this.stopping.abort();
  }

  private async deliver(rule: string, target: string, handler: BusTarget, event: BusEvent): Promise<void> {
    let failures = 0;
    for (let attempt = 1; ; attempt++) {
      if (this.stopping.signal.aborted) throw new BusStoppedError();
      this.stats.invocations++;
      try {
        await handler(event);
        if (failures > 0)
          this.opts.logger.info(`target ${target} recovered`, { outbox_id: event.detail.outbox_id, attempt });
        return;
      } catch (error) {
        if (this.stopping.signal.aborted) throw new BusStoppedError();
        if (isTransient(error)) {
          // Held, not counted against the retry budget: see the module comment.
          if (attempt === 1 || attempt % 20 === 0) {
            this.opts.logger.warn(`target ${target} unavailable; holding the stream`, {
              outbox_id: event.detail.outbox_id,
              attempt,
              error: errorMessage(error),
            });
          }
          this.stats.retries++;
          await this.pause(this.backoff(attempt, this.retry.holdMaxMs));
          continue;
        }
        failures++;
        if (isPermanent(error) || failures >= this.retry.attempts) {
          await this.deadLetter(rule, target, event, error, attempt);
          return;
        }
        this.stats.retries++;
        this.opts.logger.warn(`target ${target} failed; retrying`, {
          outbox_id: event.detail.outbox_id,
          attempt,
          error: errorMessage(error),
        });
        await this.pause(this.backoff(failures, this.retry.maxMs));
      }
    }
  }

  private async deadLetter(rule: string, target: string, event: BusEvent, error: unknown, attempts: number) {
    this.opts.logger.error(`target ${target} gave up; dead-lettering`, {
      outbox_id: event.detail.outbox_id,
      attempts,
      error: errorMessage(error),
    });
    // The dead letter is the event's last copy for this target: keep trying to write it.
    for (let attempt = 1; ; attempt++) {
      if (this.stopping.signal.aborted) throw new BusStoppedError();
      try {
        await this.opts.deadLetters.record({ target, rule, event, error, attempts });
        this.stats.deadLettered++;
        return;
      } catch (writeError) {
        this.opts.logger.error('cannot write a dead letter; retrying', { error: errorMessage(writeError) });
        await this.pause(this.backoff(attempt, this.retry.maxMs));
      }
    }
  }

  /** Full jitter: uniform in [base, min(cap, base·2^n)]. */
  private backoff(n: number, cap: number): number {
    const ceiling = Math.min(cap, this.retry.baseMs * 2 ** Math.min(n, 20));
    const random = this.opts.random ?? cryptoRandom;
    return Math.floor(this.retry.baseMs + random.next() * Math.max(0, ceiling - this.retry.baseMs));
  }

  private pause(ms: number): Promise<void> {
    return abortableSleep(ms, this.stopping.signal);
  }
}

/** Sleeps `ms`, or less if `signal` aborts (then resolves; callers check the signal). */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
