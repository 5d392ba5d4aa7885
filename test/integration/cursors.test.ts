/**
 * Cursors through the real handlers and DynamoDB Local, on every listing route: real cursors
 * page to the end without gaps or repeats; a forged cursor (empty key values, which DynamoDB
 * refuses), another caller's real cursor and a cursor of another filter or listing are a 400
 * `validation_failed` at `/cursor` and never reach DynamoDB as a start key.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { DeadLetters } from '#shared/adapters/dynamodb/dead-letters';
import { EventLog } from '#shared/adapters/dynamodb/event-log';
import { type Envelope, makeEvent } from '#shared/core/events';
import { systemClock, ulidGenerator } from '#shared/core/ports';
import { type ApiResponse, useApi } from '../harness/api.ts';

const api = useApi('cursors');

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const EMPTY_KEY = b64({ PK: '', SK: '', GSI1PK: '', GSI1SK: '' });
const EMPTY_BASE_KEY = b64({ PK: '', SK: '' });

function expectCursorRefused(res: ApiResponse, what: string): void {
  expect(res.status, `${what}: ${res.text}`).toBe(400);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(res.body.code).toBe('validation_failed');
  expect(res.body.errors?.map((e: { path: string }) => e.path)).toEqual(['/cursor']);
}

const withCursor = (path: string, cursor: string) =>
  `${path}${path.includes('?') ? '&' : '?'}cursor=${encodeURIComponent(cursor)}`;

/** Follows `next_cursor` from `path` (which must ask for small pages); the items of every page. */
async function pageAll(path: string, field: string, key: string | undefined, id: string): Promise<string[]> {
  const seen: string[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const res = await api.call('GET', cursor === null ? path : withCursor(path, cursor), key ? { key } : {});
    expect(res.status, res.text).toBe(200);
    seen.push(...(res.body[field] as Record<string, string>[]).map((x) => String(x[id])));
    cursor = res.body.next_cursor;
    if (cursor === null) return seen;
  }
  throw new Error(`${path}: no last page after 100 pages`);
}

/** The first page's cursor of `path` (a page of 1 with more behind it). */
async function firstCursor(path: string, key?: string): Promise<string> {
  const res = await api.call('GET', path, key ? { key } : {});
  expect(res.status, res.text).toBe(200);
  expect(res.body.next_cursor, `${path} has a second page`).toEqual(expect.any(String));
  return res.body.next_cursor as string;
}

const get = (path: string, key?: string) => api.call('GET', path, key ? { key } : {});

let alice: { id: string; key: string };
let bob: { id: string; key: string };

beforeAll(async () => {
  alice = await api.agent('alice', 100);
  bob = await api.agent('bob', 100);
  await api.agent('carol', 1);
  let n = 0;
  const bid = async (key: string) => {
    const res = await api.call('POST', '/v1/bids', {
      key,
      idempotencyKey: `bid-${n++}`,
      body: { bundle: { memory: 1 }, duration_seconds: 1, amount: 1 },
    });
    expect(res.status, res.text).toBe(201);
  };
  for (const key of [alice.key, alice.key, alice.key, bob.key, bob.key]) await bid(key);
  for (const [from, to] of [
    [alice, bob],
    [bob, alice],
  ] as const) {
    const res = await api.call('POST', '/v1/transfers', {
      key: from.key,
      idempotencyKey: `pay-${n++}`,
      body: { to_agent_id: to.id, amount: 1 },
    });
    expect(res.status, res.text).toBe(201);
  }
});

describe('GET /v1/bids', () => {
  it('pages with real cursors, and refuses forged, foreign and other-filter cursors', async () => {
    expect(await pageAll('/v1/bids?limit=1', 'bids', alice.key, 'bid_id')).toHaveLength(3);
    expect(await pageAll(`/v1/bids?limit=1&agent_id=${bob.id}`, 'bids', undefined, 'bid_id')).toHaveLength(2);

    expectCursorRefused(await get(withCursor('/v1/bids', EMPTY_KEY), alice.key), 'forged empty key');
    const bobs = await firstCursor('/v1/bids?limit=1', bob.key);
    expectCursorRefused(await get(withCursor('/v1/bids', bobs), alice.key), "another agent's cursor");
    // The operator listing Bob's bids: same query, another caller.
    expectCursorRefused(await get(withCursor(`/v1/bids?agent_id=${bob.id}`, bobs)), "an agent's cursor, operator");
    const pending = await firstCursor('/v1/bids?limit=1&status=pending', alice.key);
    expectCursorRefused(await get(withCursor('/v1/bids?status=won', pending), alice.key), 'another filter');
    expectCursorRefused(await get(withCursor('/v1/bids', pending), alice.key), 'the filter dropped');
    expect((await get(withCursor('/v1/bids?limit=1&status=pending', pending), alice.key)).status).toBe(200);
  });
});

describe('GET /v1/agents', () => {
  it('pages with real cursors, and refuses forged cursors and cursors of other listings', async () => {
    const ids = await pageAll('/v1/agents?limit=1', 'agents', undefined, 'agent_id');
    expect(ids).toEqual(expect.arrayContaining([alice.id, bob.id]));
    expect(new Set(ids).size).toBe(ids.length);

    expectCursorRefused(await get(withCursor('/v1/agents', EMPTY_KEY)), 'forged empty key');
    // The listing is the operator's alone: another caller's cursor is an agent's, of its bids.
    const alices = await firstCursor('/v1/bids?limit=1', alice.key);
    expectCursorRefused(await get(withCursor('/v1/agents', alices)), "an agent's cursor");
    const ofBids = await firstCursor(`/v1/bids?limit=1&agent_id=${alice.id}`);
    expectCursorRefused(await get(withCursor('/v1/agents', ofBids)), 'a cursor of another listing');
  });
});

describe('GET /v1/agents/{id}/history', () => {
  it('pages with real cursors, and refuses forged, foreign and other-account cursors', async () => {
    // Grant, three escrow holds, one payment out, one in.
    expect(await pageAll(`/v1/agents/${alice.id}/history?limit=1`, 'entries', alice.key, 'transfer_id')).toHaveLength(
      6,
    );

    const history = (id: string) => `/v1/agents/${id}/history`;
    expectCursorRefused(await get(withCursor(history(alice.id), EMPTY_BASE_KEY), alice.key), 'forged empty key');
    const bobs = await firstCursor(`${history(bob.id)}?limit=1`, bob.key);
    expectCursorRefused(await get(withCursor(history(alice.id), bobs), alice.key), "another agent's cursor");
    const operators = await firstCursor(`${history(alice.id)}?limit=1`);
    expectCursorRefused(await get(withCursor(history(alice.id), operators), alice.key), "the operator's cursor");
    expectCursorRefused(await get(withCursor(history(bob.id), operators)), "another account's cursor");
  });
});

describe('GET /v1/events', () => {
  it('pages with real cursors, and refuses forged, foreign and other-filter cursors', async () => {
    // The pipeline is not running here: the log is written as its bus target would.
    const runtime = { clock: systemClock, ids: ulidGenerator(systemClock) };
    const reflection = (agent: string, i: number) =>
      makeEvent(runtime, { type: 'reflection', agent_id: agent, data: { trigger: 't', outcome_assessment: `${i}` } });
    const toolCall = (agent: string) =>
      makeEvent(runtime, {
        type: 'tool_call_initiated',
        agent_id: agent,
        data: { tool_name: 'search', parameters: { q: 'x' } },
      });
    const events: Envelope[] = [0, 1, 2].flatMap((i) => [reflection(alice.id, i), reflection(bob.id, i)]);
    events.push(toolCall(alice.id), toolCall(alice.id));
    await new EventLog({ doc: api.table.client, tableName: api.table.tableName }, systemClock).append(events);

    const ofAlice = events.filter((e) => e.agent_id === alice.id).map((e) => e.event_id);
    expect(await pageAll('/v1/events?limit=1', 'events', alice.key, 'event_id')).toEqual(ofAlice);
    expect(await pageAll('/v1/events?limit=2&type=reflection', 'events', undefined, 'event_id')).toHaveLength(6);

    expectCursorRefused(await get(withCursor('/v1/events', b64({ after: '' })), alice.key), 'forged empty position');
    expectCursorRefused(await get(withCursor('/v1/events', EMPTY_KEY), alice.key), 'forged empty key');
    const bobs = await firstCursor('/v1/events?limit=1', bob.key);
    expectCursorRefused(await get(withCursor('/v1/events', bobs), alice.key), "another agent's cursor");
    const reflections = await firstCursor('/v1/events?limit=1&type=reflection', alice.key);
    expectCursorRefused(
      await get(withCursor('/v1/events?type=tool_call_initiated', reflections), alice.key),
      'another filter',
    );
  });
});

describe('GET /v1/dead-letters', () => {
  it('pages with real cursors, and refuses forged, foreign and other-target cursors', async () => {
    const letters = new DeadLetters({ doc: api.table.client, tableName: api.table.tableName }, systemClock);
    for (const [target, i] of [
      ['nats-bridge', 1],
      ['nats-bridge', 2],
      ['event-log', 3],
    ] as const) {
      await letters.record({
        target,
        event: { source: 'syntropism', 'detail-type': 'outbox', detail: { outbox_id: `o${i}`, events: [] } } as never,
        error: new Error('down'),
        attempts: 3,
      });
    }
    expect(await pageAll('/v1/dead-letters?limit=1', 'dead_letters', undefined, 'outbox_id')).toHaveLength(3);
    const ofTarget = '/v1/dead-letters?limit=1&target=nats-bridge';
    expect(await pageAll(ofTarget, 'dead_letters', undefined, 'outbox_id')).toHaveLength(2);

    expectCursorRefused(await get(withCursor('/v1/dead-letters', EMPTY_KEY)), 'forged empty key');
    expectCursorRefused(
      await get(withCursor('/v1/dead-letters?target=nats-bridge', EMPTY_BASE_KEY)),
      'forged empty key of a target',
    );
    const all = await firstCursor('/v1/dead-letters?limit=1');
    expectCursorRefused(await get(withCursor('/v1/dead-letters?target=nats-bridge', all)), 'another filter');
    const bridge = await firstCursor(ofTarget);
    expectCursorRefused(await get(withCursor('/v1/dead-letters?target=event-log', bridge)), 'another target');
    // The operator's alone: another caller's cursor is an agent's, of its history.
    const alices = await firstCursor(`/v1/agents/${alice.id}/history?limit=1`, alice.key);
    expectCursorRefused(await get(withCursor('/v1/dead-letters', alices)), "an agent's cursor");
  });
});
