/**
 * Settlement of one 10 000-bid round against DynamoDB Local, against the bare batched
 * transactions writing the same items, in the same run.
 *
 * The round is seeded directly (accounts, escrow balances, bids, round membership) so only
 * clearing is timed: claim, consistent reads of the round, the kernel, settlement in
 * transactions of ≤ 100 actions, and the cleared mark. Every transaction clearing sent is
 * recorded, then replayed on a fresh, identically seeded table with its conditions removed:
 * that is the baseline, the cost of the writes alone. Bar: clearing ≥ 0.7 × baseline throughput.
 */
import { TransactWriteCommand, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { createServices } from '../../shared/adapters/services.ts';
import { loadConfig } from '../../shared/config.ts';
import { shardOf } from '../../shared/core/ledger.ts';
import { parseEconomyConfig } from '../../shared/core/market-config.ts';
import { type Runtime, seededRandom, ulidGenerator } from '../../shared/core/ports.ts';
import { bundleRates } from '../../shared/core/resources.ts';
import { roundAt } from '../../shared/core/rounds.ts';
import { keys, shardAccountId } from '../../shared/table.ts';
import { putAll, startBenchDb } from './lib/dynamo.ts';
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

type Op = {
  ConditionExpression?: string;
  ReturnValuesOnConditionCheckFailure?: string;
  TableName?: string;
  UpdateExpression?: string;
  ExpressionAttributeValues?: Record<string, unknown>;
  ExpressionAttributeNames?: Record<string, string>;
};

/** An operation without its condition; placeholders only the condition used are dropped. */
function strip<T extends Op>(op: T, table: string): T {
  const { ConditionExpression: _c, ReturnValuesOnConditionCheckFailure: _r, ...rest } = op;
  const expr = op.UpdateExpression ?? '';
  const used = (k: string) => new RegExp(`${k.replace(/[$#:]/g, '\\$&')}(?![A-Za-z0-9_])`).test(expr);
  const values = Object.fromEntries(Object.entries(op.ExpressionAttributeValues ?? {}).filter(([k]) => used(k)));
  const names = Object.fromEntries(Object.entries(op.ExpressionAttributeNames ?? {}).filter(([k]) => used(k)));
  const out = { ...rest, TableName: table } as T;
  delete out.ExpressionAttributeValues;
  delete out.ExpressionAttributeNames;
  if (Object.keys(values).length) out.ExpressionAttributeValues = values;
  if (Object.keys(names).length) out.ExpressionAttributeNames = names;
  return out;
}

/** The same writes without their conditions: the bare cost of the items. */
function bare(input: TransactWriteCommandInput, table: string): TransactWriteCommandInput {
  return {
    TransactItems: (input.TransactItems ?? []).map((t) => {
      if (t.Put) return { Put: strip(t.Put as Op, table) as typeof t.Put };
      if (t.Update) return { Update: strip(t.Update as Op, table) as typeof t.Update };
      if (t.Delete) return { Delete: strip(t.Delete as Op, table) as typeof t.Delete };
      return t;
    }),
  };
}

export async function run(): Promise<BenchResult> {
  const db = await startBenchDb();
  try {
    const economy = parseEconomyConfig({ round_seconds: 60 });
    const round = roundAt(Date.now() - 120_000, 60);
    // Three identical tables: a recording run (to learn the exact transactions clearing sends),
    // then the bare replay and the timed clearing, in that order, so neither is favoured by a
    // warmer JVM.
    // A recording run learns the exact transactions clearing sends; the bare replay and the
    // timed clearing then run on identical tables in that order, so neither gets a warmer JVM.
    // BENCH_SETTLEMENT_SINGLE=1 records during the timed clearing instead (one run fewer, for
    // large rounds on a slow DynamoDB Local; the replay then comes second).
    const single = process.env.BENCH_SETTLEMENT_SINGLE === '1';
    const tables = single
      ? [await db.newTable('settle'), await db.newTable('bare')]
      : [await db.newTable('record'), await db.newTable('settle'), await db.newTable('bare')];
    for (const t of tables) await putAll(db.doc, t, seedItems(round, seededRandom(1)));
    const [seedA, seedB] = tables.slice(-2) as [string, string];

    const clearingOn = (tableName: string, onWrite?: (input: TransactWriteCommandInput) => void) => {
      const clock = { now: () => Date.now() };
      const runtime: Runtime = { clock, ids: ulidGenerator(clock, seededRandom(3)), random: seededRandom(4) };
      const env = {
        ...process.env,
        TABLE_NAME: tableName,
        LEDGER_SHARDS: String(SHARDS),
        ROUND_BID_SHARDS: String(ROUND_SHARDS),
        LOG_LEVEL: 'SILENT',
      };
      return createServices(loadConfig(env), {
        table: { doc: db.doc, tableName },
        runtime,
        economy,
        writer: async (input) => {
          onWrite?.(input);
          await db.doc.send(new TransactWriteCommand(input));
        },
      }).clearing;
    };
    const recorded: TransactWriteCommandInput[] = [];
    const replay = async () => {
      const t = performance.now();
      for (const input of recorded) await db.doc.send(new TransactWriteCommand(bare(input, seedB)));
      return performance.now() - t;
    };
    if (!single) await clearingOn(tables[0] as string, (input) => recorded.push(input)).clearRound(round);
    const bareFirst = single ? 0 : await replay();

    const t0 = performance.now();
    const summary = await clearingOn(seedA, single ? (input) => recorded.push(input) : undefined).clearRound(round);
    const clearingMs = performance.now() - t0;
    if (!summary || summary.bids !== BIDS)
      throw new Error(`clearing did not settle the round: ${JSON.stringify(summary)}`);
    const bareMs = single ? await replay() : bareFirst;

    const actions = recorded.reduce((n, r) => n + (r.TransactItems?.length ?? 0), 0);
    const ratio = bareMs / clearingMs;
    const rows = [
      {
        what: 'clearing (claim, reads, kernel, settlement)',
        bids: BIDS,
        transactions: recorded.length,
        actions,
        ms: clearingMs,
        'bids/s': (BIDS / clearingMs) * 1000,
      },
      {
        what: 'bare batched transactions, same items',
        bids: BIDS,
        transactions: recorded.length,
        actions,
        ms: bareMs,
        'bids/s': (BIDS / bareMs) * 1000,
      },
    ];
    printTable(rows, `Settlement of a ${BIDS}-bid round (DynamoDB Local)`);
    const result: BenchResult = {
      name: 'settlement',
      summary: {
        bids: BIDS,
        winners: summary.winners,
        transactions: recorded.length,
        clearing_ms: Math.round(clearingMs),
        bare_ms: Math.round(bareMs),
        throughput_ratio: Number(ratio.toFixed(3)),
      },
      checks: [check('settlement throughput ÷ bare transactions', ratio, '>=', 0.7)],
      rows,
    };
    writeResult('settlement', result);
    return result;
  } finally {
    await db.stop();
  }
}

if (isMain(import.meta.url)) {
  await run();
}
