import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  type _Record,
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { describe, expect, it } from 'vitest';
import type { PipeBusEntry } from '#shared/adapters/outbox-relay';
import type { Checkpoint, Checkpoints } from './checkpoint.ts';
import type { PipelineLogger } from './local-bus.ts';
import { StreamPoller } from './stream-poller.ts';

/** An in-memory DynamoDB stream: shards of records, iterators `<shard>:<index>`. */
class FakeStream {
  readonly shards = new Map<string, { parent?: string; records: _Record[]; closed: boolean }>();
  private seq = 0;

  shard(id: string, parent?: string) {
    this.shards.set(id, { ...(parent !== undefined && { parent }), records: [], closed: false });
  }

  /** Appends an outbox insert (and, with `noise`, a record the relay skips). */
  put(shardId: string, outboxId: string, noise = false) {
    const shard = this.shards.get(shardId);
    if (!shard) throw new Error(`no shard ${shardId}`);
    if (noise) shard.records.push(this.record({ kind: { S: 'account' } }));
    shard.records.push(
      this.record({
        kind: { S: 'outbox' },
        outbox_id: { S: outboxId },
        type: { S: 'credits_transferred' },
        component: { S: 'economy' },
        events: { S: '[]' },
      }),
    );
  }

  private record(image: Record<string, { S: string }>): _Record {
    this.seq++;
    return {
      eventName: 'INSERT',
      dynamodb: { SequenceNumber: String(this.seq).padStart(21, '0'), NewImage: image },
    };
  }

  readonly client = {
    send: async (command: unknown) => {
      if (command instanceof DescribeStreamCommand) {
        return {
          StreamDescription: {
            Shards: [...this.shards.entries()].map(([ShardId, s]) => ({
              ShardId,
              ...(s.parent !== undefined && { ParentShardId: s.parent }),
              SequenceNumberRange: { StartingSequenceNumber: s.records[0]?.dynamodb?.SequenceNumber ?? '0' },
            })),
          },
        };
      }
      if (command instanceof GetShardIteratorCommand) {
        const { ShardId = '', ShardIteratorType, SequenceNumber } = command.input;
        const records = this.shards.get(ShardId)?.records ?? [];
        let index = 0;
        if (ShardIteratorType === 'LATEST') index = records.length;
        if (ShardIteratorType === 'AFTER_SEQUENCE_NUMBER') {
          index = records.findIndex((r) => r.dynamodb?.SequenceNumber === SequenceNumber) + 1;
        }
        return { ShardIterator: `${ShardId}:${index}` };
      }
      if (command instanceof GetRecordsCommand) {
        const [id = '', at = '0'] = (command.input.ShardIterator ?? '').split(':');
        const shard = this.shards.get(id);
        if (!shard) throw new Error('bad iterator');
        const from = Number(at);
        const Records = shard.records.slice(from, from + (command.input.Limit ?? 1000));
        const next = from + Records.length;
        const ended = shard.closed && next >= shard.records.length;
        return { Records, ...(ended ? {} : { NextShardIterator: `${id}:${next}` }) };
      }
      throw new Error('unexpected command');
    },
  };
}

class MemoryCheckpoints implements Checkpoints {
  saved: Checkpoint | undefined;
  saves = 0;
  async load() {
    return this.saved && structuredClone(this.saved);
  }
  async save(cp: Checkpoint) {
    this.saves++;
    this.saved = structuredClone(cp);
  }
}

const raw = {
  send: async () => ({ Table: { LatestStreamArn: 'arn:stream', StreamSpecification: { StreamEnabled: true } } }),
} as unknown as DynamoDBClient;
const quiet: PipelineLogger = { info: () => {}, warn: () => {}, error: () => {} };

function poller(stream: FakeStream, checkpoints: Checkpoints, deliver: (e: PipeBusEntry[]) => Promise<void>) {
  return new StreamPoller({
    streams: stream.client as unknown as DynamoDBStreamsClient,
    raw,
    tableName: 't',
    checkpoints,
    deliver,
    logger: quiet,
    idleMs: 1,
    batchSize: 2,
    refreshMs: 5,
  });
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const ids = (entries: PipeBusEntry[]) => entries.map((e) => e.detail.outbox_id);

describe('stream poller (fake stream)', () => {
  it('reads shards in order (parent before child), skips non-outbox records and checkpoints the position', async () => {
    const stream = new FakeStream();
    stream.shard('p');
    for (const id of ['a', 'b', 'c']) stream.put('p', id, true);
    const checkpoints = new MemoryCheckpoints();
    const delivered: string[] = [];
    const p = poller(stream, checkpoints, async (e) => void delivered.push(...ids(e)));
    await p.start();
    await until(() => delivered.length === 3, 'the parent shard');
    // The parent ends and a child takes over (a shard rollover).
    const parent = stream.shards.get('p');
    if (parent) parent.closed = true;
    stream.shard('c1', 'p');
    stream.put('c1', 'd');
    stream.put('c1', 'e', true);
    await until(() => delivered.length === 5, 'the child shard');
    await p.stop();
    expect(delivered).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(checkpoints.saved?.closed).toEqual(['p']);
    expect(checkpoints.saved?.positions.c1).toBe(stream.shards.get('c1')?.records.at(-1)?.dynamodb?.SequenceNumber);
  });

  it('resumes after its checkpoint: nothing acknowledged is delivered again, nothing new is missed', async () => {
    const stream = new FakeStream();
    stream.shard('s');
    for (const id of ['a', 'b', 'c']) stream.put('s', id);
    const checkpoints = new MemoryCheckpoints();
    const first: string[] = [];
    const p1 = poller(stream, checkpoints, async (e) => void first.push(...ids(e)));
    await p1.start();
    await until(() => first.length === 3, 'first run');
    await p1.stop();
    for (const id of ['d', 'e']) stream.put('s', id);
    const second: string[] = [];
    const p2 = poller(stream, checkpoints, async (e) => void second.push(...ids(e)));
    await p2.start();
    await until(() => second.length === 2, 'second run');
    await new Promise((r) => setTimeout(r, 20));
    await p2.stop();
    expect(first).toEqual(['a', 'b', 'c']);
    expect(second).toEqual(['d', 'e']);
  });

  it('acknowledges batches only in reading order, even when a later one finishes first', async () => {
    const stream = new FakeStream();
    stream.shard('s');
    for (const id of ['a', 'b', 'c', 'd']) stream.put('s', id);
    const checkpoints = new MemoryCheckpoints();
    const pending = new Map<string, () => void>();
    const p = poller(
      stream,
      checkpoints,
      (e) =>
        new Promise<void>((resolve) => {
          pending.set(ids(e)[0] ?? '', resolve);
        }),
    );
    await p.start();
    await until(() => pending.has('a') && pending.has('c'), 'both batches in flight');
    const seqOf = (n: number) => stream.shards.get('s')?.records[n]?.dynamodb?.SequenceNumber;
    pending.get('c')?.(); // the second batch (c, d) finishes first
    await new Promise((r) => setTimeout(r, 20));
    expect(checkpoints.saved?.positions.s).toBeUndefined();
    pending.get('a')?.();
    await until(() => checkpoints.saved?.positions.s === seqOf(3), 'the checkpoint after both');
    await p.stop();
  });

  it('reads a batch again when its delivery failed, without skipping anything', async () => {
    const stream = new FakeStream();
    stream.shard('s');
    for (const id of ['a', 'b', 'c', 'd']) stream.put('s', id);
    const checkpoints = new MemoryCheckpoints();
    const delivered: string[] = [];
    let failures = 0;
    const p = poller(stream, checkpoints, async (e) => {
      if (ids(e).includes('a') && failures === 0) {
        failures++;
        throw new Error('transient');
      }
      delivered.push(...ids(e));
    });
    await p.start();
    await until(() => ['a', 'b', 'c', 'd'].every((id) => delivered.includes(id)), 'all after the failure');
    await p.stop();
    expect(failures).toBe(1);
    // The batch after the failed one may have been delivered before the rewind: at least once.
    expect(delivered.slice(-4)).toEqual(['a', 'b', 'c', 'd']);
  });
});
