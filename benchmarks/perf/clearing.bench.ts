/**
 * Clearing speed and memory, against `Float64Array.sort` of 100 000 keys in the same process
 * (interleaved runs, the ratio of medians).
 *
 * 1. The kernel from its columns (`clearBook`), per policy. Bars: `total` ≤ 3 × sort (the
 *    spec's), and the default policy ≤ 2 × `total` (its extra orders and exchanges).
 * 2. End to end, from the bids as clearing reads them (round-membership items: every field, as
 *    `Bids.ofRound` returns them) to the decision (`bookOfRound`, `clearBook`), under the default
 *    policy. Bar: ≤ 1.5 × sort. One step further, the outcome objects settlement plans from
 *    (`outcomesOf`), is reported beside it.
 *    The object form (`clear`, which builds bid objects and lists them) is reported beside it.
 * 3. 1 000 000 bids end to end: time, and the memory the book and decision hold. Bar: < 0.5 s.
 */
import type { RoundBid } from '#shared/core/bids';
import { BidBook, bookOfRound, type ClearingBid, type ClearingMarket, clear, clearBook } from '#shared/core/clearing';
import { CLEARING_POLICIES, ECONOMY_DEFAULTS } from '#shared/core/market-config';
import { type Random, seededRandom } from '#shared/core/ports';
import { capacityOf, initialPrices } from '#shared/core/resources';
import { outcomesOf } from '#shared/core/settlement';
import { type BenchResult, check, isMain, median, printTable, writeResult } from './run.ts';

const N = 100_000;
const BIG = 1_000_000;
const RUNS = 9;
const WARMUP = 2;

const capacity = capacityOf(ECONOMY_DEFAULTS);
const prices = initialPrices(ECONOMY_DEFAULTS);
const market: ClearingMarket = { capacity, supply: capacity, prices };

/**
 * Realistic bids: cpu and memory in 80% of bundles, tokens in 60%, attention in 20%, for
 * 1 s to 1 h, offering 0.5–3× the reference cost, placed within a one-minute round.
 */
function* bids(n: number, rng: Random): Generator<[string, number, number, number, number, number, number, number]> {
  const round = Date.UTC(2026, 0, 1);
  for (let i = 0; i < n; i++) {
    const d = 1 + Math.floor(rng.next() * 3600);
    let cpu = rng.next() < 0.8 ? 1 + Math.floor(rng.next() * 2000) / 100 : 0;
    const memory = rng.next() < 0.8 ? 1 + Math.floor(rng.next() * 2000) / 100 : 0;
    const tokens =
      rng.next() < 0.6 ? Math.min(Math.floor(capacity.tokens * d), 1 + Math.floor(rng.next() * 50_000)) : 0;
    const attention = rng.next() < 0.2 ? Math.ceil(rng.next() * 50) / 100 : 0;
    if (cpu + memory + tokens + attention === 0) cpu = 1;
    const reference =
      (prices.cpu * cpu + prices.memory * memory + prices.attention * attention) * d + prices.tokens * tokens;
    const amount = Math.max(1, Math.round(reference * (0.5 + 2.5 * rng.next()) * 1e6));
    yield [
      `bid_${String(i).padStart(7, '0')}`,
      amount,
      round + Math.floor(rng.next() * 60_000),
      d,
      cpu,
      memory,
      tokens / d,
      attention,
    ];
  }
}

function book(n: number, seed: number): BidBook {
  const b = new BidBook(n);
  for (const row of bids(n, seededRandom(seed))) b.add(...row);
  return b;
}

function objects(b: BidBook): ClearingBid[] {
  return Array.from({ length: b.size }, (_, i) => ({
    bid_id: b.ids[i] as string,
    amount: b.amount[i] as number,
    placed_at: b.placedAt[i] as number,
    duration_seconds: b.duration[i] as number,
    rates: {
      cpu: b.rates[i * 4] as number,
      memory: b.rates[i * 4 + 1] as number,
      tokens: b.rates[i * 4 + 2] as number,
      attention: b.rates[i * 4 + 3] as number,
    },
  }));
}

/** Round-membership items as clearing reads them: every attribute of the stored bid. */
function roundBids(b: BidBook): RoundBid[] {
  return Array.from({ length: b.size }, (_, i) => {
    const rates = {
      cpu: b.rates[i * 4] as number,
      memory: b.rates[i * 4 + 1] as number,
      tokens: b.rates[i * 4 + 2] as number,
      attention: b.rates[i * 4 + 3] as number,
    };
    const duration = b.duration[i] as number;
    return {
      bid_id: b.ids[i] as string,
      round: '2026-01-01T00:00:00Z',
      agent_id: `a_${String(i % 5000).padStart(24, '0')}`,
      beneficiary_id: `a_${String(i % 5000).padStart(24, '0')}`,
      bundle: {
        cpu: rates.cpu,
        memory: rates.memory,
        tokens: Math.round(rates.tokens * duration),
        attention: rates.attention,
      },
      duration_seconds: duration,
      amount: b.amount[i] as number,
      rates,
      status: 'pending',
      placed_at: new Date(b.placedAt[i] as number).toISOString(),
      placed_at_ms: b.placedAt[i] as number,
      seq: 2,
      shard: i % 4,
    };
  });
}

/** From the items read to the decision, as the clearing adapter does it. */
function endToEnd(items: readonly RoundBid[], policy = ECONOMY_DEFAULTS.clearing.policy) {
  const bids = items.filter((b) => b.status !== 'cancelled');
  return { bids, decision: clearBook(bookOfRound(bids), market, policy) };
}

/** One step further: the outcomes settlement plans from (one object per bid). */
function toOutcomes(items: readonly RoundBid[]) {
  const { bids, decision } = endToEnd(items);
  return outcomesOf(bids, decision);
}

function time(f: () => unknown): number {
  const t = performance.now();
  f();
  return performance.now() - t;
}

export async function run(): Promise<BenchResult> {
  const b = book(N, 1);
  const list = objects(b);
  const items = roundBids(b);
  const rng = seededRandom(2);
  const keys = new Float64Array(N);
  for (let i = 0; i < N; i++) keys[i] = rng.next() * 1e8;
  const policy = ECONOMY_DEFAULTS.clearing.policy;

  const cases = {
    ...Object.fromEntries(CLEARING_POLICIES.map((p) => [`kernel_${p}`, () => clearBook(b, market, p)])),
    end_to_end: () => endToEnd(items),
    end_to_end_total: () => endToEnd(items, 'total'),
    outcomes: () => toOutcomes(items),
    objects: () => clear(list, market, policy),
  } as Record<string, () => unknown>;
  const samples: Record<string, number[]> = { sort: [] };
  for (const name of Object.keys(cases)) samples[name] = [];
  for (let run = 0; run < WARMUP + RUNS; run++) {
    const copy = keys.slice();
    const sort = time(() => copy.sort());
    if (run >= WARMUP) samples.sort?.push(sort);
    for (const [name, f] of Object.entries(cases)) {
      const ms = time(f);
      if (run >= WARMUP) samples[name]?.push(ms);
    }
  }
  const med = (name: string) => median(samples[name] ?? []);
  const sortMs = med('sort');
  const label: Record<string, string> = {
    ...Object.fromEntries(CLEARING_POLICIES.map((p) => [`kernel_${p}`, `clearBook ${p}, 100k × 4`])),
    end_to_end: `end to end (${policy}, default): items → decision, 100k`,
    end_to_end_total: 'end to end (total): items → decision, 100k',
    outcomes: `items → decision → outcomes to settle (${policy}), 100k`,
    objects: `clear (objects) ${policy}, 100k × 4`,
  };
  const rows = [
    { case: 'Float64Array.sort, 100k keys (baseline)', median_ms: sortMs, ratio: 1 },
    ...Object.keys(cases).map((name) => ({ case: label[name], median_ms: med(name), ratio: med(name) / sortMs })),
  ];
  const winners = clearBook(b, market, policy).winner_count;

  // One million bids end to end, with the items, the book and the decision alive; then the
  // memory they hold. Typed arrays live outside the JS heap (`arrayBuffers`), so both count.
  const bigItems = roundBids(book(BIG, 3));
  const before = process.memoryUsage();
  let bigDecision: ReturnType<typeof endToEnd> | undefined;
  const bigMs = time(() => {
    bigDecision = endToEnd(bigItems);
  });
  const mem = process.memoryUsage();
  const bigTotalMs = time(() => endToEnd(bigItems, 'total'));
  rows.push(
    { case: `end to end (${policy}, default), 1M`, median_ms: bigMs, ratio: Number.NaN },
    { case: 'end to end (total), 1M', median_ms: bigTotalMs, ratio: Number.NaN },
  );
  printTable(rows, `Clearing (median of ${RUNS} runs after ${WARMUP} warm-ups; 1M: one run)`);
  const mb = (bytes: number) => bytes / 2 ** 20;
  const memory = {
    heap_used_mb: mb(mem.heapUsed),
    array_buffers_mb: mb(mem.arrayBuffers),
    added_mb: mb(mem.heapUsed + mem.arrayBuffers - before.heapUsed - before.arrayBuffers),
    rss_mb: mb(mem.rss),
    winners_1m: bigDecision?.decision.winner_count ?? 0,
  };
  printTable([memory], 'One million bids: memory added by clearing them (book and decision)');

  const ratioTotal = med('kernel_total') / sortMs;
  const ratioDefault = med(`kernel_${policy}`) / med('kernel_total');
  const ratioEnd = med('end_to_end') / sortMs;
  const result: BenchResult = {
    name: 'clearing',
    summary: {
      sort_ms: sortMs,
      ratio_total: ratioTotal,
      ratio_density: med('kernel_density') / sortMs,
      ratio_best: med('kernel_best') / sortMs,
      default_over_total: ratioDefault,
      ratio_end_to_end: ratioEnd,
      ratio_objects: med('objects') / sortMs,
      ms_1m: bigMs,
      memory_1m_mb: memory.added_mb,
    },
    checks: [
      check('clearBook total 100k ÷ Float64Array.sort 100k', ratioTotal, '<=', 3),
      check(`clearBook ${policy} (default) ÷ clearBook total, 100k`, ratioDefault, '<=', 2),
      check('end to end (default) 100k ÷ Float64Array.sort 100k', ratioEnd, '<=', 1.5),
      check('end to end (default) 1M bids, ms', bigMs, '<', 500),
    ],
    runs: samples,
    rows,
    memory,
    winners_100k: winners,
  };
  writeResult('clearing', result);
  return result;
}

if (isMain(import.meta.url)) await run();
