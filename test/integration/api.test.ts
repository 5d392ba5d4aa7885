/**
 * The foundation API through real HTTP, the real handlers and authorizer, against DynamoDB Local:
 * registration, profile, balance, history, transfers, idempotency, state, and bad input.
 */
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { scanKinds } from '#shared/adapters/dynamodb/audit';
import { eventsOfOutbox } from '#shared/adapters/dynamodb/outbox';
import type { Envelope } from '#shared/core/events';
import { useApi } from '../harness/api.ts';

const api = useApi('api');

async function outboxEvents(): Promise<Envelope[]> {
  const items = await scanKinds(api.table.client, api.table.tableName, ['outbox']);
  return items.flatMap((i) => eventsOfOutbox(i)).sort((a, b) => a.event_id.localeCompare(b.event_id));
}

const expectProblem = (
  res: { status: number; headers: Headers; body: { code?: string } },
  status: number,
  code: string,
) => {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(res.body.code).toBe(code);
};

describe('health and registration', () => {
  it('answers health without a key', async () => {
    const res = await api.call('GET', '/v1/health', { key: null });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ok');
  });

  it('serves the OpenAPI document', async () => {
    const res = await api.call('GET', '/v1/openapi.json', { key: null });
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    expect(Object.keys(res.body.paths)).toContain('/v1/transfers');
  });

  it('registers an agent with a minted grant and shows its key once', async () => {
    const res = await api.call('POST', '/v1/agents', { body: { name: 'alice', initial_balance: 120.5 } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: 'alice', balance: 120.5, state: 'active' });
    expect(res.body.agent_id).toMatch(/^a_[0-9A-Z]{26}$/);
    expect(res.body.api_key).toMatch(/^syn\.a_[0-9A-Z]{26}\.[A-Za-z0-9_-]{43}$/);
    const id = res.body.agent_id as string;

    const profile = await api.call('GET', `/v1/agents/${id}`, { key: res.body.api_key });
    expect(profile.status).toBe(200);
    expect(profile.body).toMatchObject({ agent_id: id, balance: 120.5, total_earned: 120.5, total_spent: 0 });
    expect(JSON.stringify(profile.body)).not.toContain('key_hash');

    const events = (await outboxEvents()).filter((e) => e.agent_id === id);
    expect(events.map((e) => [e.type, e.sequence])).toEqual([
      ['agent_registered', 1],
      ['credits_transferred', 2],
    ]);
    expect(events[1]?.data).toMatchObject({ from: 'mint', to: id, amount: 120.5, purpose: 'agent_grant' });
    await api.expectAuditClean();
  });

  it('replays a registration without the key, and stores the key nowhere in the clear', async () => {
    const first = await api.call('POST', '/v1/agents', {
      body: { name: 'once', initial_balance: 1 },
      idempotencyKey: 'register-once',
    });
    expect(first.status, first.text).toBe(201);
    const key = first.body.api_key as string;
    const replay = await api.call('POST', '/v1/agents', {
      body: { name: 'once', initial_balance: 1 },
      idempotencyKey: 'register-once',
    });
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body.agent_id).toBe(first.body.agent_id);
    expect(replay.body).not.toHaveProperty('api_key');
    // Not in any item of the table: only its hash is kept.
    const secret = key.split('.')[2] ?? '';
    expect(secret).toHaveLength(43);
    const everything: unknown[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await api.table.client.send(
        new ScanCommand({ TableName: api.table.tableName, ConsistentRead: true, ExclusiveStartKey: start }),
      );
      everything.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    expect(JSON.stringify(everything)).toContain(String(first.body.agent_id));
    expect(JSON.stringify(everything)).not.toContain(secret);
    expect((await api.call('GET', `/v1/agents/${first.body.agent_id}`, { key })).status).toBe(200);
  });

  it('registers with a zero balance and no grant', async () => {
    const a = await api.agent('zero', 0);
    const res = await api.call('GET', `/v1/agents/${a.id}/history`, { key: a.key });
    expect(res.body.entries).toEqual([]);
  });
});

describe('transfers', () => {
  it('moves credits exactly, once per Idempotency-Key, with history on both sides', async () => {
    const a = await api.agent('payer', 100);
    const b = await api.agent('payee', 5);
    const send = () =>
      api.call('POST', '/v1/transfers', {
        key: a.key,
        idempotencyKey: 'pay-1',
        body: { to_agent_id: b.id, amount: 0.000001, memo: 'tiny' },
      });
    const first = await send();
    expect(first.status, first.text).toBe(201);
    expect(first.body).toMatchObject({ from_agent_id: a.id, to_agent_id: b.id, amount: 0.000001, balance: 99.999999 });
    const replay = await send();
    expect(replay.status).toBe(201);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');

    const balanceB = await api.call('GET', `/v1/agents/${b.id}/balance`, { key: b.key });
    expect(balanceB.body).toEqual({ agent_id: b.id, balance: 5.000001 });
    const histA = await api.call('GET', `/v1/agents/${a.id}/history`, { key: a.key });
    expect(histA.body.entries[0]).toMatchObject({
      transfer_id: first.body.transfer_id,
      direction: 'debit',
      counterparty: b.id,
      amount: 0.000001,
      purpose: 'transfer',
    });
    const histB = await api.call('GET', `/v1/agents/${b.id}/history`, { key: b.key });
    expect(histB.body.entries[0]).toMatchObject({ direction: 'credit', counterparty: a.id });
    await api.expectAuditClean();
  });

  it('refuses the same key with another body (422) and changes nothing', async () => {
    const a = await api.agent('k1', 10);
    const b = await api.agent('k2', 10);
    const ok = await api.call('POST', '/v1/transfers', {
      key: a.key,
      idempotencyKey: 'same',
      body: { to_agent_id: b.id, amount: 1 },
    });
    expect(ok.status).toBe(201);
    const before = await api.snapshot();
    const res = await api.call('POST', '/v1/transfers', {
      key: a.key,
      idempotencyKey: 'same',
      body: { to_agent_id: b.id, amount: 2 },
    });
    expectProblem(res, 422, 'idempotency_key_reused');
    expect(await api.snapshot()).toBe(before);
  });

  it('scopes idempotency keys to the caller', async () => {
    const a = await api.agent('s1', 10);
    const b = await api.agent('s2', 10);
    const r1 = await api.call('POST', '/v1/transfers', {
      key: a.key,
      idempotencyKey: 'k',
      body: { to_agent_id: b.id, amount: 1 },
    });
    const r2 = await api.call('POST', '/v1/transfers', {
      key: b.key,
      idempotencyKey: 'k',
      body: { to_agent_id: a.id, amount: 1 },
    });
    expect([r1.status, r2.status]).toEqual([201, 201]);
    expect(r1.body.transfer_id).not.toBe(r2.body.transfer_id);
  });

  it('answers an overdraft with 409 insufficient_balance, required and available, and writes nothing', async () => {
    const a = await api.agent('poor', 3.5);
    const b = await api.agent('rich', 0);
    const before = await api.snapshot();
    const res = await api.call('POST', '/v1/transfers', {
      key: a.key,
      idempotencyKey: 'over',
      body: { to_agent_id: b.id, amount: 3.500001 },
    });
    expectProblem(res, 409, 'insufficient_balance');
    expect(res.body).toMatchObject({ required: 3.500001, available: 3.5 });
    expect(res.body.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(await api.snapshot()).toBe(before);
    // The 4xx is stored: the replay answers the same, even after the balance would allow it.
    const replay = await api.call('POST', '/v1/transfers', {
      key: a.key,
      idempotencyKey: 'over',
      body: { to_agent_id: b.id, amount: 3.500001 },
    });
    expect(replay.status).toBe(409);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
  });

  it('404s a transfer to an unknown agent and writes nothing', async () => {
    const a = await api.agent('lonely', 10);
    const before = await api.snapshot();
    const res = await api.call('POST', '/v1/transfers', {
      key: a.key,
      idempotencyKey: 'ghost',
      body: { to_agent_id: 'a_01ARZ3NDEKTSV4RRFFQ69G5FAV', amount: 1 },
    });
    expectProblem(res, 404, 'not_found');
    expect(await api.snapshot()).toBe(before);
  });

  it('paginates history newest first with an opaque cursor', async () => {
    const a = await api.agent('pager', 100);
    const b = await api.agent('pagee', 0);
    for (let i = 1; i <= 5; i++) {
      const r = await api.call('POST', '/v1/transfers', {
        key: a.key,
        idempotencyKey: `p${i}`,
        body: { to_agent_id: b.id, amount: i },
      });
      expect(r.status).toBe(201);
    }
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2';
      const page = await api.call('GET', `/v1/agents/${a.id}/history${q}`, { key: a.key });
      expect(page.status).toBe(200);
      expect(page.body.entries.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.entries.map((e: { amount: number }) => e.amount));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual([5, 4, 3, 2, 1, 100]);
    const bad = await api.call('GET', `/v1/agents/${a.id}/history?cursor=garbage`, { key: a.key });
    expectProblem(bad, 400, 'validation_failed');
  });
});

describe('balance and state events', () => {
  it('emits balance_queried in the agent sequence, and dormant/awake on state changes', async () => {
    const a = await api.agent('sleepy', 7);
    expect((await api.call('GET', `/v1/agents/${a.id}/balance`, { key: a.key })).body.balance).toBe(7);
    const dormant = await api.call('PUT', `/v1/agents/${a.id}/state`, { key: a.key, body: { state: 'dormant' } });
    expect(dormant.status).toBe(200);
    expect(dormant.body.state).toBe('dormant');
    // Same state again: no change, no event.
    expect((await api.call('PUT', `/v1/agents/${a.id}/state`, { key: a.key, body: { state: 'dormant' } })).status).toBe(
      200,
    );
    expect(
      (await api.call('PUT', `/v1/agents/${a.id}/state`, { key: a.key, body: { state: 'active' } })).body.state,
    ).toBe('active');
    const events = (await outboxEvents()).filter((e) => e.agent_id === a.id);
    expect(events.map((e) => [e.type, e.sequence])).toEqual([
      ['agent_registered', 1],
      ['credits_transferred', 2],
      ['balance_queried', 3],
      ['agent_dormant', 4],
      ['agent_awake', 5],
    ]);
    expect(events[3]?.data).toEqual({ agent_id: a.id, final_balance: 7, reason: 'voluntary' });
    expect(events[4]?.data).toEqual({ agent_id: a.id, awakened_by: 'self', current_balance: 7 });
  });

  it('a payment wakes a dormant agent, in its own sequence; paying an active agent changes no state', async () => {
    const payer = await api.agent('waker', 10);
    const sleeper = await api.agent('sleeper', 1);
    const nap = await api.call('PUT', `/v1/agents/${sleeper.id}/state`, {
      key: sleeper.key,
      body: { state: 'dormant' },
    });
    expect(nap.body.state).toBe('dormant');
    const pay = (n: number) =>
      api.call('POST', '/v1/transfers', {
        key: payer.key,
        idempotencyKey: `wake-${n}`,
        body: { to_agent_id: sleeper.id, amount: 2 },
      });
    expect((await pay(1)).status).toBe(201);
    const profile = await api.call('GET', `/v1/agents/${sleeper.id}`, { key: sleeper.key });
    expect(profile.body).toMatchObject({ state: 'active', balance: 3 });
    expect((await pay(2)).status).toBe(201);
    const ofSleeper = (await outboxEvents())
      .filter((e) => e.aggregate === `agent:${sleeper.id}`)
      .sort((x, y) => (x.sequence ?? 0) - (y.sequence ?? 0));
    expect(ofSleeper.map((e) => [e.type, e.sequence])).toEqual([
      ['agent_registered', 1],
      ['credits_transferred', 2],
      ['agent_dormant', 3],
      ['agent_awake', 4],
    ]);
    const payment = (await outboxEvents()).find(
      (e) => e.type === 'credits_transferred' && e.agent_id === payer.id && e.sequence === 3,
    );
    expect(ofSleeper[3]?.data).toEqual({ agent_id: sleeper.id, awakened_by: payer.id, current_balance: 3 });
    expect(ofSleeper[3]?.causation_id).toBe(payment?.event_id);
  });

  it('carries X-Scenario-Id and the request id into events', async () => {
    const a = await api.agent('tagged', 1);
    await api.call('GET', `/v1/agents/${a.id}/balance`, { key: a.key, headers: { 'x-scenario-id': 'er_001' } });
    const e = (await outboxEvents()).find((x) => x.type === 'balance_queried' && x.agent_id === a.id);
    expect(e?.scenario_id).toBe('er_001');
    expect(e?.correlation_id).toBeTruthy();
    expect(e?.trace?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
  });
});

describe('bad input changes nothing', () => {
  it.each([
    ['malformed JSON', { raw: '{"to_agent_id":' }, 400, 'malformed_json'],
    ['wrong type', { body: { to_agent_id: 'x', amount: '5' } }, 400, 'validation_failed'],
    [
      'unknown field',
      { body: { amount: 1, to_agent_id: 'a_01ARZ3NDEKTSV4RRFFQ69G5FAV', extra: 1 } },
      400,
      'validation_failed',
    ],
    [
      '7 decimals',
      { body: { amount: 1.0000001, to_agent_id: 'a_01ARZ3NDEKTSV4RRFFQ69G5FAV' } },
      400,
      'validation_failed',
    ],
    ['negative', { body: { amount: -1, to_agent_id: 'a_01ARZ3NDEKTSV4RRFFQ69G5FAV' } }, 400, 'validation_failed'],
    ['zero', { body: { amount: 0, to_agent_id: 'a_01ARZ3NDEKTSV4RRFFQ69G5FAV' } }, 400, 'validation_failed'],
    ['too large', { body: { amount: 1e9 + 1, to_agent_id: 'a_01ARZ3NDEKTSV4RRFFQ69G5FAV' } }, 400, 'validation_failed'],
    [
      'more digits than a double holds',
      { raw: '{"amount":1.0000000000000001,"to_agent_id":"a_01ARZ3NDEKTSV4RRFFQ69G5FAV"}' },
      400,
      'validation_failed',
    ],
    ['huge body', { raw: JSON.stringify({ memo: 'x'.repeat(70_000) }) }, 413, 'payload_too_large'],
    ['text/plain', { raw: '{}', headers: { 'content-type': 'text/plain' } }, 415, 'unsupported_media_type'],
    ['empty body', { raw: '' }, 400, 'validation_failed'],
    ['array body', { raw: '[]' }, 400, 'validation_failed'],
  ])('%s', async (_name, opts, status, code) => {
    const a = await api.agent('bad', 10);
    const before = await api.snapshot();
    const res = await api.call('POST', '/v1/transfers', {
      key: a.key,
      idempotencyKey: `bad-${_name.replace(/\W/g, '-')}`,
      ...opts,
    });
    expectProblem(res, status, code);
    expect(await api.snapshot()).toBe(before);
    await api.expectAuditClean();
  });

  it('requires an Idempotency-Key on transfers', async () => {
    const a = await api.agent('nokey', 10);
    const b = await api.agent('nokey2', 10);
    const res = await api.call('POST', '/v1/transfers', { key: a.key, body: { to_agent_id: b.id, amount: 1 } });
    expectProblem(res, 400, 'idempotency_key_required');
  });

  it('refuses transfers to oneself', async () => {
    const a = await api.agent('self', 10);
    const res = await api.call('POST', '/v1/transfers', {
      key: a.key,
      idempotencyKey: 'me',
      body: { to_agent_id: a.id, amount: 1 },
    });
    expectProblem(res, 400, 'validation_failed');
  });

  it.each([
    [{ name: '', initial_balance: 1 }],
    [{ name: 'x', initial_balance: -1 }],
    [{ name: 'x', initial_balance: 0.1234567 }],
    [{ name: 'x' }],
    [{ name: '<script>', initial_balance: 1 }],
    [{ name: 'x', initial_balance: 1, admin: true }],
  ])('refuses registration %j', async (body) => {
    const before = await api.snapshot();
    const res = await api.call('POST', '/v1/agents', { body });
    expectProblem(res, 400, 'validation_failed');
    expect(await api.snapshot()).toBe(before);
  });

  it('refuses a bad state and unknown query parameters', async () => {
    const a = await api.agent('q', 1);
    expectProblem(
      await api.call('PUT', `/v1/agents/${a.id}/state`, { key: a.key, body: { state: 'dead' } }),
      400,
      'validation_failed',
    );
    expectProblem(
      await api.call('GET', `/v1/agents/${a.id}/history?limit=0`, { key: a.key }),
      400,
      'validation_failed',
    );
    expectProblem(await api.call('GET', `/v1/agents/${a.id}/history?foo=1`, { key: a.key }), 400, 'validation_failed');
  });
});
