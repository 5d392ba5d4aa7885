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
 * The connection to NATS is made once per container (from NATS_SECRET_ARN or NATS_URL) and
 * replaced when a thawed container finds it dead. Spans are flushed before returning.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { SpanKind } from '@opentelemetry/api';
import type { EventBridgeEvent } from 'aws-lambda';
import { makeDocumentClient } from '#shared/adapters/dynamodb/client';
import { bridgeBusDetail, NatsBridge } from '#shared/adapters/nats/bridge';
import { NatsConnector } from '#shared/adapters/nats/connection';
import { errorMessage, PoisonEventError } from '#shared/adapters/nats/errors';
import { natsSettingsProvider } from '#shared/adapters/nats/settings';
import type { BusDetail, BusEvent } from '#shared/adapters/outbox-relay';
import { DeadLetters } from '#shared/adapters/outbox-relay-dead-letters';
import { flushTelemetry, initTelemetry, recordError, tracer } from '#shared/adapters/telemetry/tracing';
import { loadConfig } from '#shared/config';
import { systemClock } from '#shared/core/ports';

const config = loadConfig();
initTelemetry({
  serviceName: 'syntropism-nats-bridge',
  serviceVersion: config.SERVICE_VERSION,
  ...(config.OTEL_EXPORTER_OTLP_ENDPOINT && { otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT }),
});
const logger = new Logger({ serviceName: 'syntropism', logLevel: config.LOG_LEVEL });
const bridge = new NatsBridge({
  connector: new NatsConnector({ settings: natsSettingsProvider(config), name: 'nats-bridge' }),
});
const deadLetters = new DeadLetters({ doc: makeDocumentClient(config), tableName: config.TABLE_NAME }, systemClock);

export const handler = async (
  event: EventBridgeEvent<string, BusDetail>,
): Promise<{ published: number; duplicates: number }> =>
  tracer().startActiveSpan(
    'nats-bridge',
    { kind: SpanKind.CONSUMER, attributes: { 'faas.name': 'nats-bridge', 'messaging.message.id': event.id } },
    async (span) => {
      try {
        const report = await bridgeBusDetail(bridge, event.detail);
        const duplicates = report.acks.filter((a) => a.duplicate).length;
        logger.info('published', { outbox_id: event.detail.outbox_id, published: report.acks.length, duplicates });
        return { published: report.acks.length, duplicates };
      } catch (error) {
        recordError(span, error);
        if (error instanceof PoisonEventError) {
          logger.error('poison events: dead-lettering', { outbox_id: error.outboxId, error: error.message });
          // Best effort: the SQS dead-letter queue receives the event whatever happens here.
          await deadLetters
            .record({ target: 'nats-bridge', rule: 'all-to-nats', event: asBusEvent(event), error, attempts: 1 })
            .catch((e: unknown) =>
              logger.warn('could not record the dead letter in the table', { error: errorMessage(e) }),
            );
        } else {
          logger.warn('NATS unavailable; failing so that the invocation is retried', { error: errorMessage(error) });
        }
        throw error;
      } finally {
        span.end();
        await flushTelemetry();
      }
    },
  );

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
