/**
 * The `nats-bridge` rule target: publishes the envelopes of one bus event (one outbox item,
 * `detail = {outbox_id, events}`) to NATS JetStream, in order, each acknowledged before the next.
 *
 * Failure handling (reasons in shared/adapters/nats/bridge.ts and docs/pipeline.md):
 * - NATS unreachable: the invocation fails; Lambda retries it, and JetStream drops the
 *   envelopes it already stored (Nats-Msg-Id = event_id).
 * - Poison envelopes: the valid ones are published, the poison ones recorded as a dead letter
 *   in the table, then the invocation fails with PoisonEventError, so that after its retries the
 *   bus event lands in the target's SQS dead-letter queue.
 *
 * - Price updates among the envelopes also update the market state bucket (NATS_MARKET_BUCKET,
 *   `syntropism-market`) after they are published; a failure there fails the invocation too,
 *   and the retry republishes nothing twice and writes nothing backwards (market-state.ts).
 *
 * The connection to NATS is made once per container (from NATS_SECRET_ARN or NATS_URL), shared
 * by the publishes and the market state, and replaced when a thawed container finds it dead.
 * Spans are flushed before returning.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { SpanKind } from '@opentelemetry/api';
import type { EventBridgeEvent } from 'aws-lambda';
import { type DeadLetterSink, DeadLetters } from '#shared/adapters/dynamodb/dead-letters';
import { lambdaEntry } from '#shared/adapters/lazy-handler';
import { bridgeBusDetail, NatsBridge } from '#shared/adapters/nats/bridge';
import { NatsConnector } from '#shared/adapters/nats/connection';
import { errorMessage, PoisonEventError } from '#shared/adapters/nats/errors';
import { MarketStateWriter } from '#shared/adapters/nats/market-state';
import { natsSettingsProvider } from '#shared/adapters/nats/settings';
import type { BusDetail, BusEvent } from '#shared/adapters/outbox-relay';
import { economyOf, type TableConfig, tableOf } from '#shared/adapters/services';
import { flushTelemetry, recordError, tracer } from '#shared/adapters/telemetry/tracing';
import type { Config } from '#shared/config';
import { systemClock } from '#shared/core/ports';

export interface NatsBridgeDeps {
  bridge: Pick<NatsBridge, 'publish'>;
  /** Absent: the market state is not written (tests of the publishing alone). */
  marketState?: Pick<MarketStateWriter, 'write'>;
  deadLetters: DeadLetterSink;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
}

export type NatsBridgeResult = { published: number; duplicates: number; market_state?: number };

export function makeHandler(
  deps: NatsBridgeDeps,
): (event: EventBridgeEvent<string, BusDetail>) => Promise<NatsBridgeResult> {
  const { logger } = deps;
  return (event) =>
    tracer().startActiveSpan(
      'nats-bridge',
      { kind: SpanKind.CONSUMER, attributes: { 'faas.name': 'nats-bridge', 'messaging.message.id': event.id } },
      async (span) => {
        try {
          const report = await bridgeBusDetail(deps.bridge, event.detail, deps.marketState);
          const duplicates = report.acks.filter((a) => a.duplicate).length;
          const result: NatsBridgeResult = { published: report.acks.length, duplicates };
          // Keys written to the market state bucket (0: it already held this round).
          if (report.market) result.market_state = report.market.written.length;
          logger.info('published', { outbox_id: event.detail.outbox_id, ...result });
          return result;
        } catch (error) {
          recordError(span, error);
          await onFailure(deps, event, error);
          throw error;
        } finally {
          span.end();
          await flushTelemetry();
        }
      },
    );
}

async function onFailure(deps: NatsBridgeDeps, event: EventBridgeEvent<string, BusDetail>, error: unknown) {
  const { logger } = deps;
  if (!(error instanceof PoisonEventError)) {
    logger.warn('NATS unavailable; failing so that the invocation is retried', { error: errorMessage(error) });
    return;
  }
  logger.error('poison events: dead-lettering', { outbox_id: error.outboxId, error: error.message });
  // Best effort: the SQS dead-letter queue receives the event whatever happens here.
  await deps.deadLetters
    .record({ target: 'nats-bridge', rule: 'all-to-nats', event: asBusEvent(event), error, attempts: 1 })
    .catch((e: unknown) => logger.warn('could not record the dead letter in the table', { error: errorMessage(e) }));
}

/**
 * The connection to NATS (made once per container, replaced when found dead), shared by the
 * bridge and the market state (whose bounds and capacity come from the economy), and dead letters.
 */
export function natsBridgeDepsOf(
  config: TableConfig &
    Pick<Config, 'NATS_URL' | 'NATS_SECRET_ARN' | 'NATS_MARKET_BUCKET' | 'SYNTROPISM_ECONOMY' | 'LOG_LEVEL'>,
): NatsBridgeDeps {
  const connector = new NatsConnector({ settings: natsSettingsProvider(config), name: 'nats-bridge' });
  return {
    bridge: new NatsBridge({ connector }),
    marketState: new MarketStateWriter({
      connector,
      economy: economyOf(config),
      bucket: { name: config.NATS_MARKET_BUCKET },
    }),
    deadLetters: new DeadLetters(tableOf(config), systemClock),
    logger: new Logger({ serviceName: 'syntropism', logLevel: config.LOG_LEVEL }),
  };
}

export const handler = lambdaEntry((config) => makeHandler(natsBridgeDepsOf(config)), 'syntropism-nats-bridge');

function asBusEvent(e: EventBridgeEvent<string, BusDetail>): BusEvent {
  return {
    version: '0',
    id: e.id,
    'detail-type': e['detail-type'],
    source: e.source,
    account: e.account,
    time: e.time,
    region: e.region,
    resources: e.resources,
    detail: e.detail,
  };
}
