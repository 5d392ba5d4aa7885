/**
 * A spawn against a transfer, in the same run, on the same DynamoDB Local table: what the one
 * spawn transaction (child item, parent slot, two guards and four entries, three accounts, the
 * outbox: 12 actions) costs next to a transfer (guard, two entries, two accounts, the payee's
 * state, the outbox: 7), both as adapter calls (`spawning.spawn`, `ledger.transfer`), and the
 * spawn through the whole local API (`POST /v1/agents/{id}/children`: authorizer, middy stack,
 * the Idempotency-Key store).
 *
 * Parents are rich agents taking turns, so no parent reaches `max_children` and no two calls of
 * a side contend. The three sides alternate in blocks, one call at a time, so DynamoDB Local's
 * drift as the table grows falls on all alike. No bar: the ratios are reported.
 */
import { randomBytes } from 'node:crypto';
import { localHandlerEnv } from '#local/env';
import { httpFunctions } from '#local/http-functions';
import { closeHttpServer, createHttpServer, listen } from '#local/http-server';
import { auditLedger } from '#shared/adapters/dynamodb/audit';
import { createServices } from '#shared/adapters/services';
import { loadConfig } from '#shared/config';
import { micros } from '#shared/core/money';
import { alternate, latencyRows, type Side as SideOf } from './lib/alternate.ts';
import { startBenchDb } from './lib/dynamo.ts';
import { type BenchResult, isMain, printTable, writeResult } from './run.ts';

const PARENTS = 20;
const CALLS = Number(process.env.BENCH_SPAWN_REQUESTS ?? 300);

type Side = SideOf<{ id: string; key: string }>;

export async function run(): Promise<BenchResult> {
  const db = await startBenchDb();
  const tableName = await db.newTable('spawning');
  const operatorKey = randomBytes(24).toString('base64url');
  const env = {
    ...localHandlerEnv({ dynamoEndpoint: db.local.endpoint, tableName, natsUrl: 'nats://127.0.0.1:4222', operatorKey }),
    SYNTROPISM_ECONOMY: JSON.stringify({ spawning: { fee: 0.01, max_children: 10_000 } }),
    LOG_LEVEL: 'SILENT',
    RATE_LIMIT_PER_SECOND: '1000000',
    RATE_LIMIT_BURST: '1000000',
  };
  const services = createServices(loadConfig(env), { table: { doc: db.doc, tableName } });
  const { handlers, authorizer } = httpFunctions(services);
  const server = createHttpServer({ handlers, authorizer });
  const url = `http://127.0.0.1:${await listen(server, 0)}`;
  const suffix = randomBytes(4).toString('hex');
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
  try {
    const parents: { id: string; key: string }[] = [];
    for (let i = 0; i < PARENTS; i++) {
      const made = await post(
        '/v1/agents',
        operatorKey,
        { name: `p${i}`, initial_balance: 10_000 },
        `p-${suffix}-${i}`,
      );
      parents.push({ id: String(made.agent_id), key: String(made.api_key) });
    }
    const next = (p: { id: string }) =>
      parents[(parents.findIndex((q) => q.id === p.id) + 1) % PARENTS] as { id: string };
    const sides: Record<'api spawn' | 'spawning.spawn' | 'ledger.transfer', Side> = {
      'api spawn': async (p, n) => {
        await post(`/v1/agents/${p.id}/children`, p.key, { name: `c${n}`, initial_balance: 0.5 }, `s-${suffix}-${n}`);
      },
      'spawning.spawn': async (p, n) => {
        const req = {
          parent_id: p.id,
          idempotency_key: `core-${suffix}-${n}`,
          name: `c${n}`,
          initial_balance: micros(500_000),
        };
        await services.spawning.spawn(req, {});
      },
      'ledger.transfer': async (p, n) => {
        const to = next(p).id;
        const req = {
          transfer_id: `bench-${suffix}-${n}`,
          from: p.id,
          to,
          amount: micros(500_000),
          purpose: 'transfer' as const,
          reference: null,
        };
        await services.ledger.transfer(req, { actor: p.id, ctx: {} });
      },
    };
    await alternate(sides, parents, 2 * PARENTS); // warm-up: JIT, connections, DynamoDB Local's caches
    const measured = await alternate(sides, parents, CALLS);
    const audit = await auditLedger({ client: db.doc, tableName });
    if (!audit.ok) throw new Error(`audit failed after the benchmark: ${JSON.stringify(audit.problems)}`);
    const rows = latencyRows(measured);
    const p50 = (what: string) => rows.find((r) => r.what === what)?.p50 ?? Number.NaN;
    const summary = {
      spawn_api_p50_ms: Number(p50('api spawn').toFixed(1)),
      spawn_core_p50_ms: Number(p50('spawning.spawn').toFixed(1)),
      transfer_core_p50_ms: Number(p50('ledger.transfer').toFixed(1)),
      spawn_over_transfer: Number((p50('spawning.spawn') / p50('ledger.transfer')).toFixed(2)),
      api_over_core: Number((p50('api spawn') / p50('spawning.spawn')).toFixed(2)),
    };
    printTable(rows, 'A spawn against a transfer (DynamoDB Local, ms, one call at a time)');
    const result: BenchResult = { name: 'spawning', summary, rows };
    writeResult('spawning', result);
    return result;
  } finally {
    await closeHttpServer(server);
    await db.stop();
  }
}

if (isMain(import.meta.url)) {
  await run();
}
