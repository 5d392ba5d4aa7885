/**
 * The local stack's simulated population: a background service that registers agents through
 * the real HTTP API (the operator key registers them and creates the simulated human's rater
 * key; everything else each agent does with its own key), runs every agent's loop (observe →
 * decide → act) once per round, a little after the round opens, and the simulated human beside
 * them. Same seed, same names, same traits, and the same decisions for the same observations:
 * every draw comes from `seededRandom`, one stream per agent.
 *
 * Stopping: no new step starts, the running one gets `STOP_GRACE_MS` to finish its requests,
 * then whatever is still in flight is aborted; no timer is left behind.
 */

import { setMaxListeners } from 'node:events';
import { economyOf } from '#shared/adapters/services';
import type { Pace } from '#shared/agents/human';
import {
  agentSeed,
  newAgent,
  type PopulationContext,
  STRATEGY_NAMES,
  type StrategyName,
  strategyMix,
} from '#shared/agents/strategies';
import { seededRandom } from '#shared/core/ports';
import { initialPrices } from '#shared/core/resources';
import type { BackgroundService, RunningService, StackContext } from '../stack.ts';
import { type MarketSnapshot, PopulationAgent, type SpawnedChild } from './agent.ts';
import { ApiClient } from './client.ts';
import { type HumanControl, SimulatedHuman } from './human.ts';
import { marketSnapshot } from './market.ts';

export interface PopulationOptions {
  /** Agents registered at start (0: none). */
  agents: number;
  seed: number;
  /** Whether the simulated human rewards prompts. */
  human: boolean;
  /** Least time between two of the simulated human's rewards, ms. */
  humanPaceMs: number;
}

export const DEFAULT_POPULATION: PopulationOptions = { agents: 8, seed: 42, human: true, humanPaceMs: 3_000 };

/** Credits each registered agent is granted (minted as `agent_grant`). */
export const INITIAL_GRANT = 100;
/** Agents the population runs at most, children included. */
const MAX_POPULATION_FACTOR = 2;
/** How far into a round the agents act: after the last round's clearing and price update. */
const STEP_AT = 0.45;
/** An agent that missed its moment still acts until this far into the round. */
const LATEST_STEP_AT = 0.8;
const STOP_GRACE_MS = 2_000;

export interface RunningPopulation extends RunningService {
  /** The simulated human, when it runs: the inbox tells it a real person is rating. */
  human: HumanControl | undefined;
  agents(): ReadonlyArray<{ name: string; strategy: StrategyName; agentId: string }>;
}

/** The service the stack starts after its market services (none when there are no agents). */
export function populationServices(ctx: StackContext, options: PopulationOptions): BackgroundService[] {
  if (options.agents === 0 && !options.human) return [];
  return [{ name: 'population', start: () => startPopulation(ctx, options) }];
}

/** `population: 10 agents (seed 42): 2 prompt_writer, 2 adaptive, …; simulated human on`. */
export function describePopulation(options: PopulationOptions): string {
  const mix = strategyMix(options.agents);
  const counts = STRATEGY_NAMES.map((s) => [s, mix.filter((m) => m === s).length] as const).filter(([, n]) => n > 0);
  const list = counts.map(([s, n]) => `${n} ${s}`).join(', ');
  const human = options.human ? `simulated human every ≥ ${options.humanPaceMs / 1000} s` : 'no simulated human';
  return `population: ${options.agents} agents (seed ${options.seed})${list ? `: ${list}` : ''}; ${human}`;
}

export async function startPopulation(ctx: StackContext, options: PopulationOptions): Promise<RunningPopulation> {
  const population = new Population(ctx, options);
  await population.start();
  return population;
}

class Population implements RunningPopulation {
  private readonly abort = new AbortController();
  private readonly members: PopulationAgent[] = [];
  private readonly operator: ApiClient;
  private readonly reported = new Set<string>();
  private readonly economy;
  private simulatedHuman: SimulatedHuman | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<void>>();
  private market: { round: number; snapshot: Promise<MarketSnapshot> } | undefined;
  private humanTimer: NodeJS.Timeout | undefined;
  private humanRunning: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly ctx: StackContext,
    private readonly options: PopulationOptions,
  ) {
    // Every call in flight listens to the one signal (each removes its listener when done).
    setMaxListeners(10_000, this.abort.signal);
    this.operator = new ApiClient(ctx.apiUrl, ctx.operatorKey, this.abort.signal);
    this.economy = economyOf(ctx.config);
  }

  get human(): HumanControl | undefined {
    return this.simulatedHuman;
  }

  agents() {
    return this.members.map((m) => ({ name: m.name, strategy: m.strategy, agentId: m.agentId }));
  }

  async start(): Promise<void> {
    const mix = strategyMix(this.options.agents);
    const context: PopulationContext = {
      agents: mix.length,
      prompt_writers: mix.filter((s) => s === 'prompt_writer').length,
      reference_prices: initialPrices(this.economy),
    };
    for (const [i, strategy] of mix.entries()) {
      const name = `${strategy}-${i}`;
      const registered = await this.operator.post<{ agent_id: string; api_key: string }>('/v1/agents', {
        name,
        initial_balance: INITIAL_GRANT,
      });
      if (registered.status !== 201) throw new Error(`could not register ${name}: HTTP ${registered.status}`);
      this.add(registered.body.agent_id, registered.body.api_key, name, strategy, context);
    }
    if (this.options.human) this.simulatedHuman = await this.createHuman();
    this.ctx.log(describePopulation(this.options));
    for (const member of this.members) this.scheduleStep(member);
    this.scheduleHuman();
  }

  private add(
    agentId: string,
    key: string,
    name: string,
    strategy: StrategyName,
    context: PopulationContext,
  ): PopulationAgent {
    const rng = seededRandom(agentSeed(this.options.seed, name));
    const state = newAgent(name, strategy, context, rng);
    const client = new ApiClient(this.ctx.apiUrl, key, this.abort.signal);
    const member = new PopulationAgent(agentId, state, client, rng, (agent, p) => this.report(`${agent}: ${p}`));
    this.members.push(member);
    return member;
  }

  private async createHuman(): Promise<SimulatedHuman> {
    const rater = await this.operator.post<{ rater_id: string; api_key: string }>('/v1/raters', {
      name: 'simulated human',
    });
    if (rater.status !== 201) throw new Error(`could not create the simulated human's rater: HTTP ${rater.status}`);
    const pace: Pace = {
      interval_ms: this.options.humanPaceMs,
      hourly_ceiling: this.economy.money.max_minted_per_rater_per_hour,
      burst_share: 0.2,
    };
    return new SimulatedHuman({
      client: new ApiClient(this.ctx.apiUrl, rater.body.api_key, this.abort.signal),
      raterId: rater.body.rater_id,
      rng: seededRandom(agentSeed(this.options.seed, 'simulated human')),
      pace,
      weights: this.economy.rewards,
      report: (p) => this.report(`simulated human: ${p}`),
    });
  }

  /**
   * Each agent keeps its own clock: a slow one (a prompt writer makes several calls a round)
   * does not hold the others back. One that finishes late still acts in the round if enough of
   * it is left, rather than skipping it: a skipped round is a round of no demand.
   */
  private scheduleStep(member: PopulationAgent, lastRound = -1): void {
    if (this.stopped) return;
    const roundMs = this.economy.round_seconds * 1000;
    const now = Date.now();
    const round = Math.floor(now / roundMs);
    const into = now - round * roundMs;
    const late = round !== lastRound && into >= roundMs * STEP_AT && into <= roundMs * LATEST_STEP_AT;
    const wait = late ? 0 : (round + (into < roundMs * STEP_AT ? 0 : 1)) * roundMs + roundMs * STEP_AT - now;
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        const stepRound = Math.floor(Date.now() / roundMs);
        const run = this.step(member, stepRound).finally(() => {
          this.inFlight.delete(run);
          this.scheduleStep(member, stepRound);
        });
        this.inFlight.add(run);
      },
      Math.max(0, wait),
    );
    this.timers.add(timer);
  }

  /** What every agent sees of the market this round, read once for all of them. */
  private snapshot(round: number): Promise<MarketSnapshot> {
    if (this.market?.round !== round) {
      const client = this.members[0]?.client ?? this.operator;
      const snapshot = marketSnapshot(client);
      // A failed read is tried again by the next agent that needs it.
      snapshot.catch(() => {
        if (this.market?.snapshot === snapshot) this.market = undefined;
      });
      this.market = { round, snapshot };
    }
    return this.market.snapshot;
  }

  private scheduleHuman(): void {
    const human = this.simulatedHuman;
    if (this.stopped || !human) return;
    this.humanTimer = setTimeout(() => {
      this.humanRunning = human
        .look(Date.now())
        .catch((error: unknown) => this.failed('simulated human', error))
        .finally(() => this.scheduleHuman());
    }, human.lookMs);
  }

  /** One round of one agent; the children it spawned start their own loops. */
  private async step(member: PopulationAgent, round: number): Promise<void> {
    try {
      const children = await member.step(await this.snapshot(round));
      for (const child of children) this.adopt(child);
    } catch (error) {
      this.failed(member.name, error);
    }
  }

  private adopt(child: SpawnedChild): void {
    if (this.members.length >= MAX_POPULATION_FACTOR * Math.max(1, this.options.agents)) return;
    const mix = this.members.map((m) => m.strategy);
    const context: PopulationContext = {
      agents: Math.max(1, this.options.agents),
      prompt_writers: Math.max(1, mix.filter((s) => s === 'prompt_writer').length),
      reference_prices: initialPrices(this.economy),
    };
    this.scheduleStep(this.add(child.agent_id, child.api_key, child.name, child.strategy, context));
  }

  private failed(who: string, error: unknown): void {
    if (this.stopped) return;
    this.report(`${who}: ${error instanceof Error ? error.message : String(error)}`);
  }

  /** Each distinct problem once: a failing route must not flood the stack's output. */
  private report(problem: string): void {
    if (this.stopped || this.reported.has(problem)) return;
    this.reported.add(problem);
    this.ctx.log(`population: ${problem}`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    if (this.humanTimer) clearTimeout(this.humanTimer);
    const settled = Promise.allSettled([...this.inFlight, this.humanRunning]);
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([settled, new Promise((resolve) => (grace = setTimeout(resolve, STOP_GRACE_MS)))]);
    clearTimeout(grace);
    this.abort.abort();
    await settled;
  }
}
