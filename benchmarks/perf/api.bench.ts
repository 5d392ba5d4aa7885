/**
 * `POST /v1/transfers` through the whole local API against the ledger's own transfer call, in
 * the same run, on the same DynamoDB Local table.
 *
 * The API side is what an agent pays: HTTP, the API Gateway event adapter, the authorizer (key
 * lookup and hash compare), the middy stack (body limit, zod, problem mapping, the span), the
 * `Idempotency-Key` store (reserve, then complete) and the ledger transfer. The baseline is the
 * ledger transfer alone, in process: its reads and its one `TransactWriteItems`. The ratio is the
 * price of the API layer around the money movement.
 *
 * Both sides move 0.01 credit around a ring of agents, one request at a time (latency
 * percentiles) and then 8 in flight (throughput). They alternate in blocks so DynamoDB Local's
 * drift as the table grows falls on both alike. No bar: the figures are reported.
 */
import { randomBytes } from 'node:crypto';
import { localHandlerEnv } from '#local/env';
import { closeHttpServer, createHttpServer, listen, loadHandlers } from '#local/http-server';
import { auditLedger } from '#shared/adapters/dynamodb/audit';
import { createServices } from '#shared/adapters/services';
import { loadConfig } from '#shared/config';
import { parseEconomyConfig } from '#shared/core/market-config';
import { formatCredits, micros } from '#shared/core/money';
import { startBenchDb } from './lib/dynamo.ts';
import { type BenchResult, isMain, printTable, writeResult } from './run.ts';

const AGENTS = 20;
const SEQUENTIAL = Number(process.env.BENCH_API_REQUESTS ?? 1_000);
const CONCURRENT = SEQUENTIAL;
const IN_FLIGHT = 8;
const BLOCK = 50;
const AMOUNT = micros(10_000); // 0.01 credit

const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;

/** One transfer from agent `i` of the ring to the next; resolves when it has been made. */
type Side = (i: number, n: number) => Promise<void>;

/** Numbers every call of the run, so each transfer has its own id. */
let n = 0;

/** Runs `count` calls of each side, alternating blocks, `inFlight` at a time; latencies in ms. */
async function alternate(
  sides: Record<'api' | 'core', Side>,
  count: number,
  inFlight: number,
): Promise<Record<'api' | 'core', { latencies: number[]; ms: number }>> {
  const out = { api: { latencies: [] as number[], ms: 0 }, core: { latencies: [] as number[], ms: 0 } };
  const block = BLOCK * inFlight;
  for (let done = 0; done < count; done += block) {
    const size = Math.min(block, count - done);
    for (const name of ['api', 'core'] as const) {
      let next = 0;
      const start = performance.now();
      const worker = async () => {
        while (next < size) {
          const k = next++;
          const t = performance.now();
          await sides[name](k % AGENTS, n++);
          out[name].latencies.push(performance.now() - t);
        }
      };
      await Promise.all(Array.from({ length: inFlight }, worker));
      out[name].ms += performance.now() - start;
    }
  }
  return out;
}

export async function run(): Promise<BenchResult> {
  const db = await startBenchDb();
  const tableName = await db.newTable('api');
  const operatorKey = randomBytes(24).toString('base64url');
  const env = localHandlerEnv({
    dynamoEndpoint: db.local.endpoint,
    tableName,
    natsUrl: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
    operatorKey,
  });
  // The handlers read their configuration when first imported.
  Object.assign(process.env, env, {
    LOG_LEVEL: 'SILENT',
    RATE_LIMIT_PER_SECOND: '1000000',
    RATE_LIMIT_BURST: '1000000',
  });
  const loaded = await loadHandlers();
  if (loaded.missing.length) throw new Error(`missing handlers: ${loaded.missing.join(', ')}`);
  const server = createHttpServer({
    handlers: loaded.handlers,
    ...(loaded.authorizer && { authorizer: loaded.authorizer }),
  });
  const url = `http://127.0.0.1:${await listen(server, 0)}`;
  const suffix = randomBytes(4).toString('hex');
  try {
    const post = async (path: string, key: string, body: unknown, idempotencyKey: string) => {
      const res = await fetch(url + path, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/json',
          'idempotency-key': idempotencyKey,
        },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      if (res.status >= 300) throw new Error(`${path}: ${res.status} ${text}`);
      return JSON.parse(text) as Record<string, unknown>;
    };
    const agents: Array<{ id: string; key: string }> = [];
    for (let i = 0; i < AGENTS; i++) {
      const made = await post(
        '/v1/agents',
        operatorKey,
        { name: `ring-${i}`, initial_balance: 1_000 },
        `a-${suffix}-${i}`,
      );
      agents.push({ id: String(made.agent_id), key: String(made.api_key) });
    }
    const ledger = createServices(loadConfig({ ...process.env, ...env }), {
      economy: parseEconomyConfig({}),
    }).ledger;
    const pair = (i: number) => {
      const from = agents[i % AGENTS] as { id: string; key: string };
      const to = agents[(i + 1) % AGENTS] as { id: string; key: string };
      return { from, to };
    };
    const sides: Record<'api' | 'core', Side> = {
      api: async (i, n) => {
        const { from, to } = pair(i);
        await post(
          '/v1/transfers',
          from.key,
          { to_agent_id: to.id, amount: formatCredits(AMOUNT) },
          `t-${suffix}-${n}`,
        );
      },
      core: async (i, n) => {
        const { from, to } = pair(i);
        await ledger.transfer(
          {
            transfer_id: `bench-${suffix}-${n}`,
            from: from.id,
            to: to.id,
            amount: AMOUNT,
            purpose: 'transfer',
            reference: null,
          },
          { actor: from.id, ctx: {} },
        );
      },
    };
    // Warm both paths (JIT, connections, DynamoDB Local's caches) before measuring.
    await alternate(sides, 2 * AGENTS, 2);
    const sequential = await alternate(sides, SEQUENTIAL, 1);
    const concurrent = await alternate(sides, CONCURRENT, IN_FLIGHT);

    const audit = await auditLedger({ client: db.doc, tableName });
    if (!audit.ok) throw new Error(`audit failed after the benchmark: ${JSON.stringify(audit.problems)}`);

    const stats = (s: { latencies: number[]; ms: number }) => {
      const sorted = [...s.latencies].sort((a, b) => a - b);
      return {
        p50: percentile(sorted, 50),
        p95: percentile(sorted, 95),
        p99: percentile(sorted, 99),
        'req/s': (sorted.length / s.ms) * 1000,
      };
    };
    const rows = [
      { what: 'POST /v1/transfers, 1 in flight', requests: SEQUENTIAL, ...stats(sequential.api) },
      { what: 'ledger.transfer, 1 in flight', requests: SEQUENTIAL, ...stats(sequential.core) },
      { what: `POST /v1/transfers, ${IN_FLIGHT} in flight`, requests: CONCURRENT, ...stats(concurrent.api) },
      { what: `ledger.transfer, ${IN_FLIGHT} in flight`, requests: CONCURRENT, ...stats(concurrent.core) },
    ];
    printTable(rows, 'Transfers through the API against the ledger call alone (DynamoDB Local, ms)');
    const [seqApi, seqCore, conApi, conCore] = rows.map((r) => r) as [
      (typeof rows)[0],
      (typeof rows)[0],
      (typeof rows)[0],
      (typeof rows)[0],
    ];
    const result: BenchResult = {
      name: 'api',
      summary: {
        api_p50_ms: Number(seqApi.p50.toFixed(1)),
        api_p99_ms: Number(seqApi.p99.toFixed(1)),
        core_p50_ms: Number(seqCore.p50.toFixed(1)),
        p50_ratio: Number((seqApi.p50 / seqCore.p50).toFixed(2)),
        throughput_ratio: Number((conApi['req/s'] / conCore['req/s']).toFixed(2)),
      },
      rows,
    };
    writeResult('api', result);
    return result;
  } finally {
    await closeHttpServer(server);
    await db.stop();
  }
}

if (isMain(import.meta.url)) {
  await run();
}
