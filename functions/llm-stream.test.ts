/**
 * The streaming function URL entry: the prelude (status and headers) the runtime expects, the
 * SSE body chunk by chunk, the key checked before anything runs, and only the gateway's routes.
 */
import { PassThrough } from 'node:stream';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context, LambdaFunctionURLEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { LlmGateway } from '#shared/adapters/llm/gateway';
import { allocationFixture, MemoryMeter } from '#shared/adapters/llm/meter.fixtures';
import { OfflineProvider } from '#shared/adapters/llm/offline-provider';
import { o200kTokenizer } from '#shared/adapters/llm/tokenizer';
import { OFFLINE_MODEL } from '#shared/core/llm/offline';
import { ECONOMY_DEFAULTS } from '#shared/core/market-config';
import { systemRuntime } from '#shared/core/ports';
import { makeHandler } from './http/llm.ts';
import { makeStreamHandler, PRELUDE_CONTENT_TYPE } from './llm-stream.ts';

const runtime = systemRuntime();
const meter = new MemoryMeter([allocationFixture('a_stream', 5000)]);
const gateway = new LlmGateway({
  meter,
  provider: new OfflineProvider({ tokenizer: o200kTokenizer, clock: runtime.clock }),
  tokenizer: o200kTokenizer,
  llm: ECONOMY_DEFAULTS.llm,
  runtime,
  logger: { error: () => {}, warn: () => {} },
});
const unused = async () => {
  throw new Error('the gateway routes never use the idempotency store');
};
const http = makeHandler({
  llm: gateway,
  // The gateway's routes take no Idempotency-Key: the store is never asked.
  http: {
    idempotency: { begin: unused, complete: unused, release: unused } as never,
    logger: new Logger({ logLevel: 'SILENT' }),
  },
});
const stream = makeStreamHandler({
  http,
  authorize: async (authorization) =>
    authorization === 'Bearer good'
      ? { isAuthorized: true, context: { role: 'agent', agent_id: 'a_stream' } }
      : { isAuthorized: true, context: { role: 'anonymous' } },
});

function urlEvent(method: string, path: string, body?: unknown, authorization = 'Bearer good'): LambdaFunctionURLEvent {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { authorization, 'content-type': 'application/json' },
    requestContext: { http: { method, path }, requestId: 'r1', timeEpoch: 0 },
    ...(body !== undefined && { body: JSON.stringify(body) }),
    isBase64Encoded: false,
  } as unknown as LambdaFunctionURLEvent;
}

async function run(event: LambdaFunctionURLEvent) {
  const out = new PassThrough() as PassThrough & { setContentType(t: string): void; contentType?: string };
  out.setContentType = (t) => {
    out.contentType = t;
  };
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await stream(event, out, {} as Context);
  const all = Buffer.concat(chunks);
  const cut = all.indexOf(Buffer.alloc(8));
  return {
    contentType: out.contentType,
    prelude: JSON.parse(all.subarray(0, cut).toString('utf8')),
    body: all.subarray(cut + 8).toString('utf8'),
    writes: chunks.length,
  };
}

describe('the streaming function URL', () => {
  it('streams a chat completion as SSE after its prelude', async () => {
    const body = { model: OFFLINE_MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true };
    const res = await run(urlEvent('POST', '/v1/llm/chat/completions', body));
    expect(res.contentType).toBe(PRELUDE_CONTENT_TYPE);
    expect(res.prelude.statusCode).toBe(200);
    expect(res.prelude.headers['content-type']).toContain('text/event-stream');
    expect(res.prelude.headers['x-syntropism-overhead-ms']).toMatch(/^\d+$/);
    expect(res.body.endsWith('data: [DONE]\n\n')).toBe(true);
    // Chunk by chunk, not one write.
    expect(res.writes).toBeGreaterThan(5);
    expect(meter.settled.at(-1)?.call.status).toBe('ok');
  });

  it('answers whole JSON too, and problems for a missing key, an unknown key and other paths', async () => {
    const models = await run(urlEvent('GET', '/v1/llm/models'));
    expect(models.prelude.statusCode).toBe(200);
    expect(JSON.parse(models.body).data[0].id).toBe(OFFLINE_MODEL);
    const anonymous = await run(urlEvent('GET', '/v1/llm/models', undefined, 'Bearer nope'));
    expect(anonymous.prelude.statusCode).toBe(401);
    expect(anonymous.prelude.headers['content-type']).toBe('application/problem+json');
    expect((await run(urlEvent('GET', '/v1/llm/models', undefined, ''))).prelude.statusCode).toBe(401);
    expect((await run(urlEvent('GET', '/v1/agents'))).prelude.statusCode).toBe(404);
  });
});
