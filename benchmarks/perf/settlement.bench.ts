/**
 * Settlement of one 10 000-bid round against DynamoDB Local, against bare batched transactions
 * writing the same items, in the same run.
 *
 * The round is seeded directly (accounts, escrow balances, bids, round membership) so only
 * clearing is timed: claim, consistent reads of the round, the kernel, settlement in
 * transactions of ≤ 100 actions, and the cleared mark. Every transaction clearing sent is
 * recorded, then replayed verbatim, conditions included, on a fresh, identically seeded table whose
 * round is already claimed by the recorded clearer: that is the baseline, the cost of the same
 * batched transactions without the work around them (claim, reads, kernel, planning, retries).
 * Bar: clearing ≥ 0.7 × baseline throughput. Both run at each concurrency of
 * `BENCH_SETTLEMENT_CONCURRENCY` (default 1, 4 and 16): clearing with that many settlement
 * transactions in flight, the replay with that many recorded transactions in flight.
 * The two sides run on two DynamoDB Local instances seeded alike (see `run`).
 *
 * `BENCH_SETTLEMENT_BIDS` changes the size of the round (e.g. 2000 for a quick look).
 */
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand, type TransactWriteCommandInput, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { inParallel } from '../../shared/adapters/dynamodb/clearing.ts';
import { createServices } from '../../shared/adapters/services.ts';
import { loadConfig } from '../../shared/config.ts';
import { shardOf } from '../../shared/core/ledger.ts';
import { parseEconomyConfig } from '../../shared/core/market-config.ts';
import { type Runtime, seededRandom, ulidGenerator } from '../../shared/core/ports.ts';
import { bundleRates } from '../../shared/core/resources.ts';
import { roundAt } from '../../shared/core/rounds.ts';
import { keys, shardAccountId } from '../../shared/table.ts';
import { putAll, startBenchDb } from './lib/dynamo.ts';

type BenchDb = Awaited<ReturnType<typeof startBenchDb>>;
type Doc = BenchDb['doc'];

import { type BenchResult, check, isMain, printTable, writeResult } from './run.ts';

const BIDS = Number(process.env.BENCH_SETTLEMENT_BIDS ?? 10_000);
const AGENTS = 1_000;
const SHARDS = 16;
const ROUND_SHARDS = 4;

function seedItems(round: ReturnType<typeof roundAt>, rnd: ReturnType<typeof seededRandom>) {
  const items: Record<string, unknown>[] = [];
  const escrow = new Map<string, number>();
  const openBids = new Map<string, number>();
  const now = new Date(round.starts_at_ms).toISOString();
  for (let i = 0; i < BIDS; i++) {
    const bidId = `b_bench${String(i).padStart(19, '0')}`;
    const agent = `a_BENCH${String(i % AGENTS).padStart(21, '0')}`;
    const bundle = { cpu: 1 + Math.floor(rnd.next() * 20), memory: 1 + Math.floor(rnd.next() * 10) };
    const amount = 1_000_000 + Math.floor(rnd.next() * 50_000_000);
    const shard = shardOf(bidId, ROUND_SHARDS);
    const bid = {
      bid_id: bidId,
      round: round.round,
      agent_id: agent,
      beneficiary_id: agent,
      bundle,
      duration_seconds: 60,
      amount,
      rates: bundleRates(bundle, 60),
      status: 'pending',
      placed_at: now,
      placed_at_ms: round.starts_at_ms + i,
      seq: 2,
      shard,
    };
    items.push({ ...keys.bid(bidId), kind: 'bid', ...bid });
    items.push({ ...keys.roundBid(round.round, shard, bidId), kind: 'round_bid', ...bid });
    const e = shardAccountId('escrow', shardOf(bidId, SHARDS));
    escrow.set(e, (escrow.get(e) ?? 0) + amount);
    openBids.set(agent, (openBids.get(agent) ?? 0) + 1);
  }
  for (const [agent, open] of openBids) {
    items.push({
      ...keys.account(agent),
      kind: 'account',
      account_id: agent,
      is_agent: true,
      balance: 0,
      version: 1,
      seq: 0,
      open_bids: open,
      created_at: now,
    });
  }
  for (const [id, balance] of escrow) {
    items.push({
      ...keys.account(id),
      kind: 'account',
      account_id: id,
      is_agent: false,
      balance,
      version: 1,
      seq: 0,
      created_at: now,
    });
  }
  items.push({
    ...keys.round(round.round),
    kind: 'round',
    round_id: round.round,
    state: 'open',
    starts_at_ms: round.starts_at_ms,
    closes_at_ms: round.closes_at_ms,
    bid_count: BIDS,
    seq: 0,
  });
  return items;
}

type Action = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** The same transaction aimed at another table: every action, its condition included. */
function onTable(input: TransactWriteCommandInput, table: string): TransactWriteCommandInput {
  const retarget = (a: Action): Action => {
    const [kind, op] = Object.entries(a)[0] as [keyof Action, object];
    return { [kind]: { ...op, TableName: table } } as Action;
  };
  return { TransactItems: (input.TransactItems ?? []).map(retarget) };
}

/** The clearer recorded in the round's final transaction, whose condition names it. */
function recordedClearer(recorded: TransactWriteCommandInput[], round: string): string {
  for (const input of recorded) {
    for (const a of input.TransactItems ?? []) {
      const me = a.Update?.ExpressionAttributeValues?.[':me'];
      if (a.Update?.Key?.PK === keys.round(round).PK && typeof me === 'string') return me;
    }
  }
  throw new Error('no transaction of the recording finishes the round');
}

const CONCURRENCIES = (process.env.BENCH_SETTLEMENT_CONCURRENCY ?? '1,4,16').split(',').map(Number);

/** Sends one recorded transaction again, retrying only on a conflict with another in flight. */
async function replayOne(doc: Doc, input: TransactWriteCommandInput): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await doc.send(new TransactWriteCommand(input));
      return;
    } catch (err) {
      const conflict =
        err instanceof TransactionCanceledException &&
        (err.CancellationReasons ?? []).some((r) => r.Code === 'TransactionConflict');
      if (!conflict || attempt >= 20) throw err;
      await new Promise((ok) => setTimeout(ok, 5 * (attempt + 1)));
    }
  }
}

interface Side {
  ms: number;
  transactions: number;
  actions: number;
  winners: number;
}

/** One round cleared at `concurrency`, and the same transactions replayed at `concurrency`. */
async function measure(dbs: [BenchDb, BenchDb], concurrency: number): Promise<{ clearing: Side; replay: Side }> {
  const [clearingDb, replayDb] = dbs;
  const economy = parseEconomyConfig({ round_seconds: 60 });
  const round = roundAt(Date.now() - 120_000, 60);
  const [settleTable, replayTable] = await Promise.all([
    clearingDb.newTable(`settle-${concurrency}`),
    replayDb.newTable(`replay-${concurrency}`),
  ]);
  await putAll(clearingDb.doc, settleTable, seedItems(round, seededRandom(1)));
  await putAll(replayDb.doc, replayTable, seedItems(round, seededRandom(1)));

  // Clearing runs once, timed, and every transaction it sends is recorded.
  const recorded: TransactWriteCommandInput[] = [];
  const clock = { now: () => Date.now() };
  const runtime: Runtime = { clock, ids: ulidGenerator(clock, seededRandom(3)), random: seededRandom(4) };
  const env = {
    TABLE_NAME: settleTable,
    DYNAMODB_ENDPOINT: clearingDb.local.endpoint,
    LEDGER_SHARDS: String(SHARDS),
    ROUND_BID_SHARDS: String(ROUND_SHARDS),
    SETTLEMENT_CONCURRENCY: String(concurrency),
    LOG_LEVEL: 'SILENT',
  };
  const { clearing } = createServices(loadConfig(env), {
    table: { doc: clearingDb.doc, tableName: settleTable },
    runtime,
    economy,
    writer: async (input) => {
      recorded.push(input);
      await clearingDb.doc.send(new TransactWriteCommand(input));
    },
  });
  const t0 = performance.now();
  const summary = await clearing.clearRound(round);
  const clearingMs = performance.now() - t0;
  if (!summary || summary.bids !== BIDS)
    throw new Error(`clearing did not settle the round: ${JSON.stringify(summary)}`);

  // Untimed: the claim clearing made before settling, so the final transaction's condition
  // (the round is being cleared by this clearer) holds on the replay table too.
  await replayDb.doc.send(
    new UpdateCommand({
      TableName: replayTable,
      Key: keys.round(round.round),
      UpdateExpression: 'SET #state = :clearing, clearer = :me',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: { ':clearing': 'clearing', ':me': recordedClearer(recorded, round.round) },
    }),
  );
  // Successful transactions only, in parallel as clearing sent them; the round's final mark last.
  const inputs = recorded.map((input) => onTable(input, replayTable));
  const last = inputs.pop() as TransactWriteCommandInput;
  const t1 = performance.now();
  await inParallel(inputs, concurrency, (input) => replayOne(replayDb.doc, input));
  await replayOne(replayDb.doc, last);
  const replayMs = performance.now() - t1;
  const actions = recorded.reduce((n, r) => n + (r.TransactItems?.length ?? 0), 0);
  const side = (ms: number): Side => ({ ms, transactions: recorded.length, actions, winners: summary.winners });
  return { clearing: side(clearingMs), replay: side(replayMs) };
}

export async function run(): Promise<BenchResult> {
  // One DynamoDB Local per side: inside one JVM, writes to a second table slow down as the first
  // grows (a second identical clearing there takes about twice as long), which would tilt the
  // comparison toward whichever side runs first.
  const dbs = (await Promise.all([startBenchDb(), startBenchDb()])) as [BenchDb, BenchDb];
  try {
    const rows: Record<string, string | number>[] = [];
    const summary: Record<string, number> = { bids: BIDS };
    const checks = [];
    let base: number | undefined;
    for (const c of CONCURRENCIES) {
      const { clearing, replay } = await measure(dbs, c);
      base ??= clearing.ms;
      const ratio = replay.ms / clearing.ms;
      rows.push(
        {
          what: 'clearing (claim, reads, kernel, settlement)',
          concurrency: c,
          transactions: clearing.transactions,
          actions: clearing.actions,
          ms: clearing.ms,
          'bids/s': (BIDS / clearing.ms) * 1000,
          speedup: base / clearing.ms,
        },
        {
          what: 'the same transactions, replayed',
          concurrency: c,
          transactions: replay.transactions,
          actions: replay.actions,
          ms: replay.ms,
          'bids/s': (BIDS / replay.ms) * 1000,
          speedup: Number.NaN,
        },
      );
      summary[`clearing_ms_c${c}`] = Math.round(clearing.ms);
      summary[`replay_ms_c${c}`] = Math.round(replay.ms);
      summary[`throughput_ratio_c${c}`] = Number(ratio.toFixed(3));
      checks.push(check(`settlement throughput ÷ replayed transactions, concurrency ${c}`, ratio, '>=', 0.7));
    }
    printTable(rows, `Settlement of a ${BIDS}-bid round (DynamoDB Local), by concurrency`);
    const result: BenchResult = { name: 'settlement', summary, checks, rows };
    writeResult('settlement', result);
    return result;
  } finally {
    await Promise.all(dbs.map((db) => db.stop()));
  }
}

if (isMain(import.meta.url)) {
  await run();
}
