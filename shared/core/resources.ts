/**
 * Resources and bundles: the four scarce resources, their capacity, bundle validation, the
 * rate a bundle holds, and what it costs at given prices.
 *
 * Every resource is a rate held for a duration. cpu and memory are percents of the host's
 * maximum, attention a share of the human's focus; tokens are asked as a total for the
 * allocation, so their rate is `tokens ÷ duration` (tokens per second).
 *
 * Quantities are whole numbers of each resource's quantum (`QUANTA`), decided on their decimal
 * text, and placement counts capacity and needs in the clearing kernel's exact ticks
 * (`quantities.ts`): a bundle accepted here fits an empty round.
 *
 * Costs are integer micro-credits computed exactly from the decimal values written by the
 * caller (see `exactCost`), never with float arithmetic on money.
 */
import type { FieldError } from './errors.ts';
import type { EconomyConfig } from './market-config.ts';
import { MICROS_PER_CREDIT, type Micros, MoneyError } from './money.ts';
import {
  type Decimal,
  decimalOf,
  MAX_TOKENS_PER_HOUR,
  maxTokens,
  QUANTA,
  QUANTUM_DECIMALS,
  quantaOf,
  quantaUp,
  type TickUnit,
  tokensPerHour,
  tokenTicksUp,
  unitsOf,
} from './quantities.ts';

export { QUANTA } from './quantities.ts';

export const RESOURCES = ['cpu', 'memory', 'tokens', 'attention'] as const;
export type Resource = (typeof RESOURCES)[number];

/** A value per resource. */
export type PerResource<T = number> = Record<Resource, T>;

/** What a bid asks for; at least one resource. `tokens` is a total, the others are rates. */
export interface Bundle {
  cpu?: number;
  memory?: number;
  tokens?: number;
  attention?: number;
}

/** Unit of each resource's quantity, and of its price per second (tokens: per token). */
export const RESOURCE_UNITS: PerResource<string> = {
  cpu: 'percent of max CPU',
  memory: 'percent of max memory',
  tokens: 'LLM tokens (total for the allocation)',
  attention: 'share of the human operator',
};

/** Largest quantity a bundle may ask for, whatever the configured capacity (the whole). */
export const QUANTITY_LIMITS = { cpu: 100, memory: 100, attention: 1 } as const;

export function perResource<T>(f: (r: Resource) => T): PerResource<T> {
  return { cpu: f('cpu'), memory: f('memory'), tokens: f('tokens'), attention: f('attention') };
}

/**
 * Tokens per second that the operator's LLM budget buys: 100% of token capacity. It is H ÷ 3600
 * for H = `tokensPerHour(llm)`, the whole tokens per hour the budget pays for; the kernel reads
 * this double back as exactly H ÷ 3600 (see quantities.ts).
 */
export function tokenCapacityPerSecond(
  llm: Pick<EconomyConfig['llm'], 'max_spend_usd_per_hour' | 'usd_per_million_tokens'>,
): number {
  const h = tokensPerHour(llm);
  if (h < 1n || h > BigInt(MAX_TOKENS_PER_HOUR)) {
    throw new RangeError(`the LLM budget must buy between 1 and ${MAX_TOKENS_PER_HOUR} tokens per hour`);
  }
  return Number(h) / 3600;
}

/** Capacity per resource, in rate units (tokens: tokens per second). */
export function capacityOf(config: EconomyConfig): PerResource {
  return {
    cpu: config.capacity.cpu,
    memory: config.capacity.memory,
    tokens: tokenCapacityPerSecond(config.llm),
    attention: config.capacity.attention,
  };
}

export function initialPrices(config: EconomyConfig): PerResource {
  return perResource((r) => config.prices[r].initial_price);
}

export function floorPrices(config: EconomyConfig): PerResource {
  return perResource((r) => config.prices[r].min_price);
}

export function ceilingPrices(config: EconomyConfig): PerResource {
  return perResource((r) => config.prices[r].max_price);
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/**
 * Validates a bundle and its duration against the configuration, returning every problem as
 * a field error (empty when valid). Rules: cpu and memory 0 < q ≤ 100, attention 0 < q ≤ 1,
 * each a whole number of its quantum (0.001, 0.001, 0.0001), tokens an integer ≥ 1; at least
 * one resource; no unknown key; duration an integer within the configured bounds; and no
 * resource's need above its capacity, counted in the kernel's ticks, since such a bundle could
 * never win (for tokens this is what bounds the total: tokens ÷ duration ≤ token capacity).
 */
export function validateBundle(
  bundle: unknown,
  durationSeconds: unknown,
  config: EconomyConfig,
  paths: { bundle: string; duration: string } = { bundle: '/bundle', duration: '/duration_seconds' },
): FieldError[] {
  const errors: FieldError[] = [];
  const { min, max } = config.duration_seconds;
  const durationOk =
    isFiniteNumber(durationSeconds) &&
    Number.isInteger(durationSeconds) &&
    durationSeconds >= min &&
    durationSeconds <= max;
  if (!durationOk) {
    errors.push({ path: paths.duration, message: `must be an integer number of seconds between ${min} and ${max}` });
  }
  if (typeof bundle !== 'object' || bundle === null || Array.isArray(bundle)) {
    errors.push({
      path: paths.bundle,
      message: 'must be an object with at least one of cpu, memory, tokens, attention',
    });
    return errors;
  }
  const capacity = capacityOf(config);
  const units = unitsOf(capacity);
  let present = 0;
  for (const [key, value] of Object.entries(bundle)) {
    const path = `${paths.bundle}/${key}`;
    if (!(RESOURCES as readonly string[]).includes(key)) {
      errors.push({ path, message: `unknown resource; expected one of ${RESOURCES.join(', ')}` });
      continue;
    }
    if (value === undefined) continue;
    present++;
    const r = key as Resource;
    const message =
      r === 'tokens'
        ? tokensProblem(value, durationOk ? (durationSeconds as number) : undefined, units.tokens)
        : quantityProblem(r, value, capacity[r], units[r]);
    if (message) errors.push({ path, message });
  }
  if (present === 0) errors.push({ path: paths.bundle, message: 'must ask for at least one resource' });
  return errors;
}

/** What is wrong with a token total, if anything (its duration when that is valid). */
function tokensProblem(value: unknown, duration: number | undefined, unit: TickUnit): string | undefined {
  if (!isFiniteNumber(value) || !Number.isSafeInteger(value) || value < 1) {
    return 'must be a whole number of tokens (the token quantum is 1), at least 1';
  }
  if (duration !== undefined && tokenTicksUp(value / duration, duration, unit) > unit.capacity) {
    return `exceeds token capacity: at most ${maxTokens(duration, unit)} tokens for this duration`;
  }
  return undefined;
}

/** What is wrong with a cpu, memory or attention quantity, if anything. */
function quantityProblem(
  r: Exclude<Resource, 'tokens'>,
  value: unknown,
  capacity: number,
  unit: TickUnit,
): string | undefined {
  const limit = Math.min(QUANTITY_LIMITS[r], capacity);
  if (!isFiniteNumber(value) || value <= 0 || value > limit) {
    return `must be a number greater than 0 and at most ${limit}`;
  }
  // Decided on the decimal text, never by float division: 0.3 is 300 quanta, 5e-324 none.
  if (quantaOf(value, QUANTUM_DECIMALS[r]) === undefined) {
    return `must be a whole multiple of ${QUANTA[r]}, the ${r} quantum`;
  }
  // Counted as the kernel counts it, so a quantity accepted here fits the full capacity.
  if (quantaUp(value, unit) > unit.capacity) return `must be a number greater than 0 and at most ${limit}`;
  return undefined;
}

/** The rate a bundle holds per resource (0 when absent; tokens: tokens ÷ duration). */
export function bundleRates(bundle: Bundle, durationSeconds: number): PerResource {
  return {
    cpu: bundle.cpu ?? 0,
    memory: bundle.memory ?? 0,
    tokens: bundle.tokens === undefined ? 0 : bundle.tokens / durationSeconds,
    attention: bundle.attention ?? 0,
  };
}

/**
 * The amount of each resource a bundle consumes over its life, in the unit its price is
 * quoted in: unit-seconds (q × duration), and for tokens the token total.
 */
export function bundleUsage(bundle: Bundle, durationSeconds: number): PerResource {
  return {
    cpu: (bundle.cpu ?? 0) * durationSeconds,
    memory: (bundle.memory ?? 0) * durationSeconds,
    tokens: bundle.tokens ?? 0,
    attention: (bundle.attention ?? 0) * durationSeconds,
  };
}

/** Sum of rate ÷ capacity: the share of the market a bundle occupies (density policy). */
export function normalizedFootprint(rates: Partial<PerResource>, capacity: PerResource): number {
  let f = 0;
  for (const r of RESOURCES) f += (rates[r] ?? 0) / capacity[r];
  return f;
}

/** The decimal a price or quantity stands for (see `decimalOf`); money errors otherwise. */
function decimalFor(x: number): Decimal {
  const d = decimalOf(x);
  if (!d) throw new MoneyError(`not a finite non-negative number: ${x}`);
  return d;
}

/**
 * Σ price_r × quantity_r × duration (tokens: price × tokens), in micro-credits, rounded UP.
 *
 * Exact: each factor is taken as the decimal it prints as and multiplied in BigInt, then
 * divided once at the end. Rounding up (never to nearest) because a fraction of a
 * micro-credit cannot be paid: a quote rounded up is always enough to place the bid, and a
 * floor rounded up makes `amount < floor` reject exactly the amounts below the true floor.
 */
function exactCost(bundle: Bundle, durationSeconds: number, prices: PerResource): Micros {
  if (!Number.isSafeInteger(durationSeconds) || durationSeconds < 0) {
    throw new MoneyError(`duration must be a whole number of seconds: ${durationSeconds}`);
  }
  const d = BigInt(durationSeconds);
  let numerator = 0n;
  let scale = 0;
  for (const r of RESOURCES) {
    const q = bundle[r];
    if (q === undefined || q === 0) continue;
    const price = prices[r];
    if (!Number.isFinite(price) || price < 0 || !Number.isFinite(q) || q < 0) {
      throw new MoneyError(`cannot price ${r}: quantity ${q} at ${price}`);
    }
    const p = decimalFor(price);
    const qd = decimalFor(q);
    const term = p.digits * qd.digits * (r === 'tokens' ? 1n : d);
    const termScale = p.scale + qd.scale;
    // Bring the running sum and the term to a common decimal scale.
    if (termScale > scale) {
      numerator = numerator * 10n ** BigInt(termScale - scale) + term;
      scale = termScale;
    } else {
      numerator += term * 10n ** BigInt(scale - termScale);
    }
  }
  const denominator = 10n ** BigInt(scale);
  const scaled = numerator * BigInt(MICROS_PER_CREDIT);
  const result = (scaled + denominator - 1n) / denominator;
  if (result > BigInt(Number.MAX_SAFE_INTEGER)) throw new MoneyError('cost exceeds the largest representable amount');
  return Number(result) as Micros;
}

/** The reference cost of a bundle at the given prices (what `POST /v1/market/quote` returns). */
export function referenceCost(bundle: Bundle, durationSeconds: number, prices: PerResource): Micros {
  return exactCost(bundle, durationSeconds, prices);
}

/** The cost of a bundle at the floor prices: the smallest acceptable bid. */
export function floorCost(bundle: Bundle, durationSeconds: number, config: EconomyConfig): Micros {
  return exactCost(bundle, durationSeconds, floorPrices(config));
}

/** Whether `amount` is below the floor cost of the bundle (rejected at placement as `below_reserve`). */
export function isBelowReserve(
  amount: Micros,
  bundle: Bundle,
  durationSeconds: number,
  config: EconomyConfig,
): boolean {
  return amount < floorCost(bundle, durationSeconds, config);
}
