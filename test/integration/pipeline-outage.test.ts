/**
 * Delivery guarantees of the local pipeline under failure, with a nats-server of this file's
 * own (so stopping it disturbs nobody):
 * - NATS stopped mid-run while transactions keep committing, then restarted on the same store:
 *   every event arrives, none twice at the consumer, none stored twice in the stream, and the
 *   poller never checkpoints past an event the bridge did not publish;
 * - the pipeline stopped and started again: it resumes after its checkpoint, losing nothing and
 *   delivering nothing twice to the bus.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsAnswers } from '#local/nats';
import { type BusRule, type Pipeline, type PipelineLogger, startPipeline } from '#local/pipeline/index';
import { freePort } from '#local/ports';
import { findExecutable, type ManagedProcess, manageProcess } from '#local/processes';
import { scanKinds } from '#shared/adapters/dynamodb/audit';
import { clientConfig } from '#shared/adapters/dynamodb/client';
import { eventsOfOutbox } from '#shared/adapters/dynamodb/outbox';
import { EventConsumer } from '#shared/adapters/nats/consumer';
import { DEFAULT_STREAM, ensureStream } from '#shared/adapters/nats/stream';
import type { BusEvent } from '#shared/adapters/outbox-relay';
import type { Services } from '#shared/adapters/services';
import { micros } from '#shared/core/money';
import { derivedId } from '#shared/core/ports';
import { ALL_EVENTS_PATTERN, RULES } from '#shared/rules';
import { keys } from '#shared/table';
import {
  auditAfterEach,
  createTestTable,
  deleteTestTable,
  dynamoEndpoint,
  type TestTable,
  testConfig,
  testServices,
} from '../harness/context.ts';

const STREAM = 'OUTAGE';
const ROOT = 'outage';

let table: TestTable;
auditAfterEach(() => table);
let storeDir = '';
let port = 0;
let nats: ManagedProcess | undefined;
let services: Services;
const logs: string[] = [];
const logger: PipelineLogger = {
  info: (m) => logs.push(`info ${m}`),
  warn: (m) => logs.push(`warn ${m}`),
  error: (m) => logs.push(`error ${m}`),
};

async function startNats(): Promise<void> {
  const executable = findExecutable('nats-server', ['/usr/sbin', '/usr/local/sbin']);
  if (!executable) throw new Error('nats-server is required for this test');
  const child = spawn(executable, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  nats = manageProcess('nats-server (outage test)', child);
  const deadline = Date.now() + 15_000;
  while (!(await natsAnswers(natsUrl(), 300))) {
    if (nats.hasExited()) throw new Error(`nats-server exited:\n${nats.outputTail()}`);
    if (Date.now() > deadline) throw new Error('nats-server did not start');
    await sleep(50);
  }
}

const natsUrl = () => `nats://127.0.0.1:${port}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  table = await createTestTable('outage');
  storeDir = await mkdtemp(join(tmpdir(), 'syntropism-outage-'));
  port = await freePort();
  await startNats();
  // The consumer attaches before the bridge's first publish would have created the stream.
  const nc = await connect({ servers: natsUrl() });
  await ensureStream(await jetstreamManager(nc), { ...DEFAULT_STREAM, name: STREAM, subjectRoot: ROOT });
  await nc.close();
  services = testServices(table, testConfig(table.tableName));
});

afterAll(async () => {
  await nats?.stop();
  if (storeDir) await rm(storeDir, { recursive: true, force: true });
  if (table) await deleteTestTable(table);
});

const pipelineOptions = (
  extra: { rules?: readonly BusRule[]; targets?: Record<string, (e: BusEvent) => Promise<void>> } = {},
) => ({
  tableName: table.tableName,
  dynamo: { endpoint: dynamoEndpoint(), region: 'us-east-1' },
  clients: { raw: table.raw, doc: table.client },
  natsUrl: natsUrl(),
  stream: { name: STREAM, subjectRoot: ROOT },
  logger,
  idleMs: 20,
  retry: { attempts: 3, baseMs: 20, maxMs: 100, holdMaxMs: 200 },
  ...extra,
});

async function eventually<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; log: ${logs.slice(-20).join(' | ')}`);
    await sleep(50);
  }
}

async function register(name: string) {
  const { agent } = await services.agents.register({ name, initial_balance: micros(1_000_000_000) }, {});
  return agent.agent_id;
}

let transferNo = 0;
async function transfer(from: string, to: string): Promise<void> {
  transferNo++;
  await services.ledger.transfer(
    {
      transfer_id: derivedId('tr', 'outage', String(transferNo)),
      from,
      to,
      amount: micros(1_000_000),
      purpose: 'transfer',
      reference: null,
    },
    { actor: from, ctx: {} },
  );
}

async function allEventIds(): Promise<string[]> {
  const items = await scanKinds(table.client, table.tableName, ['outbox']);
  return items.flatMap((i) => eventsOfOutbox(i).map((e) => e.event_id));
}

/** Stream sequence number of the record that inserted an outbox item. */
async function streamSequenceOf(outboxId: string): Promise<string> {
  const streams = new DynamoDBStreamsClient(clientConfig({ endpoint: dynamoEndpoint(), region: 'us-east-1' }));
  try {
    const { Table } = await table.raw.send(new DescribeTableCommand({ TableName: table.tableName }));
    const arn = Table?.LatestStreamArn;
    const shards = (await streams.send(new DescribeStreamCommand({ StreamArn: arn }))).StreamDescription?.Shards ?? [];
    for (const shard of shards) {
      let it = (
        await streams.send(
          new GetShardIteratorCommand({ StreamArn: arn, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }),
        )
      ).ShardIterator;
      while (it) {
        const out = await streams.send(new GetRecordsCommand({ ShardIterator: it, Limit: 1000 }));
        const hit = out.Records?.find(
          (r) => r.eventName === 'INSERT' && r.dynamodb?.NewImage?.outbox_id?.S === outboxId,
        );
        if (hit?.dynamodb?.SequenceNumber) return hit.dynamodb.SequenceNumber;
        if (!out.Records?.length) break;
        it = out.NextShardIterator;
      }
    }
    throw new Error(`no stream record for ${outboxId}`);
  } finally {
    streams.destroy();
  }
}

async function checkpointPositions(): Promise<string[]> {
  const out = await table.client.send(
    new GetCommand({ TableName: table.tableName, Key: keys.checkpoint('stream-poller'), ConsistentRead: true }),
  );
  return Object.values((out.Item?.positions ?? {}) as Record<string, string>);
}

describe('NATS outage', () => {
  it('delivers every event once NATS is back, none twice, and never checkpoints past what was published', async () => {
    const pipeline: Pipeline = await startPipeline(pipelineOptions());
    const events = await EventConsumer.create({
      connection: { url: natsUrl() },
      stream: STREAM,
      durable: 'outage',
      filterSubject: `${ROOT}.>`,
    });
    const received: string[] = [];
    const consuming = events.run((d) => {
      received.push(d.envelope.event_id);
    });
    try {
      const a = await register('a');
      const b = await register('b');
      for (let i = 0; i < 10; i++) await transfer(i % 2 ? a : b, i % 2 ? b : a);
      const before = await allEventIds();
      await eventually(
        () => (before.every((id) => received.includes(id)) ? true : undefined),
        'events before the outage',
      );

      await nats?.stop();
      const outageStart = (await allEventIds()).length;
      for (let i = 0; i < 20; i++) await transfer(i % 2 ? a : b, i % 2 ? b : a);
      await sleep(1_500);
      // The first outbox item of the outage has not been published, so no checkpoint reaches it.
      const during = (await scanKinds(table.client, table.tableName, ['outbox']))
        .map((i) => String(i.outbox_id))
        .sort();
      const firstUnpublished = during.find((id) => !received.includes(id) && !before.includes(id));
      expect(firstUnpublished).toBeDefined();
      const blockedAt = BigInt(await streamSequenceOf(String(firstUnpublished)));
      for (const position of await checkpointPositions()) expect(BigInt(position)).toBeLessThan(blockedAt);
      expect(received.length).toBe(outageStart);
      expect(logs.some((l) => l.includes('unavailable'))).toBe(true);

      await startNats();
      const all = await allEventIds();
      expect(all.length).toBe(outageStart + 20);
      await eventually(
        () => (all.every((id) => received.includes(id)) ? true : undefined),
        'every event after the outage',
      );
      await sleep(500); // let any late redelivery show up
      expect(new Set(received).size).toBe(received.length);
      expect(received.length).toBe(all.length);
      // Nor stored twice: JetStream dropped the republished ones (Nats-Msg-Id).
      const nc = await connect({ servers: natsUrl() });
      const info = await (await jetstreamManager(nc)).streams.info(STREAM);
      await nc.close();
      expect(info.state.messages).toBe(all.length);

      // Once everything is through, the checkpoint is at or past the record that was blocked.
      await eventually(
        async () => ((await checkpointPositions()).some((p) => BigInt(p) >= blockedAt) ? true : undefined),
        'the checkpoint to move on',
      );
    } finally {
      await events.close();
      await consuming;
      await pipeline.stop();
    }
  });

  it('resumes after its checkpoint when restarted: nothing lost, nothing delivered twice', async () => {
    const seen: string[] = [];
    const spy: BusRule = { name: 'spy', pattern: ALL_EVENTS_PATTERN, target: 'spy' };
    const options = pipelineOptions({
      rules: [...RULES, spy],
      targets: { spy: async (e) => void seen.push(e.detail.outbox_id) },
    });
    const outboxIds = async () =>
      (await scanKinds(table.client, table.tableName, ['outbox'])).map((i) => String(i.outbox_id));
    const earlier = await outboxIds();
    const first = await startPipeline(options);
    const a = await register('c');
    const b = await register('d');
    for (let i = 0; i < 5; i++) await transfer(a, b);
    const batch1 = (await outboxIds()).filter((id) => !earlier.includes(id));
    await eventually(() => (batch1.every((id) => seen.includes(id)) ? true : undefined), 'the first batch');
    // Items the previous test already delivered are behind the checkpoint: not delivered again.
    expect([...seen].sort()).toEqual([...batch1].sort());
    await first.stop();

    for (let i = 0; i < 5; i++) await transfer(b, a);
    const batch2 = (await outboxIds()).filter((id) => !batch1.includes(id) && !earlier.includes(id));
    expect(batch2).toHaveLength(5);
    const countBefore = seen.length;

    const second = await startPipeline(options);
    try {
      await eventually(() => (batch2.every((id) => seen.includes(id)) ? true : undefined), 'the second batch');
      await sleep(300);
      // Only the new items were delivered after the restart: no replay of acknowledged ones.
      expect(seen.slice(countBefore).sort()).toEqual([...batch2].sort());
      expect(new Set(seen).size).toBe(seen.length);
    } finally {
      await second.stop();
    }
  });
});
