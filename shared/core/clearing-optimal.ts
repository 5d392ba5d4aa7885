/**
 * Exact revenue-maximising clearing for small rounds (n ≤ 25), by branch and bound. It is the
 * yardstick for the greedy policies' allocative efficiency (greedy revenue ÷ optimal revenue),
 * not a production clearing rule: the problem is a multi-dimensional knapsack (NP-hard).
 *
 * It admits bundles with exactly the kernel's tick arithmetic (`clearing.ts`), so any greedy
 * decision is feasible here too and the optimum is never below it.
 *
 * Search: items in descending amount, "take" explored before "skip"; the incumbent starts as
 * the better of the two greedy orders; a node is pruned when its value plus an upper bound on
 * what the undecided items can add does not beat the incumbent. The bound is the smallest of
 * the sum of the undecided amounts and, per resource, the fractional-knapsack value of the
 * undecided items on that resource alone (each relaxes the problem, so each is a valid bound).
 */
import type { ClearingBid, ClearingMarket } from './clearing.ts';
import { needTicks, supplyTicksOf } from './clearing.ts';
import { type Micros, micros } from './money.ts';
import { unitsOf } from './quantities.ts';
import { RESOURCES } from './resources.ts';

export const OPTIMAL_MAX_BIDS = 25;

export interface OptimalDecision {
  /** Maximum revenue over every feasible set of winners, micro-credits. */
  revenue: Micros;
  /** One revenue-maximising set of winners, in descending amount. */
  winners: string[];
  /** Search nodes visited. */
  nodes: number;
  /** False when `maxNodes` stopped the search: `revenue` is then only the best found. */
  proven: boolean;
}

interface Item {
  id: string;
  amount: number;
  placedAt: number;
  ticks: number[];
}

export function clearOptimal(
  bids: readonly ClearingBid[],
  market: Pick<ClearingMarket, 'capacity' | 'supply'>,
  options: { maxNodes?: number } = {},
): OptimalDecision {
  if (bids.length > OPTIMAL_MAX_BIDS) {
    throw new RangeError(`exact clearing is limited to ${OPTIMAL_MAX_BIDS} bids, got ${bids.length}`);
  }
  const maxNodes = options.maxNodes ?? Number.POSITIVE_INFINITY;
  const units = unitsOf(market.capacity);
  const supply = supplyTicksOf(market, units);
  // Bundles that do not fit the full supply can never win: leave them out of the search.
  const items: Item[] = bids
    .map((b) => ({
      id: b.bid_id,
      amount: b.amount,
      placedAt: b.placed_at,
      ticks: needTicks(b.rates, b.duration_seconds, units),
    }))
    .filter((it) => it.ticks.every((t, k) => t <= (supply[k] as number)))
    .sort((a, b) => b.amount - a.amount || a.placedAt - b.placedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const m = items.length;
  const R = RESOURCES.length;

  const suffix = new Float64Array(m + 1);
  for (let k = m - 1; k >= 0; k--) suffix[k] = (suffix[k + 1] as number) + (items[k] as Item).amount;

  // Per resource, item positions by decreasing value per tick (items not using r first).
  const byRatio = RESOURCES.map((_, r) =>
    items.map((_, k) => k).sort((a, b) => ratio(items[b] as Item, r) - ratio(items[a] as Item, r) || a - b),
  );

  const bound = (k: number, left: number[]): number => {
    let best = suffix[k] as number;
    for (let r = 0; r < R; r++) {
      let room = left[r] as number;
      let value = 0;
      for (const pos of byRatio[r] as number[]) {
        if (pos < k) continue;
        const it = items[pos] as Item;
        const t = it.ticks[r] as number;
        if (t <= room) {
          room -= t;
          value += it.amount;
        } else {
          value += (it.amount * room) / t;
          break;
        }
      }
      if (value < best) best = value;
    }
    return best;
  };

  const chosen = new Uint8Array(m);
  let bestValue = -1;
  let bestSet = new Uint8Array(m);
  // Incumbents: greedy by amount (the search order) and by value per normalised footprint.
  const capacityTicks = RESOURCES.map((r) => units[r].capacity);
  const footprint = (it: Item) => it.ticks.reduce((f, t, r) => f + t / (capacityTicks[r] as number), 0);
  const densityOrder = items
    .map((_, k) => k)
    .sort((a, b) => {
      const ia = items[a] as Item;
      const ib = items[b] as Item;
      return ib.amount / footprint(ib) - ia.amount / footprint(ia) || a - b;
    });
  for (const order of [items.map((_, k) => k), densityOrder]) {
    const left = [...supply];
    const set = new Uint8Array(m);
    let value = 0;
    for (const k of order) {
      const it = items[k] as Item;
      if (it.ticks.every((t, r) => t <= (left[r] as number))) {
        it.ticks.forEach((t, r) => {
          left[r] = (left[r] as number) - t;
        });
        set[k] = 1;
        value += it.amount;
      }
    }
    if (value > bestValue) {
      bestValue = value;
      bestSet = set;
    }
  }

  let nodes = 0;
  let proven = true;
  const left = [...supply];
  const search = (k: number, value: number): void => {
    nodes++;
    if (value > bestValue) {
      bestValue = value;
      bestSet = chosen.slice();
    }
    if (k === m) return;
    if (nodes >= maxNodes) {
      proven = false;
      return;
    }
    if (value + bound(k, left) <= bestValue) return;
    const it = items[k] as Item;
    if (it.ticks.every((t, r) => t <= (left[r] as number))) {
      for (let r = 0; r < R; r++) left[r] = (left[r] as number) - (it.ticks[r] as number);
      chosen[k] = 1;
      search(k + 1, value + it.amount);
      chosen[k] = 0;
      for (let r = 0; r < R; r++) left[r] = (left[r] as number) + (it.ticks[r] as number);
    }
    search(k + 1, value);
  };
  search(0, 0);

  return {
    revenue: micros(Math.max(0, bestValue)),
    winners: items.filter((_, k) => bestSet[k] === 1).map((it) => it.id),
    nodes,
    proven,
  };
}

function ratio(it: Item, r: number): number {
  const t = it.ticks[r] as number;
  return t === 0 ? Number.POSITIVE_INFINITY : it.amount / t;
}
