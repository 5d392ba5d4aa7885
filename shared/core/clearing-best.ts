/**
 * The `best` clearing policy: the best of three greedy orders, then a bounded exchange search.
 *
 * 1. Three greedy all-or-nothing passes, each in its own priority order: by amount (`total`),
 *    by amount ÷ footprint (`density`) and by amount ÷ √footprint (Lehmann, O'Callaghan and
 *    Shoham's order, between the two), where the footprint is Σ need_r ÷ capacity_r in ticks.
 *    The pass with the highest revenue is kept (ties: that order of the three).
 * 2. Exchanges, from that allocation, over a pool of the best-placed losers: insert a loser by
 *    removing the winners that stand in its way (cheapest per unit of the room they free
 *    first), or drop a winner; then refill from the pool. A move is kept only when revenue
 *    strictly rises, so the search ends; it is bounded by a fixed number of sweeps over a pool
 *    of fixed size, so its cost does not grow with the round.
 * 3. A last greedy pass by amount over every bid, so that no losing bundle fits what the
 *    winners left.
 *
 * Each greedy pass stops as soon as nothing can fit any more (`greedyFill`), and the two
 * orders other than `total` are sorted lazily, one bucket of keys at a time, so a pass over a
 * round of 100 000 bids whose supply runs out after a few hundred winners sorts only the top
 * of its order. Everything is deterministic: the same bids in any input order give the same
 * winners.
 */
import { anyFits, greedyFill, OUTCOME, type PreparedRound, priorityOrder } from './clearing.ts';

const R = 4;
/** Losers each exchange sweep tries to insert (per greedy order they are drawn from). */
export const EXCHANGE_POOL = 32;
/** Sweeps over the pool and the winners; each keeps only strict improvements. */
export const EXCHANGE_SWEEPS = 4;

/**
 * Winners under `best`, listed in the `total` priority order (`byAmount`); `density` and
 * `root` are each bid's amount ÷ footprint and amount ÷ √footprint.
 */
export function bestWinners(
  round: PreparedRound,
  byAmount: Uint32Array,
  density: Float64Array,
  root: Float64Array,
): number[] {
  const n = round.size;
  const passes = [greedyPass(round, [byAmount]), greedyPass(round, lazyOrder(density, round))];
  passes.push(greedyPass(round, lazyOrder(root, round)));
  // Every pass's first losers are candidates for every search.
  const pool: number[] = [];
  for (const pass of passes) for (const i of pass.pool) if (!pool.includes(i)) pool.push(i);
  for (const i of firstLosers(round, byAmount, new Uint8Array(n))) if (!pool.includes(i)) pool.push(i);
  let state = exchange(round, passes[0] as Allocation, pool);
  for (const pass of passes.slice(1)) {
    const next = exchange(round, pass, pool);
    if (next.revenue > state.revenue) state = next;
  }
  greedyFill(round, byAmount, 0, n, state.left, state.won, state.winners);
  // Listed by amount, as `total` would list them: a winner's rank is its place in that order.
  const listed: number[] = [];
  for (let k = 0; k < n && listed.length < state.winners.length; k++) {
    const i = byAmount[k] as number;
    if (state.won[i] === 1) listed.push(i);
  }
  return listed;
}

interface Allocation {
  winners: number[];
  won: Uint8Array;
  left: Float64Array;
  revenue: number;
  /** The first losers the pass met that fit the full supply: exchange candidates. */
  pool: number[];
}

/** One greedy pass over an order given in chunks; stops when nothing fits any more. */
function greedyPass(round: PreparedRound, chunks: Iterable<Uint32Array>): Allocation {
  const won = new Uint8Array(round.size);
  const left = round.supply.slice();
  const winners: number[] = [];
  const pool: number[] = [];
  for (const chunk of chunks) {
    const open = greedyFill(round, chunk, 0, chunk.length, left, won, winners);
    for (let k = 0; k < chunk.length && pool.length < EXCHANGE_POOL; k++) {
      const i = chunk[k] as number;
      if (won[i] === 0 && round.loss[i] === OUTCOME.outbid) pool.push(i);
    }
    if (!open) break;
  }
  let revenue = 0;
  for (const i of winners) revenue += round.amount[i] as number;
  return { winners, won, left, revenue, pool };
}

function firstLosers(round: PreparedRound, order: Uint32Array, won: Uint8Array): number[] {
  const out: number[] = [];
  for (let k = 0; k < order.length && out.length < EXCHANGE_POOL; k++) {
    const i = order[k] as number;
    if (won[i] === 0 && round.loss[i] === OUTCOME.outbid) out.push(i);
  }
  return out;
}

/** Bids a lazy order sorts first; each later chunk is twice as large. */
const FIRST_CHUNK = 256;

/**
 * Indices by descending key, in chunks, sorted only as far as they are read. One counting
 * pass places the bids in buckets of their keys' top 20 bits (exponent and eight bits of
 * mantissa: within a factor 1 + 1/256), highest first; a chunk is a run of whole buckets,
 * sorted when it is reached with the kernel's order and tie-break (`priorityOrder`).
 * Concatenated, the chunks are `priorityOrder`'s order of all the keys.
 */
export function* lazyOrder(keys: Float64Array, round: Pick<PreparedRound, 'placedAt' | 'ids'>): Generator<Uint32Array> {
  const n = keys.length;
  const words = new Uint32Array(keys.buffer, keys.byteOffset, 2 * n);
  const H = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 1 : 0;
  let top = 0;
  let bottom = 0xfffff;
  for (let i = 0; i < n; i++) {
    const b = (words[2 * i + H] as number) >>> 12;
    if (b > top) top = b;
    if (b < bottom) bottom = b;
  }
  // Bucket 0 holds the largest keys.
  const start = new Uint32Array(Math.max(0, top - bottom) + 2);
  for (let i = 0; i < n; i++) (start[top - ((words[2 * i + H] as number) >>> 12) + 1] as number)++;
  for (let b = 1; b < start.length; b++) (start[b] as number) += start[b - 1] as number;
  const fill = start.slice();
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[(fill[top - ((words[2 * i + H] as number) >>> 12)] as number)++] = i;
  let b = 0;
  let want = FIRST_CHUNK;
  while (b < start.length - 1) {
    const from = start[b] as number;
    while (b < start.length - 1 && (start[b] as number) - from < want) b++;
    const chunk = idx.subarray(from, start[b] as number);
    const m = chunk.length;
    const sub = new Float64Array(m);
    const placed = new Float64Array(m);
    const ids: string[] = new Array(m);
    for (let k = 0; k < m; k++) {
      const i = chunk[k] as number;
      sub[k] = keys[i] as number;
      placed[k] = round.placedAt[i] as number;
      ids[k] = round.ids[i] as string;
    }
    const order = priorityOrder(sub, placed, ids, m);
    for (let k = 0; k < m; k++) order[k] = chunk[order[k] as number] as number;
    yield order;
    want *= 2;
  }
}

/**
 * Bounded exchange search from `start` over `pool` (see the module header). Moves change the
 * allocation in place; a move that does not raise revenue is undone from a copy of the winners.
 */
function exchange(round: PreparedRound, start: Allocation, pool: readonly number[]): Allocation {
  const state: Allocation = { ...start, winners: [...start.winners], won: start.won.slice(), left: start.left.slice() };
  for (let sweep = 0; sweep < EXCHANGE_SWEEPS; sweep++) {
    let improved = false;
    for (const c of pool) {
      if (state.won[c] === 1) continue;
      improved = attempt(state, () => insert(round, state, c, pool)) || improved;
    }
    for (const w of [...state.winners]) {
      if (state.won[w] === 0) continue;
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

/** Loser `c` in: the winners in its way out (cheapest per room freed first), then a refill. */
function insert(round: PreparedRound, state: Allocation, c: number, pool: readonly number[]): void {
  const { ticks, amount } = round;
  const deficit = new Float64Array(R);
  for (let k = 0; k < R; k++) deficit[k] = Math.max(0, (ticks[c * R + k] as number) - (state.left[k] as number));
  const freed = (w: number) => {
    let share = 0;
    for (let k = 0; k < R; k++) {
      const d = deficit[k] as number;
      if (d > 0) share += Math.min(ticks[w * R + k] as number, d) / d;
    }
    return share;
  };
  const inWay = state.winners
    .map((w) => ({ w, room: freed(w) }))
    .filter((x) => x.room > 0)
    .sort((a, b) => (amount[a.w] as number) / a.room - (amount[b.w] as number) / b.room || a.w - b.w);
  const out: number[] = [];
  const left = state.left.slice();
  for (const { w } of inWay) {
    if (fits(ticks, c, left)) break;
    out.push(w);
    for (let k = 0; k < R; k++) (left[k] as number) += ticks[w * R + k] as number;
  }
  if (!fits(ticks, c, left)) return;
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
    if (!anyFits(round.least, state.left)) break;
  }
}

function take(round: PreparedRound, state: Allocation, i: number): void {
  state.won[i] = 1;
  state.winners.push(i);
  state.revenue += round.amount[i] as number;
  for (let k = 0; k < R; k++) (state.left[k] as number) -= round.ticks[i * R + k] as number;
}

function fits(ticks: Float64Array, i: number, left: Float64Array): boolean {
  const o = i * R;
  return (
    (ticks[o] as number) <= (left[0] as number) &&
    (ticks[o + 1] as number) <= (left[1] as number) &&
    (ticks[o + 2] as number) <= (left[2] as number) &&
    (ticks[o + 3] as number) <= (left[3] as number)
  );
}
