/**
 * One simulated agent: its key, its strategy's state and its own seeded stream. Each round it
 * observes through the API (its profile, its recent bids, its allocations, its rewards), lets
 * the strategy decide (`shared/agents/strategies.ts`), and acts: bids, chat completions through
 * the gateway charged to its allocations, prompts, spawns. Refusals (a closed round, a short
 * balance) are part of the market and are not errors; failures (5xx, no answer) are reported.
 */
import {
  type Action,
  type AgentState,
  decide,
  type HeldAllocation,
  type MarketView,
  type Observation,
  type SettledBid,
  type StrategyName,
} from '#shared/agents/strategies';
import { formatCredits, type Micros, parseCredits } from '#shared/core/money';
import type { Random } from '#shared/core/ports';
import type { Bundle, PerResource } from '#shared/core/resources';
import { type ApiClient, problemCode } from './client.ts';

/** What every agent sees of the market in a round (fetched once per round for all). */
export interface MarketSnapshot {
  now: number;
  view: MarketView;
  clearing_prices: PerResource<number | null>;
}

/** A child made by a spawn, to be run by the population. */
export interface SpawnedChild {
  agent_id: string;
  api_key: string;
  name: string;
  strategy: StrategyName;
  parent: string;
}

interface WireBid {
  bid_id: string;
  status: string;
  amount: number;
  bundle: Bundle;
  duration_seconds: number;
}

interface WireAllocation {
  allocation_id: string;
  bundle: Bundle;
  ends_at: string;
  status: string;
  tokens: { remaining: number };
}

interface WireEntry {
  transfer_id: string;
  amount: number;
  direction: string;
  purpose: string;
  reference?: string | null;
}

/** Refusals a strategy meets in a normal market: nothing to report. */
const EXPECTED_REFUSALS = new Set([
  'round_closed',
  'insufficient_balance',
  'below_reserve',
  'too_many_open_bids',
  'allocation_not_active',
  'no_active_allocation',
  'quota_exceeded',
  'prompt_exists',
  'agent_dormant',
  'rate_limited',
]);

export class PopulationAgent {
  /** Bids placed and not yet seen settled. */
  private readonly pending = new Set<string>();
  private readonly seenTransfers = new Set<string>();
  private submitted: Observation['submitted'] = [];
  private holds = false;
  private calls = 0;

  constructor(
    readonly agentId: string,
    private state: AgentState,
    readonly client: ApiClient,
    private readonly rng: Random,
    private readonly report: (agent: string, problem: string) => void,
  ) {}

  get name(): string {
    return this.state.name;
  }

  get strategy(): StrategyName {
    return this.state.strategy;
  }

  /** One round: observe, decide, act. Resolves with the children it spawned. */
  async step(market: MarketSnapshot): Promise<SpawnedChild[]> {
    const obs = await this.observe(market);
    if (!obs) return [];
    const { actions, state } = decide(this.state, obs, this.rng);
    this.state = state;
    const children: SpawnedChild[] = [];
    // The bid first: it must land in the round still open; the rest may take longer.
    const ordered = [...actions.filter((a) => a.kind === 'bid'), ...actions.filter((a) => a.kind !== 'bid')];
    for (const action of ordered) {
      const child = await this.act(action, market.view.round);
      if (child) children.push(child);
    }
    return children;
  }

  /** Its reads are independent, so they go out at once: a round is short. */
  private async observe(market: MarketSnapshot): Promise<Observation | undefined> {
    const mayHold = this.holds || this.pending.size > 0;
    const waits = this.state.memory.waiting.length > 0 || this.submitted.length > 0;
    const [profile, bids, held, rewards] = await Promise.all([
      this.client.get<{ balance: number; state: string }>(`/v1/agents/${this.agentId}`),
      this.recentBids(),
      mayHold ? this.activeAllocations() : Promise.resolve([]),
      waits ? this.recentRewards() : Promise.resolve([]),
    ]);
    // Allocations won in the round just cleared may not have been listed yet; the next look has them.
    this.holds = held.length > 0 || bids.settled.some((b) => b.status === 'won');
    // A dormant agent has nothing to bid with; a reward or a payment wakes it.
    if (profile.status !== 200 || profile.body.state === 'dormant') return undefined;
    const submitted = this.submitted;
    this.submitted = [];
    return {
      now: market.now,
      market: market.view,
      clearing_prices: market.clearing_prices,
      balance: parseCredits(profile.body.balance),
      open_bids: bids.open,
      settled: bids.settled,
      allocations: held,
      rewards,
      submitted,
    };
  }

  /**
   * Its bids that settled since the last look, and how many are still pending. Each pending bid
   * is read by its id (an agent keeps at most a couple): a listing is not in placement order.
   */
  private async recentBids(): Promise<{ settled: SettledBid[]; open: number }> {
    const answers = await Promise.all(
      [...this.pending].map((id) => this.client.get<WireBid>(`/v1/bids/${encodeURIComponent(id)}`)),
    );
    const settled: SettledBid[] = [];
    for (const answer of answers) {
      if (answer.status !== 200) continue;
      const bid = answer.body;
      if (bid.status === 'pending') continue;
      this.pending.delete(bid.bid_id);
      if (bid.status !== 'won' && bid.status !== 'lost') continue;
      settled.push({
        bid_id: bid.bid_id,
        status: bid.status,
        amount: parseCredits(bid.amount),
        bundle: bid.bundle,
        duration_seconds: bid.duration_seconds,
      });
    }
    return { settled, open: this.pending.size };
  }

  private async activeAllocations(): Promise<HeldAllocation[]> {
    const answer = await this.client.get<{ allocations: WireAllocation[] }>('/v1/allocations?status=active');
    if (answer.status !== 200) return [];
    return answer.body.allocations.map((a) => ({
      allocation_id: a.allocation_id,
      bundle: a.bundle,
      ends_at: Date.parse(a.ends_at),
      tokens_remaining: a.tokens.remaining,
    }));
  }

  /** Rewards credited to it that it has not seen yet (its ledger's newest entries). */
  private async recentRewards(): Promise<Observation['rewards']> {
    const answer = await this.client.get<{ entries: WireEntry[] }>(`/v1/agents/${this.agentId}/history?limit=20`);
    if (answer.status !== 200) return [];
    const rewards: Observation['rewards'] = [];
    for (const e of answer.body.entries) {
      if (e.purpose !== 'human_reward' || e.direction !== 'credit' || this.seenTransfers.has(e.transfer_id)) continue;
      this.seenTransfers.add(e.transfer_id);
      rewards.push({ prompt_id: e.reference ?? '', credits: parseCredits(e.amount) });
    }
    return rewards;
  }

  private async act(action: Action, round: string): Promise<SpawnedChild | undefined> {
    const key = `${this.name}:${round}:${++this.calls}`;
    switch (action.kind) {
      case 'bid':
        return void (await this.bid(action.bundle, action.duration_seconds, action.amount, key));
      case 'use_tokens':
        return void (await this.chat(action.allocation_id, action.max_tokens, action.message));
      case 'prompt':
        return void (await this.prompt(action.allocation_id, action.content));
      case 'spawn':
        return this.spawn(action.name, action.initial_balance, action.strategy, key);
    }
  }

  private async bid(bundle: Bundle, duration: number, amount: Micros, key: string): Promise<void> {
    const body = { bundle, duration_seconds: duration, amount: formatCredits(amount) };
    const answer = await this.client.post<{ bid_id: string }>('/v1/bids', body, { idempotencyKey: key });
    if (answer.status === 201) this.pending.add(answer.body.bid_id);
    else this.refused('POST /v1/bids', answer.status, problemCode(answer));
  }

  private async chat(allocationId: string, maxTokens: number, message: string): Promise<void> {
    const body = { model: 'syntropism-offline', messages: [{ role: 'user', content: message }], max_tokens: maxTokens };
    const answer = await this.client.post('/v1/llm/chat/completions', body, {
      headers: { 'x-allocation-id': allocationId },
    });
    if (answer.status !== 200) this.refused('POST /v1/llm/chat/completions', answer.status, problemCode(answer));
  }

  private async prompt(allocationId: string, content: string): Promise<void> {
    const answer = await this.client.post<{ prompt_id: string }>('/v1/prompts', {
      allocation_id: allocationId,
      content,
    });
    if (answer.status === 201) this.submitted.push({ prompt_id: answer.body.prompt_id, allocation_id: allocationId });
    else this.refused('POST /v1/prompts', answer.status, problemCode(answer));
  }

  private async spawn(
    name: string,
    initialBalance: Micros,
    strategy: StrategyName,
    key: string,
  ): Promise<SpawnedChild | undefined> {
    const body = { name, initial_balance: formatCredits(initialBalance) };
    const answer = await this.client.post<{ agent_id: string; api_key: string }>(
      `/v1/agents/${this.agentId}/children`,
      body,
      { idempotencyKey: key },
    );
    if (answer.status === 201) {
      return { agent_id: answer.body.agent_id, api_key: answer.body.api_key, name, strategy, parent: this.name };
    }
    this.refused(`POST /v1/agents/{id}/children`, answer.status, problemCode(answer));
    return undefined;
  }

  private refused(route: string, status: number, code: string | undefined): void {
    if (code !== undefined && EXPECTED_REFUSALS.has(code)) return;
    this.report(this.name, `${route} answered ${status}${code ? ` ${code}` : ''}`);
  }
}
