/**
 * The local event pipeline, the stand-in for the AWS one (docs/pipeline.md):
 *
 *   DynamoDB Local stream → stream poller (Pipe filter + outbox relay, checkpointed)
 *     → local bus (the shared RULES) → nats-bridge → NATS JetStream (+ the market state bucket)
 *                                    → event-log   → event items in the table
 *                                    → price-update (when registered)
 *   failures → dead letters in the table (GET /v1/dead-letters)
 *
 * The targets run the same code as the Lambda functions (shared/adapters/nats/bridge.ts,
 * shared/adapters/dynamodb/event-log.ts). Used by the local stack and by the tests.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { clientConfig, type DynamoClientOptions, dynamoClients } from '#shared/adapters/dynamodb/client';
import { DeadLetters } from '#shared/adapters/dynamodb/dead-letters';
import { appendBusDetail, appendBusDetails, EventLog } from '#shared/adapters/dynamodb/event-log';
import { bridgeBusDetail, NatsBridge } from '#shared/adapters/nats/bridge';
import { NatsConnector } from '#shared/adapters/nats/connection';
import { MarketStateWriter } from '#shared/adapters/nats/market-state';
import type { StreamSettings } from '#shared/adapters/nats/stream';
import type { BusEvent } from '#shared/adapters/outbox-relay';
import type { EconomyConfig } from '#shared/core/market-config';
import { type Clock, systemClock } from '#shared/core/ports';
import { RULES } from '#shared/rules';
import { CheckpointStore } from './checkpoint.ts';
import { type BusRule, type BusTarget, LocalBus, type PipelineLogger, type RetryPolicy } from './local-bus.ts';
import { StreamPoller } from './stream-poller.ts';

export { type BusRule, type BusTarget, LocalBus, type PipelineLogger, type RetryPolicy } from './local-bus.ts';
export { StreamPoller } from './stream-poller.ts';

export interface PipelineOptions {
  tableName: string;
  /** Where DynamoDB Local is; the Streams client (and any client not given) is made for it. */
  dynamo: DynamoClientOptions;
  /** Clients to reuse; made from `dynamo` (and destroyed by `stop()`) when absent. */
  clients?: { raw: DynamoDBClient; doc: DynamoDBDocumentClient };
  natsUrl: string;
  /** JetStream stream name and subject root (tests use their own). */
  stream?: Partial<StreamSettings>;
  /**
   * The market state bucket the bridge writes after price updates (as the Lambda does), with
   * the economy its bounds and capacity come from. Absent: not written, so that a test's
   * pipeline leaves the shared server's bucket alone unless it names one of its own.
   */
  marketState?: { economy: EconomyConfig; bucket?: string };
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
  /** Only with `options.marketState`. */
  marketState: MarketStateWriter | undefined;
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

/** The targets every local pipeline has, running the same code as the Lambda targets. */
function builtInTargets(
  bridge: NatsBridge,
  marketState: MarketStateWriter | undefined,
  eventLog: EventLog,
): Record<string, BusTarget> {
  return {
    'nats-bridge': (event) => bridgeBusDetail(bridge, event.detail, marketState),
    'event-log': Object.assign((event: BusEvent) => appendBusDetail(eventLog, event.detail), {
      batch: (events: readonly BusEvent[]) =>
        appendBusDetails(
          eventLog,
          events.map((e) => e.detail),
        ),
    }),
  };
}

/** The given clients (left open), or new ones released when the pipeline stops. */
function clientsOf(opts: PipelineOptions): { raw: DynamoDBClient; doc: DynamoDBDocumentClient; release(): void } {
  if (opts.clients) return { ...opts.clients, release: () => {} };
  const made = dynamoClients(opts.dynamo);
  return { raw: made.raw, doc: made.doc, release: made.destroy };
}

export async function startPipeline(opts: PipelineOptions): Promise<Pipeline> {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? consoleLogger;
  // The Streams client follows the same configuration (and credentials rule) as the table's.
  const { raw, doc, release: releaseClients } = clientsOf(opts);
  const streams = new DynamoDBStreamsClient(clientConfig(opts.dynamo));
  const table = { doc, tableName: opts.tableName };

  const connector = new NatsConnector({
    settings: async () => ({ url: opts.natsUrl }),
    name: 'local-nats-bridge',
    clock,
  });
  const bridge = new NatsBridge({ connector, ...(opts.stream && { stream: opts.stream }) });
  const marketState =
    opts.marketState &&
    new MarketStateWriter({
      connector,
      economy: opts.marketState.economy,
      ...(opts.marketState.bucket && { bucket: { name: opts.marketState.bucket } }),
    });
  const eventLog = new EventLog(table, clock);
  const deadLetters = new DeadLetters(table, clock);
  const bus = new LocalBus({
    rules: opts.rules ?? RULES,
    targets: { ...builtInTargets(bridge, marketState, eventLog), ...opts.targets },
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
    releaseClients();
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
    marketState,
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
