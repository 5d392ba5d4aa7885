/**
 * The local event pipeline, the stand-in for the AWS one (docs/pipeline.md):
 *
 *   DynamoDB Local stream → stream poller (Pipe filter + outbox relay, checkpointed)
 *     → local bus (the shared RULES) → nats-bridge → NATS JetStream
 *                                    → event-log   → event items in the table
 *                                    → price-update (when registered)
 *   failures → dead letters in the table (GET /v1/dead-letters)
 *
 * The targets run the same code as the Lambda functions (shared/adapters/nats/bridge.ts,
 * shared/adapters/dynamodb/event-log.ts). Used by the local stack and by the tests.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { bridgeBusDetail, NatsBridge } from '#shared/adapters/nats/bridge';
import { NatsConnector } from '#shared/adapters/nats/connection';
import type { StreamSettings } from '#shared/adapters/nats/stream';
import type { BusEvent } from '#shared/adapters/outbox-relay';
import { DeadLetters } from '#shared/adapters/dynamodb/dead-letters';
import { appendBusDetail, appendBusDetails, EventLog } from '#shared/adapters/dynamodb/event-log';
import { type Clock, systemClock } from '#shared/core/ports';
import { RULES } from '#shared/rules';
import { CheckpointStore } from './checkpoint.ts';
import { type BusRule, type BusTarget, LocalBus, type PipelineLogger, type RetryPolicy } from './local-bus.ts';
import { StreamPoller } from './stream-poller.ts';

export { type BusRule, type BusTarget, LocalBus, type PipelineLogger, type RetryPolicy } from './local-bus.ts';
export { StreamPoller } from './stream-poller.ts';

export interface PipelineOptions {
  tableName: string;
  /** DynamoDB Local's endpoint; the Streams client is made for it. */
  dynamoEndpoint: string;
  region?: string;
  /** Clients to reuse; made (and destroyed by `stop()`) when absent. */
  raw?: DynamoDBClient;
  doc?: DynamoDBDocumentClient;
  natsUrl: string;
  /** JetStream stream name and subject root (tests use their own). */
  stream?: Partial<StreamSettings>;
  /** Default: the shared RULES. */
  rules?: readonly BusRule[];
  /** Targets added to (or replacing) the built-in `nats-bridge` and `event-log`, e.g. `price-update`. */
  targets?: Record<string, BusTarget>;
  logger?: PipelineLogger;
  retry?: Partial<RetryPolicy>;
  /** Poller sleep when the stream is idle. Default 50 ms. */
  idleMs?: number;
  /** Records per GetRecords. Default 1000. */
  batchSize?: number;
  /** First run without a checkpoint: read everything retained (default) or only new records. */
  startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  /** How long `stop()` lets the current batch finish before interrupting it. Default 3 s. */
  stopGraceMs?: number;
  clock?: Clock;
}

export interface Pipeline {
  poller: StreamPoller;
  bus: LocalBus;
  bridge: NatsBridge;
  eventLog: EventLog;
  deadLetters: DeadLetters;
  /** Finishes (or, after the grace period, interrupts) the current batch, saves the checkpoint, closes. */
  stop(): Promise<void>;
}

export const consoleLogger: PipelineLogger = {
  info: (message, extra) => console.log(`pipeline: ${message}`, extra ?? ''),
  warn: (message, extra) => console.warn(`pipeline: ${message}`, extra ?? ''),
  error: (message, extra) => console.error(`pipeline: ${message}`, extra ?? ''),
};

export async function startPipeline(opts: PipelineOptions): Promise<Pipeline> {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? consoleLogger;
  const clientConfig = {
    endpoint: opts.dynamoEndpoint,
    region: opts.region ?? process.env.AWS_REGION ?? 'us-east-1',
    // DynamoDB Local accepts any credentials.
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'local',
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'local',
    },
  };
  const raw = opts.raw ?? new DynamoDBClient(clientConfig);
  const doc = opts.doc ?? DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
  const streams = new DynamoDBStreamsClient(clientConfig);
  const table = { doc, tableName: opts.tableName };

  const bridge = new NatsBridge({
    connector: new NatsConnector({ settings: async () => ({ url: opts.natsUrl }), name: 'local-nats-bridge', clock }),
    ...(opts.stream && { stream: opts.stream }),
  });
  const eventLog = new EventLog(table, clock);
  const deadLetters = new DeadLetters(table, clock);
  const bus = new LocalBus({
    rules: opts.rules ?? RULES,
    targets: {
      'nats-bridge': (event) => bridgeBusDetail(bridge, event.detail),
      'event-log': Object.assign((event: BusEvent) => appendBusDetail(eventLog, event.detail), {
        batch: (events: readonly BusEvent[]) =>
          appendBusDetails(
            eventLog,
            events.map((e) => e.detail),
          ),
      }),
      ...opts.targets,
    },
    deadLetters,
    logger,
    ...(opts.retry && { retry: opts.retry }),
    now: () => clock.now(),
  });
  const poller = new StreamPoller({
    streams,
    raw,
    tableName: opts.tableName,
    checkpoints: new CheckpointStore(table, clock),
    deliver: (entries) => bus.putEntries(entries),
    logger,
    ...(opts.idleMs !== undefined && { idleMs: opts.idleMs }),
    ...(opts.batchSize !== undefined && { batchSize: opts.batchSize }),
    ...(opts.startingPosition !== undefined && { startingPosition: opts.startingPosition }),
  });

  const release = async () => {
    await bridge.close();
    streams.destroy();
    if (!opts.doc) doc.destroy();
    if (!opts.raw) raw.destroy();
  };
  try {
    await poller.start();
  } catch (error) {
    await release();
    throw error;
  }

  let stopped: Promise<void> | undefined;
  return {
    poller,
    bus,
    bridge,
    eventLog,
    deadLetters,
    stop: () => {
      stopped ??= (async () => {
        // A healthy batch finishes within the grace period; one held by an outage is cut short
        // (and, not being checkpointed, delivered again on the next start).
        const interrupt = setTimeout(() => bus.stop(), opts.stopGraceMs ?? 3_000);
        try {
          await poller.stop();
        } finally {
          clearTimeout(interrupt);
          bus.stop();
          await release();
        }
      })();
      return stopped;
    },
  };
}
