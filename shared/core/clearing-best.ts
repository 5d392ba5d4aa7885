/**
 * The `best` clearing policy: the best of three greedy orders, then a bounded exchange search.
 *
 * 1. Three greedy all-or-nothing passes, each in its own priority order: by amount (`total`),
 *    by amount ÷ footprint (`density`) and by amount ÷ √footprint (Lehmann, O'Callaghan and
 *    Shoham's order, between the two), where the footprint is Σ rate_r ÷ capacity_r (as under
 *    `density`).
 * 2. Exchanges, from each of the three allocations, over a pool of the losers each pass met
 *    first: insert a loser by removing the winners that stand in its way (cheapest per unit of
 *    the room they free first), or drop a winner; then refill from the pool. A move is kept
 *    only when revenue strictly rises, so the search ends; it is bounded by a fixed number of
 *    sweeps over a pool of fixed size and by `EXCHANGE_MOVES`, so its cost does not grow with
 *    the round. The richest of the three results is kept (ties: in the order above).
 * 3. A last greedy pass by amount over every bid, so that no losing bundle fits what the
 *    winners left.
 *
 * Each greedy pass stops as soon as nothing can fit any more (`greedyFill`) and reads its order
 * lazily (`lazyOrder`), so a pass over a round of 100 000 bids whose supply runs out after a
 * few thousand bids sorts little more than those. Everything is deterministic: the same bids
 * in any input order give the same winners.
 */
import {
  bucketsOf,
  type Fill,
  fitsAt,
  greedyFill,
  type KeyBuckets,
  lazyOrder,
  livePatterns,
  OUTCOME,
  type PreparedRound,
  startFill,
} from './clearing.ts';

const R = 4;
/** Losers each greedy pass hands to the exchange search: the first it met that fit the full supply. */
export const EXCHANGE_POOL = 32;
/** Sweeps over the pool and the winners; each keeps only strict improvements. */
export const EXCHANGE_SWEEPS = 4;
/** Moves tried per search at most, whatever the round's size. */
export const EXCHANGE_MOVES = 128;
/** Winners in a candidate's way picked one at a time before the rest are sorted. */
const PICKS = 4;

/**
 * Winners under `best`, listed by amount as `total` lists them; `amount`, `density` and `root`
 * are each bid's amount, amount ÷ footprint and amount ÷ √footprint.
 */
export function bestWinners(
  round: PreparedRound,
  amount: Float64Array,
  density: Float64Array,
  root: Float64Array,
): number[] {
  const byAmount = bucketsOf(amount);
  const passes = [greedyPass(round, amount, byAmount), greedyPass(round, density), greedyPass(round, root)];
  // Every pass's first losers are candidates for every search.
  const pool: number[] = [];
  for (const pass of passes) for (const i of pass.pool) if (!pool.includes(i)) pool.push(i);
  let state = exchange(round, passes[0] as Allocation, pool);
  for (const pass of passes.slice(1)) {
    const next = exchange(round, pass, pool);
    if (next.revenue > state.revenue) state = next;
  }
  // Maximal: whatever still fits what the winners left goes in, by amount.
  state.live = livePatterns(round.least, state.left);
  if (state.live !== 0) {
    for (const chunk of lazyOrder(amount, round, state, byAmount)) if (!greedyFill(round, chunk, state)) break;
  }
  const { placedAt, ids } = round;
  return state.winners.sort(
    (a, b) =>
      (amount[b] as number) - (amount[a] as number) ||
      (placedAt[a] as number) - (placedAt[b] as number) ||
      ((ids[a] as string) < (ids[b] as string) ? -1 : 1),
  );
}

interface Allocation extends Fill {
  revenue: number;
  /** The first losers the pass met that fit the full supply: exchange candidates. */
  pool: number[];
}

/** One greedy pass by `keys`, read lazily; stops when nothing fits any more. */
function greedyPass(round: PreparedRound, keys: Float64Array, buckets?: KeyBuckets): Allocation {
  const fill = startFill(round);
  const pool: number[] = [];
  for (const chunk of lazyOrder(keys, round, fill, buckets)) {
    const open = greedyFill(round, chunk, fill);
    for (let k = 0; k < chunk.length && pool.length < EXCHANGE_POOL; k++) {
      const i = chunk[k] as number;
      if (fill.won[i] === 0 && round.loss[i] === OUTCOME.outbid) pool.push(i);
    }
    if (!open) break;
  }
  let revenue = 0;
  for (const i of fill.winners) revenue += round.amount[i] as number;
  return { ...fill, revenue, pool };
}

/**
 * Bounded exchange search from `start` over `pool` (see the module header). Moves change the
 * allocation in place; a move that does not raise revenue is undone from a copy of the winners.
 */
function exchange(round: PreparedRound, start: Allocation, pool: readonly number[]): Allocation {
  const state: Allocation = { ...start, winners: [...start.winners], won: start.won.slice(), left: start.left.slice() };
  let moves = 0;
  for (let sweep = 0; sweep < EXCHANGE_SWEEPS && moves < EXCHANGE_MOVES; sweep++) {
    let improved = false;
    for (const c of pool) {
      if (state.won[c] === 1 || moves++ >= EXCHANGE_MOVES) continue;
      improved = attempt(state, () => insert(round, state, c, pool)) || improved;
    }
    for (const w of [...state.winners]) {
      if (state.won[w] === 0 || moves++ >= EXCHANGE_MOVES) continue;
      improved =
        attempt(state, () => {
          remove(round, state, [w]);
          refill(round, state, pool, w);
        }) || improved;
    }
    if (!improved) break;
  }
  return state;
}

/** Runs a move; keeps it when revenue strictly rose, else restores the allocation before it. */
function attempt(state: Allocation, move: () => void): boolean {
  const winners = [...state.winners];
  const left = state.left.slice();
  const revenue = state.revenue;
  move();
  if (state.revenue > revenue) return true;
  for (const w of state.winners) state.won[w] = 0;
  for (const w of winners) state.won[w] = 1;
  state.winners = winners;
  state.left = left;
  state.revenue = revenue;
  return false;
}

/**
 * Loser `c` in: the winners in its way out, cheapest per unit of the room they free first,
 * then a refill from the pool. The first few are picked one at a time (usually enough); a
 * large bundle that needs more sorts the rest once.
 */
function insert(round: PreparedRound, state: Allocation, c: number, pool: readonly number[]): void {
  const { ticks, amount } = round;
  const left = state.left.slice();
  const deficit = [0, 0, 0, 0];
  for (let k = 0; k < R; k++) deficit[k] = Math.max(0, (ticks[c * R + k] as number) - (left[k] as number));
  // Cost of each winner in the way: its amount per unit of the deficit it frees.
  const inWay: number[] = [];
  const cost: number[] = [];
  for (const w of state.winners) {
    let room = 0;
    for (let k = 0; k < R; k++) {
      const d = deficit[k] as number;
      if (d > 0) room += Math.min(ticks[w * R + k] as number, d) / d;
    }
    if (room > 0) {
      inWay.push(w);
      cost.push((amount[w] as number) / room);
    }
  }
  const ranked = inWay.map((_, j) => j);
  const byCost = (x: number, y: number) => (cost[x] as number) - (cost[y] as number) || x - y;
  const out: number[] = [];
  for (let taken = 0; !fits(ticks, c, left); taken++) {
    if (taken === ranked.length) return;
    if (taken === PICKS) ranked.splice(taken, ranked.length - taken, ...ranked.slice(taken).sort(byCost));
    if (taken < PICKS) {
      // Selection: the cheapest of those not taken yet, to position `taken`.
      let best = taken;
      for (let j = taken + 1; j < ranked.length; j++)
        if (byCost(ranked[j] as number, ranked[best] as number) < 0) best = j;
      [ranked[taken], ranked[best]] = [ranked[best] as number, ranked[taken] as number];
    }
    const w = inWay[ranked[taken] as number] as number;
    out.push(w);
    for (let k = 0; k < R; k++) (left[k] as number) += ticks[w * R + k] as number;
  }
  remove(round, state, out);
  take(round, state, c);
  refill(round, state, pool, -1);
  refill(round, state, out, -1);
}

function remove(round: PreparedRound, state: Allocation, out: readonly number[]): void {
  for (const w of out) {
    state.won[w] = 0;
    state.revenue -= round.amount[w] as number;
    for (let k = 0; k < R; k++) (state.left[k] as number) += round.ticks[w * R + k] as number;
  }
  state.winners = state.winners.filter((w) => state.won[w] === 1);
}

/** Admits, in order, every candidate that fits, except `skip` (the winner just dropped). */
function refill(round: PreparedRound, state: Allocation, candidates: readonly number[], skip: number): void {
  for (const i of candidates) {
    if (i === skip || state.won[i] === 1 || !fits(round.ticks, i, state.left)) continue;
    take(round, state, i);
  }
}

function take(round: PreparedRound, state: Allocation, i: number): void {
  state.won[i] = 1;
  state.winners.push(i);
  state.revenue += round.amount[i] as number;
  for (let k = 0; k < R; k++) (state.left[k] as number) -= round.ticks[i * R + k] as number;
}

function fits(ticks: Float64Array, i: number, left: Float64Array): boolean {
  return fitsAt(ticks, i * R, left);
}
