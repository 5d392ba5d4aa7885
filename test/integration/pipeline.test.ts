/**
 * The local event pipeline end to end, against DynamoDB Local and the harness's NATS: requests
 * through the real HTTP handlers and authorizer → outbox → stream poller → local bus →
 * nats-bridge → JetStream → the consumer library. This file has its own table and its own
 * JetStream stream and subject root, so it shares the server with other files safely.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineLogger } from '#local/pipeline/index';
import { scanKinds } from '#shared/adapters/dynamodb/audit';
import { eventsOfOutbox, outboxItem } from '#shared/adapters/dynamodb/outbox';
import { type Delivery, EventConsumer } from '#shared/adapters/nats/consumer';
import { DEFAULT_STREAM, DUPLICATE_WINDOW_MS, ensureStream } from '#shared/adapters/nats/stream';
import { initTelemetry } from '#shared/adapters/telemetry/tracing';
import { type Envelope, makeEvent } from '#shared/core/events';
import { systemClock, ulidGenerator } from '#shared/core/ports';
import { keys } from '#shared/table';
import { natsUrl, TEST_OPERATOR_KEY } from '../harness/context.ts';
import { useStack } from '../harness/stack.ts';

// Before any handler is imported: the first telemetry setup of the process wins.
const spans = new InMemorySpanExporter();
initTelemetry({ serviceName: 'pipeline-test', exporter: spans });

const suffix = randomBytes(4).toString('hex');
const STREAM = `PIPELINE_${suffix}`;
const ROOT = `pipeline${suffix}`;

let nc: NatsConnection;
let consumer: EventConsumer;
let consuming: Promise<void>;
const received: Delivery[] = [];
const logs: string[] = [];
const logger: PipelineLogger = {
  info: (m) => logs.push(`info ${m}`),
  warn: (m) => logs.push(`warn ${m}`),
  error: (m) => logs.push(`error ${m}`),
};

// Registered before the stack's hooks: the consumer attaches first (the bridge creates the
// stream on its first publish), and it is closed last, after the pipeline stopped.
beforeAll(async () => {
  nc = await connect({ servers: natsUrl() });
  await ensureStream(await jetstreamManager(nc), { ...DEFAULT_STREAM, name: STREAM, subjectRoot: ROOT });
  consumer = await EventConsumer.create({
    connection: nc,
    stream: STREAM,
    durable: 'test',
    filterSubject: `${ROOT}.>`,
  });
  consuming = consumer.run((d) => {
    received.push(d);
  });
});

afterAll(async () => {
  await consumer?.close();
  await consuming;
  if (nc) {
    await (await jetstreamManager(nc)).streams.delete(STREAM).catch(() => false);
    await nc.close();
  }
});

const stack = useStack('pipeline', {
  logError: () => {},
  pipeline: { stream: { name: STREAM, subjectRoot: ROOT }, logger, retry: { attempts: 3, baseMs: 20, maxMs: 100 } },
});

async function call(method: string, path: string, opts: { key?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${opts.key ?? TEST_OPERATOR_KEY}` };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (method === 'POST') headers['idempotency-key'] = randomUUID();
  const res = await fetch(`${stack.url}${path}`, {
    method,
    headers,
    ...(opts.body !== undefined && { body: JSON.stringify(opts.body) }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field
  const body: any = await res.json();
  return { status: res.status, body, headers: res.headers };
}

async function registerAgent(name: string, balance: number): Promise<{ id: string; key: string }> {
  const res = await call('POST', '/v1/agents', { body: { name, initial_balance: balance } });
  expect(res.status).toBe(201);
  return { id: res.body.agent_id, key: res.body.api_key };
}

async function eventually<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; pipeline log: ${logs.join(' | ')}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const receivedIds = () => new Set(received.map((d) => d.envelope.event_id));

async function outboxEnvelopes(): Promise<Envelope[]> {
  const items = await scanKinds(stack.table.client, stack.table.tableName, ['outbox']);
  return items.flatMap((i) => {
    try {
      return eventsOfOutbox(i);
    } catch {
      return [];
    }
  });
}

describe('transfers reach NATS', () => {
  it('with the right subjects, headers and envelopes, in commit order per account without gaps', async () => {
    const alice = await registerAgent('alice', 100);
    const bob = await registerAgent('bob', 100);
    const committed: string[] = [];
    for (let i = 0; i < 6; i++) {
      const [from, to] = i % 3 === 2 ? [bob, alice] : [alice, bob];
      const res = await call('POST', '/v1/transfers', { key: from.key, body: { to_agent_id: to.id, amount: 1 + i } });
      expect(res.status).toBe(201);
      committed.push(res.body.transfer_id);
    }
    const outbox = (await outboxEnvelopes()).filter((e) => e.agent_id === alice.id || e.agent_id === bob.id);
    expect(outbox).toHaveLength(2 * 2 + 6);
    await eventually(() => (outbox.every((e) => receivedIds().has(e.event_id)) ? true : undefined), 'all events');

    const jsm = await jetstreamManager(nc);
    const { config } = await jsm.streams.info(STREAM);
    expect(config).toMatchObject({
      subjects: [`${ROOT}.>`],
      storage: 'file',
      duplicate_window: DUPLICATE_WINDOW_MS * 1e6,
    });
    const byId = new Map(outbox.map((e) => [e.event_id, e]));
    for (const d of received.filter((r) => byId.has(r.envelope.event_id))) {
      const expected = byId.get(d.envelope.event_id);
      expect(d.envelope).toEqual(expected);
      expect(d.subject).toBe(`${ROOT}.system.${d.envelope.component}.${d.envelope.type}`);
      const stored = await jsm.streams.getMessage(STREAM, { seq: d.seq });
      expect(stored?.header.get('Nats-Msg-Id')).toBe(d.envelope.event_id);
      expect(stored?.header.get('traceparent')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
      // The producer span continues the request's trace: same trace id as the envelope's.
      expect(stored?.header.get('traceparent').split('-')[1]).toBe(expected?.trace?.traceparent.split('-')[1]);
    }

    // Per aggregate: sequences in stream order are 1, 2, 3… without gaps.
    for (const agent of [alice, bob]) {
      const mine = received
        .filter((d) => d.envelope.aggregate === `agent:${agent.id}`)
        .sort((a, b) => a.seq - b.seq)
        .map((d) => d.envelope.sequence);
      expect(mine).toEqual(mine.map((_, i) => i + 1));
    }
    // Commit order: the transfers appear on NATS in the order the API confirmed them.
    const onNats = received
      .sort((a, b) => a.seq - b.seq)
      .map((d) => (d.envelope.data as { transfer_id?: string }).transfer_id)
      .filter((id): id is string => id !== undefined && committed.includes(id));
    expect(onNats).toEqual(committed);
    expect(consumer.stats.invalid).toBe(0);
  });
});

describe('poison events', () => {
  it('are dead-lettered and listed by the operator route, without blocking the stream', async () => {
    const alice = await registerAgent('carol', 50);
    const bob = await registerAgent('dave', 50);
    const ids = ulidGenerator(systemClock);
    const good = makeEvent(
      { clock: systemClock, ids },
      { type: 'reasoning_trace', agent_id: alice.id, data: { reasoning: 'r', decision: 'd' } },
    );
    // Fails its schema: credits_transferred without most of its fields.
    const bad = {
      ...good,
      event_id: ids.next('ev'),
      type: 'credits_transferred',
      source: 'system',
      component: 'economy',
      data: { x: 1 },
    };
    const poisonItem = outboxItem([bad as unknown as Envelope, good], Date.now());
    await stack.table.client.send(new PutCommand({ TableName: stack.table.tableName, Item: poisonItem }));
    const unreadableId = ids.next('ev');
    await stack.table.client.send(
      new PutCommand({
        TableName: stack.table.tableName,
        Item: {
          ...keys.outbox(unreadableId),
          kind: 'outbox',
          outbox_id: unreadableId,
          type: 'x',
          component: 'economy',
          events: '{oops',
        },
      }),
    );
    const after = await call('POST', '/v1/transfers', { key: alice.key, body: { to_agent_id: bob.id, amount: 2 } });
    expect(after.status).toBe(201);

    // The stream is not blocked: the valid event of the poison item and the later transfer arrive.
    await eventually(() => (receivedIds().has(good.event_id) ? true : undefined), 'the valid event of the poison item');
    await eventually(
      () =>
        received.some((d) => (d.envelope.data as { transfer_id?: string }).transfer_id === after.body.transfer_id)
          ? true
          : undefined,
      'the transfer after the poison item',
    );
    expect(receivedIds().has(bad.event_id)).toBe(false);

    const letters = await eventually(async () => {
      const res = await call('GET', '/v1/dead-letters?target=nats-bridge');
      expect(res.status).toBe(200);
      const ids = res.body.dead_letters.map((l: { outbox_id: string }) => l.outbox_id);
      return ids.includes(poisonItem.outbox_id) && ids.includes(unreadableId) ? res.body.dead_letters : undefined;
    }, 'dead letters');
    const letter = letters.find((l: { outbox_id: string }) => l.outbox_id === poisonItem.outbox_id);
    expect(letter).toMatchObject({
      target: 'nats-bridge',
      rule: 'all-to-nats',
      attempts: 1,
      event_ids: [bad.event_id, good.event_id],
      error: { name: 'PoisonEventError' },
      poison: [{ index: 0, event_id: bad.event_id }],
    });
    expect(letter.event.detail.events).toHaveLength(2);
    const unreadable = letters.find((l: { outbox_id: string }) => l.outbox_id === unreadableId);
    expect(unreadable.error.message).toMatch(/not JSON/);

    // All targets: the event log dead-letters them too; pagination walks the list.
    const all = await call('GET', '/v1/dead-letters?limit=1');
    expect(all.body.dead_letters).toHaveLength(1);
    expect(all.body.next_cursor).toEqual(expect.any(String));
    const next = await call('GET', `/v1/dead-letters?limit=100&cursor=${all.body.next_cursor}`);
    const targets = [...all.body.dead_letters, ...next.body.dead_letters].map((l: { target: string }) => l.target);
    expect(targets.sort()).toEqual(['event-log', 'event-log', 'nats-bridge', 'nats-bridge']);

    // Operator only.
    expect((await call('GET', '/v1/dead-letters', { key: alice.key })).status).toBe(403);
    expect((await call('GET', '/v1/dead-letters?target=nope')).status).toBe(400);
  });
});

describe('tracing', () => {
  it('links the HTTP request, the bridge publish and the consumer in one trace', async () => {
    const alice = await registerAgent('erin', 20);
    const bob = await registerAgent('frank', 20);
    const res = await call('POST', '/v1/transfers', { key: alice.key, body: { to_agent_id: bob.id, amount: 3 } });
    expect(res.status).toBe(201);
    const delivery = await eventually(
      () => received.find((d) => (d.envelope.data as { transfer_id?: string }).transfer_id === res.body.transfer_id),
      'the transfer event',
    );
    const eventId = delivery.envelope.event_id;
    const finished = () => spans.getFinishedSpans();
    const byMessage = (kind: SpanKind) =>
      finished().find((s) => s.kind === kind && s.attributes['messaging.message.id'] === eventId);
    const consumerSpan = await eventually(() => byMessage(SpanKind.CONSUMER), 'the consumer span');
    const producer = byMessage(SpanKind.PRODUCER) as ReadableSpan;
    const traceId = res.headers.get('x-trace-id');
    const serverSpan = finished().find(
      (s) => s.kind === SpanKind.SERVER && s.name === 'POST /v1/transfers' && s.spanContext().traceId === traceId,
    ) as ReadableSpan;

    expect(serverSpan).toBeDefined();
    expect(producer).toBeDefined();
    expect(producer.spanContext().traceId).toBe(serverSpan.spanContext().traceId);
    expect(consumerSpan.spanContext().traceId).toBe(serverSpan.spanContext().traceId);
    // Parent → child: server → producer → consumer.
    expect(producer.parentSpanContext?.spanId).toBe(serverSpan.spanContext().spanId);
    expect(consumerSpan.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
    expect(producer.name).toBe(`publish ${delivery.subject}`);
    expect(consumerSpan.name).toBe(`process ${delivery.subject}`);
  });
});
