/**
 * Spawning through the real HTTP API, the real authorizer and handlers, on DynamoDB Local and
 * NATS: a child (and a grandchild) with its lineage, the fee burned, the child acting with its
 * own key, the parent's children listed, the spawn's events on NATS in order; every refusal
 * writing nothing; the same key raced, the last child slot and the last credits raced, and a
 * crash mid-operation retried — always exactly one child and a clean audit.
 */
import { TransactWriteCommand, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { auditLedger } from '#shared/adapters/dynamodb/audit';
import { createServices, type Services } from '#shared/adapters/services';
import { micros } from '#shared/core/money';
import { type ApiResponse, useApi } from '../harness/api.ts';
import { useNatsEvents } from '../harness/nats-events.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fault armed by a test: the next spawn's transaction fails before or after it commits. */
let fault: 'none' | 'before-commit' | 'after-commit' = 'none';
const isSpawn = (input: TransactWriteCommandInput) =>
  (input.TransactItems ?? []).some((i) => i.Put?.Item?.kind === 'agent' && typeof i.Put.Item.parent_id === 'string');

// Before the stack: the consumer attaches before the bridge's first publish.
const nats = useNatsEvents('spawn');

const SPAWNING = { fee: 2, max_depth: 2, max_children: 3 };
const api = useApi('spawning', {
  env: { SYNTROPISM_ECONOMY: JSON.stringify({ spawning: SPAWNING }) },
  pipeline: { stream: nats.pipeline, logger: { info: () => {}, warn: () => {}, error: () => {} } },
  logError: () => {},
  services: {
    writer: async (input) => {
      const armed = fault !== 'none' && isSpawn(input) ? fault : 'none';
      if (armed !== 'none') fault = 'none';
      if (armed === 'before-commit') throw new Error('injected crash before the commit');
      await api.table.client.send(new TransactWriteCommand(input));
      if (armed === 'after-commit') throw new Error('injected crash after the commit');
    },
  },
});

let keyNo = 0;
const spawn = (parent: { id: string; key: string }, body: Record<string, unknown>, key = `spawn-${++keyNo}`) =>
  api.call('POST', `/v1/agents/${parent.id}/children`, { key: parent.key, idempotencyKey: key, body });

const profile = (id: string) => api.call('GET', `/v1/agents/${id}`).then((r) => r.body);
const children = (id: string, key?: string) =>
  api
    .call('GET', `/v1/agents/${id}/children`, key ? { key } : {})
    .then((r) => r.body.children as { agent_id: string }[]);
const burned = async () =>
  (await auditLedger({ client: api.table.client, tableName: api.table.tableName })).totals.burned;
/** Services of another API process on the same table. */
let other: Services | undefined;
const elsewhere = () => {
  other ??= createServices(api.config, { table: { doc: api.table.client, tableName: api.table.tableName } });
  return other;
};
const asAgent = (res: ApiResponse) => ({ id: res.body.agent_id as string, key: res.body.api_key as string });

describe('spawning a child', () => {
  it('records the lineage, burns the fee, funds the child, and the child acts with its own key', async () => {
    const root = await api.agent('root', 100);
    const burnedBefore = await burned();
    const res = await spawn(root, { name: 'child', initial_balance: 30, metadata: { role: 'scout', depth: [1] } });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toEqual({
      agent_id: expect.stringMatching(/^a_[0-9A-HJKMNP-TV-Z]{26}$/),
      api_key: expect.stringMatching(/^syn\.a_/),
      name: 'child',
      state: 'active',
      balance: 30,
      parent_id: root.id,
      generation: 1,
      ancestors: [root.id],
      parent_balance: 68,
      created_at: expect.any(String),
    });
    expect(await burned()).toBe(micros(2_000_000) + burnedBefore);
    const child = asAgent(res);

    // The child's key works: it reads itself and pays its parent back.
    const own = await api.call('GET', `/v1/agents/${child.id}`, { key: child.key });
    expect(own.body).toMatchObject({
      balance: 30,
      total_earned: 30,
      lineage: { parent_id: root.id, ancestors: [root.id], generation: 1, children_count: 0 },
      metadata: { role: 'scout', depth: [1] },
    });
    const paid = await api.call('POST', '/v1/transfers', {
      key: child.key,
      idempotencyKey: 'child-pays',
      body: { to_agent_id: root.id, amount: 1 },
    });
    expect(paid.status, paid.text).toBe(201);

    // A grandchild: ancestors root first, generation 2; the parent's profile counts its child.
    const grand = await spawn(child, { name: 'grandchild', initial_balance: 0 });
    expect(grand.status, grand.text).toBe(201);
    expect(grand.body).toMatchObject({ generation: 2, ancestors: [root.id, child.id], balance: 0, parent_balance: 27 });
    expect((await profile(root.id)).lineage).toEqual({
      parent_id: null,
      ancestors: [],
      generation: 0,
      children_count: 1,
    });
    expect((await profile(root.id)).total_spent).toBe(32);
    expect(await children(root.id, root.key)).toEqual([
      { agent_id: child.id, name: 'child', state: 'active', generation: 1, created_at: res.body.created_at },
    ]);
    expect((await children(child.id)).map((c) => c.agent_id)).toEqual([grand.body.agent_id]);
    expect(await children(grand.body.agent_id)).toEqual([]);
  });

  it('publishes the spawn on NATS in order: fee, the child registered, funding, agent_spawned', async () => {
    const root = await api.agent('publisher', 50);
    const res = await spawn(root, { name: 'published', initial_balance: 5 });
    expect(res.status, res.text).toBe(201);
    const childId = res.body.agent_id as string;
    const ofSpawn = () =>
      nats
        .envelopes()
        .filter(
          (e) =>
            e.data.reference === childId ||
            (e.type === 'agent_registered' && e.agent_id === childId) ||
            e.data.child_id === childId,
        );
    const events = await nats.until(() => (ofSpawn().length >= 4 ? ofSpawn() : undefined), 'the spawn events');
    expect(events.map((e) => [e.type, e.data.purpose ?? null, e.aggregate, e.sequence])).toEqual([
      ['credits_transferred', 'spawn_fee', `agent:${root.id}`, 3],
      ['agent_registered', null, `agent:${childId}`, 1],
      ['credits_transferred', 'spawn_funding', `agent:${root.id}`, 4],
      ['agent_spawned', null, `agent:${root.id}`, 5],
    ]);
    expect(events[1]?.data).toEqual({ agent_id: childId, name: 'published', initial_balance: 5, parent_id: root.id });
    expect(events[3]?.data).toEqual({ parent_id: root.id, child_id: childId, spawn_cost: 2, initial_balance: 5 });
    expect(events[0]?.data).toMatchObject({ from: root.id, to: expect.stringMatching(/^burn#/), amount: 2 });
    await sleep(200);
    expect(ofSpawn()).toHaveLength(4); // nothing delivered twice
  });

  it('replays a retried spawn without the key; the same key with another body is a 422', async () => {
    const root = await api.agent('retrier', 50);
    const first = await spawn(root, { name: 'once', initial_balance: 1 }, 'retry-key');
    const again = await spawn(root, { name: 'once', initial_balance: 1 }, 'retry-key');
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.api_key).toBeUndefined();
    expect(again.body.agent_id).toBe(first.body.agent_id);
    expect((await spawn(root, { name: 'twice', initial_balance: 1 }, 'retry-key')).status).toBe(422);
    expect(await children(root.id)).toHaveLength(1);
  });
});

describe('refusals write nothing', () => {
  async function refused(res: ApiResponse, status: number, code: string) {
    expect(res.status, res.text).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.code).toBe(code);
    return res.body;
  }

  it('a dormant parent, depth and children limits, short funds, other callers and bad bodies', async () => {
    const root = await api.agent('limits', 40);
    const child = asAgent(await spawn(root, { name: 'c1', initial_balance: 10 }));
    const grand = asAgent(await spawn(child, { name: 'g1', initial_balance: 2 }));
    await spawn(root, { name: 'c2', initial_balance: 0 });
    await spawn(root, { name: 'c3', initial_balance: 0 });
    const sleeper = await api.agent('sleeper', 40);
    const state = await api.call('PUT', `/v1/agents/${sleeper.id}/state`, {
      key: sleeper.key,
      body: { state: 'dormant' },
    });
    expect(state.status).toBe(200);
    const before = await api.snapshot();
    const burnedBefore = await burned();
    const profiles = () => Promise.all([root, child, grand, sleeper].map((a) => profile(a.id)));
    const profilesBefore = await profiles();

    await refused(await spawn(sleeper, { name: 'x', initial_balance: 1 }), 409, 'agent_dormant');
    expect(
      await refused(await spawn(grand, { name: 'x', initial_balance: 0 }), 409, 'spawn_limit_reached'),
    ).toMatchObject({ limit: 'depth', max: 2 });
    expect(
      await refused(await spawn(root, { name: 'x', initial_balance: 0 }), 409, 'spawn_limit_reached'),
    ).toMatchObject({ limit: 'children', max: 3 });
    expect(
      await refused(await spawn(child, { name: 'x', initial_balance: 7 }), 409, 'insufficient_balance'),
    ).toMatchObject({ required: 9, available: 6 });
    const other = await api.call('POST', `/v1/agents/${child.id}/children`, {
      key: root.key,
      idempotencyKey: 'not-mine',
      body: { name: 'x', initial_balance: 0 },
    });
    await refused(other, 403, 'forbidden');
    const operator = await api.call('POST', `/v1/agents/${child.id}/children`, {
      idempotencyKey: 'operator',
      body: { name: 'x', initial_balance: 0 },
    });
    await refused(operator, 403, 'forbidden');
    const noKey = await api.call('POST', `/v1/agents/${child.id}/children`, {
      key: child.key,
      body: { name: 'x', initial_balance: 0 },
    });
    await refused(noKey, 400, 'idempotency_key_required');
    const deep = (n: number): unknown => (n === 0 ? 1 : { d: deep(n - 1) });
    const bad: Record<string, unknown>[] = [
      { initial_balance: 1 },
      { name: '', initial_balance: 1 },
      { name: 'x'.repeat(65), initial_balance: 1 },
      { name: 'x', initial_balance: -1 },
      { name: 'x', initial_balance: 0.0000001 },
      { name: 'x', initial_balance: 1e12 },
      { name: 'x', initial_balance: '1' },
      { name: 'x', initial_balance: 1, extra: true },
      { name: 'x', initial_balance: 1, metadata: [1, 2] },
      { name: 'x', initial_balance: 1, metadata: 'text' },
      { name: 'x', initial_balance: 1, metadata: null },
      { name: 'x', initial_balance: 1, metadata: { blob: 'y'.repeat(4097) } },
      { name: 'x', initial_balance: 1, metadata: deep(9) as Record<string, unknown> },
    ];
    for (const body of bad) await refused(await spawn(child, body), 400, 'validation_failed');

    expect(await api.snapshot()).toBe(before);
    expect(await burned()).toBe(burnedBefore);
    expect(await profiles()).toEqual(profilesBefore);
    expect(await children(child.id)).toHaveLength(1);
  });

  it('accepts metadata at its bounds: 4 KB serialized, 8 levels deep', async () => {
    const root = await api.agent('bounds', 20);
    const deep = (n: number): unknown => (n === 1 ? {} : { d: deep(n - 1) });
    const blob = { b: 'y'.repeat(4096 - JSON.stringify({ b: '' }).length) };
    expect((await spawn(root, { name: 'deep', initial_balance: 0, metadata: deep(8) as object })).status).toBe(201);
    expect((await spawn(root, { name: 'big', initial_balance: 0, metadata: blob })).status).toBe(201);
  });
});

describe('races and crashes', () => {
  it('the same Idempotency-Key twice at once spawns one child', async () => {
    const root = await api.agent('twins', 50);
    const results = await Promise.all([1, 2].map(() => spawn(root, { name: 'twin', initial_balance: 3 }, 'twin-key')));
    for (const r of results) expect([201, 409], r.text).toContain(r.status);
    expect(results.filter((r) => r.status === 201 && r.body.api_key).length).toBe(1);
    expect(await children(root.id)).toHaveLength(1);
    expect((await profile(root.id)).balance).toBe(45);
  });

  it('two spawns for the last child slot: exactly one wins, also across two API processes', async () => {
    const root = await api.agent('slots', 50);
    for (const name of ['s1', 's2']) expect((await spawn(root, { name, initial_balance: 0 })).status).toBe(201);
    const raced = await Promise.all(['a', 'b'].map((n) => spawn(root, { name: `last-${n}`, initial_balance: 0 })));
    expect(raced.map((r) => r.status).sort()).toEqual([201, 409]);
    expect(raced.find((r) => r.status === 409)?.body).toMatchObject({ code: 'spawn_limit_reached', limit: 'children' });
    expect(await children(root.id)).toHaveLength(3);

    // Another composition (another container) racing this one: only the table's conditions decide.
    const other = await api.agent('slots-elsewhere', 50);
    for (const name of ['s1', 's2']) expect((await spawn(other, { name, initial_balance: 0 })).status).toBe(201);
    const req = (key: string) => ({
      parent_id: other.id,
      idempotency_key: key,
      name: 'last',
      initial_balance: micros(0),
    });
    const last = await Promise.allSettled([
      elsewhere().spawning.spawn(req('p1'), {}),
      api.services.spawning.spawn(req('p2'), {}),
    ]);
    expect(last.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const loser = last.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(loser?.reason).toMatchObject({ code: 'spawn_limit_reached' });
    expect(await children(other.id)).toHaveLength(3);
    expect((await profile(other.id)).lineage.children_count).toBe(3);
  });

  it('a spawn and a transfer racing for the last credits: one wins, never negative', async () => {
    for (let round = 0; round < 3; round++) {
      const root = await api.agent(`last${round}`, 12);
      const payee = await api.agent(`payee${round}`, 0);
      const [spawned, paid] = await Promise.allSettled([
        elsewhere().spawning.spawn(
          { parent_id: root.id, idempotency_key: 'all-in', name: 'heir', initial_balance: micros(10_000_000) },
          {},
        ),
        api.call('POST', '/v1/transfers', {
          key: root.key,
          idempotencyKey: `drain-${round}`,
          body: { to_agent_id: payee.id, amount: 12 },
        }),
      ]);
      const spawnWon = spawned.status === 'fulfilled';
      const transferWon = paid.status === 'fulfilled' && paid.value.status === 201;
      expect(spawnWon !== transferWon, `spawn ${spawned.status}, transfer ${JSON.stringify(paid)}`).toBe(true);
      if (!spawnWon) expect((spawned as PromiseRejectedResult).reason).toMatchObject({ code: 'insufficient_balance' });
      expect((await profile(root.id)).balance).toBe(0);
      expect(await children(root.id)).toHaveLength(spawnWon ? 1 : 0);
    }
  });

  it.each(['before-commit', 'after-commit'] as const)('a crash %s, then a retry: exactly one child', async (at) => {
    const root = await api.agent(`crash-${at}`, 50);
    fault = at;
    const crashed = await spawn(root, { name: 'phoenix', initial_balance: 4 }, `crash-${at}`);
    expect(crashed.status, crashed.text).toBe(500);
    expect(fault).toBe('none');
    const retried = await spawn(root, { name: 'phoenix', initial_balance: 4 }, `crash-${at}`);
    expect(retried.status, retried.text).toBe(201);
    // A committed spawn cannot show its key again (only its hash was kept); one that never committed can.
    expect(retried.body.api_key === undefined).toBe(at === 'after-commit');
    expect(retried.body).toMatchObject({ balance: 4, parent_balance: 44, generation: 1 });
    expect((await children(root.id)).map((c) => c.agent_id)).toEqual([retried.body.agent_id]);
    expect((await profile(root.id)).balance).toBe(44);
  });
});
