/**
 * The per-caller rate limit through the real HTTP stack of two API servers — each composed on
 * its own, with its own limiter, as two Lambda containers are — sharing one table: together they
 * let one caller through at most `burst + rate × elapsed` times, answer the rest 429 with
 * `Retry-After`, tell every caller its budget in `RateLimit`, and leave other callers alone.
 */
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpFunctions } from '#local/http-functions';
import { closeHttpServer, createHttpServer, listen } from '#local/http-server';
import { createServices } from '#shared/adapters/services';
import { loadConfig } from '#shared/config';
import { dynamoEndpoint, TEST_OPERATOR_KEY, useTestTable } from '../harness/context.ts';

const table = useTestTable('rate-http');
const BURST = 5;
const RATE = 1;
const servers: Server[] = [];
const urls: string[] = [];

beforeAll(async () => {
  for (let i = 0; i < 2; i++) {
    const config = loadConfig({
      TABLE_NAME: table.tableName,
      DYNAMODB_ENDPOINT: dynamoEndpoint(),
      AWS_REGION: 'us-east-1',
      SYNTROPISM_OPERATOR_KEY: TEST_OPERATOR_KEY,
      RATE_LIMIT_PER_SECOND: String(RATE),
      RATE_LIMIT_BURST: String(BURST),
      LOG_LEVEL: 'SILENT',
    });
    const loaded = httpFunctions(createServices(config, { table: { doc: table.client, tableName: table.tableName } }));
    const server = createHttpServer({ handlers: loaded.handlers, authorizer: loaded.authorizer });
    servers.push(server);
    urls.push(`http://127.0.0.1:${await listen(server, 0)}`);
  }
});

afterAll(async () => {
  for (const s of servers) await closeHttpServer(s);
});

const get = (url: string, key: string) => fetch(`${url}/v1/market`, { headers: { authorization: `Bearer ${key}` } });

async function agent(name: string): Promise<string> {
  const res = await fetch(`${urls[0]}/v1/agents`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${TEST_OPERATOR_KEY}`,
      'content-type': 'application/json',
      'idempotency-key': name,
    },
    body: JSON.stringify({ name, initial_balance: 1 }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { api_key: string }).api_key;
}

describe('the rate limit across two API servers sharing one table', () => {
  it('holds per caller, with Retry-After and RateLimit headers, and leaves other callers alone', async () => {
    const [hot, cold] = [await agent('hot'), await agent('cold')];
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => get(urls[i % 2] ?? '', hot)));
    const elapsed = (Date.now() - started) / 1000;
    const allowed = answers.filter((r) => r.status === 200);
    const refused = answers.filter((r) => r.status === 429);
    expect(allowed.length + refused.length).toBe(20);
    expect(allowed.length).toBeGreaterThanOrEqual(BURST);
    expect(allowed.length).toBeLessThanOrEqual(BURST + RATE * elapsed);
    for (const r of refused) {
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
      expect(((await r.json()) as { code: string }).code).toBe('too_many_requests');
    }
    for (const r of answers) expect(r.headers.get('ratelimit')).toMatch(/^"default";r=\d+;t=\d+$/);
    // Both servers refused: one server alone would have let each of them have the burst.
    expect(new Set(answers.map((r, i) => (r.status === 429 ? i % 2 : -1)).filter((s) => s >= 0)).size).toBe(2);
    // Another caller has its own bucket.
    expect((await get(urls[1] ?? '', cold)).status).toBe(200);
  });
});
