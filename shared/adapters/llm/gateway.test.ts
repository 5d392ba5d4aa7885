/**
 * The gateway over an in-memory meter and scripted providers: settle-once on every path, the
 * stream relay's endings (done, broken, cancelled), and a provider key that never reaches a
 * log line, an answer or a recorded outcome.
 */
import { describe, expect, it, vi } from 'vitest';
import { chatRequestSchema } from '../../core/llm/chat.ts';
import { type ChatProvider, ProviderFailure } from '../../core/llm/provider.ts';
import { DONE } from '../../core/llm/sse.ts';
import { ECONOMY_DEFAULTS } from '../../core/market-config.ts';
import { seededRandom, ulidGenerator } from '../../core/ports.ts';
import { LlmGateway } from './gateway.ts';
import { allocationFixture, MemoryMeter } from './meter.fixtures.ts';
import { OpenAiCompatibleProvider } from './provider.ts';

const clock = { now: () => 1_800_000_000_000 };
const runtime = { clock, ids: ulidGenerator(clock, seededRandom(1)), random: seededRandom(2) };
const llm = { ...ECONOMY_DEFAULTS.llm, models: { m: { weight: 2 } } };
const chars = { count: (t: string) => t.length };
const KEY = 'sk-unit-test-provider-key-000000';

function setup(provider: Partial<ChatProvider>, tokens = 10_000) {
  const meter = new MemoryMeter([allocationFixture('a_1', tokens, clock.now())], clock.now);
  const logger = { error: vi.fn(), warn: vi.fn() };
  const full =
    provider instanceof OpenAiCompatibleProvider
      ? provider
      : { kind: 'openai-compatible' as const, complete: vi.fn(), stream: vi.fn(), ...provider };
  const gateway = new LlmGateway({ meter, provider: full, tokenizer: chars, llm, runtime, logger });
  return { meter, gateway, logger };
}
const call = (extra: Record<string, unknown> = {}) => ({
  agent_id: 'a_1',
  request: chatRequestSchema.parse({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra }),
  events: {},
});

async function* payloads(items: (string | Error)[]) {
  for (const item of items) {
    if (item instanceof Error) throw item;
    yield item;
  }
}
const chunk = (content: string) => JSON.stringify({ choices: [{ index: 0, delta: { content } }] });
const usageChunk = JSON.stringify({ choices: [], usage: { prompt_tokens: 4, completion_tokens: 6 } });

async function drain(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = '';
  for await (const c of stream) text += new TextDecoder().decode(c);
  return text;
}

describe('LlmGateway', () => {
  it('settles a whole answer to usage × weight once, releasing the rest', async () => {
    const completion = {
      id: 'x',
      object: 'chat.completion',
      created: 1,
      model: 'm',
      choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 4, completion_tokens: 6 },
    };
    const { gateway, meter } = setup({ complete: vi.fn(async () => completion) });
    const answer = await gateway.chat(call({ max_tokens: 100 }));
    expect(answer.kind).toBe('json');
    expect(answer.headers['x-syntropism-tokens-charged']).toBe('20');
    expect(meter.allocations[0]).toMatchObject({ tokens_used: 20, tokens_reserved: 0, tokens_remaining: 9980 });
    expect(meter.settled.map((s) => s.call.status)).toEqual(['ok']);
  });

  it('settles a stream at [DONE] to the final usage, dropping the usage chunk nobody asked for', async () => {
    const { gateway, meter } = setup({
      stream: vi.fn(async () => payloads([chunk('he'), chunk('y'), usageChunk, DONE])),
    });
    const answer = await gateway.chat(call({ stream: true }));
    if (answer.kind !== 'stream') throw new Error('not a stream');
    const text = await drain(answer.stream);
    expect(text).not.toContain('"usage"');
    expect(text).toContain(': syntropism tokens_charged=20');
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(meter.settled.map((s) => [s.call.status, s.call.tokens_charged])).toEqual([['ok', 20]]);
  });

  it('settles a broken stream to what was streamed, and a cancelled one as client_closed', async () => {
    const broken = setup({
      stream: vi.fn(async () => payloads([chunk('abc'), new ProviderFailure('network', 'reset')])),
    });
    const a = await broken.gateway.chat(call({ stream: true }));
    if (a.kind !== 'stream') throw new Error('not a stream');
    expect(await drain(a.stream)).toContain('"type":"provider_error"');
    // prompt 3 + 3 + 4 + 2 = 12 (one token per character) and 3 streamed, weight 2.
    expect(broken.meter.settled.map((s) => [s.call.status, s.call.completion_tokens, s.call.tokens_charged])).toEqual([
      ['provider_error', 3, 30],
    ]);

    let aborted = false;
    const hanging: ChatProvider['stream'] = async (_body, signal) => {
      signal.addEventListener('abort', () => {
        aborted = true;
      });
      return payloads([chunk('ab')]);
    };
    const left = setup({ stream: hanging });
    const b = await left.gateway.chat(call({ stream: true }));
    if (b.kind !== 'stream') throw new Error('not a stream');
    const reader = b.stream.getReader();
    await reader.read();
    await reader.cancel();
    expect(aborted).toBe(true);
    expect(left.meter.settled.map((s) => s.call.status)).toEqual(['client_closed']);
    expect(left.meter.allocations[0]?.tokens_reserved).toBe(0);
  });

  it('never lets the provider key reach an answer, a log line or an outcome', async () => {
    const fetch = vi.fn(
      async (_url: string | URL | Request, _init?: RequestInit) =>
        new Response(JSON.stringify({ error: { message: `bad key ${KEY}` } }), { status: 401 }),
    );
    const provider = new OpenAiCompatibleProvider({
      baseUrl: 'http://p/v1',
      apiKey: async () => KEY,
      timeoutMs: 1000,
      fetch,
    });
    const { gateway, logger, meter } = setup(provider);
    const err = await gateway.chat(call()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'provider_error', status: 502 });
    const seen = JSON.stringify([String(err), (err as Error).message, logger.error.mock.calls, meter.settled]);
    expect(seen).not.toContain(KEY);
    expect(fetch.mock.calls[0]?.[1]).toMatchObject({ headers: { authorization: `Bearer ${KEY}` } });

    const bad = new OpenAiCompatibleProvider({
      baseUrl: 'http://p/v1',
      apiKey: async () => KEY,
      timeoutMs: 1000,
      fetch: vi.fn(async () => new Response(`{"error":{"message":"you sent ${KEY}"}}`, { status: 400 })),
    });
    const refused = await setup(bad)
      .gateway.chat(call())
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 400 });
    expect((refused as Error).message).not.toContain(KEY);
  });

  it('times out a hung provider, with nothing charged', async () => {
    const hang: typeof fetch = (_url, init) =>
      new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(new Error('aborted'))));
    const provider = new OpenAiCompatibleProvider({
      baseUrl: 'http://p',
      apiKey: async () => undefined,
      timeoutMs: 20,
      fetch: hang,
    });
    const { gateway, meter } = setup(provider);
    await expect(gateway.chat(call())).rejects.toMatchObject({ code: 'provider_timeout', status: 504 });
    expect(meter.settled.map((s) => [s.call.status, s.call.tokens_charged])).toEqual([['timeout', 0]]);
    expect(meter.allocations[0]).toMatchObject({ tokens_used: 0, tokens_reserved: 0 });
  });
});
