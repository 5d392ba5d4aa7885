/**
 * One valid `data` payload per event type, for tests that need an event of any type. Each
 * carries the required fields only (the smallest thing the schema accepts), with realistic
 * values, so a test can spread it and override what it cares about.
 */

import { type Envelope, type EventData, type EventDraft, type EventType, makeEvent } from './events.ts';
import type { Clock, IdGenerator } from './ports.ts';

const AGENT = 'a_01JD0000000000000000000001';
const OTHER = 'a_01JD0000000000000000000002';
const BID = 'b_01JD0000000000000000000003';
const ROUND = 'r_2026-11-26T12:00:00Z';
const ALLOCATION = 'al_01JD0000000000000000000004';
const PROMPT = 'p_01JD0000000000000000000005';
const perResource = { cpu: 1, memory: 1, tokens: 1, attention: 1 };

export const sampleEventData: { readonly [T in EventType]: EventData<T> } = {
  credits_transferred: {
    transfer_id: 'tr_01JD0000000000000000000006',
    from: AGENT,
    to: OTHER,
    amount: 12.5,
    purpose: 'transfer',
    reference: null,
  },
  balance_queried: { agent_id: AGENT, balance: 87.5 },
  human_reward_issued: {
    agent_id: AGENT,
    prompt_id: PROMPT,
    scores: { interesting: 7, useful: 8, understandable: 9 },
    credits_awarded: 24,
  },
  bid_placed: {
    bid_id: BID,
    agent_id: AGENT,
    beneficiary_id: AGENT,
    round: ROUND,
    bundle: { cpu: 1, tokens: 1000 },
    duration_seconds: 60,
    total_cost: 3.25,
  },
  bid_rejected: { agent_id: AGENT, reason: 'insufficient_balance' },
  bid_cancelled: { bid_id: BID },
  resources_allocated: {
    bid_id: BID,
    allocation_id: ALLOCATION,
    agent_id: AGENT,
    bundle: { cpu: 1, tokens: 1000 },
    duration_seconds: 60,
    cost: 3,
    starts_at: '2026-11-26T12:00:00.000Z',
    ends_at: '2026-11-26T12:01:00.000Z',
  },
  auction_cleared: {
    round: ROUND,
    bids: 2,
    winners: 1,
    losers: 1,
    revenue: 3,
    utilization: { cpu: 0.5, memory: 0, tokens: 0.1, attention: 0 },
    clearing_prices: perResource,
  },
  price_update: { resource: 'cpu', old_price: 1, new_price: 1.1, utilization: 0.95, reason: 'demand_spike' },
  allocation_expired: { allocation_id: ALLOCATION, agent_id: AGENT, tokens_used: 420 },
  quota_exceeded: { allocation_id: ALLOCATION, requested: 2000, remaining: 580 },
  tokens_metered: { allocation_id: ALLOCATION, agent_id: AGENT, tokens: 120, tokens_used: 540, remaining: 460 },
  llm_call_completed: {
    allocation_id: ALLOCATION,
    agent_id: AGENT,
    reservation_id: 'rs_01JD0000000000000000000005',
    model: 'gpt-4o-mini',
    prompt_tokens: 42,
    completion_tokens: 80,
    tokens_charged: 122,
    latency_ms: 640,
    status: 'ok',
  },
  execution_started: { execution_id: 'ex_01JD0000000000000000000006', allocation_id: ALLOCATION, agent_id: AGENT },
  execution_terminated: {
    execution_id: 'ex_01JD0000000000000000000006',
    allocation_id: ALLOCATION,
    agent_id: AGENT,
    exit_code: null,
    reason: 'allocation_ended',
    signal: 'SIGTERM',
    duration_ms: 59_800,
  },
  agent_registered: { agent_id: AGENT, name: 'scout', initial_balance: 100 },
  agent_spawned: { parent_id: AGENT, child_id: OTHER, spawn_cost: 5, initial_balance: 20 },
  agent_dormant: { agent_id: AGENT, final_balance: 0, reason: 'insufficient_credits' },
  agent_awake: { agent_id: AGENT, awakened_by: OTHER, current_balance: 10 },
  prompt_submitted: { prompt_id: PROMPT, allocation_id: ALLOCATION },
  prompt_expired: { prompt_id: PROMPT },
  reasoning_trace: { reasoning: 'cpu is cheap this round', decision: 'bid for 2 cpu' },
  tool_call_initiated: { tool_name: 'search', parameters: { q: 'prices' } },
  tool_call_completed: { tool_name: 'search', result: { hits: 3 } },
  reflection: { trigger: 'lost a bid', outcome_assessment: 'bid too low' },
  code_change_proposed: { target_module: 'strategy/bidding', change_description: 'bid 10% above floor' },
  code_change_applied: { change_id: 'c_1', modules_modified: ['strategy/bidding'], test_results: { passed: 12 } },
  judge_evaluation: {
    scenario_id: 'er_001',
    evaluation_id: 'ev_1',
    criteria: [{ criterion: 'thrift', score: 4, justification: 'kept a reserve' }],
    overall_score: 4,
    pass: true,
    feedback: 'sound',
  },
};

/** A draft of the given type with its sample data. */
export function sampleDraft<T extends EventType>(type: T, overrides: Partial<EventDraft<T>> = {}): EventDraft<T> {
  return { type, data: sampleEventData[type], ...overrides };
}

/** A fixed clock and a counter for ids, so envelopes built in tests are reproducible. */
export function fixedEventDeps(nowMs = Date.UTC(2026, 10, 26, 12, 0, 0, 123)): { clock: Clock; ids: IdGenerator } {
  let n = 0;
  return {
    clock: { now: () => nowMs },
    ids: { next: (prefix) => `${prefix ? `${prefix}_` : ''}${String(++n).padStart(26, '0')}` },
  };
}

/** A valid envelope of the given type, built through `makeEvent`. */
export function sampleEnvelope<T extends EventType>(type: T, overrides: Partial<EventDraft<T>> = {}): Envelope<T> {
  return makeEvent(fixedEventDeps(), sampleDraft(type, overrides));
}
