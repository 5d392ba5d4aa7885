/**
 * Allocative efficiency of the greedy clearing policies: revenue of `total` and `density`
 * divided by the exact optimum (branch and bound), on random rounds of 5–25 bids whose
 * bundles ask for 1.5–4× the supply. Reports mean and worst ratio per policy, and how often
 * each is exactly optimal. Bar: the default policy's mean ≥ 0.95.
 *
 * Bids offer 0.5–2× their reference cost, so amounts grow with bundle size as they do in a
 * real market; supply is the capacity minus 0–50% held by active allocations.
 */
import { type ClearingBid, type ClearingMarket, clear } from '#shared/core/clearing';
import { clearOptimal, OPTIMAL_MAX_BIDS } from '#shared/core/clearing-optimal';
import { ECONOMY_DEFAULTS } from '#shared/core/market-config';
import { type Random, seededRandom } from '#shared/core/ports';
import { capacityOf, initialPrices, type PerResource, RESOURCES } from '#shared/core/resources';
import { type BenchResult, check, isMain, printTable, writeResult } from './run.ts';

const INSTANCES = 400;
const capacity = capacityOf(ECONOMY_DEFAULTS);
const prices = initialPrices(ECONOMY_DEFAULTS);

function instance(rng: Random): { bids: ClearingBid[]; market: ClearingMarket } {
  const n = 5 + Math.floor(rng.next() * (OPTIMAL_MAX_BIDS - 4));
  const held = 0.5 * rng.next();
  const supply = { ...capacity };
  for (const r of RESOURCES) supply[r] = capacity[r] * (1 - held);
  // Size bundles so that together they ask for 1.5–4× the supply of each resource they use.
  const pressure = 1.5 + 2.5 * rng.next();
  const bids: ClearingBid[] = [];
  for (let i = 0; i < n; i++) {
    const rates: Partial<PerResource> = {};
    const d = 60 * (1 + Math.floor(rng.next() * 10));
    for (const r of RESOURCES) {
      const p = r === 'attention' ? 0.3 : 0.7;
      if (rng.next() >= p) continue;
      const mean = (pressure * supply[r]) / (n * p);
      let q = Math.max(0.01, mean * (0.2 + 1.6 * rng.next()));
      if (r === 'cpu' || r === 'memory') q = Math.min(100, Math.round(q * 100) / 100);
      if (r === 'attention') q = Math.min(1, Math.round(q * 100) / 100);
      if (r === 'tokens') q = Math.max(1, Math.round(q * d)) / d;
      rates[r] = q;
    }
    if (Object.keys(rates).length === 0) rates.cpu = 10;
    const reference = RESOURCES.reduce((s, r) => s + prices[r] * (rates[r] ?? 0) * d, 0);
    const amount = Math.max(1, Math.round(reference * (0.5 + 1.5 * rng.next()) * 1e6));
    bids.push({ bid_id: `b${String(i).padStart(2, '0')}`, amount, placed_at: i, duration_seconds: d, rates });
  }
  return { bids, market: { capacity, supply, prices } };
}

interface Stats {
  sum: number;
  worst: number;
  optimal: number;
  count: number;
}

export async function run(): Promise<BenchResult> {
  const rng = seededRandom(42);
  const stats: Record<'total' | 'density', Stats> = {
    total: { sum: 0, worst: 1, optimal: 0, count: 0 },
    density: { sum: 0, worst: 1, optimal: 0, count: 0 },
  };
  let nodes = 0;
  let searchMs = 0;
  let skipped = 0;
  for (let i = 0; i < INSTANCES; i++) {
    const { bids, market } = instance(rng);
    const t = performance.now();
    const opt = clearOptimal(bids, market);
    searchMs += performance.now() - t;
    nodes += opt.nodes;
    if (opt.revenue === 0) {
      skipped++;
      continue;
    }
    for (const policy of ['total', 'density'] as const) {
      const ratio = clear(bids, market, policy).revenue / opt.revenue;
      const s = stats[policy];
      s.sum += ratio;
      s.count++;
      s.worst = Math.min(s.worst, ratio);
      if (ratio === 1) s.optimal++;
    }
  }
  const rows = (['total', 'density'] as const).map((policy) => {
    const s = stats[policy];
    return {
      policy: policy === ECONOMY_DEFAULTS.clearing.policy ? `${policy} (default)` : policy,
      instances: s.count,
      mean_ratio: s.sum / s.count,
      worst_ratio: s.worst,
      optimal_share: s.optimal / s.count,
    };
  });
  printTable(rows, `Allocative efficiency vs exact optimum (${INSTANCES} rounds of 5–${OPTIMAL_MAX_BIDS} bids)`);
  printTable(
    [{ mean_nodes: nodes / INSTANCES, mean_search_ms: searchMs / INSTANCES, skipped_empty: skipped }],
    'Search',
  );
  const def = stats[ECONOMY_DEFAULTS.clearing.policy];
  const result: BenchResult = {
    name: 'efficiency',
    summary: {
      total_mean: stats.total.sum / stats.total.count,
      total_worst: stats.total.worst,
      density_mean: stats.density.sum / stats.density.count,
      density_worst: stats.density.worst,
    },
    checks: [check(`${ECONOMY_DEFAULTS.clearing.policy} mean efficiency`, def.sum / def.count, '>=', 0.95)],
    rows,
    search: { mean_nodes: nodes / INSTANCES, mean_ms: searchMs / INSTANCES },
  };
  writeResult('efficiency', result);
  return result;
}

if (isMain(import.meta.url)) await run();
