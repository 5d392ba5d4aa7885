/**
 * The LLM gateway through the HTTP API on DynamoDB Local, against a fake provider that is a
 * real HTTP server: reserve → call → settle for whole and streamed answers, usage above the
 * reservation, provider refusals, faults and hangs, disconnects mid-stream, the refusals that
 * write nothing, and 100 concurrent calls that never draw more than the allocation holds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanKinds } from '#shared/adapters/dynamodb/audit';
import { eventsOfOutbox } from '#shared/adapters/dynamodb/outbox';
import { createServices } from '#shared/adapters/services';
import type { Envelope } from '#shared/core/events';
import { parseEconomyConfig } from '#shared/core/market-config';
import { seededRandom, ulidGenerator } from '#shared/core/ports';
import { useApi } from '../harness/api.ts';
import { FAKE_COMPLETION_TOKENS, FAKE_PROMPT_TOKENS, type FakeLlm, startFakeLlm } from '../harness/fake-llm.ts';

const PROVIDER_KEY = 'sk-fake-provider-key-0123456789abcdef';
const ECONOMY = {
  round_seconds: 1,
  llm: { models: { 'fake-small': { weight: 1 }, 'fake-large': { weight: 2.5 } }, default_max_tokens: 40 },
};
const env: Record<string, string> = {
  SYNTROPISM_ECONOMY: JSON.stringify(ECONOMY),
  SYNTROPISM_LLM_API_KEY: PROVIDER_KEY,
  SYNTROPISM_LLM_TIMEOUT_MS: '400',
};
let fake: FakeLlm;
// Before the stack's hooks: its configuration reads the provider's URL.
beforeAll(async () => {
  fake = await startFakeLlm();
  env.SYNTROPISM_LLM_BASE_URL = fake.url;
});
afterAll(async () => fake?.close());

const api = useApi('llm', { env });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Completed = Envelope & { data: Record<string, unknown> };
async function completed(allocationId: string): Promise<Completed[]> {
  const items = await scanKinds(api.table.client, api.table.tableName, ['outbox']);
  return (items.flatMap((i) => eventsOfOutbox(i as { events: string })) as Completed[])
    .filter((e) => e.type === 'llm_call_completed' && e.data.allocation_id === allocationId)
    .sort((a, b) => (a.event_id < b.event_id ? -1 : 1));
}

async function winner(name: string, tokens: number, duration = 600) {
  const agent = await api.agent(name, 100);
  const id = await api.won(agent, { bundle: { cpu: 0.1, tokens }, duration_seconds: duration, amount: 1 });
  return { agent, id };
}

const chat = (key: string, id: string | undefined, body: Record<string, unknown>) =>
  api.call('POST', '/v1/llm/chat/completions', { key, body, headers: id ? { 'x-allocation-id': id } : {} });
const ask = (content: string, extra: Record<string, unknown> = {}) => ({
  model: 'fake-small',
  messages: [{ role: 'user', content }],
  ...extra,
});
const tokensOf = async (key: string, id: string) =>
  (await api.call('GET', `/v1/allocations/${id}`, { key })).body.tokens;

describe('LLM gateway, whole answers', () => {
  it('reserves, forwards with the key, settles to the usage × weight, and records counts only', async () => {
    const { agent, id } = await winner('caller', 1000);
    const before = fake.requests.length;
    const res = await chat(agent.key, undefined, ask('hello'));
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ object: 'chat.completion', choices: [{ message: { content: 'fake answer' } }] });
    const charged = FAKE_PROMPT_TOKENS + FAKE_COMPLETION_TOKENS;
    expect(res.headers.get('x-syntropism-tokens-charged')).toBe(String(charged));
    expect(res.headers.get('x-syntropism-allocation-id')).toBe(id);
    expect(Number(res.headers.get('x-syntropism-overhead-ms'))).toBeGreaterThanOrEqual(0);
    const sent = fake.requests[before];
    expect(sent?.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    expect(sent?.body).toMatchObject({ model: 'fake-small', max_tokens: 40 });
    expect(await tokensOf(agent.key, id)).toEqual({
      granted: 1000,
      reserved: 0,
      used: charged,
      remaining: 1000 - charged,
    });

    // Weight 2.5: 13 tokens draw 33 (rounded up).
    const large = await chat(agent.key, id, ask('hello', { model: 'fake-large', max_completion_tokens: 10 }));
    expect(large.status, large.text).toBe(200);
    expect(large.headers.get('x-syntropism-tokens-charged')).toBe(String(Math.ceil(charged * 2.5)));
    expect(fake.requests.at(-1)?.body).toMatchObject({ max_completion_tokens: 10 });

    const events = await completed(id);
    expect(events.map((e) => e.data)).toEqual([
      expect.objectContaining({ model: 'fake-small', tokens_charged: charged, status: 'ok', agent_id: agent.id }),
      expect.objectContaining({ model: 'fake-large', tokens_charged: Math.ceil(charged * 2.5), status: 'ok' }),
    ]);
    const text = JSON.stringify(events);
    expect(text).not.toContain('hello');
    expect(text).not.toContain('fake answer');
    expect(text).not.toContain(PROVIDER_KEY);
  });

  it('caps max_tokens by what is left, and never draws more than the allocation holds', async () => {
    const { agent, id } = await winner('greedy', 60);
    const res = await chat(agent.key, id, ask('mode:over', { max_tokens: 500 }));
    expect(res.status, res.text).toBe(200);
    const forwarded = fake.requests.at(-1)?.body.max_tokens ?? 0;
    expect(forwarded).toBeLessThan(60);
    expect(forwarded).toBeGreaterThan(0);
    // The provider reported far more than reserved: the draw stops at what the allocation had.
    expect(await tokensOf(agent.key, id)).toEqual({ granted: 60, reserved: 0, used: 60, remaining: 0 });
    const refused = await chat(agent.key, id, ask('again'));
    expect(refused.status, refused.text).toBe(429);
    expect(refused.body).toMatchObject({ code: 'quota_exceeded', remaining: 0 });
  });

  it('answers provider refusals, faults and hangs with nothing charged and the key redacted', async () => {
    const { agent, id } = await winner('unlucky', 1000);
    const cases = [
      ['mode:bad', 400, 'provider_error'],
      ['mode:down', 502, 'provider_error'],
      ['mode:auth', 502, 'provider_error'],
      ['mode:busy', 503, 'service_unavailable'],
      ['mode:hang', 504, 'provider_timeout'],
    ] as const;
    for (const [content, status, code] of cases) {
      const res = await chat(agent.key, id, ask(content));
      expect(res.status, `${content}: ${res.text}`).toBe(status);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.body.code).toBe(code);
      expect(res.text).not.toContain(PROVIDER_KEY);
    }
    const bad = await chat(agent.key, id, ask('mode:bad'));
    expect(bad.body.detail).toContain('Bearer [redacted]');
    expect((await chat(agent.key, id, ask('mode:busy'))).headers.get('retry-after')).toBe('7');
    expect(await tokensOf(agent.key, id)).toEqual({ granted: 1000, reserved: 0, used: 0, remaining: 1000 });
    const events = await completed(id);
    expect(events.map((e) => [e.data.status, e.data.tokens_charged])).toEqual([
      ...cases.map(([c]) => [c === 'mode:hang' ? 'timeout' : 'provider_error', 0]),
      ['provider_error', 0],
      ['provider_error', 0],
    ]);
  });

  it('refuses unknown models, foreign, missing, expired and future allocations, writing nothing', async () => {
    const { agent, id } = await winner('owner', 1000);
    const short = await winner('short', 100, 1);
    const other = await api.agent('other', 1);
    const before = await api.snapshot(['allocation', 'reservation', 'outbox']);
    const sent = fake.requests.length;

    const unknown = await chat(agent.key, id, ask('hi', { model: 'gpt-unknown' }));
    expect(unknown.status, unknown.text).toBe(400);
    expect(unknown.body).toMatchObject({ code: 'model_not_allowed', allowed: ['fake-small', 'fake-large'] });
    expect((await chat(other.key, id, ask('hi'))).status).toBe(404);
    expect((await chat(agent.key, 'al_AAAAAAAAAAAAAAAAAAAAAAAAAA', ask('hi'))).status).toBe(404);
    expect((await chat(agent.key, 'nope', ask('hi'))).status).toBe(400);
    const none = await chat(other.key, undefined, ask('hi'));
    expect(none.status).toBe(409);
    expect(none.body.code).toBe('no_active_allocation');
    expect((await chat(api.operatorKey, id, ask('hi'))).status).toBe(403);
    await sleep(1_100);
    const ended = await chat(short.agent.key, short.id, ask('hi'));
    expect(ended.status, ended.text).toBe(409);
    expect(ended.body.code).toBe('allocation_not_active');
    expect(ended.body.detail).toContain('ended at');

    expect(await api.snapshot(['allocation', 'reservation', 'outbox'])).toBe(before);
    expect(fake.requests.length).toBe(sent);
  });

  it('refuses an allocation that has not started yet with 409', async () => {
    const agent = await api.agent('early', 100);
    const placed = await api.call('POST', '/v1/bids', {
      key: agent.key,
      idempotencyKey: 'early-bid',
      body: { bundle: { cpu: 0.1, tokens: 100 }, duration_seconds: 600, amount: 1 },
    });
    expect(placed.status, placed.text).toBe(201);
    await sleep(Math.max(0, Date.parse(placed.body.round_closes_at) - Date.now() + 20));
    // A clearer whose clock runs an hour ahead: the allocation starts in an hour.
    const clock = { now: () => Date.now() + 3_600_000 };
    const future = createServices(api.config, {
      table: { doc: api.table.client, tableName: api.table.tableName },
      economy: parseEconomyConfig(ECONOMY),
      runtime: { clock, ids: ulidGenerator(clock, seededRandom(5)), random: seededRandom(6) },
    });
    await future.clearing.clearDue();
    const bid = await api.call('GET', `/v1/bids/${placed.body.bid_id}`, { key: agent.key });
    expect(bid.body.status).toBe('won');
    const res = await chat(agent.key, bid.body.allocation_id, ask('hi'));
    expect(res.status, res.text).toBe(409);
    expect(res.body.code).toBe('allocation_not_active');
    expect(res.body.detail).toContain('starts at');
  });

  it('100 concurrent calls draw at most the grant, exactly the sum of the provider usage', async () => {
    const { agent, id } = await winner('crowd', 1200);
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => chat(agent.key, id, ask(`call ${i}`, { max_tokens: 5 }))),
    );
    const ok = results.filter((r) => r.status === 200);
    expect(results.every((r) => r.status === 200 || r.status === 429)).toBe(true);
    expect(ok.length).toBeGreaterThan(0);
    const usage = ok.reduce((sum, r) => sum + r.body.usage.prompt_tokens + r.body.usage.completion_tokens, 0);
    const tokens = await tokensOf(agent.key, id);
    expect(tokens.used).toBe(usage);
    expect(tokens.used).toBeLessThanOrEqual(1200);
    expect(tokens.reserved).toBe(0);
    const events = await completed(id);
    expect(events.length).toBe(ok.length);
    expect(events.reduce((s, e) => s + Number(e.data.tokens_charged), 0)).toBe(usage);
  });
});

/** Reads an SSE response to its end (or `limit` events), returning the `data` payloads. */
async function sse(res: Response, limit = Number.POSITIVE_INFINITY): Promise<string[]> {
  const reader = res.body?.getReader();
  if (!reader) throw new Error('no body');
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    if ((text.match(/\n\n/g) ?? []).length >= limit) {
      await reader.cancel();
      break;
    }
  }
  return text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6));
}

const streamCall = (key: string, id: string, body: Record<string, unknown>, signal?: AbortSignal) =>
  fetch(`${api.url}/v1/llm/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-allocation-id': id },
    body: JSON.stringify({ ...body, stream: true }),
    ...(signal && { signal }),
  });

describe('LLM gateway, streams', () => {
  it('passes SSE through, asks the provider for usage, and settles to the final chunk', async () => {
    const { agent, id } = await winner('streamer', 1000);
    const res = await streamCall(agent.key, id, ask('hello'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    expect(Number(res.headers.get('x-syntropism-overhead-ms'))).toBeGreaterThanOrEqual(0);
    const events = await sse(res);
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks.map((c) => c.choices[0]?.delta.content).join('')).toBe('Hello there friend');
    // The client did not ask for usage: the chunk the gateway asked for is not passed on.
    expect(chunks.every((c) => c.choices.length > 0)).toBe(true);
    expect(fake.requests.at(-1)?.body.stream_options).toEqual({ include_usage: true });
    const charged = FAKE_PROMPT_TOKENS + FAKE_COMPLETION_TOKENS;
    expect(await tokensOf(agent.key, id)).toMatchObject({ used: charged, reserved: 0 });

    const withUsage = await sse(
      await streamCall(agent.key, id, ask('hi', { stream_options: { include_usage: true } })),
    );
    expect(JSON.parse(withUsage.at(-2) ?? '{}').usage).toMatchObject({ prompt_tokens: FAKE_PROMPT_TOKENS });
    expect((await completed(id)).map((e) => [e.data.status, e.data.tokens_charged])).toEqual([
      ['ok', charged],
      ['ok', charged],
    ]);
  });

  it('settles to what was streamed when the provider breaks off or stalls', async () => {
    const { agent, id } = await winner('broken', 1000);
    for (const mode of ['break', 'stall']) {
      const events = await sse(await streamCall(agent.key, id, ask(`mode:${mode}`)));
      expect(events.at(-1)).toBe('[DONE]');
      expect(JSON.parse(events.at(-2) ?? '{}').error).toMatchObject({ type: 'provider_error' });
    }
    const settled = (await completed(id)).map((e) => e.data);
    expect(settled.map((d) => d.status)).toEqual(['provider_error', 'timeout']);
    // Charged: the prompt and the three streamed words as the gateway's tokenizer counts them.
    for (const d of settled) {
      expect(d.completion_tokens).toBe(3);
      expect(d.tokens_charged).toBe(Number(d.prompt_tokens) + 3);
    }
    expect((await tokensOf(agent.key, id)).reserved).toBe(0);
  });

  it('settles client_closed when the client goes away mid-stream, and aborts the provider call', async () => {
    const { agent, id } = await winner('leaver', 1000);
    const controller = new AbortController();
    const res = await streamCall(agent.key, id, ask('mode:slow'), controller.signal);
    const reader = res.body?.getReader();
    await reader?.read();
    controller.abort();
    let settled: Completed[] = [];
    for (let i = 0; i < 100 && settled.length === 0; i++) {
      await sleep(50);
      settled = await completed(id);
    }
    expect(settled.map((e) => e.data.status)).toEqual(['client_closed']);
    const d: Record<string, unknown> = settled[0]?.data ?? {};
    expect(Number(d.completion_tokens)).toBeLessThan(50);
    expect((await tokensOf(agent.key, id)).reserved).toBe(0);
  });
});
