/**
 * Event pipeline, commit → NATS: 10 000 events, each committed in its own transaction (a
 * counter update plus the outbox item, 4 writers in parallel) against DynamoDB Local, carried
 * by the local pipeline (stream poller → local bus → nats-bridge and event-log) and received by
 * a durable JetStream consumer. Reports the commit → receive latency (p50/p95/p99), and the lost
 * and duplicated events, which must both be 0. There is no speed bar (spec 07): the latency is
 * reported, correctness is checked.
 *
 * Latency runs from the moment the transaction call returned to the moment the consumer handed
 * the event over, both on this process's monotonic clock. Four writers already reach DynamoDB
 * Local's transaction throughput on these machines; more writers only queue (in DynamoDB Local
 * and, behind it, in the stream), which measures the backlog rather than the pipeline.
 */
import { randomBytes } from 'node:crypto';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createTable } from '#local/create-table';
import { startDynamoDbLocal } from '#local/dynamodb-local';
import { ensureNats } from '#local/nats';
import { startPipeline } from '#local/pipeline/index';
import { dynamoClients } from '#shared/adapters/dynamodb/client';
import { outboxItem } from '#shared/adapters/dynamodb/outbox';
import { EventConsumer } from '#shared/adapters/nats/consumer';
import { DEFAULT_STREAM, ensureStream } from '#shared/adapters/nats/stream';
import { makeEvent } from '#shared/core/events';
import { systemClock, ulidGenerator } from '#shared/core/ports';
import { type BenchResult, check, isMain, printTable, writeResult } from './run.ts';

export interface PipelineBenchOptions {
  events?: number;
  concurrency?: number;
  /** Give up waiting for stragglers after this long without progress. Default 60 s. */
  stallMs?: number;
}

const percentile = (sorted: readonly number[], p: number): number =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN);

export async function run(opts: PipelineBenchOptions = {}): Promise<BenchResult> {
  const total = opts.events ?? 10_000;
  const concurrency = opts.concurrency ?? 4;
  const suffix = randomBytes(4).toString('hex');
  const stream = { ...DEFAULT_STREAM, name: `BENCH_${suffix}`, subjectRoot: `bench${suffix}` };
  const tableName = `bench-pipeline-${suffix}`;
  const warnings: string[] = [];

  const dynamo = await startDynamoDbLocal({ inMemory: true });
  const nats = await ensureNats({ url: process.env.NATS_URL });
  const dynamoOptions = { endpoint: dynamo.endpoint, region: 'us-east-1', maxAttempts: 10 };
  const { raw, doc, destroy } = dynamoClients(dynamoOptions);
  const nc = await connect({ servers: nats.url });
  const cleanup: Array<() => Promise<unknown>> = [];
  try {
    await createTable(raw, tableName);
    cleanup.push(() => raw.send(new DeleteTableCommand({ TableName: tableName })));
    const jsm = await jetstreamManager(nc);
    await ensureStream(jsm, stream);
    cleanup.push(() => jsm.streams.delete(stream.name));

    const pipeline = await startPipeline({
      tableName,
      dynamo: dynamoOptions,
      clients: { raw, doc },
      natsUrl: nats.url,
      stream,
      idleMs: 20,
      logger: { info: () => {}, warn: (m) => warnings.push(m), error: (m) => warnings.push(m) },
    });
    cleanup.unshift(() => pipeline.stop());

    const committedAt = new Map<string, number>();
    const latencies: number[] = [];
    let deliveredTwice = 0;
    const delivered = new Set<string>();
    let lastProgress = performance.now();
    const consumer = await EventConsumer.create({
      connection: nc,
      stream: stream.name,
      durable: 'bench',
      filterSubject: `${stream.subjectRoot}.>`,
      batch: 512,
    });
    const consuming = consumer.run((d) => {
      const now = performance.now();
      lastProgress = now;
      const id = d.envelope.event_id;
      if (delivered.has(id)) deliveredTwice++;
      delivered.add(id);
      const at = committedAt.get(id);
      if (at !== undefined) latencies.push(now - at);
    });
    cleanup.unshift(async () => {
      await consumer.close();
      await consuming;
    });

    // Commit: one transaction per event (a counter per writer + the outbox item).
    const deps = { clock: systemClock, ids: ulidGenerator(systemClock) };
    let next = 0;
    const commitStart = performance.now();
    const late: Array<{ id: string; at: number }> = [];
    await Promise.all(
      Array.from({ length: concurrency }, async (_, writer) => {
        for (let n = next++; n < total; n = next++) {
          const event = makeEvent(deps, {
            type: 'tool_call_completed',
            agent_id: `a_bench${writer}`,
            aggregate: `bench:${writer}`,
            data: { tool_name: 'bench', result: { n } },
          });
          await doc.send(
            new TransactWriteCommand({
              TransactItems: [
                {
                  Update: {
                    TableName: tableName,
                    Key: { PK: `BENCH#${writer}`, SK: 'COUNTER' },
                    UpdateExpression: 'ADD n :one',
                    ExpressionAttributeValues: { ':one': 1 },
                  },
                },
                { Put: { TableName: tableName, Item: outboxItem([event], Date.now()) } },
              ],
            }),
          );
          const at = performance.now();
          committedAt.set(event.event_id, at);
          // Received before this line ran (possible: the stream is fast)? Measure it as 0.
          if (delivered.has(event.event_id)) late.push({ id: event.event_id, at });
        }
      }),
    );
    const commitSeconds = (performance.now() - commitStart) / 1000;
    for (const _ of late) latencies.push(0);

    const stallMs = opts.stallMs ?? 60_000;
    lastProgress = performance.now();
    while (delivered.size < total && performance.now() - lastProgress < stallMs) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const drainSeconds = (performance.now() - commitStart) / 1000;
    await new Promise((r) => setTimeout(r, 500)); // late duplicates, if any, would show up here

    const info = await jsm.streams.info(stream.name);
    const lost = [...committedAt.keys()].filter((id) => !delivered.has(id)).length;
    const storedTwice = Math.max(0, info.state.messages - total);
    const duplicated = deliveredTwice + storedTwice;
    const sorted = [...latencies].sort((a, b) => a - b);
    const latency = {
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      p99: percentile(sorted, 99),
      max: sorted.at(-1) ?? Number.NaN,
      mean: sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length),
    };
    printTable(
      [
        {
          events: total,
          writers: concurrency,
          commits_per_s: total / commitSeconds,
          drained_s: drainSeconds,
          p50_ms: latency.p50,
          p95_ms: latency.p95,
          p99_ms: latency.p99,
          max_ms: latency.max,
          lost,
          duplicated,
        },
      ],
      'Event pipeline: commit → NATS consumer',
    );
    const result: BenchResult = {
      name: 'pipeline',
      summary: { p99_ms: Math.round(latency.p99), lost, duplicated },
      checks: [check('lost events', lost, '<=', 0), check('duplicated events', duplicated, '<=', 0)],
      events: total,
      writers: concurrency,
      commit_seconds: commitSeconds,
      commits_per_second: total / commitSeconds,
      drain_seconds: drainSeconds,
      latency_ms: latency,
      lost,
      duplicated: { total: duplicated, delivered_twice: deliveredTwice, stored_twice: storedTwice },
      consumer: consumer.stats,
      poller: pipeline.poller.stats,
      bus: pipeline.bus.stats,
      warnings: warnings.slice(0, 20),
    };
    writeResult('pipeline', result);
    return result;
  } finally {
    for (const step of cleanup) await step().catch(() => {});
    await nc.close();
    destroy();
    await nats.stop();
    await dynamo.stop();
  }
}

if (isMain(import.meta.url)) {
  const result = await run();
  process.exitCode = (result.checks ?? []).every((c) => c.ok) ? 0 : 1;
}
