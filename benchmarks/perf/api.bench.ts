/**
 * `POST /v1/transfers` and `POST /v1/bids` through the whole local API against the adapter call
 * each ends in (`ledger.transfer`, `bids.place`), in the same run, on the same DynamoDB Local
 * table.
 *
 * The API side is what an agent pays: HTTP, the API Gateway event adapter, the authorizer (key
 * lookup and hash compare), the middy stack (body limit, zod, problem mapping, the span), the
 * `Idempotency-Key` store (reserve, then complete), validation of the bundle, and the adapter
 * call. The baseline is the adapter call alone, in process: its reads and its one
 * `TransactWriteItems` (transfer: guard, debit, credit, outbox; bid: escrow hold, bid and round
 * items, round-open condition, outbox). The ratio is the price of the API layer.
 *
 * Transfers move 0.01 credit around a ring of agents; bids ask for 1% cpu for 10 s at 1 credit in
 * the current round (nothing clears it). One request at a time (latency percentiles), then 8 in
 * flight (throughput). The two sides alternate in blocks so DynamoDB Local's drift as the table
 * grows falls on both alike. No bar: the figures are reported.
 */
import { randomBytes } from 'node:crypto';
import { localHandlerEnv } from '#local/env';
import { httpFunctions } from '#local/http-functions';
import { closeHttpServer, createHttpServer, listen } from '#local/http-server';
import { auditLedger } from '#shared/adapters/dynamodb/audit';
import { createServices } from '#shared/adapters/services';
import { loadConfig } from '#shared/config';
import { formatCredits, micros } from '#shared/core/money';
import { derivedId } from '#shared/core/ports';
import { bundleRates } from '#shared/core/resources';
import { startBenchDb } from './lib/dynamo.ts';
import { type BenchResult, isMain, printTable, writeResult } from './run.ts';

const AGENTS = 20;
const SEQUENTIAL = Number(process.env.BENCH_API_REQUESTS ?? 1_000);
const CONCURRENT = SEQUENTIAL;
const IN_FLIGHT = 8;
const BLOCK = 50;
const AMOUNT = micros(10_000); // 0.01 credit
const BID = { bundle: { cpu: 1 }, duration_seconds: 10, amount: micros(1_000_000) };

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
  const env = {
    ...localHandlerEnv({
      dynamoEndpoint: db.local.endpoint,
      tableName,
      natsUrl: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
      operatorKey,
    }),
    // Every bid of the run stays open: room for all of them, and rounds long enough.
    SYNTROPISM_ECONOMY: JSON.stringify({ bids: { max_open_bids_per_agent: 10_000 } }),
    LOG_LEVEL: 'SILENT',
    RATE_LIMIT_PER_SECOND: '1000000',
    RATE_LIMIT_BURST: '1000000',
  };
  const loaded = httpFunctions(createServices(loadConfig(env), { table: { doc: db.doc, tableName } }));
  const server = createHttpServer({
    handlers: loaded.handlers,
    authorizer: loaded.authorizer,
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
    const { ledger, bids } = createServices(loadConfig(env), { table: { doc: db.doc, tableName } });
    const pair = (i: number) => {
      const from = agents[i % AGENTS] as { id: string; key: string };
      const to = agents[(i + 1) % AGENTS] as { id: string; key: string };
      return { from, to };
    };
    const transfers: Record<'api' | 'core', Side> = {
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
    const placements: Record<'api' | 'core', Side> = {
      api: async (i, n) => {
        const { from } = pair(i);
        await post('/v1/bids', from.key, { ...BID, amount: formatCredits(BID.amount) }, `b-${suffix}-${n}`);
      },
      core: async (i, n) => {
        const { from } = pair(i);
        await bids.place(
          {
            bid_id: derivedId('b', from.id, `core-${suffix}-${n}`),
            agent_id: from.id,
            bundle: BID.bundle,
            duration_seconds: BID.duration_seconds,
            amount: BID.amount,
            rates: bundleRates(BID.bundle, BID.duration_seconds),
          },
          {},
        );
      },
    };
    // Warm both paths (JIT, connections, DynamoDB Local's caches) before measuring.
    await alternate(transfers, 2 * AGENTS, 2);
    await alternate(placements, 2 * AGENTS, 2);
    const measured = {
      transfers: {
        sequential: await alternate(transfers, SEQUENTIAL, 1),
        concurrent: await alternate(transfers, CONCURRENT, IN_FLIGHT),
      },
      bids: {
        sequential: await alternate(placements, SEQUENTIAL, 1),
        concurrent: await alternate(placements, CONCURRENT, IN_FLIGHT),
      },
    };

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
    const rows = [];
    const summary: Record<string, number> = {};
    const calls = { transfers: ['POST /v1/transfers', 'ledger.transfer'], bids: ['POST /v1/bids', 'bids.place'] };
    for (const what of ['transfers', 'bids'] as const) {
      const [route, call] = calls[what];
      const m = measured[what];
      const seqApi = stats(m.sequential.api);
      const seqCore = stats(m.sequential.core);
      const conApi = stats(m.concurrent.api);
      const conCore = stats(m.concurrent.core);
      rows.push(
        { what: `${route}, 1 in flight`, requests: SEQUENTIAL, ...seqApi },
        { what: `${call}, 1 in flight`, requests: SEQUENTIAL, ...seqCore },
        { what: `${route}, ${IN_FLIGHT} in flight`, requests: CONCURRENT, ...conApi },
        { what: `${call}, ${IN_FLIGHT} in flight`, requests: CONCURRENT, ...conCore },
      );
      summary[`${what}_api_p50_ms`] = Number(seqApi.p50.toFixed(1));
      summary[`${what}_core_p50_ms`] = Number(seqCore.p50.toFixed(1));
      summary[`${what}_throughput_ratio`] = Number((conApi['req/s'] / conCore['req/s']).toFixed(2));
    }
    printTable(rows, 'Through the API against the adapter call alone (DynamoDB Local, ms)');
    const result: BenchResult = { name: 'api', summary, rows };
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
