/**
 * What the table-backed rate limiter adds to a request, on DynamoDB Local: a request's own
 * DynamoDB work (one strongly consistent GetItem, as a balance read does) with and without
 * `TableRateLimiter.take` in front of it, in the same run and on the same table, in
 * alternating blocks so DynamoDB Local's drift falls on both alike.
 *
 * Three limiter cases: `steady` (a caller within its limit, the bucket in use: one conditional
 * `ADD`), `idle` (every request finds the bucket full again: one conditional `SET`), and
 * `refused` (a caller over its limit, which this container already knows: no call at all).
 * Counted: DynamoDB calls of the limiter per request (each write ≈ 1 WCU on AWS, a failed
 * condition included). No bar: the figures are reported.
 */
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { TableRef } from '#shared/adapters/dynamodb/client';
import { TableRateLimiter } from '#shared/adapters/dynamodb/rate-limiter';
import { systemClock } from '#shared/core/ports';
import { keys } from '#shared/table';
import { startBenchDb } from './lib/dynamo.ts';
import { type BenchResult, isMain, median, printTable, writeResult } from './run.ts';

const REQUESTS = Number(process.env.BENCH_RATE_LIMIT_REQUESTS ?? 1_000);
const BLOCK = 50;
const CALLERS = 20;

const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;

type Side = (i: number) => Promise<void>;

/** Runs `count` requests of each side, one at a time, alternating blocks; latencies in ms. */
async function alternate<K extends string>(sides: Record<K, Side>, count: number): Promise<Record<K, number[]>> {
  const names = Object.keys(sides) as K[];
  const out = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  for (let done = 0; done < count; done += BLOCK) {
    for (const name of names) {
      for (let i = done; i < Math.min(count, done + BLOCK); i++) {
        const t = performance.now();
        await sides[name](i);
        out[name].push(performance.now() - t);
      }
    }
  }
  return out;
}

/** The table, counting the limiter's calls. */
function counting(ref: TableRef): TableRef & { calls: () => number } {
  let calls = 0;
  const doc = new Proxy(ref.doc, {
    get(target, prop, receiver) {
      if (prop !== 'send') return Reflect.get(target, prop, receiver);
      return (command: Parameters<typeof ref.doc.send>[0]) => {
        calls++;
        return ref.doc.send(command);
      };
    },
  });
  return { doc, tableName: ref.tableName, calls: () => calls };
}

export async function run(): Promise<BenchResult> {
  const db = await startBenchDb();
  try {
    const tableName = await db.newTable('rate-limit');
    const table: TableRef = { doc: db.doc, tableName };
    const account = keys.account('a_BENCH');
    await db.doc.send(new PutCommand({ TableName: tableName, Item: { ...account, kind: 'account', balance: 1 } }));
    const work = () => db.doc.send(new GetCommand({ TableName: tableName, Key: account, ConsistentRead: true }));

    // Within the limit whatever the pace: the bucket stays in use (ADD).
    const steady = counting(table);
    const steadyLimiter = new TableRateLimiter({ table: steady, clock: systemClock, ratePerSecond: 1e6, burst: 1e6 });
    // A clock that jumps an hour per request: every request finds its bucket full (SET).
    let hours = 0;
    const idle = counting(table);
    const idleLimiter = new TableRateLimiter({
      table: idle,
      clock: { now: () => Date.now() + 3_600_000 * hours++ },
      ratePerSecond: 10,
      burst: 10,
    });
    // Over the limit: one token a day, spent before the run.
    const refused = counting(table);
    const refusedLimiter = new TableRateLimiter({
      table: refused,
      clock: systemClock,
      ratePerSecond: 1 / 86_400,
      burst: 1,
    });
    for (let c = 0; c < CALLERS; c++) await refusedLimiter.take(`refused-${c}`);
    const refusedBefore = refused.calls();

    let refusals = 0;
    const latencies = await alternate(
      {
        baseline: async () => {
          await work();
        },
        steady: async (i) => {
          await steadyLimiter.take(`steady-${i % CALLERS}`);
          await work();
        },
        idle: async (i) => {
          await idleLimiter.take(`idle-${i % CALLERS}`);
          await work();
        },
        refused: async (i) => {
          if (!(await refusedLimiter.take(`refused-${i % CALLERS}`)).allowed) refusals++;
        },
      },
      REQUESTS,
    );
    const stats = (name: keyof typeof latencies) => {
      const sorted = [...latencies[name]].sort((a, b) => a - b);
      return {
        p50: median(sorted),
        p95: percentile(sorted, 95),
        mean: sorted.reduce((s, v) => s + v, 0) / sorted.length,
      };
    };
    const base = stats('baseline');
    const rows = (['baseline', 'steady', 'idle', 'refused'] as const).map((name) => {
      const s = stats(name);
      const calls =
        name === 'steady'
          ? steady.calls() / REQUESTS
          : name === 'idle'
            ? idle.calls() / REQUESTS
            : name === 'refused'
              ? (refused.calls() - refusedBefore) / REQUESTS
              : 0;
      return {
        case: name,
        'p50 ms': s.p50,
        'p95 ms': s.p95,
        'added p50 ms': name === 'baseline' || name === 'refused' ? null : s.p50 - base.p50,
        'p50 / baseline': name === 'refused' ? null : s.p50 / base.p50,
        'limiter calls / request': calls,
      };
    });
    printTable(rows, `Rate limiter on DynamoDB Local (${REQUESTS} sequential requests per case)`);
    if (refusals !== REQUESTS) throw new Error(`expected every over-limit request refused, got ${refusals}`);
    const steadyRow = rows[1];
    const result: BenchResult = {
      name: 'rate-limit',
      summary: {
        'baseline p50 ms': base.p50,
        'added p50 ms (steady)': steadyRow?.['added p50 ms'] ?? Number.NaN,
        'steady / baseline': steadyRow?.['p50 / baseline'] ?? Number.NaN,
        'writes / allowed request': steady.calls() / REQUESTS,
      },
      rows,
    };
    writeResult('rate-limit', result);
    return result;
  } finally {
    await db.stop();
  }
}

if (isMain(import.meta.url)) {
  run().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
