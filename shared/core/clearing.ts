/**
 * The clearing kernel: a pure, deterministic function from a round's bids, the supply left by
 * active allocations and a policy, to a decision (winners, losers and their reasons, round
 * statistics). The clearing function, the local stack, the simulator and the benchmarks all
 * call it, so it owns the admission arithmetic too.
 *
 * Algorithm: greedy all-or-nothing in priority order. `total` ranks by amount (highest
 * first); `density` by amount ÷ normalised footprint, Σ rate_r ÷ capacity_r; `best` keeps the
 * best of three such orders and improves it by bounded exchanges (`clearing-best.ts`). Ties go
 * to the earlier `placed_at`, then the smaller `bid_id` (ids must be unique), so the same set
 * of bids in any input order gives the same decision. A bundle wins only if every resource it
 * asks for fits in what is left; otherwise it loses with `insufficient_supply` when it would
 * not fit even in the round's full supply, and `outbid` when other winners took it.
 *
 * Exactness: rates are compared as integers ("ticks", `quantities.ts`): cpu and memory in
 * quanta of 0.001 %, attention in quanta of 0.0001, tokens in 1/963 761 198 400 of capacity. A
 * need is rounded UP to whole ticks and a supply DOWN, exactly (no tolerance), so rounding can
 * never admit a bundle that does not fit; and since placement counts with the same functions, a
 * bundle accepted at placement always fits an empty round. Quantities of valid bundles are whole
 * quanta, so 0.1 + 0.2 + 0.7 fills an attention capacity of 1 exactly, and k token needs of a
 * k-th of the capacity fill it exactly (k ≤ 28). Supply and what is taken from it never exceed
 * about 1e12 ticks, far below 2^53, so that arithmetic is exact in float64.
 *
 * Scale: the hot loop works on typed arrays (a `BidBook`), never on per-bid objects. The
 * priority order is a stable LSD radix sort of the float64 keys' bit patterns (non-negative
 * doubles order like their bits) followed by a comparator sort of each run of equal keys only.
 * A greedy pass stops as soon as no bid of the round can fit what is left (`livePatterns`): in an
 * oversubscribed round that is after the first few hundred bids, and every later bid keeps the
 * loss computed for it in the first pass. Profiling showed the pass over all bids in priority
 * order, a random access per bid, costing more than the sort itself.
 */

import { bestWinners } from './clearing-best.ts';
import type { ClearingPolicy } from './market-config.ts';
import type { Micros } from './money.ts';
import { MICROS_PER_CREDIT, micros } from './money.ts';
import {
  type MarketUnits,
  NEAR,
  quantaUp,
  rateOfTicks,
  supplyTicks,
  type TickUnit,
  tokenTicksNear,
  tokenTicksUp,
  unitsOf,
} from './quantities.ts';
import { type PerResource, perResource, RESOURCES, type Resource } from './resources.ts';

export type { ClearingPolicy } from './market-config.ts';

/** A bid as the kernel sees it. `amount` in micro-credits; `rates` per resource (tokens: per second). */
export interface ClearingBid {
  bid_id: string;
  amount: Micros | number;
  /** Placement time, ms since the epoch: the first tie-breaker. */
  placed_at: number;
  duration_seconds: number;
  rates: Partial<PerResource>;
}

/** The market a round clears against. */
export interface ClearingMarket {
  capacity: PerResource;
  /** Capacity minus the rates of allocations still active at clearing time. */
  supply: PerResource;
  /** Posted prices, used to attribute a winner's amount to resources (clearing prices). */
  prices: PerResource;
}

export type LossReason = 'outbid' | 'insufficient_supply';

/** Outcome codes in `BookDecision.outcome`. */
export const OUTCOME = { won: 0, outbid: 1, insufficient_supply: 2 } as const;

const R = RESOURCES.length;

/** Ticks a bid of these rates needs per resource, in `RESOURCES` order, as the kernel counts them. */
export function needTicks(rates: Partial<PerResource>, durationSeconds: number, units: MarketUnits): number[] {
  return [
    quantaUp(rates.cpu ?? 0, units.cpu),
    quantaUp(rates.memory ?? 0, units.memory),
    tokenTicksUp(rates.tokens ?? 0, durationSeconds, units.tokens),
    quantaUp(rates.attention ?? 0, units.attention),
  ];
}

/** A round's full supply per resource in ticks, in `RESOURCES` order: at most the capacity, never below 0. */
export function supplyTicksOf(market: Pick<ClearingMarket, 'supply'>, units: MarketUnits): number[] {
  return RESOURCES.map((r) => supplyTicks(market.supply[r], units[r]));
}

/**
 * An allocation still active: its rates with its duration (exact), or its rates alone. Without
 * the duration a token rate is known only up to float noise (`tokenTicksNear`), so callers that
 * have the duration should pass it.
 */
export type ActiveHold = { rates: Partial<PerResource>; duration_seconds: number } | Partial<PerResource>;

/**
 * Supply left for a round: capacity minus the needs of the allocations still active, in the
 * kernel's ticks (an allocation counts rounded up), returned as the doubles `clearBook` reads
 * back as exactly those ticks.
 */
export function remainingSupply(capacity: PerResource, active: Iterable<ActiveHold>): PerResource {
  const units = unitsOf(capacity);
  const left = RESOURCES.map((r) => units[r].capacity);
  for (const hold of active) {
    let taken: number[];
    if ('rates' in hold) taken = needTicks(hold.rates, hold.duration_seconds, units);
    else {
      const rates = hold as Partial<PerResource>;
      taken = needTicks({ ...rates, tokens: 0 }, 1, units);
      taken[2] = tokenTicksNear(rates.tokens ?? 0, units.tokens);
    }
    for (let k = 0; k < R; k++) left[k] = (left[k] as number) - (taken[k] as number);
  }
  return perResource((r) => rateOfTicks(Math.max(0, left[RESOURCES.indexOf(r)] as number), units[r]));
}

/**
 * A round's bids in columns. One allocation per column instead of one object per bid keeps a
 * million bids in a few tens of megabytes and the hot loop free of garbage.
 */
export class BidBook {
  size = 0;
  ids: string[] = [];
  amount: Float64Array;
  placedAt: Float64Array;
  duration: Float64Array;
  /** `rates[i × 4 + k]`: rate of bid i for `RESOURCES[k]`. */
  rates: Float64Array;

  constructor(initialCapacity = 1024) {
    const n = Math.max(1, initialCapacity);
    this.amount = new Float64Array(n);
    this.placedAt = new Float64Array(n);
    this.duration = new Float64Array(n);
    this.rates = new Float64Array(n * R);
  }

  static from(bids: readonly ClearingBid[]): BidBook {
    const book = new BidBook(bids.length);
    for (const b of bids) book.addBid(b);
    return book;
  }

  /** Appends a bid; returns its index. */
  add(
    bidId: string,
    amount: number,
    placedAt: number,
    durationSeconds: number,
    cpu: number,
    memory: number,
    tokens: number,
    attention: number,
  ): number {
    if (this.size === this.amount.length) this.grow();
    const i = this.size++;
    this.ids[i] = bidId;
    this.amount[i] = amount;
    this.placedAt[i] = placedAt;
    this.duration[i] = durationSeconds;
    const o = i * R;
    this.rates[o] = cpu;
    this.rates[o + 1] = memory;
    this.rates[o + 2] = tokens;
    this.rates[o + 3] = attention;
    return i;
  }

  addBid(b: ClearingBid): number {
    const r = b.rates;
    return this.add(
      b.bid_id,
      b.amount,
      b.placed_at,
      b.duration_seconds,
      r.cpu ?? 0,
      r.memory ?? 0,
      r.tokens ?? 0,
      r.attention ?? 0,
    );
  }

  /** Empties the book, keeping its memory for the next round. */
  reset(): void {
    this.size = 0;
    this.ids.length = 0;
  }

  private grow(): void {
    const n = this.amount.length * 2;
    const grown = (a: Float64Array, len: number) => {
      const b = new Float64Array(len);
      b.set(a);
      return b;
    };
    this.amount = grown(this.amount, n);
    this.placedAt = grown(this.placedAt, n);
    this.duration = grown(this.duration, n);
    this.rates = grown(this.rates, n * R);
  }
}

/** What the kernel reads of a bid as clearing reads it from the round (its membership item). */
export interface RoundBidInput {
  bid_id: string;
  amount: number;
  placed_at_ms: number;
  duration_seconds: number;
  rates: Partial<PerResource>;
}

/**
 * The book of a round's bids as clearing reads them, row k holding `bids[k]`: straight from
 * the items read, with no intermediate bid objects.
 */
export function bookOfRound(bids: readonly RoundBidInput[]): BidBook {
  const n = bids.length;
  const book = new BidBook(n);
  const { amount, placedAt, duration, rates } = book;
  const ids: string[] = new Array(n);
  // Plain column writes, no call per bid: this loop is most of clearing's time outside the kernel.
  for (let i = 0; i < n; i++) {
    const b = bids[i] as RoundBidInput;
    const r = b.rates;
    ids[i] = b.bid_id;
    amount[i] = b.amount;
    placedAt[i] = b.placed_at_ms;
    duration[i] = b.duration_seconds;
    const o = i * R;
    rates[o] = r.cpu ?? 0;
    rates[o + 1] = r.memory ?? 0;
    rates[o + 2] = r.tokens ?? 0;
    rates[o + 3] = r.attention ?? 0;
  }
  book.ids = ids;
  book.size = n;
  return book;
}

/** Round statistics, shared by both forms of the decision. */
export interface ClearingStats {
  policy: ClearingPolicy;
  bids: number;
  winner_count: number;
  loser_count: number;
  /** Sum of the winners' amounts (first price), micro-credits. */
  revenue: Micros;
  capacity: PerResource;
  /** Supply the round started with (after rounding to ticks). */
  supply: PerResource;
  /** Σ rates of all bids, winners and losers (each rounded up to whole ticks): the demand prices react to. */
  requested: PerResource;
  /** Σ rates of the winners. */
  allocated: PerResource;
  /** Share of capacity in use right after clearing: allocations still active plus the winners. */
  utilization: PerResource;
  /**
   * Observed clearing price per resource, in price units (credits per unit-second; tokens:
   * per token), or null when no winner used the resource. It is the price paid by the
   * lowest-priority winning bundle that used r, attributed to r by r's share of that bundle's
   * reference cost: `amount × price_r × rate_r ÷ Σ_s price_s × rate_s`, per unit of r, which
   * simplifies to `price_r × amount ÷ reference_cost`.
   */
  clearing_prices: PerResource<number | null>;
  /** Losers for `insufficient_supply` whose bundle did not fit resource r's full supply. */
  insufficient: PerResource;
}

/** Decision over a `BidBook`: outcomes by bid index, no per-bid objects. */
export interface BookDecision extends ClearingStats {
  /** `OUTCOME` code of each bid, by index in the book. */
  outcome: Uint8Array;
  /** Indices of the winners, in priority order (under `best`: by amount, as `total` lists them). */
  winners: Uint32Array;
  /**
   * Every bid index in priority order (under `best`: by amount). Sorted on first read, from the
   * book's placement times and ids: read it before the book is reset or refilled. Clearing
   * itself never needs it: its greedy passes read the order lazily, only as far as they go.
   */
  readonly order: Uint32Array;
  /** Rate of each bid in ticks (`ticks[i × 4 + k]`), as admitted. */
  ticks: Float64Array;
  /** How each resource counts in ticks. */
  units: MarketUnits;
}

/** Decision over plain bids. Winners and losers are listed in priority order. */
export interface ClearingDecision extends ClearingStats {
  winners: string[];
  losers: { bid_id: string; reason: LossReason }[];
}

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const LO = littleEndian ? 0 : 1;
const HI = 1 - LO;
/**
 * Radix digits: 11, 11 and 10 bits of each 32-bit half, six passes. Small digit tables keep
 * the fixed cost low for the small rounds of a simulation and in cache for large ones.
 */
const DIGIT_SHIFT = [0, 11, 22, 0, 11, 22];
const DIGIT_MASK = [0x7ff, 0x7ff, 0x3ff, 0x7ff, 0x7ff, 0x3ff];
const BUCKETS = 2048;
/** Below this size a comparator sort beats the radix sort's fixed cost. */
const SMALL = 256;

/**
 * Bid indices by descending key, ties by ascending `placedAt` then `ids`. Keys must be
 * non-negative, finite or +Infinity, and never -0.
 */
export function priorityOrder(
  keys: Float64Array,
  placedAt: Float64Array,
  ids: readonly string[],
  n: number,
): Uint32Array {
  const tieBreak = (a: number, b: number): number => {
    const d = (placedAt[a] as number) - (placedAt[b] as number);
    if (d !== 0) return d;
    const ia = ids[a] as string;
    const ib = ids[b] as string;
    return ia < ib ? -1 : ia > ib ? 1 : 0;
  };
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (n < SMALL) {
    order.sort((a, b) => (keys[b] as number) - (keys[a] as number) || tieBreak(a, b));
    return order;
  }
  const words = new Uint32Array(keys.buffer, keys.byteOffset, 2 * n);
  // Complemented halves of each key (complement: descending order) travel with their index,
  // so every pass reads sequentially and only the writes scatter.
  let lo = new Uint32Array(n);
  let hi = new Uint32Array(n);
  let loSpare = new Uint32Array(n);
  let hiSpare = new Uint32Array(n);
  let spare = new Uint32Array(n);
  // Histograms of the six digits.
  const counts = new Uint32Array(6 * BUCKETS);
  for (let i = 0; i < n; i++) {
    const l = ~(words[2 * i + LO] as number) >>> 0;
    const h = ~(words[2 * i + HI] as number) >>> 0;
    lo[i] = l;
    hi[i] = h;
    (counts[l & 0x7ff] as number)++;
    (counts[BUCKETS + ((l >>> 11) & 0x7ff)] as number)++;
    (counts[2 * BUCKETS + (l >>> 22)] as number)++;
    (counts[3 * BUCKETS + (h & 0x7ff)] as number)++;
    (counts[4 * BUCKETS + ((h >>> 11) & 0x7ff)] as number)++;
    (counts[5 * BUCKETS + (h >>> 22)] as number)++;
  }
  for (let pass = 0; pass < 6; pass++) {
    const base = pass * BUCKETS;
    // A digit shared by every key cannot reorder anything: skip the pass.
    let trivial = false;
    let sum = 0;
    for (let d = 0; d < BUCKETS; d++) {
      const c = counts[base + d] as number;
      if (c === n) {
        trivial = true;
        break;
      }
      counts[base + d] = sum;
      sum += c;
    }
    if (trivial) continue;
    const shift = DIGIT_SHIFT[pass] as number;
    const mask = DIGIT_MASK[pass] as number;
    if (pass < 3) {
      // Low-half passes carry both halves.
      for (let k = 0; k < n; k++) {
        const l = lo[k] as number;
        const at = base + ((l >>> shift) & mask);
        const to = counts[at] as number;
        counts[at] = to + 1;
        spare[to] = order[k] as number;
        loSpare[to] = l;
        hiSpare[to] = hi[k] as number;
      }
      [lo, loSpare] = [loSpare, lo];
    } else {
      // The low half has done its work: only the high half travels on.
      for (let k = 0; k < n; k++) {
        const h = hi[k] as number;
        const at = base + ((h >>> shift) & mask);
        const to = counts[at] as number;
        counts[at] = to + 1;
        spare[to] = order[k] as number;
        hiSpare[to] = h;
      }
    }
    [hi, hiSpare] = [hiSpare, hi];
    [order, spare] = [spare, order];
  }
  // The radix sort is stable on input order; equal keys need the tie-break instead.
  let start = 0;
  for (let k = 1; k <= n; k++) {
    if (k < n && keys[order[k] as number] === keys[order[start] as number]) continue;
    if (k - start > 1) order.subarray(start, k).sort(tieBreak);
    start = k;
  }
  return order;
}

function assertPerResource(name: string, v: PerResource, min: 'positive' | 'non-negative' | 'any'): void {
  for (const r of RESOURCES) {
    const x = v[r];
    const ok = Number.isFinite(x) && (min === 'any' || x > 0 || (min === 'non-negative' && x === 0));
    if (!ok) throw new RangeError(`${name}.${r} is invalid: ${x}`);
  }
}

/**
 * A round ready to clear: what one pass over the book yields. Everything a policy reads is
 * here, in index order; the policies only choose winners.
 */
export interface PreparedRound {
  size: number;
  /** Rate of bid i in ticks, `ticks[i × 4 + k]`, rounded up. */
  ticks: Float64Array;
  amount: Float64Array;
  placedAt: Float64Array;
  ids: readonly string[];
  /** The round's full supply per resource, in ticks. */
  supply: Float64Array;
  /** Capacity per resource, in ticks. */
  capacity: Float64Array;
  /**
   * How each bid loses if it does not win: `insufficient_supply` when it would not fit even the
   * full supply (it can never win), `outbid` otherwise.
   */
  loss: Uint8Array;
  /**
   * Per usage pattern p (bit k set: the bundle asks for `RESOURCES[k]`), the smallest need of
   * each resource among the bids of that pattern that fit the full supply, `least[p × 4 + k]`
   * (+∞ when no such bid). When, for every pattern, some resource's least need exceeds what is
   * left, no bid of the round can fit any more: a greedy pass stops there.
   */
  least: Float64Array;
  /** Usage pattern of each bid (bit k: it asks for `RESOURCES[k]`). */
  pattern: Uint8Array;
  /** Σ ticks of all bids per resource (the demand prices react to). */
  requested: number[];
  /** Bids that do not fit resource k's full supply. */
  insufficient: number[];
}

/**
 * One pass over the book: validates each bid, converts its rates to ticks (`ticks[i × 4 + k]`),
 * computes its priority key and its preset loss, and sums the demand.
 */
function prepare(
  book: BidBook,
  capacity: PerResource,
  units: MarketUnits,
  supply: number[],
  policy: ClearingPolicy,
): { round: PreparedRound; keys: Float64Array; density: Float64Array; root: Float64Array } {
  const n = book.size;
  const { amount, rates, duration } = book;
  const { cpu: u0, memory: u1, tokens: u2, attention: u3 } = units;
  const [p0, p1, p2, p3] = [u0.perUnit, u1.perUnit, u2.perUnit, u3.perUnit];
  const [ic0, ic1, ic2, ic3] = RESOURCES.map((r) => 1 / capacity[r]) as [number, number, number, number];
  const [s0, s1, s2, s3] = supply as [number, number, number, number];
  const ticks = new Float64Array(n * R);
  const keys = new Float64Array(n);
  const density = policy === 'density';
  // `best` also reads two more orders: by amount ÷ footprint and by amount ÷ √footprint.
  const best = policy === 'best';
  const byDensity = new Float64Array(best ? n : 0);
  const byRoot = new Float64Array(best ? n : 0);
  const loss = new Uint8Array(n);
  const least = new Float64Array(16 * R).fill(Number.POSITIVE_INFINITY);
  const pattern = new Uint8Array(n);
  const requested = [0, 0, 0, 0];
  const insufficient = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) {
    const a = amount[i] as number;
    const o = i * R;
    const r0 = rates[o] as number;
    const r1 = rates[o + 1] as number;
    const r2 = rates[o + 2] as number;
    const r3 = rates[o + 3] as number;
    // Written so that NaN fails every check.
    if (!(Number.isSafeInteger(a) && a >= 0 && r0 >= 0 && r1 >= 0 && r2 >= 0 && r3 >= 0)) {
      throw new RangeError(`bid ${book.ids[i]}: amount must be whole micro-credits and rates non-negative`);
    }
    const footprint = r0 * ic0 + r1 * ic1 + r2 * ic2 + r3 * ic3;
    if (!(footprint > 0 && footprint < Number.POSITIVE_INFINITY)) {
      throw new RangeError(`bid ${book.ids[i]}: must ask for a finite, positive amount of some resource`);
    }
    // The common cases of `quantaUp` and `tokenTicksUp` inline (a whole number of quanta; a
    // token product clear of an integer); the functions handle the rest.
    const n0 = Math.round(r0 * p0);
    const n1 = Math.round(r1 * p1);
    const n3 = Math.round(r3 * p3);
    const t0 = n0 / p0 === r0 ? n0 : quantaUp(r0, u0);
    const t1 = n1 / p1 === r1 ? n1 : quantaUp(r1, u1);
    const t3 = n3 / p3 === r3 ? n3 : quantaUp(r3, u3);
    let t2 = 0;
    if (r2 !== 0) {
      const x = r2 * p2;
      const c = Math.ceil(x);
      t2 = c - x > x * NEAR && x - (c - 1) > x * NEAR ? c : tokenTicksUp(r2, duration[i] as number, u2);
    }
    ticks[o] = t0;
    ticks[o + 1] = t1;
    ticks[o + 2] = t2;
    ticks[o + 3] = t3;
    // Demand in ticks: integer sums are exact below 2^53.
    (requested[0] as number) += t0;
    (requested[1] as number) += t1;
    (requested[2] as number) += t2;
    (requested[3] as number) += t3;
    const p = (t0 > 0 ? 1 : 0) | (t1 > 0 ? 2 : 0) | (t2 > 0 ? 4 : 0) | (t3 > 0 ? 8 : 0);
    pattern[i] = p;
    if (t0 > s0 || t1 > s1 || t2 > s2 || t3 > s3) {
      loss[i] = OUTCOME.insufficient_supply;
      if (t0 > s0) (insufficient[0] as number)++;
      if (t1 > s1) (insufficient[1] as number)++;
      if (t2 > s2) (insufficient[2] as number)++;
      if (t3 > s3) (insufficient[3] as number)++;
    } else {
      loss[i] = OUTCOME.outbid;
      const at = p * R;
      if (t0 < (least[at] as number)) least[at] = t0;
      if (t1 < (least[at + 1] as number)) least[at + 1] = t1;
      if (t2 < (least[at + 2] as number)) least[at + 2] = t2;
      if (t3 < (least[at + 3] as number)) least[at + 3] = t3;
    }
    // `+ 0` turns -0 into +0, whose bits sort correctly.
    keys[i] = (density ? a / footprint : a) + 0;
    if (best) {
      byDensity[i] = a / footprint + 0;
      byRoot[i] = a / Math.sqrt(footprint) + 0;
    }
  }
  const capacityTicks = Float64Array.from(RESOURCES, (r) => units[r].capacity);
  const round: PreparedRound = {
    size: n,
    ticks,
    amount,
    placedAt: book.placedAt,
    ids: book.ids,
    supply: Float64Array.from(supply),
    capacity: capacityTicks,
    loss,
    least,
    pattern,
    requested,
    insufficient,
  };
  return { round, keys, density: byDensity, root: byRoot };
}

/**
 * The usage patterns some bid of which could still fit `left` (bit p: pattern p): 0 when no bid
 * of the round can fit any more.
 */
export function livePatterns(least: Float64Array, left: Float64Array): number {
  let live = 0;
  for (let p = 1; p < 16; p++) if (fitsAt(least, p * R, left)) live |= 1 << p;
  return live;
}

/** Whether the four needs at `needs[at .. at + 4)` fit `left`. */
export function fitsAt(needs: Float64Array, at: number, left: Float64Array): boolean {
  return (
    (needs[at] as number) <= (left[0] as number) &&
    (needs[at + 1] as number) <= (left[1] as number) &&
    (needs[at + 2] as number) <= (left[2] as number) &&
    (needs[at + 3] as number) <= (left[3] as number)
  );
}

/** A greedy pass in progress: the supply left, the winners so far, the patterns still live. */
export interface Fill {
  left: Float64Array;
  /** 1 for each bid index that won. */
  won: Uint8Array;
  /** Winners in the order they were admitted. */
  winners: number[];
  /** `livePatterns` of `left`: a bid of a dead pattern cannot fit and is not even looked at. */
  live: number;
}

export function startFill(round: PreparedRound): Fill {
  const left = round.supply.slice();
  return { left, won: new Uint8Array(round.size), winners: [], live: livePatterns(round.least, left) };
}

/**
 * Greedy all-or-nothing over `order`: each bid that fits what is left wins. Returns false as
 * soon as no bid of the round can fit what is left, so the caller stops: every later bid
 * keeps its preset loss, which is what a pass to the end would have decided.
 */
export function greedyFill(round: PreparedRound, order: ArrayLike<number>, fill: Fill): boolean {
  const { ticks, loss, least, pattern } = round;
  const { left, won } = fill;
  let live = fill.live;
  for (let k = 0; k < order.length && live !== 0; k++) {
    const i = order[k] as number;
    if (((live >>> (pattern[i] as number)) & 1) === 0 || loss[i] !== OUTCOME.outbid || won[i] === 1) continue;
    const o = i * R;
    const t0 = ticks[o] as number;
    const t1 = ticks[o + 1] as number;
    const t2 = ticks[o + 2] as number;
    const t3 = ticks[o + 3] as number;
    if (
      t0 <= (left[0] as number) &&
      t1 <= (left[1] as number) &&
      t2 <= (left[2] as number) &&
      t3 <= (left[3] as number)
    ) {
      (left[0] as number) -= t0;
      (left[1] as number) -= t1;
      (left[2] as number) -= t2;
      (left[3] as number) -= t3;
      won[i] = 1;
      fill.winners.push(i);
      live = livePatterns(least, left);
    }
  }
  fill.live = live;
  return live !== 0;
}

/** Clears a round held in a `BidBook`. Pure and deterministic; the book is not modified. */
export function clearBook(book: BidBook, market: ClearingMarket, policy: ClearingPolicy = 'total'): BookDecision {
  const { capacity, prices } = market;
  assertPerResource('capacity', capacity, 'positive');
  // A supply computed as capacity minus active rates may come out a hair below zero, or below
  // zero for real after capacity was lowered under running allocations: either way, nothing is free.
  assertPerResource('supply', market.supply, 'any');
  assertPerResource('prices', prices, 'non-negative');
  const units = unitsOf(capacity);
  const { round, keys, density, root } = prepare(book, capacity, units, supplyTicksOf(market, units), policy);
  let winners: number[];
  if (policy === 'best') winners = bestWinners(round, keys, density, root);
  else {
    const fill = startFill(round);
    for (const chunk of lazyOrder(keys, round, fill)) if (!greedyFill(round, chunk, fill)) break;
    winners = fill.winners;
  }
  const outcome = round.loss;
  for (const i of winners) outcome[i] = OUTCOME.won;
  const stats = statsOf(book, round, winners, market, units, policy);
  let order: Uint32Array | undefined;
  return {
    ...stats,
    outcome,
    winners: Uint32Array.from(winners),
    get order() {
      order ??= priorityOrder(keys, book.placedAt, book.ids, round.size);
      return order;
    },
    ticks: round.ticks,
    units,
  };
}

/** Bid indices grouped by bucket of key, highest bucket first: `idx[start[b] .. start[b + 1])`. */
export interface KeyBuckets {
  idx: Uint32Array;
  start: Uint32Array;
}

/** The counting pass of `lazyOrder`: bids in buckets of their keys' top 20 bits, highest first. */
export function bucketsOf(keys: Float64Array): KeyBuckets {
  const n = keys.length;
  const words = new Uint32Array(keys.buffer, keys.byteOffset, 2 * n);
  let top = 0;
  let bottom = 0xfffff;
  for (let i = 0; i < n; i++) {
    const b = (words[2 * i + HI] as number) >>> 12;
    if (b > top) top = b;
    if (b < bottom) bottom = b;
  }
  // Bucket 0 holds the largest keys.
  const start = new Uint32Array(Math.max(0, top - bottom) + 2);
  for (let i = 0; i < n; i++) (start[top - ((words[2 * i + HI] as number) >>> 12) + 1] as number)++;
  for (let b = 1; b < start.length; b++) (start[b] as number) += start[b - 1] as number;
  const next = start.slice();
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[(next[top - ((words[2 * i + HI] as number) >>> 12)] as number)++] = i;
  return { idx, start };
}

/** The bids of `chunk` whose pattern is live, in a new array (the buckets stay as they are). */
function livePart(chunk: Uint32Array, pattern: Uint8Array, live: number): Uint32Array {
  const out = new Uint32Array(chunk.length);
  let m = 0;
  for (let k = 0; k < chunk.length; k++) {
    const i = chunk[k] as number;
    if (((live >>> (pattern[i] as number)) & 1) === 1) out[m++] = i;
  }
  return out.subarray(0, m);
}

/** Bids a lazy order sorts first; each later chunk is twice as large. */
const FIRST_CHUNK = 256;

/**
 * Indices by descending key, in chunks, sorted only as far as they are read. One counting
 * pass places the bids in buckets of their keys' top 20 bits (exponent and eight bits of
 * mantissa: within a factor 1 + 1/256), highest first; a chunk is a run of whole buckets,
 * sorted when it is reached with the kernel's order and tie-break (`priorityOrder`).
 * Concatenated, the chunks are `priorityOrder`'s order of all the keys. A greedy pass that
 * stops after its first few hundred bids sorts little more than those.
 */
export function* lazyOrder(
  keys: Float64Array,
  round: Pick<PreparedRound, 'placedAt' | 'ids' | 'pattern'>,
  fill?: Pick<Fill, 'live'>,
  buckets: KeyBuckets = bucketsOf(keys),
): Generator<Uint32Array> {
  const { idx, start } = buckets;
  let b = 0;
  let want = FIRST_CHUNK;
  while (b < start.length - 1) {
    const from = start[b] as number;
    while (b < start.length - 1 && (start[b] as number) - from < want) b++;
    let chunk = idx.subarray(from, start[b] as number);
    if (fill !== undefined) chunk = livePart(chunk, round.pattern, fill.live);
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

/** The round's statistics from its winners, listed in priority order. */
function statsOf(
  book: BidBook,
  round: PreparedRound,
  winners: readonly number[],
  market: ClearingMarket,
  units: MarketUnits,
  policy: ClearingPolicy,
): ClearingStats {
  const { capacity, prices } = market;
  const { ticks, supply: started } = round;
  const left = [...started];
  const last = [-1, -1, -1, -1];
  let revenue = 0;
  for (const i of winners) {
    revenue += book.amount[i] as number;
    for (let k = 0; k < R; k++) {
      const t = ticks[i * R + k] as number;
      left[k] = (left[k] as number) - t;
      if (t > 0) last[k] = i;
    }
  }
  const tickUnits: TickUnit[] = RESOURCES.map((r) => units[r]);
  const rate = (t: number, k: number) => rateOfTicks(t, tickUnits[k] as TickUnit);
  const each = (f: (k: number) => number) => perResource((r) => f(RESOURCES.indexOf(r)));
  const observed = (k: number) => {
    const i = last[k] as number;
    return i < 0 ? null : observedPrice(book, i, RESOURCES[k] as Resource, prices);
  };
  return {
    policy,
    bids: round.size,
    winner_count: winners.length,
    loser_count: round.size - winners.length,
    // Winners' amounts are escrowed balances, whose total is bounded by the credits in
    // existence, far below 2^53 (see money.ts): the float sum of integers is exact.
    revenue: micros(revenue),
    capacity: { ...capacity },
    supply: each((k) => rate(started[k] as number, k)),
    requested: each((k) => rate(round.requested[k] as number, k)),
    allocated: each((k) => rate((started[k] as number) - (left[k] as number), k)),
    // In use after clearing: capacity minus what is left, in ticks (exactly 0 in an idle market).
    utilization: each((k) => {
      const cap = (tickUnits[k] as TickUnit).capacity;
      return Math.min(1, Math.max(0, (cap - (left[k] as number)) / cap));
    }),
    clearing_prices: { cpu: observed(0), memory: observed(1), tokens: observed(2), attention: observed(3) },
    insufficient: each((k) => round.insufficient[k] as number),
  };
}

/** Per-unit price of resource r paid by bid i: `price_r × amount ÷ reference cost` (credits). */
function observedPrice(book: BidBook, i: number, r: Resource, prices: PerResource): number | null {
  const o = i * R;
  let reference = 0;
  for (let k = 0; k < R; k++) reference += prices[RESOURCES[k] as Resource] * (book.rates[o + k] as number);
  reference *= book.duration[i] as number;
  if (!(reference > 0)) return null;
  const credits = (book.amount[i] as number) / MICROS_PER_CREDIT;
  return (prices[r] * credits) / reference;
}

/** Clears a round of plain bids (the form the clearing function and tests use). */
export function clear(
  bids: readonly ClearingBid[],
  market: ClearingMarket,
  policy: ClearingPolicy = 'total',
): ClearingDecision {
  const book = BidBook.from(bids);
  const { outcome, order, winners: _winners, ticks: _ticks, units: _units, ...stats } = clearBook(book, market, policy);
  const winners: string[] = [];
  const losers: { bid_id: string; reason: LossReason }[] = [];
  for (const i of order) {
    const id = book.ids[i] as string;
    const o = outcome[i];
    if (o === OUTCOME.won) winners.push(id);
    else losers.push({ bid_id: id, reason: o === OUTCOME.outbid ? 'outbid' : 'insufficient_supply' });
  }
  return { ...stats, winners, losers };
}
