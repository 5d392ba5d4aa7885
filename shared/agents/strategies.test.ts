/**
 * The built-in strategies' decisions: every bid within balance, budget and value and at least
 * the floor cost, never negative; the same seed and observations give the same decisions;
 * each strategy's own behaviour (what it pays, when it bids, learning, spawning, prompting).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ECONOMY_DEFAULTS } from '../core/market-config.ts';
import type { Micros } from '../core/money.ts';
import { seededRandom } from '../core/ports.ts';
import { initialPrices, perResource, referenceCost } from '../core/resources.ts';
import {
  type Action,
  type AgentState,
  agentSeed,
  decide,
  MAX_CHILDREN,
  type MarketView,
  newAgent,
  type Observation,
  type PopulationContext,
  STRATEGY_NAMES,
  type StrategyName,
  strategyMix,
  strategyOfName,
} from './strategies.ts';

const economy = ECONOMY_DEFAULTS;
const context: PopulationContext = { agents: 10, prompt_writers: 2, reference_prices: initialPrices(economy) };
const NOW = Date.UTC(2026, 11, 2, 8, 0, 0);

function market(scale = 1): MarketView {
  return {
    round: 'r_100',
    round_seconds: 1,
    resources: perResource((r) => ({
      price: economy.prices[r].initial_price * scale,
      min_price: economy.prices[r].min_price,
      max_price: economy.prices[r].max_price,
      capacity: r === 'tokens' ? 1388.888888888889 : r === 'attention' ? 1 : 100,
    })),
  };
}

function observation(overrides: Partial<Observation> = {}): Observation {
  return {
    now: NOW,
    market: market(),
    clearing_prices: perResource(() => null),
    balance: 100_000_000 as Micros,
    open_bids: 0,
    settled: [],
    allocations: [],
    rewards: [],
    submitted: [],
    ...overrides,
  };
}

const agent = (strategy: StrategyName, seed = 1) =>
  newAgent(`${strategy}-0`, strategy, context, seededRandom(agentSeed(seed, `${strategy}-0`)));

const bidsOf = (actions: Action[]) => actions.flatMap((a) => (a.kind === 'bid' ? [a] : []));

/** Runs an agent for `rounds` identical observations; returns every action. */
function run(state: AgentState, obs: Observation, rounds: number, seed = 7): Action[] {
  const rng = seededRandom(seed);
  const all: Action[] = [];
  let s = state;
  for (let i = 0; i < rounds; i++) {
    const d = decide(s, { ...obs, now: obs.now + i * 1000 }, rng);
    s = d.state;
    all.push(...d.actions);
  }
  return all;
}

describe('every strategy', () => {
  const arbitraryObservation = fc.record({
    balance: fc.integer({ min: 0, max: 1_000_000_000 }),
    scale: fc.double({ min: 0.01, max: 100, noNaN: true }),
    open: fc.integer({ min: 0, max: 3 }),
    seed: fc.integer({ min: 0, max: 2 ** 31 }),
  });

  it.each(STRATEGY_NAMES)('%s never bids more than its balance or below the floor, never negative', (strategy) => {
    fc.assert(
      fc.property(arbitraryObservation, ({ balance, scale, open, seed }) => {
        const obs = observation({ balance: balance as Micros, market: market(scale), open_bids: open });
        for (const bid of bidsOf(run(agent(strategy, seed), obs, 5, seed))) {
          expect(Number.isSafeInteger(bid.amount)).toBe(true);
          expect(bid.amount).toBeGreaterThan(0);
          expect(bid.amount).toBeLessThanOrEqual(balance);
          const floors = perResource((r) => obs.market.resources[r].min_price);
          expect(bid.amount).toBeGreaterThanOrEqual(referenceCost(bid.bundle, bid.duration_seconds, floors));
          expect(Number.isInteger(bid.duration_seconds) && bid.duration_seconds >= 1).toBe(true);
        }
      }),
      { numRuns: 40 },
    );
  });

  it.each(STRATEGY_NAMES)('%s decides the same for the same seed and observations', (strategy) => {
    fc.assert(
      fc.property(arbitraryObservation, ({ balance, scale, seed }) => {
        const obs = observation({ balance: balance as Micros, market: market(scale) });
        expect(run(agent(strategy, seed), obs, 6, seed)).toEqual(run(agent(strategy, seed), obs, 6, seed));
      }),
      { numRuns: 20 },
    );
  });

  it.each(STRATEGY_NAMES)('%s asks for quantities the API accepts', (strategy) => {
    for (const bid of bidsOf(run(agent(strategy), observation({ market: market(0.1) }), 20))) {
      for (const [r, q] of Object.entries(bid.bundle)) {
        if (r === 'tokens') expect(Number.isSafeInteger(q) && q >= 1).toBe(true);
        else {
          const decimals = r === 'attention' ? 4 : 3;
          expect(q).toBeGreaterThan(0);
          expect(q).toBeLessThanOrEqual(r === 'attention' ? 1 : 100);
          expect(Number((q as number).toFixed(decimals))).toBe(q);
        }
      }
    }
  });

  it('a seed changes the traits; the name keeps an agent apart from the others', () => {
    expect(agent('adaptive', 1).traits).not.toEqual(agent('adaptive', 2).traits);
    expect(agentSeed(42, 'adaptive-1')).not.toBe(agentSeed(42, 'adaptive-8'));
  });

  it('no agent bids when it already keeps two bids open', () => {
    for (const s of STRATEGY_NAMES) expect(bidsOf(run(agent(s), observation({ open_bids: 2 }), 10))).toEqual([]);
  });
});

describe('pricing by strategy', () => {
  const cheap = observation({ market: market(0.2) });

  it('conservative offers the reference cost plus at most 5%', () => {
    for (const bid of bidsOf(run(agent('conservative'), cheap, 30))) {
      const reference = referenceCost(
        bid.bundle,
        bid.duration_seconds,
        perResource((r) => cheap.market.resources[r].price),
      );
      expect(bid.amount).toBeGreaterThanOrEqual(reference - 1);
      expect(bid.amount).toBeLessThanOrEqual(Math.ceil(reference * 1.05));
    }
  });

  it('aggressive offers more than conservative for the same market', () => {
    const mean = (s: StrategyName) => {
      const bids = bidsOf(run(agent(s), cheap, 40));
      return bids.reduce((a, b) => a + b.amount, 0) / Math.max(1, bids.length);
    };
    expect(mean('aggressive')).toBeGreaterThan(mean('conservative'));
  });

  it('price readers leave out what they value below its price; zero-intelligence does not look', () => {
    const dear = observation({ market: market(50) });
    for (const s of ['conservative', 'aggressive', 'adaptive'] as const)
      expect(bidsOf(run(agent(s), dear, 20))).toEqual([]);
    const floor = observation({
      market: {
        ...market(),
        resources: perResource((r) => ({ ...market().resources[r], price: economy.prices[r].max_price })),
      },
    });
    expect(bidsOf(run(agent('zero_intelligence'), floor, 20)).length).toBeGreaterThan(0);
  });

  it('adaptive raises its markup after losses and lowers it after wins', () => {
    const a = agent('adaptive');
    const lost = decide(a, observation({ settled: [settled('lost')] }), seededRandom(1)).state;
    const won = decide(a, observation({ settled: [settled('won')] }), seededRandom(1)).state;
    expect(lost.memory.markup).toBeGreaterThan(1);
    expect(won.memory.markup).toBeLessThan(1);
  });

  it('adaptive learns from clearing prices above the posted ones', () => {
    const obs = observation({ clearing_prices: perResource((r) => economy.prices[r].initial_price * 2) });
    const learned = decide(agent('adaptive'), obs, seededRandom(1)).state;
    expect(learned.memory.ratio.cpu).toBeCloseTo(1.3);
  });

  it('the provider holds one steady cpu and memory allocation: it does not bid while it holds one', () => {
    const bids = bidsOf(run(agent('provider'), cheap, 5));
    expect(bids.length).toBeGreaterThan(0);
    for (const b of bids) expect(Object.keys(b.bundle).sort()).toEqual(['cpu', 'memory']);
    const holding = observation({
      allocations: [{ allocation_id: 'al_1', bundle: { cpu: 10 }, ends_at: NOW + 10_000, tokens_remaining: 0 }],
    });
    expect(bidsOf(run(agent('provider'), holding, 5))).toEqual([]);
  });
});

function settled(status: 'won' | 'lost') {
  return { bid_id: 'b_1', status, amount: 1_000_000 as Micros, bundle: { cpu: 10 }, duration_seconds: 5 };
}

describe('using allocations', () => {
  const allocation = {
    allocation_id: 'al_1',
    bundle: { attention: 0.5, tokens: 100 },
    ends_at: NOW + 5_000,
    tokens_remaining: 100,
  };

  it('spends its tokens through the gateway once per allocation', () => {
    const actions = run(agent('adaptive'), observation({ allocations: [allocation] }), 3);
    const uses = actions.filter((a) => a.kind === 'use_tokens');
    expect(uses).toHaveLength(1);
    expect(uses[0]).toMatchObject({ allocation_id: 'al_1', max_tokens: 100 });
  });

  it('a prompt writer shows one prompt per attention allocation; others never prompt', () => {
    const prompts = run(agent('prompt_writer'), observation({ allocations: [allocation] }), 3).filter(
      (a) => a.kind === 'prompt',
    );
    expect(prompts).toHaveLength(1);
    expect(prompts[0]?.kind === 'prompt' && prompts[0].content.length).toBeGreaterThan(20);
    expect(run(agent('adaptive'), observation({ allocations: [allocation] }), 3).some((a) => a.kind === 'prompt')).toBe(
      false,
    );
  });

  it('a prompt writer bids for attention, and values it by the rewards it gets', () => {
    const bids = bidsOf(run(agent('prompt_writer'), observation(), 5));
    expect(bids.length).toBeGreaterThan(0);
    for (const b of bids) expect(b.bundle.attention).toBeGreaterThan(0);
    let s = agent('prompt_writer');
    const rng = seededRandom(3);
    s = decide(s, observation({ submitted: [{ prompt_id: 'p_1', allocation_id: 'al_1' }] }), rng).state;
    const rewarded = decide(s, observation({ rewards: [{ prompt_id: 'p_1', credits: 200_000_000 as Micros }] }), rng);
    expect(rewarded.state.memory.expected_reward).toBeGreaterThan(s.memory.expected_reward);
    expect(rewarded.state.memory.waiting).toEqual([]);
  });

  it('an unrewarded prompt counts as a reward of nothing once its patience runs out', () => {
    let s = agent('prompt_writer');
    const rng = seededRandom(3);
    s = decide(s, observation({ submitted: [{ prompt_id: 'p_1', allocation_id: 'al_1' }] }), rng).state;
    const before = s.memory.expected_reward;
    for (let i = 0; i < 130; i++) s = decide(s, observation(), rng).state;
    expect(s.memory.waiting).toEqual([]);
    expect(s.memory.expected_reward).toBeLessThan(before);
  });

  it('a run of misses lowers what it expects of a prompt without ever making it nothing', () => {
    let s = agent('prompt_writer');
    const rng = seededRandom(3);
    for (let i = 0; i < 400; i++) {
      const submitted = i < 50 ? [{ prompt_id: `p_${i}`, allocation_id: `al_${i}` }] : [];
      s = decide(s, observation({ submitted }), rng).state;
    }
    expect(s.memory.outcomes).toHaveLength(20);
    expect(s.memory.expected_reward).toBeGreaterThan(1);
    expect(s.memory.expected_reward).toBeLessThan(5);
  });
});

describe('spawning', () => {
  it('a rich spawner spawns children running other strategies, at most MAX_CHILDREN, spaced out', () => {
    const spawns = run(agent('spawner'), observation({ balance: 500_000_000 as Micros }), 100).filter(
      (a) => a.kind === 'spawn',
    );
    expect(spawns).toHaveLength(MAX_CHILDREN);
    for (const s of spawns) {
      if (s.kind !== 'spawn') continue;
      expect(s.strategy).not.toBe('spawner');
      expect(strategyOfName(s.name)).toBe(s.strategy);
      expect(s.initial_balance % 1_000_000).toBe(0);
      expect(s.initial_balance).toBeLessThan(500_000_000);
    }
  });

  it('a poor spawner does not spawn; no other strategy ever does', () => {
    expect(
      run(agent('spawner'), observation({ balance: 5_000_000 as Micros }), 30).some((a) => a.kind === 'spawn'),
    ).toBe(false);
    for (const s of STRATEGY_NAMES.filter((n) => n !== 'spawner')) {
      const rich = observation({ balance: 900_000_000 as Micros });
      expect(run(agent(s), rich, 30).some((a) => a.kind === 'spawn')).toBe(false);
    }
  });
});

describe('the population mix', () => {
  it('runs every strategy from 7 agents on, and names carry them', () => {
    expect(new Set(strategyMix(7))).toEqual(new Set(STRATEGY_NAMES));
    expect(strategyMix(10).filter((s) => s === 'prompt_writer')).toHaveLength(2);
    expect(strategyOfName('zero_intelligence-4')).toBe('zero_intelligence');
    expect(strategyOfName('conservative-5.1')).toBe('conservative');
    expect(strategyOfName('someone')).toBeUndefined();
  });
});
