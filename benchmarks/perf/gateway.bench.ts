/**
 * The LLM gateway's overhead: one chat completion through the whole local API (HTTP, the API
 * Gateway event adapter, the authorizer, the middy stack, the allocation lookup, the tokenizer,
 * the reservation's conditional write, the provider call, the settle's transaction with its
 * event) against the same request sent straight to the provider, in the same run, to the same
 * fake provider (a real HTTP server on loopback that answers at once). The difference is what
 * the gateway costs a call; the gateway's own `X-Syntropism-Overhead-Ms` is reported beside it.
 *
 * One request at a time, the two sides alternating in blocks so DynamoDB Local's drift falls on
 * both alike. No bar: the figures are reported.
 */
import { randomBytes } from 'node:crypto';
import { localHandlerEnv } from '#local/env';
import { httpFunctions } from '#local/http-functions';
import { closeHttpServer, createHttpServer, listen } from '#local/http-server';
import { createServices } from '#shared/adapters/services';
import { loadConfig } from '#shared/config';
import { startFakeLlm } from '../../test/harness/fake-llm.ts';
import { startBenchDb } from './lib/dynamo.ts';
import { type BenchResult, isMain, printTable, writeResult } from './run.ts';

const CALLS = Number(process.env.BENCH_GATEWAY_CALLS ?? 400);
const BLOCK = 25;
const BODY = {
  model: 'bench-model',
  messages: [
    { role: 'system', content: 'You are a terse trading agent.' },
    { role: 'user', content: 'Given cpu at 0.001 and tokens at 0.0001 credits, what should I bid for?' },
  ],
  max_tokens: 64,
};

const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
const stats = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: values.reduce((a, b) => a + b, 0) / values.length,
  };
};

async function post(url: string, key: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(BODY),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${text}`);
  return res;
}

async function stack(endpoint: string, tableName: string, providerUrl: string) {
  const operatorKey = randomBytes(24).toString('base64url');
  const env = {
    ...localHandlerEnv({ dynamoEndpoint: endpoint, tableName, natsUrl: 'nats://127.0.0.1:4222', operatorKey }),
    SYNTROPISM_ECONOMY: JSON.stringify({ round_seconds: 1, llm: { models: { 'bench-model': { weight: 1 } } } }),
    SYNTROPISM_LLM_BASE_URL: providerUrl,
    SYNTROPISM_LLM_API_KEY: 'sk-bench-provider-key-000000000',
    LOG_LEVEL: 'SILENT',
    RATE_LIMIT_PER_SECOND: '1000000',
    RATE_LIMIT_BURST: '1000000',
  };
  const { handlers, authorizer } = httpFunctions(createServices(loadConfig(env)));
  const server = createHttpServer({ handlers, authorizer });
  return { server, url: `http://127.0.0.1:${await listen(server, 0)}`, operatorKey };
}

/** An agent that won an allocation with room for every call of the run. */
async function winner(url: string, operatorKey: string) {
  const call = async (method: string, path: string, key: string, body?: unknown, idem?: string) => {
    const res = await fetch(url + path, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        ...(idem && { 'idempotency-key': idem }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return (await res.json()) as Record<string, string>;
  };
  const agent = await call('POST', '/v1/agents', operatorKey, { name: 'bench', initial_balance: 10_000 });
  const key = agent.api_key ?? '';
  const bid = { bundle: { tokens: 1_000_000 }, duration_seconds: 3600, amount: 1_000 };
  const placed = await call('POST', '/v1/bids', key, bid, 'bench-bid');
  await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(placed.round_closes_at ?? '') - Date.now() + 20)));
  await call('POST', '/v1/rounds/clear', operatorKey, undefined, 'bench-clear');
  const won = await call('GET', `/v1/bids/${placed.bid_id}`, key);
  if (!won.allocation_id) throw new Error(`the bench bid did not win: ${JSON.stringify(won)}`);
  return { key, allocation: won.allocation_id };
}

export async function run(): Promise<BenchResult> {
  const db = await startBenchDb();
  const fake = await startFakeLlm();
  const tableName = await db.newTable('gateway');
  const { server, url, operatorKey } = await stack(db.local.endpoint, tableName, fake.url);
  try {
    const { key, allocation } = await winner(url, operatorKey);
    const direct = () => post(`${fake.url}/chat/completions`, 'sk-bench-provider-key-000000000');
    const gateway = () => post(`${url}/v1/llm/chat/completions`, key, { 'x-allocation-id': allocation });
    const out = { gateway: [] as number[], direct: [] as number[], header: [] as number[] };
    for (let i = 0; i < 20; i++) await Promise.all([direct(), gateway()]); // warm JIT, sockets, tokenizer
    for (let done = 0; done < CALLS; done += BLOCK) {
      for (const side of ['direct', 'gateway'] as const) {
        for (let k = 0; k < BLOCK; k++) {
          const t = performance.now();
          const res = await (side === 'direct' ? direct() : gateway());
          out[side].push(performance.now() - t);
          if (side === 'gateway') out.header.push(Number(res.headers.get('x-syntropism-overhead-ms')));
        }
      }
    }
    const g = stats(out.gateway);
    const d = stats(out.direct);
    const h = stats(out.header);
    const rows = [
      { path: 'direct to the provider', ...d },
      { path: 'through the gateway', ...g },
      { path: 'gateway − direct', p50: g.p50 - d.p50, p99: g.p99 - d.p99, mean: g.mean - d.mean },
      { path: 'X-Syntropism-Overhead-Ms', ...h },
    ];
    printTable(rows, `LLM gateway overhead (ms, ${CALLS} sequential calls per side)`);
    const result: BenchResult = {
      name: 'gateway',
      summary: {
        'direct p50 ms': d.p50,
        'gateway p50 ms': g.p50,
        'overhead p50 ms': g.p50 - d.p50,
        'overhead p99 ms': g.p99 - d.p99,
        'header p50 ms': h.p50,
      },
      rows,
    };
    writeResult('gateway', result);
    return result;
  } finally {
    await closeHttpServer(server);
    await fake.close();
    await db.stop();
  }
}

if (isMain(import.meta.url)) await run();
