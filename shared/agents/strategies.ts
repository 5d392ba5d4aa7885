/**
 * Built-in agent strategies: pure, deterministic decision functions. Given what an agent can
 * observe through the API (the market, its balance, its bids, allocations and rewards) and a
 * seeded `Random`, a strategy returns the actions to take and its new memory. No I/O, no clock:
 * the observation carries the time, so the same seed and the same observations give the same
 * decisions. The local stack's population (`local/population/`) runs them against the real HTTP
 * API; a benchmark runner can run them as built-in agents, and they reuse the vocabulary of the
 * in-process simulator (`shared/core/simulation.ts`): conservative, aggressive, adaptive and
 * zero-intelligence price the same way there and here.
 *
 * Demand model. Each agent draws its traits once (`drawTraits`): the resources it uses, the
 * share of each resource's capacity it asks for (sized so that, if every agent asked, a round
 * would request about `LOAD` times capacity), a private value per unit of each resource (around
 * `VALUE_SCALE` times the economy's initial price, log-normally spread), and the largest share
 * of its balance one bid may escrow (its budget). Price-reading strategies leave out of a bundle
 * every resource they value below its posted price, so each resource's demand answers to its
 * own price: that is what keeps the tâtonnement from sliding to a floor or a ceiling. Budgets
 * bind when an agent is poor; the human's rewards feed them (docs/attention.md).
 *
 * - `conservative`: the reference cost plus 0–5%.
 * - `aggressive`: its whole value (within budget).
 * - `adaptive`: learns from clearing prices (a moving average of clearing ÷ posted price per
 *   resource) and from its own wins (a markup raised after a loss, lowered after a win).
 * - `zero_intelligence`: a uniform amount between the floor cost and its value, blind to prices.
 * - `provider`: holds a steady cpu and memory allocation, as a service host would. Services come
 *   later: `serve` is the hook that will sell them; today it adds nothing.
 * - `spawner`: bids like `adaptive`, and spawns a child (running a strategy of its own) when
 *   rich.
 * - `prompt_writer`: bids for attention (with a few tokens), drafts a prompt with the tokens
 *   through the LLM gateway and shows it to the human; it values attention by the rewards it
 *   has received, so the human's taste sets the price of attention.
 *
 * Every bid is at least the floor cost (a lower one is refused as `below_reserve`), at most the
 * agent's value, its budget and its balance, and a whole, positive number of micro-credits.
 */
import type { Micros } from '../core/money.ts';
import type { Random } from '../core/ports.ts';
import {
  type Bundle,
  type PerResource,
  perResource,
  RESOURCES,
  type Resource,
  referenceCost,
} from '../core/resources.ts';

export const STRATEGY_NAMES = [
  'conservative',
  'aggressive',
  'adaptive',
  'zero_intelligence',
  'provider',
  'spawner',
  'prompt_writer',
] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

/** Strategies a spawner's child may run (not `spawner`: lineages stay bounded). */
export const CHILD_STRATEGIES: readonly StrategyName[] = [
  'conservative',
  'aggressive',
  'adaptive',
  'zero_intelligence',
  'prompt_writer',
];

// ---------------------------------------------------------------------------------------------
// What an agent sees and does

export interface ResourceView {
  price: number;
  min_price: number;
  max_price: number;
  capacity: number;
}

/** `GET /v1/market`, as a strategy needs it. */
export interface MarketView {
  /** The round open for bids. */
  round: string;
  round_seconds: number;
  resources: PerResource<ResourceView>;
}

/** One of the agent's bids that settled since the last observation. */
export interface SettledBid {
  bid_id: string;
  status: 'won' | 'lost';
  amount: Micros;
  bundle: Bundle;
  duration_seconds: number;
}

/** One of the agent's active allocations. */
export interface HeldAllocation {
  allocation_id: string;
  bundle: Bundle;
  /** Ms since the epoch. */
  ends_at: number;
  tokens_remaining: number;
}

export interface Observation {
  /** Ms since the epoch: the moment of the observation. */
  now: number;
  market: MarketView;
  /** The last cleared round's clearing prices (null where nothing using r won). */
  clearing_prices: PerResource<number | null>;
  balance: Micros;
  /** The agent's bids still pending. */
  open_bids: number;
  settled: SettledBid[];
  allocations: HeldAllocation[];
  /** Rewards credited since the last observation: the prompt's id and the credits minted. */
  rewards: Array<{ prompt_id: string; credits: Micros }>;
  /** Prompts submitted since the last observation (the results of its `prompt` actions). */
  submitted: Array<{ prompt_id: string; allocation_id: string }>;
}

export type Action =
  | { kind: 'bid'; bundle: Bundle; duration_seconds: number; amount: Micros }
  /** A chat completion through the gateway, charged to the allocation. */
  | { kind: 'use_tokens'; allocation_id: string; max_tokens: number; message: string }
  | { kind: 'prompt'; allocation_id: string; content: string }
  | { kind: 'spawn'; name: string; initial_balance: Micros; strategy: StrategyName };

// ---------------------------------------------------------------------------------------------
// Traits and memory

export interface Traits {
  /** Share of each resource's capacity asked per bid (0: not used). */
  share: PerResource;
  /** Private value per unit-second (tokens: per token), in credits. */
  value: PerResource;
  /** Allocation length in rounds. */
  rounds: { min: number; max: number };
  /** Largest share of its balance one bid may escrow. */
  budget_share: number;
  /** Probability of bidding in a round where it may. */
  activity: number;
}

export interface Memory {
  rounds_seen: number;
  /** adaptive, spawner: multiplier on the estimated clearing cost. */
  markup: number;
  /** adaptive, spawner: moving average of clearing ÷ posted price per resource. */
  ratio: PerResource;
  wins: number;
  losses: number;
  /** Allocations whose tokens (and attention) it has already used. */
  used: string[];
  /** spawner: children made, and the round count of the last spawn. */
  children: number;
  last_spawn: number;
  /**
   * prompt_writer: what it expects a prompt to earn, in credits: the mean of its last
   * `REWARD_WINDOW` outcomes (a reward, or 0 for a prompt never rewarded) and one prior outcome
   * of `INITIAL_EXPECTED_REWARD`, so a run of misses lowers it without ever making it nothing.
   */
  expected_reward: number;
  /** prompt_writer: its last outcomes, in credits. */
  outcomes: number[];
  /** prompt_writer: prompts awaiting a reward, with the round count they were submitted at. */
  waiting: Array<{ prompt_id: string; since: number }>;
}

export interface AgentState {
  name: string;
  strategy: StrategyName;
  traits: Traits;
  memory: Memory;
}

export interface Decision {
  actions: Action[];
  state: AgentState;
}

/** What drawing traits needs to know of the economy. */
export interface PopulationContext {
  /** How many agents the population starts with (sizes each one's share of capacity). */
  agents: number;
  /** How many of them write prompts (they share the human's attention). */
  prompt_writers: number;
  /** The economy's initial prices: the scale of the private values. */
  reference_prices: PerResource;
}

/** Requested ÷ capacity if every agent using a resource asked for its share at once. */
export const LOAD = 4;
/** Median private value ÷ the economy's initial price. */
export const VALUE_SCALE = 1.5;
/** Standard deviation of log values across agents. */
export const VALUE_SPREAD = 0.5;
/** Attention all prompt writers ask together in one round, as a share of the human. */
const ATTENTION_LOAD = 2.2;
/** What a prompt writer expects its first prompt to earn, in credits. */
export const INITIAL_EXPECTED_REWARD = 60;
/** Share of the expected reward a prompt writer will pay for the attention to show it. */
const REWARD_BID_SHARE = 0.5;
/** Seconds after which an unrewarded prompt counts as a reward of zero. */
const REWARD_PATIENCE_SECONDS = 120;
const REWARD_WINDOW = 20;
const EMA_WEIGHT = 0.3;
const MARKUP_MIN = 0.7;
const MARKUP_MAX = 2;
/** A spawner is rich at this balance, in credits; it gives a child this share of it. */
export const SPAWN_RICH_CREDITS = 60;
const SPAWN_FUNDING_SHARE = 0.25;
export const MAX_CHILDREN = 3;
const SPAWN_GAP_ROUNDS = 10;
/** Pending bids an agent keeps at most (the economy's own cap is higher). */
const MAX_OPEN_BIDS = 2;
const MAX_TOKENS_PER_CALL = 128;

const USES: Record<StrategyName, readonly Resource[]> = {
  conservative: ['cpu', 'memory', 'tokens'],
  aggressive: ['cpu', 'memory', 'tokens'],
  adaptive: ['cpu', 'memory', 'tokens'],
  zero_intelligence: ['cpu', 'memory', 'tokens'],
  provider: ['cpu', 'memory'],
  spawner: ['cpu', 'memory', 'tokens'],
  prompt_writer: ['attention', 'tokens'],
};

const normal = (rng: Random) => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
const between = (rng: Random, lo: number, hi: number) => lo + (hi - lo) * rng.next();

/** An agent's traits, drawn once from its own seeded stream. */
export function drawTraits(strategy: StrategyName, ctx: PopulationContext, rng: Random): Traits {
  const uses = USES[strategy];
  const n = Math.max(1, ctx.agents);
  const writers = Math.max(1, ctx.prompt_writers);
  const share = perResource((r) => {
    if (!uses.includes(r)) return 0;
    if (r === 'attention') return Math.min(1, (ATTENTION_LOAD / writers) * between(rng, 0.8, 1.2));
    // A prompt writer needs tokens for its draft, not a share of the market's.
    if (strategy === 'prompt_writer') return 0.02;
    return Math.min(0.6, (LOAD / n) * between(rng, 0.5, 1.5));
  });
  const value = perResource((r) => ctx.reference_prices[r] * VALUE_SCALE * Math.exp(VALUE_SPREAD * normal(rng)));
  const steady = strategy === 'provider';
  return {
    share,
    value,
    rounds: steady ? { min: 4, max: 4 } : { min: 2, max: 6 },
    budget_share: strategy === 'aggressive' ? 0.3 : strategy === 'conservative' ? 0.05 : 0.15,
    activity: strategy === 'provider' ? 1 : strategy === 'conservative' ? 0.7 : 0.85,
  };
}

export function initialMemory(): Memory {
  return {
    rounds_seen: 0,
    markup: 1,
    ratio: perResource(() => 1),
    wins: 0,
    losses: 0,
    used: [],
    children: 0,
    last_spawn: Number.NEGATIVE_INFINITY,
    expected_reward: INITIAL_EXPECTED_REWARD,
    outcomes: [],
    waiting: [],
  };
}

export function newAgent(name: string, strategy: StrategyName, ctx: PopulationContext, rng: Random): AgentState {
  return { name, strategy, traits: drawTraits(strategy, ctx, rng), memory: initialMemory() };
}

// ---------------------------------------------------------------------------------------------
// Deciding

/** The strategy's actions for this observation, and its memory after learning from it. */
export function decide(state: AgentState, obs: Observation, rng: Random): Decision {
  const memory = learn(state, obs);
  const next: AgentState = { ...state, memory };
  const actions: Action[] = [...useAllocations(next, obs), ...serve(next, obs)];
  const bid = bidAction(next, obs, rng);
  if (bid) actions.push(bid);
  const spawn = spawnAction(next, obs, rng);
  if (spawn) {
    actions.push(spawn);
    memory.children += 1;
    memory.last_spawn = memory.rounds_seen;
  }
  return { actions, state: next };
}

/** What the observation teaches: wins and losses, clearing prices, rewards and misses. */
function learn(state: AgentState, obs: Observation): Memory {
  const m = state.memory;
  const rounds = m.rounds_seen + 1;
  let markup = m.markup;
  let { wins, losses } = m;
  for (const bid of obs.settled) {
    if (bid.status === 'won') wins++;
    else losses++;
    markup = Math.min(MARKUP_MAX, Math.max(MARKUP_MIN, markup * (bid.status === 'won' ? 0.98 : 1.05)));
  }
  const ratio = perResource((r) => {
    const seen = obs.clearing_prices[r];
    const posted = obs.market.resources[r].price;
    if (seen === null || !(posted > 0)) return m.ratio[r];
    return (1 - EMA_WEIGHT) * m.ratio[r] + EMA_WEIGHT * (seen / posted);
  });
  // Allocations no longer held need no memory of having been used.
  const held = new Set(obs.allocations.map((a) => a.allocation_id));
  const used = m.used.filter((id) => held.has(id));
  const { expected_reward, outcomes, waiting } = learnRewards(m, obs, rounds);
  return { ...m, rounds_seen: rounds, markup, wins, losses, ratio, used, expected_reward, outcomes, waiting };
}

function learnRewards(
  m: Memory,
  obs: Observation,
  rounds: number,
): Pick<Memory, 'expected_reward' | 'outcomes' | 'waiting'> {
  let waiting = [...m.waiting, ...obs.submitted.map((s) => ({ prompt_id: s.prompt_id, since: rounds }))];
  const outcomes = [...m.outcomes];
  for (const reward of obs.rewards) {
    outcomes.push(reward.credits / 1e6);
    waiting = waiting.filter((w) => w.prompt_id !== reward.prompt_id);
  }
  const patience = Math.ceil(REWARD_PATIENCE_SECONDS / obs.market.round_seconds);
  for (const _ of waiting.filter((w) => rounds - w.since > patience)) outcomes.push(0);
  const recent = outcomes.slice(-REWARD_WINDOW);
  const expected = (INITIAL_EXPECTED_REWARD + recent.reduce((a, b) => a + b, 0)) / (1 + recent.length);
  return { expected_reward: expected, outcomes: recent, waiting: waiting.filter((w) => rounds - w.since <= patience) };
}

/** Spends each new allocation's tokens through the gateway; a prompt writer shows its prompt. */
function useAllocations(state: AgentState, obs: Observation): Action[] {
  const actions: Action[] = [];
  for (const a of obs.allocations) {
    if (state.memory.used.includes(a.allocation_id) || a.ends_at <= obs.now) continue;
    const draft = draftPrompt(state, a, obs);
    if (a.tokens_remaining > 0) {
      const max = Math.min(MAX_TOKENS_PER_CALL, a.tokens_remaining);
      actions.push({ kind: 'use_tokens', allocation_id: a.allocation_id, max_tokens: max, message: draft });
    }
    if ((a.bundle.attention ?? 0) > 0 && state.strategy === 'prompt_writer') {
      actions.push({ kind: 'prompt', allocation_id: a.allocation_id, content: draft });
    }
    state.memory.used.push(a.allocation_id);
  }
  return actions;
}

/**
 * The provider's hook for selling services (a later addition to the API). Until then a
 * provider only keeps its host allocation, so this adds nothing.
 */
export function serve(_state: AgentState, _obs: Observation): Action[] {
  return [];
}

const TOPICS = [
  'why cpu prices rose this round',
  'a cheaper way to batch token-heavy work',
  'what the last ten rounds say about demand',
  'an idea for a shared cache between agents',
  'how I would spend a larger attention budget',
  'a summary of my wins and losses so far',
];

/** A prompt's text: what the agent has to say, from what it knows (deterministic). */
function draftPrompt(state: AgentState, a: HeldAllocation, obs: Observation): string {
  const m = state.memory;
  const topic = TOPICS[(m.wins + m.rounds_seen) % TOPICS.length] ?? TOPICS[0];
  const prices = RESOURCES.map((r) => `${r} ${obs.market.resources[r].price.toPrecision(3)}`).join(', ');
  const detail =
    m.wins % 2 === 0
      ? ` After ${m.wins} wins and ${m.losses} losses, posted prices are ${prices}.`
      : ' I would like your opinion before I bid again.';
  return `${state.name} on ${topic} (allocation ${a.allocation_id}).${detail}`;
}

// ---------------------------------------------------------------------------------------------
// Bidding

interface Priced {
  bundle: Bundle;
  duration_seconds: number;
  reference: Micros;
  floor: Micros;
  estimate: Micros;
  /** What the bundle is worth to the agent, in micro-credits. */
  worth: number;
}

/**
 * Whether the strategy bids this round at all (before pricing). Demand has to be there every
 * round: a round with no bids moves a price down by the whole step, while a round at capacity
 * moves it up by much less, so agents that sat out while they hold an allocation would drag
 * every price to its floor. Only the provider, which wants one steady host, waits for its
 * allocation to end.
 */
function wantsToBid(state: AgentState, obs: Observation): boolean {
  if (obs.open_bids >= MAX_OPEN_BIDS) return false;
  if (state.strategy !== 'provider') return true;
  return !obs.allocations.some((a) => a.ends_at > obs.now + obs.market.round_seconds * 1000);
}

function bidAction(state: AgentState, obs: Observation, rng: Random): Action | undefined {
  if (!wantsToBid(state, obs) || rng.next() >= state.traits.activity) return undefined;
  const priced = priceBundle(state, obs, rng);
  if (!priced) return undefined;
  const offer = offerFor(state, priced, rng);
  if (offer === undefined) return undefined;
  const budget = Math.floor(obs.balance * state.traits.budget_share);
  const amount = Math.min(Math.floor(offer), Math.floor(priced.worth), budget, obs.balance);
  if (!(amount >= priced.floor && amount > 0)) return undefined;
  return { kind: 'bid', bundle: priced.bundle, duration_seconds: priced.duration_seconds, amount: amount as Micros };
}

/** The strategy's offer in micro-credits, or undefined when it does not bid. */
function offerFor(state: AgentState, p: Priced, rng: Random): number | undefined {
  switch (state.strategy) {
    case 'zero_intelligence':
      return p.worth >= p.floor ? p.floor + rng.next() * (p.worth - p.floor) : undefined;
    case 'aggressive':
      return p.worth >= p.reference ? p.worth : undefined;
    case 'conservative':
      return p.worth >= p.reference ? p.reference * (1 + 0.05 * rng.next()) : undefined;
    case 'provider':
      return p.worth >= p.reference ? p.reference * 1.1 : undefined;
    default:
      // adaptive, spawner, prompt_writer: the learned estimate, at least the posted cost.
      return p.worth >= p.reference ? Math.max(p.reference, p.estimate * state.memory.markup) : undefined;
  }
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
const round4 = (x: number) => Math.round(x * 10_000) / 10_000;

/** The bundle the agent asks for this round, priced; undefined when nothing is worth it. */
function priceBundle(state: AgentState, obs: Observation, rng: Random): Priced | undefined {
  const { traits } = state;
  const span = traits.rounds.max - traits.rounds.min + 1;
  const rounds = traits.rounds.min + Math.floor(rng.next() * span);
  const duration = Math.max(1, rounds * obs.market.round_seconds);
  const priceBlind = state.strategy === 'zero_intelligence';
  const values = unitValues(state, duration);
  const bundle: Bundle = {};
  for (const r of RESOURCES) {
    const share = traits.share[r];
    if (share === 0) continue;
    const wobble = 1 + 0.1 * (2 * rng.next() - 1);
    const view = obs.market.resources[r];
    if (!priceBlind && values[r] < view.price) continue;
    const q = quantity(r, share * wobble * view.capacity, duration);
    if (q !== undefined) bundle[r] = q;
  }
  if (Object.keys(bundle).length === 0) return undefined;
  // A prompt writer bids for attention; tokens alone would be no use to it.
  if (state.strategy === 'prompt_writer' && bundle.attention === undefined) return undefined;
  const at = (f: (v: ResourceView, r: Resource) => number) => perResource((r) => f(obs.market.resources[r], r));
  const worthPrices = perResource((r) => values[r]);
  return {
    bundle,
    duration_seconds: duration,
    reference: referenceCost(
      bundle,
      duration,
      at((v) => v.price),
    ),
    floor: referenceCost(
      bundle,
      duration,
      at((v) => v.min_price),
    ),
    estimate: referenceCost(
      bundle,
      duration,
      at((v, r) => v.price * state.memory.ratio[r]),
    ),
    worth: referenceCost(bundle, duration, worthPrices),
  };
}

/**
 * Value per unit of each resource. A prompt writer values attention by what it expects the
 * prompt to earn, spread over the attention it asks for.
 */
function unitValues(state: AgentState, duration: number): PerResource {
  const { traits, memory } = state;
  if (state.strategy !== 'prompt_writer' || traits.share.attention === 0) return traits.value;
  const attentionSeconds = traits.share.attention * duration;
  return { ...traits.value, attention: (memory.expected_reward * REWARD_BID_SHARE) / attentionSeconds };
}

/** A quantity the API accepts: a whole number of the resource's quantum, within its limits. */
function quantity(r: Resource, amount: number, duration: number): number | undefined {
  if (r === 'tokens') {
    const tokens = Math.floor(amount * duration);
    return tokens >= 1 ? tokens : undefined;
  }
  const q = r === 'attention' ? Math.min(1, round4(amount)) : Math.min(100, round3(amount));
  return q > 0 ? q : undefined;
}

// ---------------------------------------------------------------------------------------------
// Spawning

/** A spawner that is rich spawns a child, at most `MAX_CHILDREN`, one per `SPAWN_GAP_ROUNDS`. */
function spawnAction(state: AgentState, obs: Observation, rng: Random): Action | undefined {
  const m = state.memory;
  if (state.strategy !== 'spawner' || m.children >= MAX_CHILDREN) return undefined;
  if (m.rounds_seen - m.last_spawn < SPAWN_GAP_ROUNDS) return undefined;
  if (obs.balance < SPAWN_RICH_CREDITS * 1e6) return undefined;
  const strategy = CHILD_STRATEGIES[Math.floor(rng.next() * CHILD_STRATEGIES.length)] ?? 'conservative';
  const funding = Math.floor((obs.balance * SPAWN_FUNDING_SHARE) / 1e6) * 1e6;
  return {
    kind: 'spawn',
    name: `${strategy}-${state.name.replace(/^[a-z_]+-/, '')}.${m.children + 1}`,
    initial_balance: funding as Micros,
    strategy,
  };
}

/** The strategy an agent runs, from its name (`adaptive-3`, `conservative-5.1`). */
export function strategyOfName(name: string): StrategyName | undefined {
  const prefix = /^([a-z_]+)-/.exec(name)?.[1];
  return (STRATEGY_NAMES as readonly string[]).includes(prefix ?? '') ? (prefix as StrategyName) : undefined;
}

/**
 * The seed of one agent's own stream, from the population's seed and the agent's name (FNV-1a),
 * so an agent's draws do not depend on how many others there are or in which order they act.
 */
export function agentSeed(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The first strategies in this order: a population of 7 or more runs every one. */
const MIX_ORDER: readonly StrategyName[] = [
  'prompt_writer',
  'adaptive',
  'conservative',
  'aggressive',
  'zero_intelligence',
  'spawner',
  'provider',
];

/** The strategies of a population of `n`, in order of their agents. */
export function strategyMix(n: number): StrategyName[] {
  return Array.from({ length: n }, (_, i) => MIX_ORDER[i % MIX_ORDER.length] ?? 'adaptive');
}
