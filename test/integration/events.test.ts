/**
 * The events API through real HTTP, the real handlers and authorizer, with the local pipeline
 * feeding the event log: `POST /v1/events` (agent events only, caller forced, bad input is a
 * 4xx problem and writes nothing) and `GET /v1/events` (filters, pagination, own events only
 * for agents).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { scanKinds } from '#shared/adapters/dynamodb/audit';
import { EventLog } from '#shared/adapters/dynamodb/event-log';
import { eventsOfOutbox } from '#shared/adapters/dynamodb/outbox';
import { type Envelope, makeEvent } from '#shared/core/events';
import { ulidGenerator } from '#shared/core/ports';
import { natsUrl, TEST_OPERATOR_KEY } from '../harness/context.ts';
import { useStack } from '../harness/stack.ts';

const suffix = randomBytes(4).toString('hex');
const STREAM = `EVENTS_${suffix}`;

// Registered first so that it runs last (after hooks run in reverse): once the pipeline stopped.
afterAll(async () => {
  const nc = await connect({ servers: natsUrl() });
  await (await jetstreamManager(nc)).streams.delete(STREAM).catch(() => false);
  await nc.close();
});

const stack = useStack('events', {
  logError: () => {},
  pipeline: { stream: { name: STREAM, subjectRoot: `events${suffix}` } },
});

interface CallOptions {
  key?: string;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
}

async function call(method: string, path: string, opts: CallOptions = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${opts.key ?? TEST_OPERATOR_KEY}`, ...opts.headers };
  const body = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  if (body !== undefined && !('content-type' in headers)) headers['content-type'] = 'application/json';
  const res = await fetch(`${stack.url}${path}`, { method, headers, ...(body !== undefined && { body }) });
  const text = await res.text();
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, contentType: res.headers.get('content-type') };
}

async function registerAgent(name: string) {
  const res = await call('POST', '/v1/agents', { body: { name, initial_balance: 10 } });
  expect(res.status).toBe(201);
  return { id: res.body.agent_id as string, key: res.body.api_key as string };
}

async function outboxEnvelopes(): Promise<Envelope[]> {
  const items = await scanKinds(stack.table.client, stack.table.tableName, ['outbox']);
  return items.flatMap((i) => eventsOfOutbox(i));
}

async function eventually<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const reasoning = { type: 'reasoning_trace', data: { reasoning: 'prices fell', decision: 'bid now' } };

describe('POST /v1/events', () => {
  it('writes an agent event with source and agent_id forced from the caller, and the scenario of the request', async () => {
    const agent = await registerAgent('poster');
    const res = await call('POST', '/v1/events', {
      key: agent.key,
      body: reasoning,
      headers: { 'x-scenario-id': 'er_001' },
    });
    expect(res.status).toBe(201);
    // Registration numbered 1 (agent_registered) and 2 (the grant): this event is the third.
    expect(res.body).toEqual({ event_id: expect.stringMatching(/^ev_[0-9A-Z]{26}$/), sequence: 3 });
    const written = (await outboxEnvelopes()).find((e) => e.event_id === res.body.event_id);
    expect(written).toMatchObject({
      type: 'reasoning_trace',
      source: 'agent',
      component: 'agents',
      agent_id: agent.id,
      scenario_id: 'er_001',
      aggregate: `agent:${agent.id}`,
      sequence: 3,
      data: reasoning.data,
      trace: { traceparent: expect.stringMatching(/^00-/) },
    });
    // Published concurrently, an agent's events still get distinct, gap-free numbers.
    const burst = await Promise.all(
      Array.from({ length: 8 }, () => call('POST', '/v1/events', { key: agent.key, body: reasoning })),
    );
    expect(burst.map((r) => r.status)).toEqual(Array(8).fill(201));
    expect(burst.map((r) => r.body.sequence).sort((a, b) => a - b)).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('refuses bad input with a 4xx problem and writes nothing', async () => {
    const agent = await registerAgent('bad-input');
    const other = await registerAgent('other');
    const before = (await outboxEnvelopes()).length;
    const cases: Array<[string, CallOptions, number, string]> = [
      ['a system event type', { body: { type: 'credits_transferred', data: {} } }, 400, 'validation_failed'],
      ['a judge event type', { body: { type: 'judge_evaluation', data: {} } }, 400, 'validation_failed'],
      ['an unknown type', { body: { type: 'nope', data: {} } }, 400, 'validation_failed'],
      [
        'data failing its schema',
        { body: { type: 'reasoning_trace', data: { reasoning: 1 } } },
        400,
        'validation_failed',
      ],
      [
        'an unknown data field',
        { body: { ...reasoning, data: { ...reasoning.data, extra: 1 } } },
        400,
        'validation_failed',
      ],
      ["another agent's id", { body: { ...reasoning, agent_id: other.id } }, 400, 'validation_failed'],
      ['a forged source', { body: { ...reasoning, source: 'system' } }, 400, 'validation_failed'],
      [
        'an oversized body',
        { body: { type: 'reasoning_trace', data: { reasoning: 'x'.repeat(70_000), decision: 'd' } } },
        413,
        'payload_too_large',
      ],
      ['malformed JSON', { raw: '{"type": "reasoning_trace",' }, 400, 'malformed_json'],
      [
        'a wrong content type',
        { raw: 'type=reasoning_trace', headers: { 'content-type': 'text/plain' } },
        415,
        'unsupported_media_type',
      ],
      ['no body', { raw: '' }, 400, 'validation_failed'],
    ];
    for (const [what, opts, status, code] of cases) {
      const res = await call('POST', '/v1/events', { key: agent.key, ...opts });
      expect(res.status, what).toBe(status);
      expect(res.contentType, what).toBe('application/problem+json');
      expect(res.body.code, what).toBe(code);
    }
    // The operator is not an agent: it cannot publish agent events.
    expect((await call('POST', '/v1/events', { body: reasoning })).status).toBe(403);
    expect((await call('POST', '/v1/events', { key: 'nope', body: reasoning })).status).toBe(401);
    expect((await outboxEnvelopes()).length).toBe(before);
  });

  it('property: random bodies never cause a 5xx and never write', async () => {
    const agent = await registerAgent('fuzz');
    const before = (await outboxEnvelopes()).length;
    const body = fc.oneof(
      fc.anything(),
      fc.record({
        type: fc.constantFrom('reasoning_trace', 'reflection', 'credits_transferred', 'x'),
        data: fc.anything(),
      }),
      fc.record({ type: fc.string(), data: fc.dictionary(fc.string(), fc.jsonValue()) }),
    );
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const res = await call('POST', '/v1/events', { key: agent.key, raw: JSON.stringify(b) ?? 'undefined' });
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(res.contentType).toBe('application/problem+json');
      }),
      { numRuns: 300 },
    );
    expect((await outboxEnvelopes()).length).toBe(before);
  });
});

describe('GET /v1/events', () => {
  it('filters by type, agent and scenario, pages with a cursor, and shows agents only their own events', async () => {
    const alice = await registerAgent('alice');
    const bob = await registerAgent('bob');
    const posted: string[] = [];
    const post = async (key: string, body: unknown, scenario?: string) => {
      const res = await call('POST', '/v1/events', {
        key,
        body,
        ...(scenario !== undefined && { headers: { 'x-scenario-id': scenario } }),
      });
      expect(res.status).toBe(201);
      posted.push(res.body.event_id);
      return res.body.event_id as string;
    };
    const reflection = { type: 'reflection', data: { trigger: 'round', outcome_assessment: 'ok' } };
    const tool = { type: 'tool_call_initiated', data: { tool_name: 'search', parameters: { q: 'x' } } };
    const a1 = await post(alice.key, reasoning, 's1');
    const a2 = await post(alice.key, reflection, 's1');
    const a3 = await post(alice.key, tool);
    const a4 = await post(alice.key, reasoning, 's2');
    const b1 = await post(bob.key, reasoning, 's1');
    const b2 = await post(bob.key, reflection);

    // The log is filled by the pipeline: wait until the last event is there.
    await eventually(async () => {
      const res = await call('GET', `/v1/events?agent_id=${bob.id}`);
      return res.body.events.some((e: Envelope) => e.event_id === b2) ? true : undefined;
    }, 'the event log');

    const ids = async (query: string, key?: string) => {
      const res = await call('GET', `/v1/events?${query}`, key === undefined ? {} : { key });
      expect(res.status, query).toBe(200);
      return (res.body.events as Envelope[]).map((e) => e.event_id);
    };
    // Agents: their own events only, whatever they ask for.
    const aliceOwn = (await ids('limit=100', alice.key)).filter((id) => posted.includes(id));
    expect(aliceOwn).toEqual([a1, a2, a3, a4]);
    expect(await ids(`agent_id=${alice.id}&type=reasoning_trace`, alice.key)).toEqual([a1, a4]);
    expect(await ids(`scenario_id=s1`, alice.key)).toEqual([a1, a2]);
    const forbidden = await call('GET', `/v1/events?agent_id=${bob.id}`, { key: alice.key });
    expect(forbidden.status).toBe(403);
    expect(forbidden.contentType).toBe('application/problem+json');

    // The operator: everything, with every filter.
    expect(await ids('scenario_id=s1')).toEqual([a1, a2, b1]);
    expect(await ids('scenario_id=s1&type=reasoning_trace')).toEqual([a1, b1]);
    expect(await ids(`agent_id=${bob.id}&type=reflection`)).toEqual([b2]);
    expect((await ids('type=reflection&limit=100')).filter((id) => posted.includes(id))).toEqual([a2, b2]);
    expect((await ids(`after=${a3}&limit=100`)).filter((id) => posted.includes(id))).toEqual([a4, b1, b2]);
    // System events are in the log too (registration, grants).
    expect(await ids(`agent_id=${alice.id}&type=agent_registered`)).toHaveLength(1);

    // Pagination: pages of 2 over everything after a1, following next_cursor, no gaps or repeats.
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await call('GET', `/v1/events?after=${a1}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.events.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.events.map((e: Envelope) => e.event_id));
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor !== null && pages < 50);
    expect(seen.filter((id) => posted.includes(id))).toEqual([a2, a3, a4, b1, b2]);
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort()).toEqual(seen);

    // Agent pagination through the agent index.
    const first = await call('GET', '/v1/events?limit=2', { key: alice.key });
    const second = await call('GET', `/v1/events?limit=100&cursor=${first.body.next_cursor}`, { key: alice.key });
    const both = [...first.body.events, ...second.body.events].map((e: Envelope) => e.event_id);
    expect(both.filter((id) => posted.includes(id))).toEqual([a1, a2, a3, a4]);
    expect(both.every((id) => !([b1, b2] as string[]).includes(id))).toBe(true);
  });

  it("lists a transfer among the events of the agent it paid, and once in the operator's log", async () => {
    const payer = await registerAgent('payer');
    const payee = await registerAgent('payee');
    const paid = await call('POST', '/v1/transfers', {
      key: payer.key,
      headers: { 'idempotency-key': 'pay-payee' },
      body: { to_agent_id: payee.id, amount: 1.5 },
    });
    expect(paid.status).toBe(201);
    const transfer = (await outboxEnvelopes()).find(
      (e) => e.type === 'credits_transferred' && e.agent_id === payer.id && (e.data as { to?: string }).to === payee.id,
    );
    expect(transfer).toBeDefined();
    const seen = await eventually(async () => {
      const res = await call('GET', '/v1/events?type=credits_transferred&limit=100', { key: payee.key });
      const ids = (res.body.events as Envelope[]).map((e) => e.event_id);
      return ids.includes(transfer?.event_id ?? '') ? ids : undefined;
    }, 'the transfer in the payee log');
    expect(seen.filter((id) => id === transfer?.event_id)).toHaveLength(1);
    // The payer sees it too, and the operator's log holds it once.
    const payerLog = await call('GET', '/v1/events?type=credits_transferred&limit=100', { key: payer.key });
    expect(payerLog.body.events.map((e: Envelope) => e.event_id)).toContain(transfer?.event_id);
    const all: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await call(
        'GET',
        `/v1/events?type=credits_transferred&limit=100${cursor ? `&cursor=${cursor}` : ''}`,
      );
      all.push(...res.body.events.map((e: Envelope) => e.event_id));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(all.filter((id) => id === transfer?.event_id)).toHaveLength(1);
  });

  it('refuses malformed queries with 400', async () => {
    for (const query of ['limit=0', 'limit=101', 'after=nope', 'type=nope', 'agent_id=x', 'cursor=!!', 'extra=1']) {
      const res = await call('GET', `/v1/events?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.code, query).toBe('validation_failed');
    }
    expect((await call('GET', '/v1/events', { key: 'nope' })).status).toBe(401);
  });
});

describe('a random idempotency key', () => {
  it('replays POST /v1/events without writing twice', async () => {
    const agent = await registerAgent('idem');
    const key = randomUUID();
    const first = await call('POST', '/v1/events', {
      key: agent.key,
      body: reasoning,
      headers: { 'idempotency-key': key },
    });
    const again = await call('POST', '/v1/events', {
      key: agent.key,
      body: reasoning,
      headers: { 'idempotency-key': key },
    });
    expect(first.status).toBe(201);
    expect(again.body).toEqual(first.body);
    const copies = (await outboxEnvelopes()).filter((e) => e.event_id === first.body.event_id);
    expect(copies).toHaveLength(1);
  });
});

describe('event log over several days', () => {
  it('walks day partitions in id order, with cursors that resume across days', async () => {
    const day = (d: string) => Date.parse(`${d}T12:00:00Z`);
    const at = (ms: number) => {
      const clock = { now: () => ms };
      return makeEvent(
        { clock, ids: ulidGenerator(clock) },
        { type: 'reflection', agent_id: 'a_days', data: { trigger: 't', outcome_assessment: String(ms) } },
      );
    };
    const events = [at(day('2020-01-03')), at(day('2020-01-05')), at(day('2020-01-05') + 1), at(day('2020-01-09'))];
    const ids = events.map((e) => e.event_id);
    const log = new EventLog(
      { doc: stack.table.client, tableName: stack.table.tableName },
      { now: () => day('2020-01-10') },
    );
    await log.append([...events, events[0] as Envelope]); // a repeat is harmless

    expect((await log.query({ limit: 100, caller: 'operator' })).events.map((e) => e.event_id)).toEqual(ids);
    expect((await log.query({ limit: 100, after: ids[0], caller: 'operator' })).events.map((e) => e.event_id)).toEqual(
      ids.slice(1),
    );

    const paged: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await log.query({ limit: 1, caller: 'operator', ...(cursor !== undefined && { cursor }) });
      paged.push(...page.events.map((e) => e.event_id));
      if (page.next_cursor === null) break;
      cursor = page.next_cursor;
    }
    expect(paged).toEqual(ids);

    // From far back: the walk starts at the retention horizon, not at the year of `after`.
    const far = await log.query({
      limit: 100,
      after: events[0]?.event_id.replace(/^ev_.{10}/, 'ev_0000000000'),
      caller: 'operator',
    });
    const walked: string[] = far.events.map((e) => e.event_id);
    expect(far.next_cursor).toBeNull();
    expect(walked).toEqual(ids);
  });
});
