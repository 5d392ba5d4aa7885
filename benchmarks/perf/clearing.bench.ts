/**
 * Clearing kernel speed and memory.
 *
 * 1. 100 000 bundle bids × 4 resources against the baseline of sorting 100 000 float keys
 *    with `Float64Array.sort`, interleaved in the same process; the ratio of medians over
 *    several runs. Bar: kernel ≤ 3 × sort. Reported for both policies, for the columnar
 *    kernel (`clearBook`) and for the object form (`clear`, which builds the columns first).
 * 2. 1 000 000 bids: time and heap held while the decision is alive. Bar: < 3 s.
 */
import { BidBook, type ClearingBid, type ClearingMarket, clear, clearBook } from '#shared/core/clearing';
import { ECONOMY_DEFAULTS } from '#shared/core/market-config';
import { type Random, seededRandom } from '#shared/core/ports';
import { capacityOf, initialPrices } from '#shared/core/resources';
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

function time(f: () => unknown): number {
  const t = performance.now();
  f();
  return performance.now() - t;
}

export async function run(): Promise<BenchResult> {
  const b = book(N, 1);
  const list = objects(b);
  const rng = seededRandom(2);
  const keys = new Float64Array(N);
  for (let i = 0; i < N; i++) keys[i] = rng.next() * 1e8;

  const samples = { sort: [] as number[], total: [] as number[], density: [] as number[], object: [] as number[] };
  let winners = 0;
  for (let run = 0; run < WARMUP + RUNS; run++) {
    const copy = keys.slice();
    const sort = time(() => copy.sort());
    const total = time(() => {
      winners = clearBook(b, market, 'total').winner_count;
    });
    const density = time(() => clearBook(b, market, 'density'));
    const object = time(() => clear(list, market, 'total'));
    if (run < WARMUP) continue;
    samples.sort.push(sort);
    samples.total.push(total);
    samples.density.push(density);
    samples.object.push(object);
  }
  const sortMs = median(samples.sort);
  const rows = [
    { case: 'Float64Array.sort, 100k keys (baseline)', median_ms: sortMs, ratio: 1 },
    { case: 'clearBook total, 100k × 4', median_ms: median(samples.total), ratio: median(samples.total) / sortMs },
    {
      case: 'clearBook density, 100k × 4',
      median_ms: median(samples.density),
      ratio: median(samples.density) / sortMs,
    },
    {
      case: 'clear (objects) total, 100k × 4',
      median_ms: median(samples.object),
      ratio: median(samples.object) / sortMs,
    },
  ];

  // One million bids: clear with the book alive, then read the memory both hold. Typed
  // arrays live outside the JS heap (`arrayBuffers`), so both are reported.
  const before = process.memoryUsage();
  const big = book(BIG, 3);
  let bigDecision: ReturnType<typeof clearBook> | undefined;
  const bigMs = time(() => {
    bigDecision = clearBook(big, market, 'total');
  });
  const mem = process.memoryUsage();
  const bigDensityMs = time(() => clearBook(big, market, 'density'));
  rows.push(
    { case: 'clearBook total, 1M × 4', median_ms: bigMs, ratio: Number.NaN },
    { case: 'clearBook density, 1M × 4', median_ms: bigDensityMs, ratio: Number.NaN },
  );
  printTable(rows, `Clearing kernel (median of ${RUNS} runs after ${WARMUP} warm-ups; 1M: one run)`);
  const mb = (bytes: number) => bytes / 2 ** 20;
  const memory = {
    heap_used_mb: mb(mem.heapUsed),
    array_buffers_mb: mb(mem.arrayBuffers),
    added_mb: mb(mem.heapUsed + mem.arrayBuffers - before.heapUsed - before.arrayBuffers),
    rss_mb: mb(mem.rss),
    winners_1m: bigDecision?.winner_count ?? 0,
  };
  printTable([memory], 'One million bids: memory held by the book and its decision');

  const ratioTotal = median(samples.total) / sortMs;
  const result: BenchResult = {
    name: 'clearing',
    summary: {
      ratio_total: ratioTotal,
      ratio_density: median(samples.density) / sortMs,
      ratio_objects: median(samples.object) / sortMs,
      ms_1m: bigMs,
      memory_1m_mb: memory.added_mb,
    },
    checks: [
      check('clearBook total 100k ÷ Float64Array.sort 100k', ratioTotal, '<=', 3),
      check('clearBook 1M bids, ms', bigMs, '<=', 3000),
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
