/**
 * Allocations through the HTTP API on DynamoDB Local: the execution context a won bid becomes,
 * token metering (never below zero, never outside the window, once per key, under 100
 * concurrent callers), reservations held and settled once, and expiry by the sweeper with its
 * clock injected. The ledger audit runs after every test.
 */
import { describe, expect, it } from 'vitest';
import { Allocations } from '#shared/adapters/dynamodb/allocations';
import { scanKinds } from '#shared/adapters/dynamodb/audit';
import { eventsOfOutbox } from '#shared/adapters/dynamodb/outbox';
import { txRunnerOf } from '#shared/adapters/services';
import type { Envelope } from '#shared/core/events';
import { type Clock, seededRandom, ulidGenerator } from '#shared/core/ports';
import { useApi } from '../harness/api.ts';

const api = useApi('alloc', { env: { SYNTROPISM_ECONOMY: JSON.stringify({ round_seconds: 1 }) } });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An allocations store on the test table whose clock runs `offsetMs` ahead of the wall clock. */
function storeAt(offsetMs: () => number, seed = 1): Allocations {
  const clock: Clock = { now: () => Date.now() + offsetMs() };
  const runtime = { clock, ids: ulidGenerator(clock, seededRandom(seed)), random: seededRandom(seed + 1) };
  const table = { doc: api.table.client, tableName: api.table.tableName };
  return new Allocations({ table, tx: txRunnerOf(table, api.config, runtime), runtime });
}

async function outboxEvents(): Promise<Envelope[]> {
  const items = await scanKinds(api.table.client, api.table.tableName, ['outbox']);
  const events = items.flatMap((i) => eventsOfOutbox(i as { events: string }));
  return events.sort((a, b) => (a.event_id < b.event_id ? -1 : 1));
}

async function winner(name: string, tokens: number, duration = 600) {
  const agent = await api.agent(name, 100);
  const id = await api.won(agent, { bundle: { cpu: 0.1, tokens }, duration_seconds: duration, amount: 1 });
  return { agent, id };
}

const usage = (key: string, id: string, tokens: unknown, idem: string) =>
  api.call('POST', `/v1/allocations/${id}/usage`, { key, body: { tokens }, idempotencyKey: idem });

describe('allocations', () => {
  it('a won bid is an execution context its agent reads and lists; others cannot see it', async () => {
    const { agent, id } = await winner('reader', 500);
    const one = await api.call('GET', `/v1/allocations/${id}`, { key: agent.key });
    expect(one.status, one.text).toBe(200);
    expect(one.body).toMatchObject({
      allocation_id: id,
      agent_id: agent.id,
      bundle: { cpu: 0.1, tokens: 500 },
      duration_seconds: 600,
      status: 'active',
      tokens: { granted: 500, reserved: 0, used: 0, remaining: 500 },
    });
    expect(one.body.seconds_left).toBeGreaterThan(590);
    expect(Date.parse(one.body.ends_at) - Date.parse(one.body.starts_at)).toBe(600_000);

    const active = await api.call('GET', '/v1/allocations?status=active', { key: agent.key });
    expect(active.body.allocations.map((a: { allocation_id: string }) => a.allocation_id)).toEqual([id]);
    const expired = await api.call('GET', '/v1/allocations?status=expired', { key: agent.key });
    expect(expired.body.allocations).toEqual([]);
    const byOperator = await api.call('GET', `/v1/allocations?agent_id=${agent.id}`);
    expect(byOperator.body.allocations).toHaveLength(1);
    const allActive = await api.call('GET', '/v1/allocations?status=active&limit=100');
    expect(allActive.body.allocations.map((a: { allocation_id: string }) => a.allocation_id)).toContain(id);
    const refused = await api.call('GET', '/v1/allocations?status=expired');
    expect(refused.status).toBe(400);

    const stranger = await api.agent('stranger', 1);
    expect((await api.call('GET', `/v1/allocations/${id}`, { key: stranger.key })).status).toBe(404);
    expect((await api.call('GET', `/v1/allocations?agent_id=${agent.id}`, { key: stranger.key })).status).toBe(403);
    const missing = await api.call('GET', '/v1/allocations/al_AAAAAAAAAAAAAAAAAAAAAAAAAA', { key: agent.key });
    expect(missing.status).toBe(404);
    expect((await api.call('GET', '/v1/allocations/nope', { key: agent.key })).status).toBe(400);
  });

  it('meters tokens once per key, never below zero, with quota_exceeded over budget', async () => {
    const { agent, id } = await winner('meter', 300);
    const first = await usage(agent.key, id, 120, 'u1');
    expect(first.status, first.text).toBe(200);
    expect(first.body).toMatchObject({ allocation_id: id, tokens: 120, tokens_used: 120, remaining: 180 });
    const replay = await usage(agent.key, id, 120, 'u1');
    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(first.body);
    expect((await usage(agent.key, id, 121, 'u1')).status).toBe(422);

    const over = await usage(agent.key, id, 181, 'u2');
    expect(over.status, over.text).toBe(429);
    expect(over.headers.get('content-type')).toBe('application/problem+json');
    expect(over.body).toMatchObject({ code: 'quota_exceeded', requested: 181, remaining: 180 });
    const exact = await usage(agent.key, id, 180, 'u3');
    expect(exact.body).toMatchObject({ tokens_used: 300, remaining: 0 });

    const after = await api.call('GET', `/v1/allocations/${id}`, { key: agent.key });
    expect(after.body.tokens).toEqual({ granted: 300, reserved: 0, used: 300, remaining: 0 });
    const events = (await outboxEvents()).filter((e) => (e.data as { allocation_id?: string }).allocation_id === id);
    expect(events.filter((e) => e.type === 'tokens_metered').map((e) => e.data)).toEqual([
      { allocation_id: id, agent_id: agent.id, tokens: 120, tokens_used: 120, remaining: 180 },
      { allocation_id: id, agent_id: agent.id, tokens: 180, tokens_used: 300, remaining: 0 },
    ]);
    expect(events.filter((e) => e.type === 'quota_exceeded').map((e) => e.data)).toEqual([
      { allocation_id: id, agent_id: agent.id, requested: 181, remaining: 180 },
    ]);
  });

  it('refuses bad counts, other agents, the operator and ended allocations, writing nothing', async () => {
    const { agent, id } = await winner('strict', 100, 1);
    const other = await api.agent('intruder', 1);
    const before = await api.snapshot(['allocation', 'token_usage', 'outbox']);
    for (const [i, tokens] of [-1, 0, 1.5, 1e13, '5', null, Number.MAX_SAFE_INTEGER].entries()) {
      const res = await usage(agent.key, id, tokens, `bad-${i}`);
      expect(res.status, `${tokens}: ${res.text}`).toBe(400);
    }
    expect((await usage(other.key, id, 1, 'theirs')).status).toBe(404);
    expect((await usage(api.operatorKey, id, 1, 'op')).status).toBe(403);
    expect(
      (await api.call('POST', `/v1/allocations/${id}/usage`, { key: agent.key, body: { tokens: 1 } })).status,
    ).toBe(400);
    expect(await api.snapshot(['allocation', 'token_usage', 'outbox'])).toBe(before);

    const ends = Date.parse((await api.call('GET', `/v1/allocations/${id}`, { key: agent.key })).body.ends_at);
    await sleep(Math.max(0, ends - Date.now() + 20));
    const late = await usage(agent.key, id, 1, 'late');
    expect(late.status, late.text).toBe(409);
    expect(late.body).toMatchObject({ code: 'allocation_not_active', allocation_status: 'expired' });
    const read = await api.call('GET', `/v1/allocations/${id}`, { key: agent.key });
    expect(read.body).toMatchObject({ status: 'expired', seconds_left: 0 });
    expect(await api.snapshot(['allocation', 'token_usage', 'outbox'])).toBe(before);
  });

  it('100 concurrent usage calls on one allocation never grant more than its tokens', async () => {
    const { agent, id } = await winner('crowd', 1_000);
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => usage(agent.key, id, 7 + (i % 13), `c-${i}`)),
    );
    const granted = results.filter((r) => r.status === 200);
    expect(results.every((r) => r.status === 200 || r.status === 429)).toBe(true);
    const total = granted.reduce((sum, r) => sum + r.body.tokens, 0);
    expect(total).toBeLessThanOrEqual(1_000);
    const read = await api.call('GET', `/v1/allocations/${id}`, { key: agent.key });
    expect(read.body.tokens).toEqual({ granted: 1_000, reserved: 0, used: total, remaining: 1_000 - total });
    // Every refusal came when less was left than it asked.
    for (const r of results.filter((x) => x.status === 429)) expect(r.body.remaining).toBeLessThan(r.body.requested);
  });
});

describe('reservations', () => {
  it('hold, settle to the cost (beyond the hold from what is left), release the rest, once', async () => {
    const { agent, id } = await winner('gateway', 1_000);
    const meter = storeAt(() => 0, 11);
    const r = await meter.reserve(
      { reservation_id: 'rs_1', allocation_id: id, agent_id: agent.id, tokens: 400, deadline_ms: Date.now() + 60_000 },
      {},
    );
    expect(r.remaining).toBe(600);
    expect((await meter.get(id))?.tokens_reserved).toBe(400);
    // A provider reporting more than was reserved is charged from what is left.
    const call = { model: 'm', prompt_tokens: 100, completion_tokens: 350, latency_ms: 5, status: 'ok' as const };
    const settled = await meter.settle(r, { ...call, tokens_charged: 450 }, {});
    expect(settled).toEqual({ tokens_charged: 450, remaining: 550 });
    expect(await meter.settle(r, { ...call, tokens_charged: 999 }, {})).toEqual(settled);
    const a = await meter.get(id);
    expect(a).toMatchObject({ tokens_reserved: 0, tokens_used: 450, tokens_remaining: 550 });

    // Over what is left: refused with quota_exceeded, nothing held.
    await expect(
      meter.reserve({ reservation_id: 'rs_2', allocation_id: id, agent_id: agent.id, tokens: 551, deadline_ms: 0 }, {}),
    ).rejects.toMatchObject({ code: 'quota_exceeded', status: 429 });
    // Another agent's allocation is not found.
    await expect(
      meter.reserve({ reservation_id: 'rs_3', allocation_id: id, agent_id: 'a_x', tokens: 1, deadline_ms: 0 }, {}),
    ).rejects.toMatchObject({ status: 404 });
    const completed = (await outboxEvents()).filter((e) => e.type === 'llm_call_completed');
    expect(completed.map((e) => e.data)).toEqual([
      {
        allocation_id: id,
        agent_id: agent.id,
        reservation_id: 'rs_1',
        model: 'm',
        prompt_tokens: 100,
        completion_tokens: 350,
        tokens_charged: 450,
        latency_ms: 5,
        status: 'ok',
      },
    ]);
  });

  it('concurrent holds never exceed the budget; settling charges exactly the reported costs', async () => {
    const { agent, id } = await winner('parallel', 2_000);
    const meter = storeAt(() => 0, 12);
    const attempts = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) =>
        meter.reserve(
          {
            reservation_id: `rs_p${i}`,
            allocation_id: id,
            agent_id: agent.id,
            tokens: 90,
            deadline_ms: Date.now() + 60_000,
          },
          {},
        ),
      ),
    );
    const held = attempts.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
    expect(held).toHaveLength(22); // ⌊2000 / 90⌋
    const costs = held.map((_, i) => 10 + i);
    await Promise.all(
      held.map((r, i) =>
        meter.settle(
          r,
          {
            model: 'm',
            prompt_tokens: 1,
            completion_tokens: 1,
            tokens_charged: costs[i] ?? 0,
            latency_ms: 1,
            status: 'ok',
          },
          {},
        ),
      ),
    );
    const sum = costs.reduce((s, c) => s + c, 0);
    expect(await meter.get(id)).toMatchObject({ tokens_reserved: 0, tokens_used: sum, tokens_remaining: 2_000 - sum });
  });

  it('a hold never settled is released by the sweeper, and a late settle changes nothing', async () => {
    const { agent, id } = await winner('crashed', 500);
    let ahead = 0;
    const meter = storeAt(() => ahead, 13);
    const r = await meter.reserve(
      {
        reservation_id: 'rs_c',
        allocation_id: id,
        agent_id: agent.id,
        tokens: 300,
        model: 'm',
        deadline_ms: Date.now() + 30_000,
      },
      {},
    );
    expect(await meter.reservations.releaseStale(100)).toBe(0);
    ahead = 31_000;
    expect(await meter.reservations.releaseStale(100)).toBe(1);
    expect(await meter.reservations.releaseStale(100)).toBe(0);
    expect(await meter.get(id)).toMatchObject({ tokens_reserved: 0, tokens_used: 0, tokens_remaining: 500 });
    const late = await meter.settle(
      r,
      { model: 'm', prompt_tokens: 5, completion_tokens: 5, tokens_charged: 10, latency_ms: 1, status: 'ok' },
      {},
    );
    expect(late.tokens_charged).toBe(0);
    expect(await meter.get(id)).toMatchObject({ tokens_used: 0, tokens_remaining: 500 });
    const released = (await outboxEvents()).filter(
      (e) => e.type === 'llm_call_completed' && (e.data as { reservation_id: string }).reservation_id === 'rs_c',
    );
    expect(released.map((e) => (e.data as { status: string; tokens_charged: number }).status)).toEqual(['abandoned']);
  });
});

describe('expiry', () => {
  it('the sweeper expires ended allocations once, after their holds, with the tokens used', async () => {
    const { agent, id } = await winner('expiring', 400, 60);
    let ahead = 0;
    const meter = storeAt(() => ahead, 14);
    expect((await usage(agent.key, id, 150, 'before-end')).status).toBe(200);
    const r = await meter.reserve(
      { reservation_id: 'rs_e', allocation_id: id, agent_id: agent.id, tokens: 100, deadline_ms: Date.now() + 90_000 },
      {},
    );
    ahead = 61_000;
    // Still holding tokens: it waits, so the tokens_used it reports is final.
    await meter.expireEnded(1000);
    expect(await meter.get(id)).toMatchObject({ status: 'active', tokens_reserved: 100 });
    await meter.settle(
      r,
      { model: 'm', prompt_tokens: 1, completion_tokens: 1, tokens_charged: 30, latency_ms: 1, status: 'ok' },
      {},
    );
    expect((await meter.expireEnded(1000)).expired).toBeGreaterThanOrEqual(1);
    const again = await meter.expireEnded(1000);
    expect(await meter.get(id)).toMatchObject({ status: 'expired', tokens_used: 180 });
    const expired = (await outboxEvents()).filter(
      (e) => e.type === 'allocation_expired' && (e.data as { allocation_id: string }).allocation_id === id,
    );
    expect(expired.map((e) => e.data)).toEqual([{ allocation_id: id, agent_id: agent.id, tokens_used: 180 }]);
    expect(again.expired).toBe(0);
  });
});
