/**
 * Hot accounts: transfer throughput when every writer pays from the same few accounts, against
 * the uncontended rate (every transfer between its own pair of agents), in the same run on the
 * same DynamoDB Local table, with the same number of transfers in flight.
 *
 *   uncontended      16 in flight, each between two agents no other transfer touches
 *   hot, 1 process   16 in flight among 3 agents, one process: its per-account
 *                    serialization queues them, so none races another's conditions
 *   hot, 2 processes the same load split over two independent compositions (two containers):
 *                    their writes meet only in DynamoDB's conditions and transaction locks,
 *                    which is what one hot account sees on AWS across Lambda containers
 *
 * Reported: transfers/s, the ratio to uncontended, and how many gave up with a 503 (the
 * transaction runner's bounded retries). No bar: the figures are reported.
 */

import { createServices, type Services } from '#shared/adapters/services';
import { loadConfig } from '#shared/config';
import { DomainError } from '#shared/core/errors';
import { formatCredits, micros } from '#shared/core/money';
import { derivedId, seededRandom, ulidGenerator } from '#shared/core/ports';
import { type BenchDb, startBenchDb } from './lib/dynamo.ts';
import { type BenchResult, isMain, printTable, writeResult } from './run.ts';

const TRANSFERS = Number(process.env.BENCH_HOT_TRANSFERS ?? 600);
const IN_FLIGHT = 16;
const ROUNDS = 3;
const AMOUNT = micros(10_000);
/** Numbers every transfer of the run: each has its own id. */
let made = 0;

interface Row {
  case: string;
  transfers: number;
  per_second: number;
  vs_uncontended: number;
  unavailable: number;
  refused: number;
}

function compose(db: BenchDb, tableName: string, seed: number): Services {
  const clock = { now: () => Date.now() };
  return createServices(
    loadConfig({ TABLE_NAME: tableName, DYNAMODB_ENDPOINT: db.local.endpoint, AWS_REGION: 'us-east-1' }),
    {
      table: { doc: db.doc, tableName },
      runtime: { clock, ids: ulidGenerator(clock, seededRandom(seed)), random: seededRandom(seed + 1) },
    },
  );
}

/** Runs `count` transfers, `IN_FLIGHT` at a time, each made by `pick(k)`. */
async function drive(count: number, pick: (k: number) => { s: Services; from: string; to: string }) {
  let next = 0;
  let unavailable = 0;
  let refused = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < count) {
      const k = next++;
      const { s, from, to } = pick(k);
      try {
        await s.ledger.transfer(
          {
            transfer_id: derivedId('tr', 'hot', String(made++)),
            from,
            to,
            amount: AMOUNT,
            purpose: 'transfer',
            reference: null,
          },
          { actor: from, ctx: {} },
        );
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
        if (err.status === 503) unavailable++;
        else refused++;
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return { ms: performance.now() - start, unavailable, refused };
}

export async function run(): Promise<BenchResult> {
  const db = await startBenchDb();
  try {
    const tableName = await db.newTable('hot');
    const [one, other] = [compose(db, tableName, 1), compose(db, tableName, 7)];
    const agents: string[] = [];
    for (let i = 0; i < 2 * IN_FLIGHT; i++) {
      agents.push(
        (await one.agents.register({ name: `hot-${i}`, initial_balance: micros(1_000_000 * 1_000_000) }, {})).agent
          .agent_id,
      );
    }
    const id = (i: number) => agents[i] as string;
    const cases: Array<[string, (k: number) => { s: Services; from: string; to: string }]> = [
      ['uncontended', (k) => ({ s: one, from: id((k % IN_FLIGHT) * 2), to: id((k % IN_FLIGHT) * 2 + 1) })],
      ['hot, 1 process', (k) => ({ s: one, from: id(k % 3), to: id((k + 1) % 3) })],
      ['hot, 2 processes', (k) => ({ s: k % 2 ? one : other, from: id(k % 3), to: id((k + 1) % 3) })],
    ];
    // Warm up (JIT, connections, the table's first pages), then run the cases in alternating
    // rounds so the table's growth and the machine's noise fall on all of them alike.
    await drive(IN_FLIGHT * 4, cases[0]?.[1] ?? ((k) => ({ s: one, from: id(0), to: id(1 + (k % 2)) })));
    const totals = cases.map(() => ({ ms: 0, unavailable: 0, refused: 0, n: 0 }));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, [, pick]] of cases.entries()) {
        const r = await drive(TRANSFERS / ROUNDS, (k) => pick(k + round * TRANSFERS));
        const t = totals[i] as (typeof totals)[number];
        t.ms += r.ms;
        t.unavailable += r.unavailable;
        t.refused += r.refused;
        t.n += TRANSFERS / ROUNDS;
      }
    }
    const perSecond = totals.map((t) => (t.n * 1000) / t.ms);
    const rows: Row[] = cases.map(([name], i) => ({
      case: name,
      transfers: totals[i]?.n ?? 0,
      per_second: Math.round(perSecond[i] ?? 0),
      vs_uncontended: Number(((perSecond[i] ?? 0) / (perSecond[0] ?? 1)).toFixed(2)),
      unavailable: totals[i]?.unavailable ?? 0,
      refused: totals[i]?.refused ?? 0,
    }));
    printTable(
      rows as unknown as Record<string, unknown>[],
      `hot accounts: ${IN_FLIGHT} transfers of ${formatCredits(AMOUNT)} in flight`,
    );
    const result: BenchResult = {
      name: 'hot-account',
      summary: Object.fromEntries(
        rows.flatMap((r) => [
          [`${r.case} /s`, r.per_second],
          [`${r.case} 503`, r.unavailable],
        ]),
      ),
      rows,
    };
    writeResult('hot-account', result);
    return result;
  } finally {
    await db.stop();
  }
}

if (isMain(import.meta.url)) await run();
