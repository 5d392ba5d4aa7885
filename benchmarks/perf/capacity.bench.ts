/**
 * Capacity plan check (docs/scaling.md): a 1 000 000-bid round through the pure plan — the
 * kernel's decision, the settlement plan, each transaction's writes — with a model of
 * DynamoDB's limits, to find which limit binds first and how long settlement takes at best.
 *
 * The model: every write of a transaction costs 2 WCU per KB (transactional), items are taken
 * as ≤ 1 KB; one partition absorbs at most 1 000 WCU/s; a table on demand starts at 40 000
 * WCU/s (the default account quota); one settlement worker sends about 1 ÷ 25 ms = 40
 * transactions a second. The settlement time is the largest of the hottest partition's
 * writes ÷ its rate, the table's writes ÷ the table's rate, and the transactions ÷ the
 * workers' rate. Nothing here touches a table: it is arithmetic over the real plan.
 */
import type { RoundBid } from '#shared/core/bids';
import { bookOfRound, clearBook } from '#shared/core/clearing';
import { shardOf } from '#shared/core/ledger';
import { ECONOMY_DEFAULTS } from '#shared/core/market-config';
import { seededRandom } from '#shared/core/ports';
import { capacityOf, initialPrices } from '#shared/core/resources';
import { actionsOfSettlement, outcomesOf, settlementPlan, settlementWrites } from '#shared/core/settlement';
import { keys, shardAccountId } from '#shared/table';
import { type BenchResult, isMain, printTable, writeResult } from './run.ts';

const BIDS = Number(process.env.BENCH_CAPACITY_BIDS ?? 1_000_000);
const AGENTS = 100_000;
const WCU_PER_WRITE = 2;
const PARTITION_WCU = 1_000;
const TABLE_WCU = 40_000;
const TX_PER_WORKER = 40;

function roundBids(n: number, roundShards: number): RoundBid[] {
  const rng = seededRandom(11);
  const capacity = capacityOf(ECONOMY_DEFAULTS);
  const prices = initialPrices(ECONOMY_DEFAULTS);
  return Array.from({ length: n }, (_, i) => {
    const d = 60 * (1 + Math.floor(rng.next() * 60));
    const cpu = rng.next() < 0.8 ? 1 + Math.floor(rng.next() * 2000) / 100 : 0;
    const memory = rng.next() < 0.8 || cpu === 0 ? 1 + Math.floor(rng.next() * 2000) / 100 : 0;
    const tokens =
      rng.next() < 0.6 ? Math.min(Math.floor(capacity.tokens * d), 1 + Math.floor(rng.next() * 50_000)) : 0;
    const reference = (prices.cpu * cpu + prices.memory * memory) * d + prices.tokens * tokens;
    const agent = `a_${String(i % AGENTS).padStart(24, '0')}`;
    const bidId = `b_${String(i).padStart(24, '0')}`;
    return {
      bid_id: bidId,
      round: 'r_capacity',
      agent_id: agent,
      beneficiary_id: agent,
      bundle: { cpu, memory, tokens },
      duration_seconds: d,
      amount: Math.max(1, Math.round(reference * (0.5 + 2.5 * rng.next()) * 1e6)),
      rates: { cpu, memory, tokens: tokens / d, attention: 0 },
      status: 'pending',
      placed_at: '2026-01-01T00:00:00.000Z',
      placed_at_ms: Date.UTC(2026, 0, 1) + Math.floor(rng.next() * 60_000),
      seq: 2,
      shard: shardOf(bidId, roundShards),
    };
  });
}

/** Item writes per partition key of a whole round's settlement, and its transactions. */
function partitionLoad(bids: RoundBid[], ledgerShards: number) {
  const capacity = capacityOf(ECONOMY_DEFAULTS);
  const market = { capacity, supply: capacity, prices: initialPrices(ECONOMY_DEFAULTS) };
  const decision = clearBook(bookOfRound(bids), market, ECONOMY_DEFAULTS.clearing.policy);
  const at = {
    round: 'r_capacity',
    clearingAt: Date.UTC(2026, 0, 1, 0, 1),
    settledAt: Date.UTC(2026, 0, 1, 0, 1),
    escrowOf: (id: string) => shardAccountId('escrow', shardOf(id, ledgerShards)),
    burnOf: (id: string) => shardAccountId('burn', shardOf(id, ledgerShards)),
  };
  const plan = settlementPlan(outcomesOf(bids, decision), at, { maxActions: 100, maxBids: Number.POSITIVE_INFINITY });
  const writes = new Map<string, number>();
  const add = (pk: string) => writes.set(pk, (writes.get(pk) ?? 0) + 1);
  let actions = 0;
  for (const batch of plan) {
    const w = settlementWrites(batch, at);
    actions += actionsOfSettlement(w);
    for (const a of w.change.accounts) add(keys.account(a.account_id).PK);
    for (const m of w.change.movements) {
      // A movement: its transfer record (a partition of its own) and an entry in each account's partition.
      add(keys.account(m.record.from).PK);
      add(keys.account(m.record.to).PK);
    }
    for (const item of w.items) {
      if (item.kind === 'bid_status' && item.target === 'membership') {
        add(keys.roundBid(item.bid.round, item.bid.shard, item.bid.bid_id).PK);
      }
      if (item.kind === 'active_allocation') add(keys.activeAllocationsPartition);
    }
  }
  return { transactions: plan.length, actions, writes, winners: decision.winner_count };
}

function hottest(writes: Map<string, number>, prefix: string): { pk: string; writes: number } {
  let best = { pk: '-', writes: 0 };
  for (const [pk, n] of writes) if (pk.startsWith(prefix) && n > best.writes) best = { pk, writes: n };
  return best;
}

export async function run(): Promise<BenchResult> {
  const settings = [
    { name: 'defaults', ledgerShards: 16, roundShards: 4 },
    { name: 'planned for 1M bids', ledgerShards: 100, roundShards: 64 },
  ];
  const rows: Record<string, string | number>[] = [];
  for (const s of settings) {
    const bids = roundBids(BIDS, s.roundShards);
    const { transactions, actions, writes, winners } = partitionLoad(bids, s.ledgerShards);
    const seconds = (n: number) => (n * WCU_PER_WRITE) / PARTITION_WCU;
    const limits = {
      'round partition': seconds(hottest(writes, 'ROUND#').writes),
      'escrow shard': seconds(hottest(writes, 'ACCOUNT#escrow').writes),
      'burn shard': seconds(hottest(writes, 'ACCOUNT#burn').writes),
      'active allocations': seconds(hottest(writes, keys.activeAllocationsPartition).writes),
      'agent account': seconds(hottest(writes, 'ACCOUNT#a_').writes),
      table: (actions * WCU_PER_WRITE) / TABLE_WCU,
      'workers (16)': transactions / (16 * TX_PER_WORKER),
      'workers (256)': transactions / (256 * TX_PER_WORKER),
    };
    const [binding, bound] = Object.entries(limits)
      .filter(([k]) => k !== 'workers (16)')
      .sort((a, b) => b[1] - a[1])[0] as [string, number];
    rows.push({
      setting: s.name,
      ledger_shards: s.ledgerShards,
      round_shards: s.roundShards,
      bids: BIDS,
      winners,
      transactions,
      actions,
      ...Object.fromEntries(Object.entries(limits).map(([k, v]) => [`${k} s`, v])),
      binding,
      settle_s_at_least: bound,
    });
  }
  printTable(rows, `A ${BIDS}-bid round's settlement against DynamoDB's limits (model; seconds at best)`);
  const planned = rows[1] as Record<string, string | number>;
  const result: BenchResult = {
    name: 'capacity',
    summary: {
      bids: BIDS,
      transactions: Number(planned.transactions),
      binding_default: String(rows[0]?.binding),
      settle_s_default: Number(rows[0]?.settle_s_at_least),
      binding_planned: String(planned.binding),
      settle_s_planned: Number(planned.settle_s_at_least),
    },
    rows,
    model: { WCU_PER_WRITE, PARTITION_WCU, TABLE_WCU, TX_PER_WORKER },
  };
  writeResult('capacity', result);
  return result;
}

if (isMain(import.meta.url)) await run();
