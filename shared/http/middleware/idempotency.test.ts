import { describe, expect, it, vi } from 'vitest';
import type { Claim, IdempotencyStore } from '../../adapters/dynamodb/idempotency.ts';
import { DomainError } from '../../core/errors.ts';
import { idempotencyKeyOf, idempotencyMiddleware, storable } from './idempotency.ts';
import { fixtureRequest } from './middleware.fixtures.ts';
import { stateOf } from './state.ts';

const AGENT = { role: 'agent', agent_id: 'a_1' } as const;

function store(claim: Claim) {
  return {
    begin: vi.fn(async () => claim),
    complete: vi.fn(async () => {}),
    release: vi.fn(async () => {}),
  } satisfies IdempotencyStore;
}
const logger = { warn: vi.fn() };

function transfer(headers: Record<string, string>) {
  const request = fixtureRequest('POST /v1/transfers', { headers, body: '{}' });
  stateOf(request).caller = AGENT;
  return request;
}

describe('idempotencyKeyOf', () => {
  it.each(['k1,k2', 'k1, k2', ',', 'a,'])('refuses the joined value %j of repeated lines', (key) => {
    let refusal: unknown;
    try {
      idempotencyKeyOf(transfer({ 'idempotency-key': key }).event);
    } catch (err) {
      refusal = err;
    }
    expect(refusal).toMatchObject({
      status: 400,
      errors: [{ path: '/headers/idempotency-key', message: expect.stringMatching(/once/) }],
    });
  });
  it.each(['', 'a b', 'x'.repeat(256), 'clé'])('refuses the malformed key %j', (key) => {
    expect(() => idempotencyKeyOf(transfer({ 'idempotency-key': key }).event)).toThrow(DomainError);
  });
  it('accepts printable ASCII up to 255 characters', () => {
    expect(idempotencyKeyOf(transfer({ 'idempotency-key': `a-${'x'.repeat(253)}` }).event)).toHaveLength(255);
  });
});

describe('idempotencyMiddleware', () => {
  it('validates its options', () => {
    expect(() => idempotencyMiddleware({ store: {} as IdempotencyStore, logger })).toThrow(/store/);
    expect(() => idempotencyMiddleware({ store: store({ kind: 'claimed' }), logger: {} as never })).toThrow(/logger/);
  });

  it('claims under the caller, then stores the success', async () => {
    const s = store({ kind: 'claimed' });
    const m = idempotencyMiddleware({ store: s, logger });
    const request = transfer({ 'idempotency-key': 'k' });
    await m.before?.(request);
    expect(s.begin).toHaveBeenCalledWith('a_1', 'k', expect.stringMatching(/^[0-9a-f]{64}$/));
    request.response = { statusCode: 201, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' };
    await m.after?.(request);
    expect(s.complete).toHaveBeenCalledWith('a_1', 'k', {
      statusCode: 201,
      headers: expect.any(Object),
      body: '{"ok":true}',
    });
  });

  it('renders and stores a 4xx as the first answer, and releases the key on a 5xx', async () => {
    const s = store({ kind: 'claimed' });
    const m = idempotencyMiddleware({ store: s, logger });
    const refused = transfer({ 'idempotency-key': 'k' });
    await m.before?.(refused);
    refused.error = new DomainError('insufficient_balance', 409, 'Not enough.');
    await m.onError?.(refused);
    expect(refused.response?.statusCode).toBe(409);
    expect((s.complete.mock.calls[0] as unknown[] | undefined)?.[2]).toMatchObject({
      statusCode: 409,
      body: refused.response?.body,
    });
    const failed = transfer({ 'idempotency-key': 'k2' });
    await m.before?.(failed);
    failed.error = new Error('socket hang up');
    await m.onError?.(failed);
    expect(failed.response?.statusCode).toBe(500);
    expect(s.release).toHaveBeenCalledWith('a_1', 'k2');
  });

  it('answers a replay early, marked, and refuses in-progress and reused keys', async () => {
    const replay = store({ kind: 'replay', response: { statusCode: 201, headers: {}, body: '{}' } });
    const answer = await idempotencyMiddleware({ store: replay, logger }).before?.(
      transfer({ 'idempotency-key': 'k' }),
    );
    expect(answer).toEqual({ statusCode: 201, headers: { 'idempotent-replayed': 'true' }, body: '{}' });
    for (const [kind, status] of [
      ['in_progress', 409],
      ['mismatch', 422],
    ] as const) {
      const m = idempotencyMiddleware({ store: store({ kind }), logger });
      await expect(m.before?.(transfer({ 'idempotency-key': 'k' }))).rejects.toMatchObject({ status });
    }
  });

  it('requires a key only where the route says so', async () => {
    const s = store({ kind: 'claimed' });
    await expect(idempotencyMiddleware({ store: s, logger }).before?.(transfer({}))).rejects.toMatchObject({
      code: 'idempotency_key_required',
    });
    const register = fixtureRequest('POST /v1/agents', { body: '{}' });
    stateOf(register).caller = { role: 'operator' };
    await idempotencyMiddleware({ store: s, logger }).before?.(register);
    expect(s.begin).not.toHaveBeenCalled();
  });
});

describe('storable', () => {
  it("drops the route's notStored fields and a stale content-length", () => {
    const stored = storable(
      { statusCode: 201, headers: { 'content-length': '40' }, body: '{"agent_id":"a_1","api_key":"syn.secret"}' },
      ['api_key'],
    );
    expect(stored).toEqual({ statusCode: 201, headers: {}, body: '{"agent_id":"a_1"}\n' });
  });
});
