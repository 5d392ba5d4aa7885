/**
 * A deterministic, in-process market: agents bid for bundles, rounds clear with the real
 * kernel, allocations hold supply until they expire, and prices move with the real
 * tâtonnement. No I/O and no clock: time advances one round at a time and every draw comes
 * from one seeded `Random`, so a seed replays exactly. Tests use it to check that prices
 * settle and react; the simulator and the benchmarks drive it at scale.
 *
 * Demand model. Each agent has a base bundle (which resources it uses, and how much) and a
 * private value per unit of each resource, both drawn once, so demand is stationary unless a
 * spike is scheduled. Quantities are sized from `load`: if every agent that uses resource r
 * bid every round, the round would request `load_r × capacity_r` of it. In a round an agent
 * bids with probability `activity`, jitters its quantities, and prices its bid by strategy:
 *
 * - `zero_intelligence`: a uniform random amount between the floor cost and its value
 *   (Gode & Sunder's budget-constrained ZI trader); blind to posted prices.
 *
 * The other three read the market like an agent reading `GET /v1/market`: they leave out of
 * their bundle every resource they value below its posted price (an agent that finds tokens
 * too dear this round runs without the LLM), bid only when something is left, and differ in
 * what they offer. Keeping or dropping a resource on its own price is what makes each
 * resource's demand answer to its own price; without it, resources that are always bought
 * together (cpu and memory) only see the sum of their prices, and their ratio drifts.
 *
 * - `conservative`: the reference cost plus 0–5%.
 * - `aggressive`: its whole value.
 * - `adaptive`: learns from clearing prices: it tracks, per resource, a moving average of the
 *   observed clearing price relative to the posted price (how far above or below the posted
 *   price bundles actually win), offers the reference cost scaled by those ratios and by a
 *   personal markup, raises the markup after a loss and lowers it after a win.
 *
 * No agent ever offers more than its value or less than the floor cost (that bid would be
 * rejected as `below_reserve`). Budgets are not modelled: values bound the bids.
 */
import { BidBook, type ClearingPolicy, clearBook, OUTCOME } from './clearing.ts';
import { ECONOMY_DEFAULTS, type EconomyConfig } from './market-config.ts';
import { MICROS_PER_CREDIT, type Micros } from './money.ts';
import { seededRandom } from './ports.ts';
import { type PriceUpdate, pricesAfter, updatePrices } from './pricing.ts';
import { rateOfTicks, unitsOf } from './quantities.ts';
import { capacityOf, initialPrices, type PerResource, perResource, RESOURCES, type Resource } from './resources.ts';

export const STRATEGIES = ['zero_intelligence', 'conservative', 'aggressive', 'adaptive'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** Multiplies the quantities agents ask for, in rounds `from_round ≤ t < to_round`. */
export interface DemandSpike {
  from_round: number;
  to_round: number;
  factor: number;
  /** Resources affected (default: all). */
  resources?: Resource[];
}

export interface SimulationOptions {
  agents: number;
  rounds: number;
  seed: number;
  /** Default: `ECONOMY_DEFAULTS`. */
  economy?: EconomyConfig;
  /** Default: the economy's clearing policy. */
  policy?: ClearingPolicy;
  /** Relative weights of the strategies (default: equal). */
  mix?: Partial<Record<Strategy, number>>;
  /** Probability that an agent bids in a round (default 0.8). */
  activity?: number;
  /** Requested ÷ capacity if every agent using r bid its base bundle (default 2 for each). */
  load?: Partial<PerResource>;
  /** Probability that an agent's bundle includes r (default cpu 0.8, memory 0.8, tokens 0.6, attention 0.2). */
  inclusion?: Partial<PerResource>;
  /** Allocation durations, in whole rounds (default 1–3). */
  duration_rounds?: { min: number; max: number };
  /** Relative jitter of quantities from round to round (default 0.1). */
  jitter?: number;
  /** Median value per unit ÷ initial price (default 1.5). */
  value_scale?: number;
  /** Standard deviation of log values across agents (default 0.5). */
  value_spread?: number;
  spikes?: DemandSpike[];
  /** Time of round 0, ms since the epoch (default 2026-01-01T00:00:00Z). */
  start_ms?: number;
}

export interface SimulationRound {
  round: number;
  bids: number;
  winners: number;
  losers: number;
  revenue: Micros;
  requested: PerResource;
  allocated: PerResource;
  utilization: PerResource;
  clearing_prices: PerResource<number | null>;
  updates: PriceUpdate[];
  /** Prices after this round's update. */
  prices: PerResource;
}

export interface SimulationResult {
  rounds: SimulationRound[];
  /** Per resource: the initial price, then the price after each round (length rounds + 1). */
  price_series: PerResource<number[]>;
  final_prices: PerResource;
  agent_rounds: number;
  bids: number;
  winners: number;
}

const DEFAULT_INCLUSION: PerResource = { cpu: 0.8, memory: 0.8, tokens: 0.6, attention: 0.2 };
/** Weight of a new observation in the adaptive agents' moving average of clearing ÷ posted price. */
const EMA_WEIGHT = 0.3;
const MARKUP_MIN = 0.7;
const MARKUP_MAX = 2;

export function simulate(options: SimulationOptions): SimulationResult {
  const economy = options.economy ?? ECONOMY_DEFAULTS;
  const policy = options.policy ?? economy.clearing.policy;
  const n = options.agents;
  const rng = seededRandom(options.seed);
  const rand = () => rng.next();
  const activity = options.activity ?? 0.8;
  const jitter = options.jitter ?? 0.1;
  const valueScale = options.value_scale ?? 1.5;
  const valueSpread = options.value_spread ?? 0.5;
  const durations = options.duration_rounds ?? { min: 1, max: 3 };
  const spikes = options.spikes ?? [];
  const startMs = options.start_ms ?? Date.UTC(2026, 0, 1);
  const roundMs = economy.round_seconds * 1000;
  if (!(n >= 1 && options.rounds >= 0 && activity > 0 && activity <= 1 && durations.min >= 1)) {
    throw new RangeError('simulation needs agents ≥ 1, rounds ≥ 0, 0 < activity ≤ 1, durations ≥ 1 round');
  }

  const capacity = capacityOf(economy);
  const capList = RESOURCES.map((r) => capacity[r]);
  const limits = RESOURCES.map((r) => (r === 'cpu' || r === 'memory' ? Math.min(100, capacity[r]) : capacity[r]));
  const floors = RESOURCES.map((r) => economy.prices[r].min_price);
  const inclusion = RESOURCES.map((r) => options.inclusion?.[r] ?? DEFAULT_INCLUSION[r]);
  const load = RESOURCES.map((r) => options.load?.[r] ?? 2);

  // Agents: strategy, base rates and private values, in flat typed arrays.
  const mixWeights = STRATEGIES.map((s) => options.mix?.[s] ?? (options.mix ? 0 : 1));
  const mixTotal = mixWeights.reduce((a, b) => a + b, 0);
  if (!(mixTotal > 0)) throw new RangeError('strategy mix must have a positive weight');
  const strategy = new Uint8Array(n);
  const base = new Float64Array(n * 4);
  const value = new Float64Array(n * 4);
  const markup = new Float64Array(n).fill(1);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  for (let i = 0; i < n; i++) {
    let pick = rand() * mixTotal;
    let s = 0;
    while (s < STRATEGIES.length - 1 && pick >= (mixWeights[s] as number)) pick -= mixWeights[s++] as number;
    strategy[i] = s;
    let any = false;
    for (let k = 0; k < 4; k++) {
      const inc = inclusion[k] as number;
      const included = rand() < inc;
      const meanRate = ((load[k] as number) * (capList[k] as number)) / (n * activity * Math.max(inc, 1e-9));
      const rate = meanRate * (0.5 + rand());
      if (included && rate > 0) {
        base[i * 4 + k] = rate;
        any = true;
      }
      value[i * 4 + k] =
        economy.prices[RESOURCES[k] as Resource].initial_price * valueScale * Math.exp(valueSpread * normal());
    }
    // Every agent asks for something: fall back to cpu.
    if (!any)
      base[i * 4] =
        ((load[0] as number) * (capList[0] as number)) / (n * activity * Math.max(inclusion[0] as number, 1e-9));
  }

  // Active allocations, in ticks, released from a ring indexed by the round they expire in.
  const units = unitsOf(capacity);
  const capTicks = RESOURCES.map((r) => units[r].capacity);
  const active = [0, 0, 0, 0];
  // Sized for the longest allocation the economy allows, whatever the options ask for.
  const ringSize = Math.ceil(economy.duration_seconds.max / economy.round_seconds) + 1;
  const release = new Float64Array(ringSize * 4);

  let prices = initialPrices(economy);
  const ratio = [1, 1, 1, 1];
  const series = perResource<number[]>((r) => [prices[r]]);
  const rounds: SimulationRound[] = [];
  const book = new BidBook(Math.max(16, Math.ceil(n * activity * 1.2)));
  let bidAgent = new Uint32Array(book.amount.length);
  let totalBids = 0;
  let totalWinners = 0;
  const q = [0, 0, 0, 0];

  for (let t = 0; t < options.rounds; t++) {
    const now = startMs + t * roundMs;
    const slot = (t % ringSize) * 4;
    for (let k = 0; k < 4; k++) {
      active[k] = (active[k] as number) - (release[slot + k] as number);
      release[slot + k] = 0;
    }
    const factors = RESOURCES.map((r) => spikeFactor(spikes, t, r));
    const priceList = RESOURCES.map((r) => prices[r]);

    book.reset();
    for (let i = 0; i < n; i++) {
      if (rand() >= activity) continue;
      const dRounds = durations.min + Math.floor(rand() * (durations.max - durations.min + 1));
      const d = Math.min(
        economy.duration_seconds.max,
        Math.max(economy.duration_seconds.min, dRounds * economy.round_seconds),
      );
      let reference = 0;
      let floor = 0;
      let worth = 0;
      let estimate = 0;
      let asked = 0;
      const priceBlind = strategy[i] === 0;
      for (let k = 0; k < 4; k++) {
        const b = base[i * 4 + k] as number;
        q[k] = 0;
        if (b === 0) continue;
        const wobble = 1 + jitter * (2 * rand() - 1);
        // A price-reading agent leaves out what it values below the posted price.
        if (!priceBlind && (value[i * 4 + k] as number) < (priceList[k] as number)) continue;
        let rate = Math.min(limits[k] as number, b * wobble * (factors[k] as number));
        let used: number;
        if (k === 2) {
          // Tokens are asked as a whole number for the allocation.
          const tokens = Math.max(1, Math.min(Math.floor((capList[2] as number) * d), Math.round(rate * d)));
          rate = tokens / d;
          used = tokens;
        } else {
          used = rate * d;
        }
        q[k] = rate;
        asked++;
        reference += (priceList[k] as number) * used;
        floor += (floors[k] as number) * used;
        worth += (value[i * 4 + k] as number) * used;
        estimate += (priceList[k] as number) * (ratio[k] as number) * used;
      }
      if (asked === 0) continue;
      let offer = -1;
      if (priceBlind) {
        if (worth >= floor) offer = floor + rand() * (worth - floor);
      } else if (worth >= reference) {
        if (strategy[i] === 1) offer = reference * (1 + 0.05 * rand());
        else if (strategy[i] === 2) offer = worth;
        else offer = estimate * (markup[i] as number);
        offer = Math.min(worth, offer);
      }
      if (offer < 0) continue;
      // Whole micro-credits: never above the value, never below the floor cost (the margin
      // covers the float rounding of this estimate of the floor).
      const minimum = Math.ceil(floor * (1 + 1e-9) * MICROS_PER_CREDIT);
      const amount = Math.max(minimum, Math.floor(offer * MICROS_PER_CREDIT));
      if (amount > worth * MICROS_PER_CREDIT) continue;
      const idx = book.add(
        `${t}:${i}`,
        amount,
        now + Math.floor(rand() * roundMs),
        d,
        q[0] as number,
        q[1] as number,
        q[2] as number,
        q[3] as number,
      );
      if (idx >= bidAgent.length) {
        const grown = new Uint32Array(book.amount.length);
        grown.set(bidAgent);
        bidAgent = grown;
      }
      bidAgent[idx] = i;
    }

    const supply = perResource((r) => {
      const k = RESOURCES.indexOf(r);
      return rateOfTicks(Math.max(0, (capTicks[k] as number) - (active[k] as number)), units[r]);
    });
    const decision = clearBook(book, { capacity, supply, prices }, policy);

    for (let idx = 0; idx < book.size; idx++) {
      const i = bidAgent[idx] as number;
      const won = decision.outcome[idx] === OUTCOME.won;
      if (won) {
        // Active at a later clearing while it has not ended: ends_at > that round's time.
        const dRounds = Math.max(1, Math.ceil((book.duration[idx] as number) / economy.round_seconds));
        const endSlot = ((t + dRounds) % ringSize) * 4;
        for (let k = 0; k < 4; k++) {
          const ticks = decision.ticks[idx * 4 + k] as number;
          active[k] = (active[k] as number) + ticks;
          release[endSlot + k] = (release[endSlot + k] as number) + ticks;
        }
      }
      if (strategy[i] === 3) {
        const m = (markup[i] as number) * (won ? 0.98 : 1.05);
        markup[i] = Math.min(MARKUP_MAX, Math.max(MARKUP_MIN, m));
      }
    }

    for (let k = 0; k < 4; k++) {
      const seen = decision.clearing_prices[RESOURCES[k] as Resource];
      if (seen !== null)
        ratio[k] = (1 - EMA_WEIGHT) * (ratio[k] as number) + (EMA_WEIGHT * seen) / (priceList[k] as number);
    }
    const updates = updatePrices(prices, decision, economy);
    prices = pricesAfter(updates, prices);
    for (const r of RESOURCES) series[r].push(prices[r]);
    totalBids += decision.bids;
    totalWinners += decision.winner_count;
    rounds.push({
      round: t,
      bids: decision.bids,
      winners: decision.winner_count,
      losers: decision.loser_count,
      revenue: decision.revenue,
      requested: decision.requested,
      allocated: decision.allocated,
      utilization: decision.utilization,
      clearing_prices: decision.clearing_prices,
      updates,
      prices,
    });
  }

  return {
    rounds,
    price_series: series,
    final_prices: prices,
    agent_rounds: n * options.rounds,
    bids: totalBids,
    winners: totalWinners,
  };
}

function spikeFactor(spikes: readonly DemandSpike[], round: number, r: Resource): number {
  let f = 1;
  for (const s of spikes) {
    if (round >= s.from_round && round < s.to_round && (!s.resources || s.resources.includes(r))) f *= s.factor;
  }
  return f;
}

/** Relative spread (max − min) ÷ mean of the last `window` values of a series. */
export function relativeSpread(series: readonly number[], window: number): number {
  const tail = series.slice(-window);
  if (tail.length === 0) return 0;
  const max = Math.max(...tail);
  const min = Math.min(...tail);
  const mean = tail.reduce((a, b) => a + b, 0) / tail.length;
  return mean === 0 ? 0 : (max - min) / mean;
}
