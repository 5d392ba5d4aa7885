import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../core/errors.ts';
import { MAX_JSON_DEPTH } from '../limits.ts';
import { inputMiddleware } from './input.ts';
import { fixtureRequest } from './middleware.fixtures.ts';
import { stateOf } from './state.ts';

const VALID = '{"to_agent_id":"a_01JD0000000000000000000002","amount":12.5}';

async function run(key: string, opts: Parameters<typeof fixtureRequest>[1], options = {}) {
  const request = fixtureRequest(key, opts);
  try {
    await inputMiddleware(options).before?.(request);
    return { ok: true as const, state: stateOf(request) };
  } catch (err) {
    if (!(err instanceof DomainError)) throw err;
    return { ok: false as const, error: err };
  }
}

describe('inputMiddleware', () => {
  it('validates its options', () => {
    expect(() => inputMiddleware({ maxBodyBytes: 0 })).toThrow(/maxBodyBytes/);
    expect(() => inputMiddleware({ maxDepth: 1.5 })).toThrow(/maxDepth/);
  });

  it('hands on the parsed, transformed body and query', async () => {
    const out = await run('POST /v1/transfers', { body: VALID });
    expect(out.ok && out.state.body).toEqual({ to_agent_id: 'a_01JD0000000000000000000002', amount: 12_500_000 });
    const page = await run('GET /v1/agents', { query: { limit: '5' } });
    expect(page.ok && page.state.query).toEqual({ limit: 5 });
  });

  it('refuses unknown query keys, __proto__ included', async () => {
    // As API Gateway's JSON (and the local server) deliver it: an own key named __proto__.
    const query = JSON.parse('{"__proto__":"1"}') as Record<string, string>;
    const out = await run('GET /v1/agents', { query });
    expect(out.ok ? undefined : out.error.errors?.[0]?.path).toBe('/query');
  });

  it('refuses a body nested deeper than the bound, naming where, and accepts the bound itself', async () => {
    const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const body = (depth: number) => `{"type":"reflection","data":{"metrics":${nested(depth)}}}`;
    const deep = await run('POST /v1/events', { body: body(MAX_JSON_DEPTH - 1) });
    expect(deep.ok ? undefined : deep.error.errors).toEqual([
      { path: `/data/metrics${'/0'.repeat(MAX_JSON_DEPTH - 2)}`, message: expect.stringMatching(/deeper than/) },
    ]);
    const fits = await run('POST /v1/events', { body: body(MAX_JSON_DEPTH - 2) });
    expect(fits.ok ? 'accepted' : fits.error.message).not.toBe('The body is nested too deeply.');
  });

  it('applies its own limits', async () => {
    const out = await run('POST /v1/transfers', { body: VALID }, { maxBodyBytes: 10 });
    expect(out.ok ? undefined : out.error.status).toBe(413);
  });
});

describe('inputMiddleware under arbitrary bodies (property)', () => {
  it('either hands on a body its schema accepts or refuses with a 4xx domain error, never anything else', async () => {
    const text = fc.oneof(
      fc.json({ maxDepth: 40 }),
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify({ to_agent_id: 'a_01JD0000000000000000000002', amount: v })),
      fc.integer({ min: 1, max: 5_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
      fc.integer({ min: 1, max: 5_000 }).map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`),
    );
    await fc.assert(
      fc.asyncProperty(text, async (body) => {
        const out = await run('POST /v1/transfers', { body });
        if (out.ok)
          expect(out.state.body).toMatchObject({ to_agent_id: expect.any(String), amount: expect.any(Number) });
        else {
          expect(out.error.status).toBeGreaterThanOrEqual(400);
          expect(out.error.status).toBeLessThan(500);
        }
      }),
      { numRuns: 500 },
    );
  });
});
