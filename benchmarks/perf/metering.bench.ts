/**
 * Token metering throughput: usage draws and gateway-style reserve + settle pairs on ONE
 * allocation, against the same draws spread over one allocation per writer (uncontended), in
 * the same run on the same DynamoDB Local table, with the same number in flight.
 *
 *   spread           16 in flight, each on its own allocation
 *   one allocation   16 in flight on one allocation: this process serializes them, so none
 *                    races another's condition
 *   one, 2 processes the same load split over two independent compositions (two containers):
 *                    they meet only in DynamoDB's condition and transaction locks
 *   reserve+settle   16 gateway calls in flight on one allocation (two transactions each)
 *
 * Reported: operations/s and the ratio to `spread`. No bar: the figures are reported.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { Allocations } from '#shared/adapters/dynamodb/allocations';
import { txRunnerOf } from '#shared/adapters/services';
import { loadConfig } from '#shared/config';
import { DomainError } from '#shared/core/errors';
import { seededRandom, ulidGenerator } from '#shared/core/ports';
import { keys } from '#shared/table';
import { type BenchDb, startBenchDb } from './lib/dynamo.ts';
import { type BenchResult, isMain, printTable, writeResult } from './run.ts';

const OPS = Number(process.env.BENCH_METERING_OPS ?? 600);
const IN_FLIGHT = 16;
let made = 0;

function store(db: BenchDb, tableName: string, seed: number): Allocations {
  const clock = { now: () => Date.now() };
  const runtime = { clock, ids: ulidGenerator(clock, seededRandom(seed)), random: seededRandom(seed + 1) };
  const table = { doc: db.doc, tableName };
  const config = loadConfig({ TABLE_NAME: tableName, DYNAMODB_ENDPOINT: db.local.endpoint });
  return new Allocations({ table, tx: txRunnerOf(table, config, runtime), runtime });
}

/** An allocation with a budget no run exhausts, active for an hour. */
async function allocation(db: BenchDb, tableName: string, i: number): Promise<string> {
  const id = `al_bench${String(i).padStart(18, '0')}`;
  const now = Date.now();
  const tokens = 1e12;
  await db.doc.send(
    new PutCommand({
      TableName: tableName,
      Item: {
        ...keys.allocation(id),
        kind: 'allocation',
        allocation_id: id,
        agent_id: 'a_bench',
        starts_at_ms: now - 1_000,
        ends_at_ms: now + 3_600_000,
        tokens_granted: tokens,
        tokens_reserved: 0,
        tokens_used: 0,
        tokens_remaining: tokens,
        status: 'active',
      },
    }),
  );
  return id;
}

type Op = (k: number) => Promise<unknown>;

async function drive(count: number, op: Op) {
  let next = 0;
  let unavailable = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < count) {
      const k = next++;
      try {
        await op(k);
      } catch (err) {
        if (!(err instanceof DomainError && err.status === 503)) throw err;
        unavailable++;
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return { perSecond: (count * 1000) / (performance.now() - start), unavailable };
}

const draw = (s: Allocations, allocationId: string) => () =>
  s.consume({ usage_id: `us_${made++}`, allocation_id: allocationId, agent_id: 'a_bench', tokens: 3 }, {});

const call = (s: Allocations, allocationId: string) => async () => {
  const r = await s.reserve(
    {
      reservation_id: `rs_${made++}`,
      allocation_id: allocationId,
      agent_id: 'a_bench',
      tokens: 50,
      deadline_ms: Date.now() + 60_000,
    },
    {},
  );
  const outcome = { model: 'm', prompt_tokens: 10, completion_tokens: 20, latency_ms: 1, status: 'ok' as const };
  await s.settle(r, { ...outcome, tokens_charged: 30 }, {});
};

export async function run(): Promise<BenchResult> {
  const db = await startBenchDb();
  try {
    const tableName = await db.newTable('meter');
    const [one, other] = [store(db, tableName, 1), store(db, tableName, 9)];
    const spread = await Promise.all(Array.from({ length: IN_FLIGHT }, (_, i) => allocation(db, tableName, i)));
    const hot = await allocation(db, tableName, 99);
    const cases: Array<[string, Op]> = [
      ['spread', (k) => draw(one, spread[k % IN_FLIGHT] as string)()],
      ['one allocation', () => draw(one, hot)()],
      ['one, 2 processes', (k) => draw(k % 2 ? one : other, hot)()],
      ['reserve+settle', () => call(one, hot)()],
    ];
    await drive(IN_FLIGHT * 4, cases[0]?.[1] as Op); // warm-up
    const totals = cases.map(() => ({ perSecond: 0, unavailable: 0 }));
    // Alternating rounds, so the table's growth and the machine's noise fall on every case alike.
    for (let round = 0; round < 3; round++) {
      for (const [i, [, op]] of cases.entries()) {
        const r = await drive(OPS / 3, op);
        const t = totals[i] as (typeof totals)[number];
        t.perSecond += r.perSecond / 3;
        t.unavailable += r.unavailable;
      }
    }
    const base = totals[0]?.perSecond ?? 1;
    const rows = cases.map(([name], i) => ({
      case: name,
      ops: OPS,
      per_second: Math.round(totals[i]?.perSecond ?? 0),
      vs_spread: Number(((totals[i]?.perSecond ?? 0) / base).toFixed(2)),
      unavailable: totals[i]?.unavailable ?? 0,
    }));
    printTable(rows, `token metering: ${IN_FLIGHT} in flight`);
    const result: BenchResult = {
      name: 'metering',
      summary: Object.fromEntries(rows.map((r) => [`${r.case} /s`, r.per_second])),
      rows,
    };
    writeResult('metering', result);
    return result;
  } finally {
    await db.stop();
  }
}

if (isMain(import.meta.url)) await run();
