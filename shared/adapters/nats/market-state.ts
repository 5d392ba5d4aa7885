/**
 * Writes the market state (shared/core/market-state.ts) to its JetStream key-value bucket after
 * the bridge published a price update, so agents can `get` or `watch` prices over NATS.
 *
 * - The bucket is created when missing (idempotent: several containers may race to create it,
 *   and one that exists keeps its configuration), once per connection.
 * - Every key is written by compare-and-set on its revision: read the entry, decide with
 *   `supersedes` (only a later round replaces it), then `create` (no entry yet) or
 *   `update(key, value, revision)`. A writer that lost a race (JetStream answers "wrong last
 *   sequence") reads again and decides again, so two bridges writing different rounds at once
 *   end with the later one, and a redelivered older round never overwrites a newer one.
 * - Any failure is a NatsUnavailableError (after dropping the connection), like a failed
 *   publish: the bridge's invocation fails and is retried, the retry's publishes are dropped
 *   by JetStream as duplicates (Nats-Msg-Id), and its KV writes find the keys already at that
 *   round (or later) and change nothing. So a KV failure never costs an event, and the state
 *   catches up with the first retry that reaches NATS.
 *
 * NATS here has no accounts; where it has, the bridge's user needs publish rights on
 * `$KV.<bucket>.>` and the JetStream API of stream `KV_<bucket>` besides `syntropism.>`.
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient, jetstream } from '@nats-io/jetstream';
import { type KV, type KvEntry, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { type Envelope, validateEnvelope } from '../../core/events.ts';
import type { EconomyConfig } from '../../core/market-config.ts';
import { MARKET_STATE_BUCKET, type MarketStateEntry, marketStateEntries, supersedes } from '../../core/market-state.ts';
import type { NatsConnector } from './connection.ts';
import { errorMessage, NatsUnavailableError } from './errors.ts';

export interface MarketBucketSettings {
  /** Default `syntropism-market`. */
  name: string;
  /** Values kept per key: the last few rounds, for a watcher that resumes. Default 10. */
  history: number;
}

export const DEFAULT_MARKET_BUCKET: MarketBucketSettings = { name: MARKET_STATE_BUCKET, history: 10 };

export interface MarketStateWriterOptions {
  /** The bridge's connector: one connection per container for both. */
  connector: Pick<NatsConnector, 'get' | 'invalidate'>;
  economy: EconomyConfig;
  bucket?: Partial<MarketBucketSettings>;
  /** Per KV operation. Default 2 s. */
  timeoutMs?: number;
}

export interface MarketStateReport {
  /** Keys written, each with its new revision. */
  written: Array<{ key: string; revision: number }>;
  /** Keys left as they were: already at this round or a later one. */
  kept: string[];
}

/** The KV operations the compare-and-set needs (a fake in unit tests). */
export type MarketBucket = Pick<KV, 'get' | 'create' | 'update'>;

/** Lost races tolerated per key before giving up (each loss means another writer progressed). */
const MAX_CAS_ATTEMPTS = 8;

export class MarketStateWriter {
  readonly bucket: MarketBucketSettings;
  private readonly buckets = new WeakMap<NatsConnection, Promise<MarketBucket>>();

  constructor(private readonly opts: MarketStateWriterOptions) {
    this.bucket = { ...DEFAULT_MARKET_BUCKET, ...opts.bucket };
  }

  /** Writes what the `price_update` events among one outbox item's envelopes call for (nothing without one). */
  async write(events: readonly unknown[]): Promise<MarketStateReport> {
    const report: MarketStateReport = { written: [], kept: [] };
    const entries = marketStateEntries(priceUpdates(events), this.opts.economy);
    if (entries.length === 0) return report;
    const nc = await this.opts.connector.get();
    try {
      const kv = await this.open(nc);
      for (const entry of entries) {
        const revision = await writeEntry(kv, entry);
        if (revision === undefined) report.kept.push(entry.key);
        else report.written.push({ key: entry.key, revision });
      }
      return report;
    } catch (error) {
      await this.opts.connector.invalidate();
      throw new NatsUnavailableError(`market state not written to ${this.bucket.name}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }

  /** The bucket on this connection, created when missing (once per connection). */
  private open(nc: NatsConnection): Promise<MarketBucket> {
    let kv = this.buckets.get(nc);
    if (!kv) {
      kv = ensureMarketBucket(jetstream(nc, { timeout: this.opts.timeoutMs ?? 2_000 }), this.bucket);
      // A failed attempt is not remembered: the next write tries again.
      kv.catch(() => this.buckets.delete(nc));
      this.buckets.set(nc, kv);
    }
    return kv;
  }
}

/** The valid `price_update` envelopes (invalid ones are the bridge's poison, dead-lettered there). */
function priceUpdates(events: readonly unknown[]): Envelope[] {
  const out: Envelope[] = [];
  for (const candidate of events) {
    if ((candidate as { type?: unknown } | null)?.type !== 'price_update') continue;
    try {
      out.push(validateEnvelope(candidate));
    } catch {
      // Not published either; nothing to show.
    }
  }
  return out;
}

/** Opens the bucket, creating it with our settings when missing; an existing one is used as it is. */
export async function ensureMarketBucket(js: JetStreamClient, settings: MarketBucketSettings): Promise<KV> {
  const kvm = new Kvm(js);
  const opts = { history: settings.history, description: 'Syntropism market state: prices and the open round' };
  try {
    return await kvm.create(settings.name, opts);
  } catch (error) {
    // Another container created it between our look and our add: it is the same bucket.
    if (error instanceof JetStreamApiError && /already in use|already exists/i.test(error.message)) {
      return kvm.create(settings.name, opts);
    }
    throw error;
  }
}

const lostRace = (error: unknown) =>
  error instanceof JetStreamApiError &&
  (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
    error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

/** The stored value of an entry, or undefined when there is none (or it is deleted or unreadable). */
function storedJson(entry: KvEntry | null): unknown {
  if (entry?.operation !== 'PUT') return undefined;
  try {
    return entry.json();
  } catch {
    return undefined;
  }
}

/**
 * Compare-and-set of one key (see the module header): the new revision, or undefined when the
 * bucket already holds this round or a later one.
 */
export async function writeEntry(kv: MarketBucket, entry: MarketStateEntry): Promise<number | undefined> {
  const data = JSON.stringify(entry.value);
  for (let attempt = 1; ; attempt++) {
    const current = await kv.get(entry.key);
    if (!supersedes(entry, storedJson(current))) return undefined;
    try {
      return current === null ? await kv.create(entry.key, data) : await kv.update(entry.key, data, current.revision);
    } catch (error) {
      if (!lostRace(error) || attempt >= MAX_CAS_ATTEMPTS) throw error;
      // Another writer got in between: read its value and decide again.
    }
  }
}
