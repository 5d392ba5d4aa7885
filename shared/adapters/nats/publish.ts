/**
 * Publishes envelopes to JetStream, one by one and in order: each publish waits for its ack
 * before the next starts, so the stream holds a transaction's events in the order written.
 *
 * Per envelope: validated first (a poison event is reported, not published, and does not stop
 * the ones after it); subject `<root>.<source>.<component>.<type>`; header `Nats-Msg-Id` =
 * `event_id` (JetStream drops a republished one); headers `traceparent`/`tracestate` of a
 * PRODUCER span that continues the trace stored in the envelope, so the consumer's span joins
 * the trace of the request that caused the event.
 *
 * A publish that fails (no connection, no ack in time) throws NatsUnavailableError at once:
 * publishing later envelopes first would reorder them.
 */

import type { JetStreamClient } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { type Envelope, validateEnvelope } from '../../core/events.ts';
import { contextFrom, tracer } from '../telemetry/tracing.ts';
import { errorMessage, NatsUnavailableError, type PoisonEvent } from './errors.ts';
import { DEFAULT_STREAM, subjectFor } from './stream.ts';

export interface PublishOptions {
  /** Default `syntropism`. */
  subjectRoot?: string;
  /** How long to wait for each publish ack. Default 2 s. */
  ackTimeoutMs?: number;
  /** The dead-letter sink of poison events (also returned in the report). */
  onPoison?: (poison: PoisonEvent) => void | Promise<void>;
}

export interface PublishAck {
  event_id: string;
  subject: string;
  /** Stream sequence of the message. */
  seq: number;
  /** True when JetStream had it already (a retry): not stored twice. */
  duplicate: boolean;
}

export interface PublishReport {
  acks: PublishAck[];
  poison: PoisonEvent[];
}

export async function publishEvents(
  js: JetStreamClient,
  events: readonly unknown[],
  opts: PublishOptions = {},
): Promise<PublishReport> {
  const report: PublishReport = { acks: [], poison: [] };
  const root = opts.subjectRoot ?? DEFAULT_STREAM.subjectRoot;
  for (const [index, candidate] of events.entries()) {
    let envelope: Envelope;
    try {
      envelope = validateEnvelope(candidate);
    } catch (error) {
      const id = (candidate as { event_id?: unknown } | null)?.event_id;
      const poison: PoisonEvent = {
        index,
        ...(typeof id === 'string' && { event_id: id }),
        error: errorMessage(error),
        event: candidate,
      };
      report.poison.push(poison);
      await opts.onPoison?.(poison);
      continue;
    }
    report.acks.push(await publishOne(js, envelope, root, opts.ackTimeoutMs ?? 2_000));
  }
  return report;
}

async function publishOne(js: JetStreamClient, e: Envelope, root: string, timeout: number): Promise<PublishAck> {
  const subject = subjectFor(e, root);
  const parent = e.trace
    ? contextFrom({ traceparent: e.trace.traceparent, tracestate: e.trace.tracestate || undefined })
    : context.active();
  const span = tracer().startSpan(
    `publish ${subject}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        'messaging.system': 'nats',
        'messaging.operation.type': 'send',
        'messaging.operation.name': 'publish',
        'messaging.destination.name': subject,
        'messaging.message.id': e.event_id,
      },
    },
    parent,
  );
  try {
    const carrier: Record<string, string> = {};
    propagation.inject(trace.setSpan(parent, span), carrier);
    const h = natsHeaders();
    for (const [name, value] of Object.entries(carrier)) if (value) h.set(name, value);
    let ack: Awaited<ReturnType<JetStreamClient['publish']>>;
    try {
      ack = await js.publish(subject, JSON.stringify(e), { msgID: e.event_id, headers: h, timeout });
    } catch (error) {
      throw new NatsUnavailableError(`publish of ${e.event_id} to ${subject} failed: ${errorMessage(error)}`, {
        cause: error,
      });
    }
    span.setAttribute('messaging.nats.stream.sequence', ack.seq);
    span.setAttribute('messaging.nats.duplicate', ack.duplicate);
    return { event_id: e.event_id, subject, seq: ack.seq, duplicate: ack.duplicate };
  } catch (error) {
    span.recordException(error instanceof Error ? error : new Error(String(error)));
    span.setStatus({ code: SpanStatusCode.ERROR });
    throw error;
  } finally {
    span.end();
  }
}
