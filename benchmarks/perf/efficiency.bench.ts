/**
 * Allocative efficiency of the clearing policies: revenue of each policy divided by the exact
 * optimum (branch and bound), on random rounds of 5–25 bids, in families where greedy orders
 * fail differently. Reports mean and worst ratio per policy and family, and how often each is
 * exactly optimal. Bars: the default policy's mean ≥ 0.99 and worst ≥ 0.9 over all families.
 *
 * Families (each bundle asks for 1.5–4× the supply of each resource it uses, together):
 * - `mixed`: bids offer 0.5–2× their reference cost, so amounts grow with bundle size as in a
 *   real market; supply is the capacity minus 0–50% held by active allocations;
 * - `uniform`: amounts drawn uniformly, whatever the bundle's size;
 * - `heavy_tail`: amounts of the reference cost times a Pareto draw (α = 1.2);
 * - `dominant`: every bundle is mostly cpu, the other resources a sliver;
 * - `attention`: most bundles need attention, of which there is 0.2–0.5 left;
 * - `small_large`: two to four large bundles (45–90% of the supply each) against many small ones.
 */
import { type ClearingBid, type ClearingMarket, clear } from '#shared/core/clearing';
import { clearOptimal, OPTIMAL_MAX_BIDS } from '#shared/core/clearing-optimal';
import { CLEARING_POLICIES, type ClearingPolicy, ECONOMY_DEFAULTS } from '#shared/core/market-config';
import { type Random, seededRandom } from '#shared/core/ports';
import { capacityOf, initialPrices, type PerResource, RESOURCES } from '#shared/core/resources';
import { type BenchResult, check, isMain, printTable, writeResult } from './run.ts';

/** Rounds per family. */
const INSTANCES = Number(process.env.BENCH_EFFICIENCY_ROUNDS ?? 300);
const capacity = capacityOf(ECONOMY_DEFAULTS);
const prices = initialPrices(ECONOMY_DEFAULTS);

export const FAMILIES = ['mixed', 'uniform', 'heavy_tail', 'dominant', 'attention', 'small_large'] as const;
export type Family = (typeof FAMILIES)[number];

interface Shape {
  /** Share of each resource in a bundle, before scaling to the pressure. */
  use: (r: (typeof RESOURCES)[number], i: number) => number;
  /** Multiplier of bundle i's size (1 = an average bundle). */
  size: (i: number) => number;
  /** Amount of a bundle of this reference cost. */
  amount: (reference: number) => number;
  /** Share of supply already held, per resource. */
  held: (r: (typeof RESOURCES)[number]) => number;
}

function shapeOf(family: Family, rng: Random, n: number): Shape {
  const draw = () => rng.next();
  const usual = (r: string) => (draw() < (r === 'attention' ? 0.3 : 0.7) ? 0.2 + 1.6 * draw() : 0);
  const held = 0.5 * draw();
  const base: Shape = {
    use: usual,
    size: () => 1,
    amount: (ref) => ref * (0.5 + 1.5 * draw()),
    held: () => held,
  };
  switch (family) {
    case 'mixed':
      return base;
    case 'uniform':
      return { ...base, amount: () => 0.01 + 5 * draw() };
    case 'heavy_tail':
      return { ...base, amount: (ref) => ref * (1 - draw()) ** (-1 / 1.2) };
    case 'dominant':
      return { ...base, use: (r) => (r === 'cpu' ? 0.2 + 1.6 * draw() : draw() < 0.5 ? 0.05 * draw() : 0) };
    case 'attention':
      return {
        ...base,
        use: (r) => (r === 'attention' ? (draw() < 0.85 ? 0.2 + 1.6 * draw() : 0) : usual(r)),
        held: (r) => (r === 'attention' ? 0.5 + 0.3 * draw() : held),
      };
    case 'small_large': {
      const large = 2 + Math.floor(draw() * 3);
      return { ...base, size: (i) => (i < large ? (n / large) * 0.3 : 0.4) };
    }
  }
}

export function instance(family: Family, rng: Random): { bids: ClearingBid[]; market: ClearingMarket } {
  const n = 5 + Math.floor(rng.next() * (OPTIMAL_MAX_BIDS - 4));
  const shape = shapeOf(family, rng, n);
  const supply = { ...capacity };
  for (const r of RESOURCES) supply[r] = capacity[r] * (1 - shape.held(r));
  // Size bundles so that together they ask for 1.5–4× the supply of each resource they use.
  const pressure = 1.5 + 2.5 * rng.next();
  const bids: ClearingBid[] = [];
  for (let i = 0; i < n; i++) {
    const rates: Partial<PerResource> = {};
    const d = 60 * (1 + Math.floor(rng.next() * 10));
    const size = shape.size(i);
    for (const r of RESOURCES) {
      const u = shape.use(r, i);
      if (u === 0) continue;
      let q = Math.max(0.01, ((pressure * supply[r]) / n) * u * size);
      if (r === 'cpu' || r === 'memory') q = Math.max(0.01, Math.min(100, Math.round(q * 100) / 100));
      if (r === 'attention') q = Math.max(0.01, Math.min(1, Math.round(q * 100) / 100));
      if (r === 'tokens') q = Math.max(1, Math.round(q * d)) / d;
      rates[r] = q;
    }
    if (Object.keys(rates).length === 0) rates.cpu = 10;
    const reference = RESOURCES.reduce((s, r) => s + prices[r] * (rates[r] ?? 0) * d, 0);
    const amount = Math.max(1, Math.round(shape.amount(reference) * 1e6));
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

const fresh = (): Stats => ({ sum: 0, worst: 1, optimal: 0, count: 0 });

function record(s: Stats, ratio: number): void {
  s.sum += ratio;
  s.count++;
  s.worst = Math.min(s.worst, ratio);
  if (ratio === 1) s.optimal++;
}

export async function run(): Promise<BenchResult> {
  const overall = Object.fromEntries(CLEARING_POLICIES.map((p) => [p, fresh()])) as Record<ClearingPolicy, Stats>;
  const rows: Record<string, string | number>[] = [];
  let nodes = 0;
  let searchMs = 0;
  let skipped = 0;
  let unproven = 0;
  for (const [f, family] of FAMILIES.entries()) {
    const rng = seededRandom(42 + f);
    const stats = Object.fromEntries(CLEARING_POLICIES.map((p) => [p, fresh()])) as Record<ClearingPolicy, Stats>;
    for (let i = 0; i < INSTANCES; i++) {
      const { bids, market } = instance(family, rng);
      const t = performance.now();
      const opt = clearOptimal(bids, market, { maxNodes: 2_000_000 });
      searchMs += performance.now() - t;
      nodes += opt.nodes;
      if (!opt.proven) unproven++;
      if (opt.revenue === 0) {
        skipped++;
        continue;
      }
      for (const policy of CLEARING_POLICIES) {
        const ratio = clear(bids, market, policy).revenue / opt.revenue;
        record(stats[policy], ratio);
        record(overall[policy], ratio);
      }
    }
    for (const policy of CLEARING_POLICIES) rows.push(row(family, policy, stats[policy]));
  }
  for (const policy of CLEARING_POLICIES) rows.push(row('all', policy, overall[policy]));
  const rounds = INSTANCES * FAMILIES.length;
  printTable(
    rows,
    `Allocative efficiency vs exact optimum (${INSTANCES} rounds of 5–${OPTIMAL_MAX_BIDS} bids per family)`,
  );
  printTable(
    [{ mean_nodes: nodes / rounds, mean_search_ms: searchMs / rounds, skipped_empty: skipped, unproven }],
    'Search',
  );
  const def = overall[ECONOMY_DEFAULTS.clearing.policy];
  const summary: Record<string, number> = {};
  for (const policy of CLEARING_POLICIES) {
    summary[`${policy}_mean`] = overall[policy].sum / overall[policy].count;
    summary[`${policy}_worst`] = overall[policy].worst;
  }
  const result: BenchResult = {
    name: 'efficiency',
    summary,
    checks: [
      check(`${ECONOMY_DEFAULTS.clearing.policy} (default) mean efficiency`, def.sum / def.count, '>=', 0.99),
      check(`${ECONOMY_DEFAULTS.clearing.policy} (default) worst efficiency`, def.worst, '>=', 0.9),
    ],
    rows,
    search: { mean_nodes: nodes / rounds, mean_ms: searchMs / rounds, unproven },
  };
  writeResult('efficiency', result);
  return result;
}

function row(family: string, policy: ClearingPolicy, s: Stats): Record<string, string | number> {
  return {
    family,
    policy: policy === ECONOMY_DEFAULTS.clearing.policy ? `${policy} (default)` : policy,
    instances: s.count,
    mean_ratio: s.sum / s.count,
    worst_ratio: s.worst,
    optimal_share: s.optimal / s.count,
  };
}

if (isMain(import.meta.url)) await run();
