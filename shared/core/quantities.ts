/**
 * Exact quantities: the quantum of each resource, the exact decimal a double stands for, and
 * the integer "ticks" in which placement (`validateBundle`), the clearing kernel, the supply
 * left by active allocations and utilization all count capacity and needs. They share these
 * functions, so a bundle accepted at placement fits an empty round by construction.
 *
 * Units. cpu and memory count in quanta of 0.001 percent, attention in quanta of 0.0001 share:
 * one tick is one quantum, and since every accepted quantity is a whole number of quanta
 * (checked on its decimal text), sums of them are exact. Token capacity is a whole number H of
 * tokens per hour (`tokensPerHour`), so H ÷ 3600 tokens per second, and a bundle's need is
 * n tokens ÷ d seconds: neither is a finite decimal in general. Tokens therefore count in
 * ticks of capacity ÷ `TOKEN_TICKS`; a need of n ÷ d is ⌈n ÷ d × TOKEN_TICKS ÷ capacity⌉ ticks,
 * computed exactly. Because `TOKEN_TICKS` is highly composite, capacity ÷ k is a whole number
 * of ticks for every k ≤ 28: k bundles of a k-th of the capacity each fit together.
 *
 * Reading doubles. A quantity is the decimal it prints as (`String(x)`: 0.1 is 0.1). A token
 * capacity is H ÷ 3600 when it is the double nearest such a fraction for a whole H (as
 * `tokenCapacityPerSecond` makes it), otherwise its decimal; a token rate of a bid of d seconds
 * is n ÷ d when it is the double nearest that fraction for a whole n (as `bundleRates` makes
 * it), otherwise its decimal. A supply that is exactly `rateOfTicks(m)` is m ticks.
 *
 * Speed. The kernel converts a million rates per round, so each conversion first multiplies in
 * floats. The float product is within 2 ulp (≈ 4.4e-16, relative) of the exact value; when it
 * is farther than `NEAR` (1e-14, relative) from an integer its ceiling or floor is the exact
 * one, and only the rare product that lands near an integer is redone in BigInt.
 */
import type { EconomyConfig } from './market-config.ts';
import type { PerResource } from './resources.ts';

/** A finite non-negative double as an exact decimal: `digits × 10^-scale`, scale ≥ 0. */
export interface Decimal {
  digits: bigint;
  scale: number;
}

/**
 * The decimal a double stands for: `String(x)` is the shortest text that reads back as `x`,
 * which is the literal a client or an operator wrote. Undefined for negative or non-finite x.
 */
export function decimalOf(x: number): Decimal | undefined {
  if (!(x >= 0) || !Number.isFinite(x)) return undefined;
  const match = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(x));
  if (!match) return undefined;
  const [, whole = '0', frac = '', exp = '0'] = match;
  const scale = frac.length - Number(exp);
  const digits = BigInt(whole + frac);
  return scale >= 0 ? { digits, scale } : { digits: digits * 10n ** BigInt(-scale), scale: 0 };
}

/** Decimal places of each rate resource's quantum: cpu and memory 0.001 %, attention 0.0001. */
export const QUANTUM_DECIMALS = { cpu: 3, memory: 3, attention: 4 } as const;
export type QuantizedResource = keyof typeof QUANTUM_DECIMALS;

/** The smallest quantity of each resource a bundle may ask for (tokens: one token, a total). */
export const QUANTA: PerResource = { cpu: 0.001, memory: 0.001, tokens: 1, attention: 0.0001 };

/** How many quanta of `10^-decimals` x stands for, or undefined when x is not a whole number of them. */
export function quantaOf(x: number, decimals: number): bigint | undefined {
  const d = decimalOf(x);
  if (!d) return undefined;
  if (d.scale <= decimals) return d.digits * 10n ** BigInt(decimals - d.scale);
  const extra = 10n ** BigInt(d.scale - decimals);
  return d.digits % extra === 0n ? d.digits / extra : undefined;
}

/** Ticks of token capacity: 2^6·3^4·5^2·7·11·13·17·19·23, divisible by every k ≤ 28. */
export const TOKEN_TICKS = 963_761_198_400;
/**
 * Largest token capacity, tokens per hour. It keeps H × 3600 far below 2^53, so that H is
 * recovered exactly from the token capacity per second (`tokenCapacityOf`).
 */
export const MAX_TOKENS_PER_HOUR = 1e12;

/**
 * Tokens per hour the LLM budget buys, rounded down to a whole token (a budget cannot buy a
 * fraction of one): ⌊max_spend_usd_per_hour ÷ usd_per_million_tokens × 1e6⌋, exact.
 */
export function tokensPerHour(
  llm: Pick<EconomyConfig['llm'], 'max_spend_usd_per_hour' | 'usd_per_million_tokens'>,
): bigint {
  const spend = decimalOf(llm.max_spend_usd_per_hour);
  const price = decimalOf(llm.usd_per_million_tokens);
  if (!spend || !price || price.digits === 0n) throw new RangeError('the LLM budget and price must be positive');
  // (s ÷ 10^a) ÷ (p ÷ 10^b) × 10^6 = s × 10^(b + 6) ÷ (p × 10^a)
  const num = spend.digits * 10n ** BigInt(price.scale + 6);
  const den = price.digits * 10n ** BigInt(spend.scale);
  return num / den;
}

/** A rational p ÷ q, both positive (q) or non-negative (p). */
type Ratio = readonly [bigint, bigint];

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

function decimalRatio(x: number): Ratio {
  const d = decimalOf(x);
  if (!d) throw new RangeError(`not a finite non-negative number: ${x}`);
  return [d.digits, 10n ** BigInt(d.scale)];
}

/** The exact token capacity per second a double stands for: H ÷ 3600 when it is one, else its decimal. */
function tokenCapacityOf(x: number): Ratio {
  const h = Math.round(x * 3600);
  if (Number.isSafeInteger(h) && h > 0 && h / 3600 === x) return [BigInt(h), 3600n];
  return decimalRatio(x);
}

/** How one resource counts in ticks. */
export interface TickUnit {
  /** Capacity in ticks, an integer. */
  readonly capacity: number;
  /** Ticks per unit of rate, exactly `num ÷ den`. */
  readonly num: bigint;
  readonly den: bigint;
  /** `num ÷ den` as a double (within 1 ulp): the fast path. */
  readonly perUnit: number;
  /** How a capacity or supply double of this resource is read exactly. */
  readonly read: (x: number) => Ratio;
}

export type MarketUnits = PerResource<TickUnit>;

function quantumUnit(capacity: number, decimals: number): TickUnit {
  const scale = 10n ** BigInt(decimals);
  const [p, q] = decimalRatio(capacity);
  const ticks = Number((p * scale) / q);
  if (!(ticks >= 1 && ticks <= Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`capacity must be between one quantum and 2^53 quanta: ${capacity}`);
  }
  return { capacity: ticks, num: scale, den: 1n, perUnit: Number(scale), read: decimalRatio };
}

function tokenUnit(capacity: number): TickUnit {
  const [p, q] = tokenCapacityOf(capacity);
  if (p === 0n) throw new RangeError(`capacity must be positive: ${capacity}`);
  // ticks per token/s = TOKEN_TICKS ÷ (p ÷ q) = TOKEN_TICKS × q ÷ p
  const num = BigInt(TOKEN_TICKS) * q;
  const g = gcd(num, p);
  const [n, d] = [num / g, p / g];
  return { capacity: TOKEN_TICKS, num: n, den: d, perUnit: Number(n) / Number(d), read: tokenCapacityOf };
}

/** The tick units of a market of this capacity (rate units; tokens: per second). */
export function unitsOf(capacity: PerResource): MarketUnits {
  for (const [r, c] of Object.entries(capacity)) {
    if (!(c > 0) || !Number.isFinite(c)) throw new RangeError(`capacity.${r} must be positive: ${c}`);
  }
  return {
    cpu: quantumUnit(capacity.cpu, QUANTUM_DECIMALS.cpu),
    memory: quantumUnit(capacity.memory, QUANTUM_DECIMALS.memory),
    tokens: tokenUnit(capacity.tokens),
    attention: quantumUnit(capacity.attention, QUANTUM_DECIMALS.attention),
  };
}

/** Relative distance from an integer below which a float product is redone exactly (see header). */
export const NEAR = 1e-14;

function ceilDiv(a: bigint, b: bigint): number {
  return Number((a + b - 1n) / b);
}

/** Whole ticks of a cpu, memory or attention rate, rounded up (a need). */
export function quantaUp(q: number, unit: TickUnit): number {
  if (q === 0) return 0;
  const t = q * unit.perUnit;
  const n = Math.round(t);
  // `perUnit` is 10^k and n ÷ 10^k is correctly rounded, so this holds exactly when q is the
  // double of n quanta: when q's decimal text is n quanta (the case of every valid bundle).
  const x = n / unit.perUnit;
  if (x === q) return n;
  const c = Math.ceil(t);
  if (c - t > t * NEAR && t - (c - 1) > t * NEAR) return c;
  // q's decimal is within a hair of n quanta but is not n quanta. Distinct doubles stand for
  // disjoint intervals of decimals, in order, so q's decimal is above n quanta exactly when q
  // is above x, the double of n quanta.
  return q > x ? n + 1 : n;
}

/** The exact token rate of a bid of `duration` seconds (see header). */
function tokenRateOf(rate: number, duration: number): Ratio {
  const n = Math.round(rate * duration);
  if (Number.isSafeInteger(duration) && duration > 0 && Number.isSafeInteger(n) && n / duration === rate) {
    return [BigInt(n), BigInt(duration)];
  }
  return decimalRatio(rate);
}

/** Whole ticks of a token rate held for `duration` seconds, rounded up (a need). */
export function tokenTicksUp(rate: number, duration: number, unit: TickUnit): number {
  if (rate === 0) return 0;
  const t = rate * unit.perUnit;
  const c = Math.ceil(t);
  if (c - t > t * NEAR && t - (c - 1) > t * NEAR) return c;
  const [p, q] = tokenRateOf(rate, duration);
  return ceilDiv(p * unit.num, q * unit.den);
}

/**
 * Whole ticks of a token rate whose duration is unknown, rounded up, except that a product
 * within `NEAR` of an integer counts as that integer: without the duration the exact rate is
 * unknown, and the rate of n ÷ d tokens lands there. Tolerance 1e-14 of the rate.
 */
export function tokenTicksNear(rate: number, unit: TickUnit): number {
  if (rate === 0) return 0;
  const t = rate * unit.perUnit;
  const n = Math.round(t);
  return Math.abs(t - n) <= t * NEAR ? n : Math.ceil(t);
}

/** Whole ticks of a supply, rounded down, at most the capacity; none when not positive. */
export function supplyTicks(s: number, unit: TickUnit): number {
  if (!(s > 0)) return 0;
  const t = s * unit.perUnit;
  const m = Math.round(t);
  let ticks: number;
  const x = rateOfTicks(m, unit);
  if (x === s) ticks = m;
  else {
    const f = Math.floor(t);
    if (t - f > t * NEAR && f + 1 - t > t * NEAR) ticks = f;
    else if (unit.den === 1n) {
      // Quanta: as in `quantaUp`, s's decimal is above m quanta exactly when s is above x.
      ticks = s > x ? m : m - 1;
    } else {
      const [p, q] = unit.read(s);
      ticks = Number((p * unit.num) / (q * unit.den));
    }
  }
  return Math.min(ticks, unit.capacity);
}

/** A number of ticks as a rate (the canonical double `supplyTicks` reads back exactly). */
export function rateOfTicks(ticks: number, unit: TickUnit): number {
  return ticks / unit.perUnit;
}

/** The most tokens a bundle of `duration` seconds may ask for: n with ⌈n ÷ d in ticks⌉ ≤ capacity. */
export function maxTokens(duration: number, unit: TickUnit): number {
  return Number((BigInt(unit.capacity) * BigInt(duration) * unit.den) / unit.num);
}
