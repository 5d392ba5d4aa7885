/**
 * Reading events from JetStream: a durable pull consumer with explicit acks, for the benchmark
 * runner, dashboards and agents' runtimes.
 *
 * What it adds to a raw consumer:
 * - typed envelopes: every message is checked with `validateEnvelope`; one that fails is
 *   terminated (never redelivered) and reported, never handed to the caller;
 * - de-duplication by `event_id` in a bounded LRU: the pipeline is at-least-once (retries,
 *   replays, redeliveries after a missed ack), so the same event may arrive twice;
 * - an optional scenario filter: server 2.9 filters on one subject only, and the scenario is
 *   in the payload, so other scenarios' events are acknowledged and skipped here;
 * - the trace: a CONSUMER span per event, child of the producer span whose context came in the
 *   `traceparent`/`tracestate` headers, active while the caller handles the event.
 *
 * Acks: with `run(handler)` an event is acknowledged when the handler resolves, and
 * negatively acknowledged (redelivered after a delay) when it throws. With `for await`, an
 * event is acknowledged when the next one is requested; leaving the loop leaves the current
 * one unacknowledged (it is redelivered later) unless `delivery.ack()` was called.
 * Within one consumer, events arrive in stream order except for redeliveries.
 */
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { connect, type NatsConnection, nanos } from '@nats-io/transport-node';
import { type Context, context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { type Envelope, validateEnvelope } from '../../core/events.ts';
import { contextFrom, tracer } from '../telemetry/tracing.ts';
import type { NatsSettings } from './connection.ts';
import { errorMessage } from './errors.ts';
import { LruSet } from './lru.ts';
import { DEFAULT_STREAM } from './stream.ts';

export interface EventConsumerOptions {
  /** A connection the caller owns, or settings for one this consumer owns (and closes). */
  connection: NatsConnection | NatsSettings;
  /** Default `SYNTROPISM`. */
  stream?: string;
  /** Name of the durable consumer: the server remembers its position across restarts. */
  durable: string;
  /** One subject (wildcards allowed), e.g. `syntropism.system.market.>`. Default: the whole stream. */
  filterSubject?: string;
  /** Only events carrying this `scenario_id`. */
  scenarioId?: string;
  /** Where a new durable starts. Default `all`. */
  deliverPolicy?: 'all' | 'new';
  /** Event ids remembered for de-duplication. Default 100 000. */
  dedupeCapacity?: number;
  /** Unacknowledged time before the server redelivers. Default 30 s. */
  ackWaitMs?: number;
  /** Redelivery delay after the handler failed. Default 1 s. */
  nakDelayMs?: number;
  /** Messages fetched ahead. Default 256. */
  batch?: number;
  /** Told about messages that are not valid envelopes (they are terminated). */
  onInvalid?: (info: { subject: string; seq: number; error: string }) => void;
}

export interface Delivery {
  envelope: Envelope;
  subject: string;
  /** Stream sequence of the message. */
  seq: number;
  redelivered: boolean;
  /** The CONSUMER span's context; `context.with(delivery.context, …)` to make children. */
  context: Context;
  /** Acknowledge now (otherwise done when the handler resolves or the next one is requested). */
  ack(): void;
  /** Ask for redelivery after `delayMs`. */
  nak(delayMs?: number): void;
}

export interface ConsumerStats {
  received: number;
  delivered: number;
  duplicates: number;
  filtered: number;
  invalid: number;
}

interface Pending {
  delivery: Delivery;
  msg: JsMsg;
  span: Span;
  settled: boolean;
}

export class EventConsumer implements AsyncIterable<Delivery> {
  readonly stats: ConsumerStats = { received: 0, delivered: 0, duplicates: 0, filtered: 0, invalid: 0 };
  private readonly seen: LruSet;
  private messages: ConsumerMessages | undefined;
  private closed = false;

  private constructor(
    private readonly opts: EventConsumerOptions,
    private readonly nc: NatsConnection,
    private readonly ownsConnection: boolean,
    private readonly streamName: string,
    private readonly start: () => Promise<ConsumerMessages>,
  ) {
    this.seen = new LruSet(opts.dedupeCapacity ?? 100_000);
  }

  /** Creates the durable consumer if missing (or checks that an existing one matches). */
  static async create(opts: EventConsumerOptions): Promise<EventConsumer> {
    const given = opts.connection;
    const owns = !isConnection(given);
    const nc = isConnection(given) ? given : await connectForConsumer(given, opts.durable);
    try {
      const stream = opts.stream ?? DEFAULT_STREAM.name;
      const filter = opts.filterSubject ?? `${DEFAULT_STREAM.subjectRoot}.>`;
      const jsm = await jetstreamManager(nc);
      try {
        const info = await jsm.consumers.info(stream, opts.durable);
        if ((info.config.filter_subject ?? '') !== filter) {
          throw new Error(
            `durable consumer ${opts.durable} on ${stream} filters ${info.config.filter_subject ?? '(nothing)'}, not ${filter}; delete it or use another name`,
          );
        }
      } catch (error) {
        if (!(error instanceof JetStreamApiError) || error.code !== JetStreamApiCodes.ConsumerNotFound) throw error;
        await jsm.consumers.add(stream, {
          durable_name: opts.durable,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: opts.deliverPolicy === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
          filter_subject: filter,
          ack_wait: nanos(opts.ackWaitMs ?? 30_000),
          max_ack_pending: 1_000,
        });
      }
      const js = jetstream(nc);
      const consumer = await js.consumers.get(stream, opts.durable);
      return new EventConsumer(opts, nc, owns, stream, () => consumer.consume({ max_messages: opts.batch ?? 256 }));
    } catch (error) {
      if (owns) await nc.close().catch(() => {});
      throw error;
    }
  }

  get stream(): string {
    return this.streamName;
  }

  /** Calls `handler` for each event until `close()`; see the module comment for acks. */
  async run(handler: (delivery: Delivery) => Promise<void> | void): Promise<void> {
    for await (const msg of await this.open()) {
      const pending = this.accept(msg);
      if (!pending) continue;
      try {
        await context.with(pending.delivery.context, () => handler(pending.delivery));
        this.settle(pending, true);
      } catch (error) {
        pending.span.recordException(error instanceof Error ? error : new Error(String(error)));
        this.settle(pending, false);
      }
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Delivery> {
    for await (const msg of await this.open()) {
      const pending = this.accept(msg);
      if (!pending) continue;
      let handled = false;
      try {
        yield pending.delivery;
        handled = true;
      } finally {
        if (handled) this.settle(pending, true);
        else if (!pending.settled) pending.span.end();
      }
    }
  }

  /** Stops fetching; the loop of `run` or `for await` ends. Closes an owned connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.messages?.close();
    if (this.ownsConnection) await this.nc.close().catch(() => {});
  }

  private async open(): Promise<ConsumerMessages> {
    if (this.messages) throw new Error('an EventConsumer is iterated once');
    if (this.closed) throw new Error('the EventConsumer is closed');
    this.messages = await this.start();
    return this.messages;
  }

  /** Decodes, validates, de-duplicates and filters; undefined when the caller never sees it. */
  private accept(msg: JsMsg): Pending | undefined {
    this.stats.received++;
    let envelope: Envelope;
    try {
      envelope = validateEnvelope(msg.json());
    } catch (error) {
      this.stats.invalid++;
      msg.term();
      this.opts.onInvalid?.({ subject: msg.subject, seq: msg.seq, error: errorMessage(error) });
      return undefined;
    }
    if (this.seen.has(envelope.event_id)) {
      this.stats.duplicates++;
      msg.ack();
      return undefined;
    }
    if (this.opts.scenarioId !== undefined && envelope.scenario_id !== this.opts.scenarioId) {
      this.stats.filtered++;
      this.seen.add(envelope.event_id);
      msg.ack();
      return undefined;
    }
    const parent = contextFrom({
      traceparent: msg.headers?.get('traceparent') || undefined,
      tracestate: msg.headers?.get('tracestate') || undefined,
    });
    const span = tracer().startSpan(
      `process ${msg.subject}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'nats',
          'messaging.operation.type': 'process',
          'messaging.destination.name': msg.subject,
          'messaging.message.id': envelope.event_id,
          'messaging.consumer.group.name': this.opts.durable,
          'messaging.nats.stream.sequence': msg.seq,
        },
      },
      parent,
    );
    const pending: Pending = {
      msg,
      span,
      settled: false,
      delivery: {
        envelope,
        subject: msg.subject,
        seq: msg.seq,
        redelivered: msg.redelivered,
        context: trace.setSpan(parent, span),
        ack: () => this.settle(pending, true),
        nak: (delayMs) => this.settle(pending, false, delayMs),
      },
    };
    return pending;
  }

  private settle(p: Pending, ok: boolean, delayMs?: number): void {
    if (p.settled) return;
    p.settled = true;
    if (ok) {
      p.msg.ack();
      this.seen.add(p.delivery.envelope.event_id);
      this.stats.delivered++;
    } else {
      p.msg.nak(delayMs ?? this.opts.nakDelayMs ?? 1_000);
      p.span.setStatus({ code: SpanStatusCode.ERROR });
    }
    p.span.end();
  }
}

const isConnection = (c: NatsConnection | NatsSettings): c is NatsConnection => 'publish' in c;

/** A long-lived connection that rides out server restarts (unlike the bridge's). */
function connectForConsumer(s: NatsSettings, name: string): Promise<NatsConnection> {
  return connect({
    servers: s.url,
    ...(s.user !== undefined && { user: s.user }),
    ...(s.pass !== undefined && { pass: s.pass }),
    ...(s.token !== undefined && { token: s.token }),
    name: `consumer-${name}`,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  });
}
