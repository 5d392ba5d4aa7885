/**
 * Economy configuration: every tunable of the market (rounds, durations, capacity, prices and
 * their bounds, the tâtonnement parameters, the clearing policy, reward weights), as one zod
 * schema with documented defaults.
 *
 * Layers, later wins: defaults ← JSON file ← `SYNTROPISM_ECONOMY` (a JSON string or a path to
 * a JSON file). Layers are deep-merged first and validated once, so a partial override such as
 * `{"prices":{"cpu":{"max_price":2}}}` keeps every other default. Unknown keys are rejected:
 * a typo in an operator's file must fail at start, not silently fall back to a default.
 *
 * The CDK app resolves its `economy` context key with the same schema (infra/config.ts) and
 * hands the resolved document to the functions as `SYNTROPISM_ECONOMY`, so the deployed
 * functions and the synthesized template can never disagree.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { MAX_CREDITS, parseCredits } from './money.ts';
import {
  MAX_TOKENS_PER_HOUR,
  QUANTA,
  QUANTUM_DECIMALS,
  type QuantizedResource,
  quantaOf,
  tokensPerHour,
} from './quantities.ts';

/** An amount of credits in configuration: non-negative and exact in micro-credits (≤ 6 decimals). */
const credits = z
  .number()
  .min(0)
  .max(MAX_CREDITS)
  .refine(
    (n) => {
      try {
        parseCredits(n);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'an amount of credits has at most 6 decimals' },
  );

/** Price settings of one resource, in credits per unit-second (tokens: credits per token). */
function priceSchema(defaults: { initial_price: number; min_price: number; max_price: number }) {
  // Prices are strictly positive: the tâtonnement is multiplicative and could never leave 0.
  const price = z.number().positive().finite();
  return z
    .strictObject({
      /** Price at the first round of a fresh market. */
      initial_price: price.default(defaults.initial_price),
      /** Floor (reserve price): a bid below the floor cost of its bundle is `below_reserve`. */
      min_price: price.default(defaults.min_price),
      /** Ceiling: no price update goes above it. */
      max_price: price.default(defaults.max_price),
    })
    .refine((p) => p.min_price <= p.initial_price && p.initial_price <= p.max_price, {
      message: 'prices must satisfy min_price <= initial_price <= max_price',
    })
    .prefault({});
}

/**
 * A capacity of a quantized resource: positive, at most its whole, and a whole number of its
 * quantum, so that what is reported as capacity is exactly what can be allocated.
 */
function capacitySchema(whole: number, r: QuantizedResource) {
  return z
    .number()
    .positive()
    .max(whole)
    .refine((c) => quantaOf(c, QUANTUM_DECIMALS[r]) !== undefined, {
      message: `must be a whole multiple of ${QUANTA[r]}, the ${r} quantum`,
    })
    .default(whole);
}

/** A model name as providers spell them (`gpt-4o-mini`, `meta-llama/Llama-3.1-8B`, `org:model@v1`). */
const modelName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$/, 'a model name: 1-128 of [A-Za-z0-9._:/@-]');

/**
 * A model's weight: positive, at most 1000, in steps of 0.001, so that charges (usage × weight,
 * rounded up) are computed in exact integer thousandths (`core/llm/metering.ts`).
 */
const weightSchema = z
  .number()
  .positive()
  .max(1000)
  .refine((w) => Math.abs(w * 1000 - Math.round(w * 1000)) < 1e-6 && Math.round(w * 1000) >= 1, {
    message: 'a weight is a multiple of 0.001',
  });

export const CLEARING_POLICIES = ['total', 'density', 'best'] as const;
export type ClearingPolicy = (typeof CLEARING_POLICIES)[number];

export const economyConfigSchema = z
  .strictObject({
    /** Length of a bidding round in seconds (60 on AWS; the local stack uses 5). */
    round_seconds: z.number().int().min(1).max(3600).default(60),
    /** Bounds of `duration_seconds` accepted in a bid. */
    duration_seconds: z
      .strictObject({
        min: z.number().int().min(1).max(86_400).default(1),
        max: z.number().int().min(1).max(86_400).default(3600),
      })
      .refine((d) => d.min <= d.max, { message: 'duration_seconds.min must not exceed duration_seconds.max' })
      .prefault({}),
    /**
     * Capacity of the rate resources. cpu and memory are percents of the host's maximum, and
     * attention a share of one human, so none can exceed its whole (100, 100, 1); each is a
     * whole number of its quantum (0.001, 0.001, 0.0001). Token capacity is derived from
     * `llm` (see `tokenCapacityPerSecond`).
     */
    capacity: z
      .strictObject({
        cpu: capacitySchema(100, 'cpu'),
        memory: capacitySchema(100, 'memory'),
        attention: capacitySchema(1, 'attention'),
      })
      .prefault({}),
    /**
     * The operator's LLM budget: it defines 100% of token capacity, the whole tokens per hour
     * it buys (at least 1, at most `MAX_TOKENS_PER_HOUR`).
     */
    llm: z
      .strictObject({
        /** Maximum LLM spend per hour in USD. */
        max_spend_usd_per_hour: z.number().positive().finite().default(10),
        /** What the LLM provider charges per million tokens, in USD. */
        usd_per_million_tokens: z.number().positive().finite().default(2),
        /**
         * The LLM gateway's allow-list: model name → weight, the allocation tokens one token of
         * that model draws. A model costing twice `usd_per_million_tokens` has weight 2, so the
         * hourly spend cap holds whichever models agents call. Empty by default: with no provider
         * configured the offline model answers (see docs/llm-gateway.md).
         */
        models: z.record(modelName, z.strictObject({ weight: weightSchema })).default({}),
        /** `max_tokens` of a call that names none (then capped by what the allocation has left). */
        default_max_tokens: z.number().int().min(1).max(1_000_000).default(1024),
        /** How long a call's reservation holds before the sweeper may release it as abandoned. */
        reservation_seconds: z.number().int().min(30).max(3600).default(900),
      })
      .refine(
        (llm) => {
          // A non-positive or non-finite value has its own issue above.
          const { max_spend_usd_per_hour: s, usd_per_million_tokens: p } = llm;
          if (!(s > 0 && p > 0 && Number.isFinite(s) && Number.isFinite(p))) return true;
          const h = tokensPerHour(llm);
          return h >= 1n && h <= BigInt(MAX_TOKENS_PER_HOUR);
        },
        { message: `the budget must buy between 1 and ${MAX_TOKENS_PER_HOUR} tokens per hour` },
      )
      .prefault({}),
    /**
     * Per-resource prices. The defaults give each resource's whole capacity a comparable value
     * per second (cpu 0.1, memory 0.05, tokens 0.14 credits/s), with the human's attention worth
     * more (0.2 credits/s): a typical bundle (cpu 10% + memory 5% + 20 000 tokens for 600 s)
     * costs 9.5 credits at the initial prices, and a full minute of attention 12 credits. No
     * resource dominates the cost of a mixed bundle, so each price answers to its own demand.
     */
    prices: z
      .strictObject({
        cpu: priceSchema({ initial_price: 0.001, min_price: 0.00001, max_price: 1 }),
        memory: priceSchema({ initial_price: 0.0005, min_price: 0.00001, max_price: 1 }),
        tokens: priceSchema({ initial_price: 0.0001, min_price: 0.0000001, max_price: 0.1 }),
        attention: priceSchema({ initial_price: 0.2, min_price: 0.001, max_price: 100 }),
      })
      .prefault({}),
    /** Bounded tâtonnement (see `pricing.ts`). */
    pricing: z
      .strictObject({
        /** Share of capacity the market aims to have requested per round. */
        target_utilization: z.number().gt(0).max(1).default(0.8),
        /**
         * Sensitivity: `p' = p × exp(k × z)` before clamping. 0.3 lets a price cross its whole
         * usual range within tens of rounds while round-to-round noise in demand moves it by
         * only a fraction of that noise (see docs/market.md, "Tuning").
         */
        k: z.number().positive().max(100).default(0.3),
        /** Largest relative move per round (0.2 = ±20%). */
        max_step: z.number().gt(0).lt(1).default(0.2),
        /**
         * Weight (0..1) of the observed clearing price in the new price. Off by default: the
         * observed price is one bundle's price (the lowest-priority winner's) and jumps from
         * round to round with whoever that is; in simulations even 0.05 keeps prices from
         * settling. Raise it to anchor prices to what winners actually pay when most bidders
         * ignore posted prices.
         */
        blend: z.number().min(0).max(1).default(0),
        /** |z| at or below this band is reported as `stable`. */
        stable_band: z.number().min(0).max(10).default(0.1),
      })
      .prefault({}),
    clearing: z
      .strictObject({
        /**
         * How winners are chosen: `total` (highest amount first, the default), `best` (the best
         * of three greedy orders, improved by bounded exchanges; see core/clearing-best.ts) or
         * `density` (amount per footprint first). `best` wastes far less capacity but takes more
         * than twice `total`'s kernel time and is not monotone in a bid's amount, so it is not
         * the default until it clears the speed bar (docs/performance.md).
         */
        policy: z.enum(CLEARING_POLICIES).default('total'),
      })
      .prefault({}),
    bids: z
      .strictObject({
        /** Pending bids one agent may hold at once (`too_many_open_bids` beyond). */
        max_open_bids_per_agent: z.number().int().min(1).max(10_000).default(10),
      })
      .prefault({}),
    /**
     * The money supply's bounds, in credits. Minting (the operator's grants, human rewards) stops
     * at `max_minted`, and no account holds more than `max_balance`. The bounds keep everything
     * ever minted below 2^53 micro-credits (9e9 credits = 9e15 µcr < 9.007e15), so every balance,
     * total and sum the ledger keeps is an exact integer in a double and in DynamoDB.
     */
    money: z
      .strictObject({
        max_minted: z.number().int().min(1).max(9_000_000_000).default(9_000_000_000),
        max_balance: z.number().int().min(1).max(1_000_000_000).default(1_000_000_000),
        /**
         * Largest grant at registration (the operator's genesis minting), in credits. 0 allows
         * only agents registered with nothing.
         */
        max_grant: credits.default(1_000_000),
        /**
         * Most credits one rater (the operator counts as one) may mint through rewards per UTC
         * hour: a leaked or careless rater key can mint only this much before the hour ends.
         */
        max_minted_per_rater_per_hour: credits.default(10_000),
      })
      .prefault({}),
    /** Human rewards: credits minted = interesting × w_i + useful × w_u + understandable × w_n. */
    rewards: z
      .strictObject({
        w_i: credits.max(1_000_000).default(10),
        w_u: credits.max(1_000_000).default(10),
        w_n: credits.max(1_000_000).default(10),
        /** Seconds after which an unrewarded prompt expires. */
        prompt_ttl_seconds: z
          .number()
          .int()
          .min(1)
          .max(30 * 86_400)
          .default(86_400),
        /** Longest prompt content, in characters (UTF-16 code units, as JSON counts them). */
        max_prompt_chars: z.number().int().min(1).max(32_000).default(4_000),
      })
      .prefault({}),
    /** Spawning: what a child costs its parent and how far lineages may grow. */
    spawning: z
      .strictObject({
        /** Credits burned from the parent per child (`spawn_fee`). */
        fee: credits.max(1_000_000).default(10),
        /** Deepest generation a child may have (a registered agent is generation 0). */
        max_depth: z.number().int().min(0).max(64).default(8),
        /** Most children one agent may spawn, ever. */
        max_children: z.number().int().min(0).max(10_000).default(16),
      })
      .prefault({}),
  })
  .prefault({});

/** The validated economy configuration. */
export type EconomyConfig = z.output<typeof economyConfigSchema>;
/** What an operator may write: every key optional, at any depth. */
export type EconomyConfigInput = z.input<typeof economyConfigSchema>;

/** Every default, resolved. */
export const ECONOMY_DEFAULTS: EconomyConfig = deepFreeze(economyConfigSchema.parse({}));

export class EconomyConfigError extends Error {
  override readonly name = 'EconomyConfigError';
}

type Json = { [key: string]: unknown };

/** Shared defaults must not be mutated by one caller under another's feet. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function isPlainObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Keys that must never be merged: they would write to the prototype chain. */
const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Deep merge of JSON layers: objects merge key by key, anything else replaces; `undefined` is skipped. */
export function mergeLayers(...layers: unknown[]): Json {
  const out: Json = {};
  for (const layer of layers) {
    if (layer === undefined || layer === null) continue;
    if (!isPlainObject(layer)) throw new EconomyConfigError('an economy configuration layer must be a JSON object');
    mergeInto(out, layer);
  }
  return out;
}

function mergeInto(target: Json, source: Json): void {
  for (const [key, value] of Object.entries(source)) {
    if (UNSAFE_KEYS.has(key) || value === undefined) continue;
    const current = target[key];
    if (isPlainObject(value) && isPlainObject(current)) mergeInto(current, value);
    else if (isPlainObject(value)) {
      const copy: Json = {};
      mergeInto(copy, value);
      target[key] = copy;
    } else target[key] = value;
  }
}

/** Merges the layers over the defaults and validates the result once. Pure. */
export function parseEconomyConfig(...layers: unknown[]): EconomyConfig {
  const merged = mergeLayers(...layers);
  const parsed = economyConfigSchema.safeParse(merged);
  if (!parsed.success) {
    throw new EconomyConfigError(`invalid economy configuration:\n${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

export interface LoadEconomyOptions {
  /** Environment to read `SYNTROPISM_ECONOMY` from (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** A JSON file applied over the defaults and under the environment. */
  file?: string;
  /** Injected file reader (tests). */
  readFile?: (path: string) => string;
}

/** Environment variable holding the economy: inline JSON, or a path to a JSON file. */
export const ECONOMY_ENV = 'SYNTROPISM_ECONOMY';

/** Resolves defaults ← file ← `SYNTROPISM_ECONOMY`, validated once. Throws `EconomyConfigError`. */
export function loadEconomyConfig(options: LoadEconomyOptions = {}): EconomyConfig {
  const env = options.env ?? process.env;
  const read = options.readFile ?? ((path: string) => readFileSync(path, 'utf8'));
  const fileLayer = options.file === undefined ? undefined : readJson(read, options.file);
  const raw = env[ECONOMY_ENV]?.trim();
  let envLayer: unknown;
  if (raw) {
    // Inline JSON always starts with `{`; a path never does.
    envLayer = raw.startsWith('{') ? parseJson(raw, ECONOMY_ENV) : readJson(read, raw);
  }
  return parseEconomyConfig(fileLayer, envLayer);
}

function readJson(read: (path: string) => string, path: string): unknown {
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    throw new EconomyConfigError(`cannot read economy configuration ${path}: ${(err as Error).message}`);
  }
  return parseJson(text, path);
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new EconomyConfigError(`economy configuration ${source} is not valid JSON: ${(err as Error).message}`);
  }
}
