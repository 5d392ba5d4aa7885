/**
 * The local stand-in for the EventBridge Pipe: reads the table's stream from DynamoDB Local
 * with the DynamoDB Streams API, keeps the Pipe's filter (outbox inserts, via the shared relay)
 * and hands each batch to the bus.
 *
 * - Shards: listed with DescribeStream; a child shard is read only after its parent has been
 *   read to its end (or has been trimmed away), which is how DynamoDB keeps per-key order
 *   across shard rollovers. The list is refreshed periodically and whenever a shard ends.
 * - Reading: GetRecords in a loop, a short sleep when no shard had anything. An expired
 *   iterator is re-created after the last position.
 * - Checkpoint: after the bus has acknowledged a batch (every target handled or
 *   dead-lettered it), the position is saved in the table (checkpoint.ts). A restart resumes
 *   AFTER_SEQUENCE_NUMBER: nothing acknowledged is delivered again and nothing unacknowledged
 *   is skipped. A batch whose delivery was interrupted (stop while NATS is down) is not
 *   checkpointed and is delivered again on the next start. Saves run beside the reading, one
 *   at a time, each writing the latest acknowledged position (a slow write never delays
 *   delivery, and a burst of batches costs one write, not one per batch).
 * - Pipelining: the next batch is read and handed to the bus while earlier ones are still
 *   being delivered (the bus keeps each target's order), up to 10 000 outbox items ahead of
 *   the slowest target.
 *   Acknowledgements are taken strictly in reading order, so the position only ever covers a
 *   prefix of the stream that every target has finished.
 * - Batches without outbox records are not checkpointed (the checkpoint write would itself
 *   become a stream record, and the poller would chase its own tail); at worst a restart
 *   re-reads, and skips again, the records since the last outbox item.
 */
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  type _Record,
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type Shard,
  TrimmedDataAccessException,
} from '@aws-sdk/client-dynamodb-streams';
import { errorMessage } from '#shared/adapters/nats/errors';
import { type PipeBusEntry, relayRecord, type StreamRecordLike } from '#shared/adapters/outbox-relay';
import { type Checkpoint, CheckpointConflictError, type Checkpoints } from './checkpoint.ts';
import { abortableSleep, BusStoppedError, type PipelineLogger } from './local-bus.ts';

export interface StreamPollerOptions {
  streams: DynamoDBStreamsClient;
  raw: DynamoDBClient;
  tableName: string;
  checkpoints: Checkpoints;
  /** Delivers one batch's bus entries; resolves when all are acknowledged. */
  deliver: (entries: PipeBusEntry[]) => Promise<void>;
  logger: PipelineLogger;
  /** Sleep when no shard returned records. Default 50 ms. */
  idleMs?: number;
  /** GetRecords limit. Default 1000 (the API's maximum): fewer round trips when behind. */
  batchSize?: number;
  /** Where shards without a checkpoint start on the first run. Default TRIM_HORIZON (all retained). */
  startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  /** Shard list refresh period. Default 10 s. */
  refreshMs?: number;
}

export interface PollerStats {
  records: number;
  outboxRecords: number;
  batches: number;
  checkpoints: number;
}

interface ShardState {
  shard: Shard;
  iterator?: string;
}

/** A batch handed to the bus and not yet acknowledged, in reading order. */
interface InFlight {
  shardId: string;
  /** Sequence number of the batch's last record (whether relayed or skipped). */
  last?: string;
  /** The shard ended with this batch. */
  closes: boolean;
  outbox: boolean;
  /** Outbox items in the batch. */
  items: number;
  outcome?: { ok: true } | { ok: false; error: unknown };
  settled: Promise<void>;
}

/**
 * How far reading may run ahead of the slowest target, in outbox items (and, as a guard, in
 * batches). Generous, because targets are independent: NATS must not wait for the event log.
 */
const MAX_IN_FLIGHT_ITEMS = 10_000;
const MAX_IN_FLIGHT_BATCHES = 1_000;

/** Shards that may be read now: not finished, and whose parent is finished or gone. */
export function readableShards(shards: readonly Shard[], closed: ReadonlySet<string>): Shard[] {
  const ids = new Set(shards.map((s) => s.ShardId));
  return shards
    .filter((s) => s.ShardId !== undefined && !closed.has(s.ShardId))
    .filter((s) => s.ParentShardId === undefined || closed.has(s.ParentShardId) || !ids.has(s.ParentShardId))
    .sort((a, b) =>
      compareSequence(a.SequenceNumberRange?.StartingSequenceNumber, b.SequenceNumberRange?.StartingSequenceNumber),
    );
}

/** Sequence numbers are decimal strings of up to 40 digits: compare them as numbers. */
export function compareSequence(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export class StreamPoller {
  readonly stats: PollerStats = { records: 0, outboxRecords: 0, batches: 0, checkpoints: 0 };
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private streamArn = '';
  private readonly positions = new Map<string, string>();
  private readonly closed = new Set<string>();
  private readonly shards = new Map<string, ShardState>();
  /** Shards read to their end whose last batches are not acknowledged yet. */
  private readonly closing = new Set<string>();
  private readonly inFlight: InFlight[] = [];
  private inFlightItems = 0;
  /** Positions changed since the last save. */
  private changed = false;
  /** A save is wanted (an outbox batch was acknowledged, a shard ended). */
  private saveWanted = false;
  private saving: Promise<void> | undefined;
  private firstRun = false;
  private lastRefresh = 0;
  private failure: Error | undefined;

  constructor(private readonly opts: StreamPollerOptions) {}

  /** Loads the checkpoint and starts reading in the background. */
  async start(): Promise<void> {
    if (this.loop) throw new Error('the stream poller is already started');
    const { Table } = await this.opts.raw.send(new DescribeTableCommand({ TableName: this.opts.tableName }));
    const arn = Table?.LatestStreamArn;
    if (!arn || Table?.StreamSpecification?.StreamEnabled === false) {
      throw new Error(`table ${this.opts.tableName} has no stream: create it with local/create-table.ts`);
    }
    this.streamArn = arn;
    const cp = await this.opts.checkpoints.load();
    if (cp && cp.streamArn === arn) {
      for (const [shard, seq] of Object.entries(cp.positions)) this.positions.set(shard, seq);
      for (const shard of cp.closed) this.closed.add(shard);
    } else {
      if (cp) this.opts.logger.warn('the checkpoint belongs to an older stream; reading the new one from its start');
      this.firstRun = cp === undefined;
    }
    this.loop = this.run();
  }

  /** Stops after the current batch (an interrupted one is not checkpointed) and saves the position. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  /** Set when the poller stopped on its own because of an error it cannot recover from. */
  get error(): Error | undefined {
    return this.failure;
  }

  private get aborted(): boolean {
    return this.stopping.signal.aborted;
  }

  private async run(): Promise<void> {
    let errors = 0;
    while (!this.aborted && this.failure === undefined) {
      try {
        const progressed = await this.pollOnce();
        errors = 0;
        if (!progressed) await abortableSleep(this.opts.idleMs ?? 50, this.stopping.signal);
      } catch (error) {
        if (error instanceof BusStoppedError || this.aborted) break;
        errors++;
        this.opts.logger.warn('stream poller: retrying after an error', { error: errorMessage(error), errors });
        await abortableSleep(Math.min(5_000, 100 * 2 ** Math.min(errors, 6)), this.stopping.signal);
      }
    }
    await this.settleInFlight();
    await this.saving;
    if (this.failure !== undefined) {
      this.opts.logger.error(this.failure.message);
      return;
    }
    if (this.changed) {
      this.saveWanted = true;
      await this.saveLoop();
    }
  }

  /** Asks for the acknowledged position to be saved; at most one save runs at a time. */
  private requestSave(): void {
    this.saveWanted = true;
    this.saving ??= this.saveLoop().finally(() => {
      this.saving = undefined;
    });
  }

  private async saveLoop(): Promise<void> {
    while (this.saveWanted && this.failure === undefined) {
      this.saveWanted = false;
      try {
        await this.save();
      } catch (error) {
        if (error instanceof CheckpointConflictError) {
          this.failure = error;
          return;
        }
        // Tried again with the next acknowledged batch, or when stopping.
        this.opts.logger.warn('stream poller: could not save the checkpoint', { error: errorMessage(error) });
        return;
      }
    }
  }

  /** One pass over the readable shards; true when any returned records. */
  private async pollOnce(): Promise<boolean> {
    await this.acknowledge(false);
    if (this.shards.size === 0 || Date.now() - this.lastRefresh > (this.opts.refreshMs ?? 10_000)) {
      await this.refreshShards();
    }
    let progressed = false;
    const readable = readableShards(
      [...this.shards.values()].map((s) => s.shard),
      this.closed,
    ).filter((s) => !this.closing.has(s.ShardId ?? ''));
    for (const shard of readable) {
      if (this.aborted) break;
      const id = shard.ShardId ?? '';
      const state = this.shards.get(id);
      if (!state) continue;
      state.iterator ??= await this.iteratorFor(shard);
      if (state.iterator === undefined) continue;
      let out: Awaited<ReturnType<typeof this.getRecords>>;
      try {
        out = await this.getRecords(state.iterator);
      } catch (error) {
        if (error instanceof ExpiredIteratorException) {
          // Re-created on the next pass, after the batches in flight are settled and acknowledged.
          state.iterator = undefined;
          await this.settleInFlight();
          progressed = true;
          continue;
        }
        if (error instanceof TrimmedDataAccessException) {
          // Only when records older than 24 h were never read: they are gone on AWS too.
          this.opts.logger.error('stream records were trimmed before they were read', { shard: id });
          await this.settleInFlight();
          this.positions.delete(id);
          state.iterator = await this.iteratorAt(id, 'TRIM_HORIZON');
          progressed = true;
          continue;
        }
        throw error;
      }
      const records = out.Records ?? [];
      const closes = out.NextShardIterator === undefined;
      if (records.length > 0 || closes) {
        progressed = true;
        this.dispatch(id, records, closes);
      }
      state.iterator = out.NextShardIterator;
      if (closes) this.closing.add(id);
      // Bounded read-ahead: wait for the oldest batch when too many are in flight.
      await this.acknowledge(
        this.inFlight.length >= MAX_IN_FLIGHT_BATCHES || this.inFlightItems >= MAX_IN_FLIGHT_ITEMS,
      );
    }
    return progressed;
  }

  /** Hands a batch to the bus without waiting; its acknowledgement is taken in order later. */
  private dispatch(shardId: string, records: _Record[], closes: boolean): void {
    const entries: PipeBusEntry[] = [];
    for (const record of records) {
      const entry = relayRecord(record as StreamRecordLike);
      if (entry) entries.push(entry);
    }
    this.stats.records += records.length;
    this.stats.outboxRecords += entries.length;
    this.stats.batches++;
    const last = records.at(-1)?.dynamodb?.SequenceNumber;
    const item: InFlight = {
      shardId,
      ...(last !== undefined && { last }),
      closes,
      outbox: entries.length > 0,
      items: entries.length,
      settled: Promise.resolve(),
    };
    item.settled = (entries.length > 0 ? this.opts.deliver(entries) : Promise.resolve()).then(
      () => {
        item.outcome = { ok: true };
      },
      (error: unknown) => {
        item.outcome = { ok: false, error };
      },
    );
    this.inFlight.push(item);
    this.inFlightItems += item.items;
  }

  /**
   * Takes the acknowledgements of finished batches, oldest first, stopping at the first that
   * is still running (or, with `wait`, waiting for the oldest). A failed batch fails the pass:
   * everything after it is dropped and read again from the acknowledged position.
   */
  private async acknowledge(wait: boolean): Promise<void> {
    let head = this.inFlight[0];
    if (wait && head && !head.outcome) await head.settled;
    while (head?.outcome) {
      if (!head.outcome.ok) {
        const { error } = head.outcome;
        // Whatever is still running must end before it is read (and delivered) again.
        await Promise.all(this.inFlight.map((b) => b.settled));
        this.rewind();
        throw error;
      }
      this.inFlight.shift();
      this.inFlightItems -= head.items;
      if (head.last !== undefined) {
        this.positions.set(head.shardId, head.last);
        this.changed = true;
      }
      if (head.closes) {
        this.closing.delete(head.shardId);
        this.closed.add(head.shardId);
        this.positions.delete(head.shardId);
        this.changed = true;
        this.lastRefresh = 0; // its children may be readable now
      }
      if (head.outbox || head.closes) this.requestSave();
      head = this.inFlight[0];
    }
  }

  /** Waits for every batch in flight, acknowledging the successful prefix. */
  private async settleInFlight(): Promise<void> {
    await Promise.all(this.inFlight.map((b) => b.settled));
    try {
      await this.acknowledge(false);
    } catch {
      // A failed batch: rewound already; its error is reported by whoever is reading.
    }
  }

  /** Forgets unacknowledged batches: the next pass reads again from the acknowledged positions. */
  private rewind(): void {
    this.inFlight.length = 0;
    this.inFlightItems = 0;
    this.closing.clear();
    for (const state of this.shards.values()) state.iterator = undefined;
  }

  /** Writes the positions as they are now: only acknowledged batches ever move them. */
  private async save(): Promise<void> {
    const cp: Checkpoint = {
      streamArn: this.streamArn,
      positions: Object.fromEntries(this.positions),
      closed: [...this.closed],
    };
    this.changed = false;
    try {
      await this.opts.checkpoints.save(cp);
    } catch (error) {
      this.changed = true;
      throw error;
    }
    this.stats.checkpoints++;
  }

  private async refreshShards(): Promise<void> {
    const listed: Shard[] = [];
    let start: string | undefined;
    do {
      const out = await this.opts.streams.send(
        new DescribeStreamCommand({
          StreamArn: this.streamArn,
          ...(start !== undefined && { ExclusiveStartShardId: start }),
        }),
      );
      listed.push(...(out.StreamDescription?.Shards ?? []));
      start = out.StreamDescription?.LastEvaluatedShardId;
    } while (start !== undefined);
    const present = new Set<string>();
    for (const shard of listed) {
      if (!shard.ShardId) continue;
      present.add(shard.ShardId);
      const known = this.shards.get(shard.ShardId);
      if (known) known.shard = shard;
      else this.shards.set(shard.ShardId, { shard });
    }
    // Shards trimmed from the stream: forget them (their positions mean nothing any more).
    for (const id of [...this.shards.keys()]) if (!present.has(id)) this.shards.delete(id);
    for (const id of [...this.closed]) if (!present.has(id)) this.closed.delete(id);
    for (const id of [...this.positions.keys()]) if (!present.has(id)) this.positions.delete(id);
    this.lastRefresh = Date.now();
  }

  private iteratorFor(shard: Shard): Promise<string | undefined> {
    const id = shard.ShardId ?? '';
    const position = this.positions.get(id);
    if (position !== undefined) return this.iteratorAt(id, 'AFTER_SEQUENCE_NUMBER', position);
    // A shard open when the very first run starts may start at LATEST; shards born later, or
    // seen on a resumed run, are read from their beginning so nothing is skipped.
    const latest =
      this.firstRun && this.opts.startingPosition === 'LATEST' && !shard.SequenceNumberRange?.EndingSequenceNumber;
    return this.iteratorAt(id, latest ? 'LATEST' : 'TRIM_HORIZON');
  }

  private async iteratorAt(
    shardId: string,
    type: 'TRIM_HORIZON' | 'LATEST' | 'AFTER_SEQUENCE_NUMBER',
    sequence?: string,
  ): Promise<string | undefined> {
    const out = await this.opts.streams.send(
      new GetShardIteratorCommand({
        StreamArn: this.streamArn,
        ShardId: shardId,
        ShardIteratorType: type,
        ...(sequence !== undefined && { SequenceNumber: sequence }),
      }),
    );
    return out.ShardIterator;
  }

  private getRecords(iterator: string) {
    return this.opts.streams.send(
      new GetRecordsCommand({ ShardIterator: iterator, Limit: this.opts.batchSize ?? 1_000 }),
    );
  }
}
