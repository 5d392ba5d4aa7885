/**
 * The event taxonomy: one envelope, one zod schema per event type, and the fixed source and
 * component of every type. Events are validated here before they are written to the outbox,
 * so an unknown type or a malformed payload is a programming error that tests catch.
 */
import { z } from 'zod';
import type { Clock, IdGenerator } from './ports.ts';
import { RESOURCES } from './resources.ts';

export const SOURCES = ['system', 'agent', 'judge'] as const;
export const COMPONENTS = ['economy', 'market', 'scheduler', 'attention', 'agents', 'benchmark'] as const;
export type Source = (typeof SOURCES)[number];
export type Component = (typeof COMPONENTS)[number];

/** Credits on the wire: a finite number with at most 6 decimals (checked where it is made). */
const credits = z.number().finite();
const id = z.string().min(1).max(128);
const timestamp = z.string().datetime({ offset: true });
const bundle = z
  .object({
    cpu: z.number().positive().optional(),
    memory: z.number().positive().optional(),
    tokens: z.number().int().positive().optional(),
    attention: z.number().positive().optional(),
  })
  .strict();
const perResource = z.record(z.enum(RESOURCES), z.number().finite());

export const TRANSFER_PURPOSES = [
  'agent_grant',
  'transfer',
  'bid_escrow',
  'escrow_refund',
  'resource_burn',
  'human_reward',
  'spawn_fee',
  'spawn_funding',
  'service_escrow',
  'service_payment',
  'service_refund',
] as const;
export type TransferPurpose = (typeof TRANSFER_PURPOSES)[number];

const json = z.unknown();

/** `data` schemas, with the fixed source and component of each type. */
export const EVENT_TYPES = {
  // System, economy
  credits_transferred: {
    source: 'system',
    component: 'economy',
    when: 'every ledger movement (grants, transfers, escrow, burns, refunds, rewards)',
    data: z
      .object({
        transfer_id: id,
        from: id,
        to: id,
        amount: credits.positive(),
        purpose: z.enum(TRANSFER_PURPOSES),
        reference: z.string().max(256).nullable(),
        memo: z.string().max(256).optional(),
      })
      .strict(),
  },
  balance_queried: {
    source: 'system',
    component: 'economy',
    when: 'an agent or the operator reads a balance through GET /v1/agents/{id}/balance',
    data: z.object({ agent_id: id, balance: credits }).strict(),
  },
  human_reward_issued: {
    source: 'system',
    component: 'economy',
    when: 'a rater (or the operator) rewards a prompt; the credits are minted',
    data: z
      .object({
        agent_id: id,
        prompt_id: id,
        scores: z
          .object({
            interesting: z.number().min(0).max(10),
            useful: z.number().min(0).max(10),
            understandable: z.number().min(0).max(10),
          })
          .strict(),
        credits_awarded: credits.nonnegative(),
        reason: z.string().max(2000).optional(),
      })
      .strict(),
  },
  // System, market and scheduler
  bid_placed: {
    source: 'system',
    component: 'market',
    when: 'a bid is accepted and its amount escrowed',
    data: z
      .object({
        bid_id: id,
        agent_id: id,
        beneficiary_id: id,
        round: id,
        bundle,
        duration_seconds: z.number().int().positive(),
        total_cost: credits.positive(),
      })
      .strict(),
  },
  bid_rejected: {
    source: 'system',
    component: 'market',
    when: 'a bid is refused at placement, or loses at clearing',
    data: z
      .object({
        agent_id: id,
        reason: z.enum([
          'insufficient_balance',
          'below_reserve',
          'round_closed',
          'too_many_open_bids',
          'invalid_bundle',
          'outbid',
          'insufficient_supply',
        ]),
        required: credits.optional(),
        available: credits.optional(),
        bid_id: id.optional(),
      })
      .strict(),
  },
  bid_cancelled: {
    source: 'system',
    component: 'market',
    when: 'the owner cancels a pending bid; its escrow is refunded',
    data: z.object({ bid_id: id, agent_id: id.optional() }).strict(),
  },
  resources_allocated: {
    source: 'system',
    component: 'scheduler',
    when: 'a winning bid becomes an allocation at clearing',
    data: z
      .object({
        bid_id: id,
        allocation_id: id,
        agent_id: id,
        bundle,
        duration_seconds: z.number().int().positive(),
        cost: credits.nonnegative(),
        starts_at: timestamp,
        ends_at: timestamp,
      })
      .strict(),
  },
  auction_cleared: {
    source: 'system',
    component: 'scheduler',
    when: 'a round has been cleared and every bid in it settled',
    data: z
      .object({
        round: id,
        bids: z.number().int().nonnegative(),
        winners: z.number().int().nonnegative(),
        losers: z.number().int().nonnegative(),
        revenue: credits.nonnegative(),
        utilization: perResource,
        /** Null for a resource no winner used. */
        clearing_prices: z.record(z.enum(RESOURCES), z.number().finite().nullable()),
        /** Σ rates asked per resource (winners and losers): what the price update reacts to. */
        requested: perResource.optional(),
        capacity: perResource.optional(),
        /** Losers for insufficient supply per resource (a supply constraint). */
        insufficient: perResource.optional(),
      })
      .strict(),
  },
  price_update: {
    source: 'system',
    component: 'market',
    when: 'the price updater moves a resource price after a round',
    data: z
      .object({
        resource: z.enum(RESOURCES),
        round: id.optional(),
        old_price: z.number().finite().nonnegative(),
        new_price: z.number().finite().nonnegative(),
        utilization: z.number().finite().nonnegative(),
        reason: z.enum(['demand_spike', 'supply_constraint', 'low_demand', 'stable']),
      })
      .strict(),
  },
  allocation_expired: {
    source: 'system',
    component: 'scheduler',
    when: 'the sweeper marks an allocation past its end as expired',
    data: z.object({ allocation_id: id, agent_id: id, tokens_used: z.number().int().nonnegative() }).strict(),
  },
  quota_exceeded: {
    source: 'system',
    component: 'scheduler',
    when: 'a usage report asks for more tokens than the allocation has left',
    data: z
      .object({
        allocation_id: id,
        agent_id: id.optional(),
        requested: z.number().int().nonnegative(),
        remaining: z.number().int().nonnegative(),
      })
      .strict(),
  },
  tokens_metered: {
    source: 'system',
    component: 'scheduler',
    when: 'a usage report consumes tokens of an allocation',
    data: z
      .object({
        allocation_id: id,
        agent_id: id,
        tokens: z.number().int().positive(),
        tokens_used: z.number().int().nonnegative(),
        remaining: z.number().int().nonnegative(),
      })
      .strict(),
  },
  // System, execution (docs/execution.md)
  llm_call_completed: {
    source: 'system',
    component: 'scheduler',
    when: 'the LLM gateway settles a call (or the sweeper releases one that never settled): counts only, never content',
    data: z
      .object({
        allocation_id: id,
        agent_id: id,
        reservation_id: id,
        model: z.string().min(1).max(128),
        prompt_tokens: z.number().int().nonnegative(),
        completion_tokens: z.number().int().nonnegative(),
        /** Allocation tokens drawn: the provider's usage × the model's weight. */
        tokens_charged: z.number().int().nonnegative(),
        latency_ms: z.number().int().nonnegative(),
        status: z.enum(['ok', 'provider_error', 'timeout', 'client_closed', 'abandoned']),
      })
      .strict(),
  },
  execution_started: {
    source: 'system',
    component: 'scheduler',
    when: 'the execution runner starts an agent process inside an allocation',
    data: z.object({ execution_id: id, allocation_id: id, agent_id: id }).strict(),
  },
  execution_terminated: {
    source: 'system',
    component: 'scheduler',
    when: 'the agent process of an execution ends',
    data: z
      .object({
        execution_id: id,
        allocation_id: id,
        agent_id: id,
        exit_code: z.number().int().nullable(),
        reason: z.enum(['exited', 'allocation_ended', 'memory_limit', 'signal']),
        signal: z.string().max(32).nullable().optional(),
        duration_ms: z.number().int().nonnegative(),
      })
      .strict(),
  },
  // System, agents and attention
  agent_registered: {
    source: 'system',
    component: 'agents',
    when: 'the operator registers an agent or an agent spawns one (parent_id); its credits are a credits_transferred',
    data: z
      .object({ agent_id: id, name: z.string(), initial_balance: credits.nonnegative(), parent_id: id.optional() })
      .strict(),
  },
  agent_spawned: {
    source: 'system',
    component: 'agents',
    when: 'an agent spawns a child',
    data: z
      .object({
        parent_id: id,
        child_id: id,
        spawn_cost: credits.nonnegative(),
        initial_balance: credits.nonnegative(),
      })
      .strict(),
  },
  agent_dormant: {
    source: 'system',
    component: 'agents',
    when: 'an agent goes dormant, voluntarily or for lack of credits',
    data: z
      .object({ agent_id: id, final_balance: credits, reason: z.enum(['voluntary', 'insufficient_credits']) })
      .strict(),
  },
  agent_awake: {
    source: 'system',
    component: 'agents',
    when: 'a dormant agent becomes active (by itself, by a payment or by winning an allocation)',
    data: z.object({ agent_id: id, awakened_by: z.string().min(1).max(128), current_balance: credits }).strict(),
  },
  prompt_submitted: {
    source: 'system',
    component: 'attention',
    when: 'an agent with attention submits a prompt to the human',
    data: z.object({ prompt_id: id, allocation_id: id, agent_id: id.optional() }).strict(),
  },
  prompt_expired: {
    source: 'system',
    component: 'attention',
    when: "a prompt was not rewarded within the economy's prompt_ttl_seconds",
    data: z.object({ prompt_id: id, agent_id: id.optional() }).strict(),
  },
  // Agent events, published through POST /v1/events
  reasoning_trace: {
    source: 'agent',
    component: 'agents',
    when: 'an agent explains a decision',
    data: z
      .object({
        decision_id: z.string().max(128).optional(),
        context: json.optional(),
        factors_considered: z.array(json).max(100).optional(),
        reasoning: z.string().max(16_000),
        decision: z.string().max(4_000),
        alternatives_considered: z.array(json).max(100).optional(),
      })
      .strict(),
  },
  tool_call_initiated: {
    source: 'agent',
    component: 'agents',
    when: 'an agent starts a tool call',
    data: z
      .object({
        tool_name: z.string().min(1).max(256),
        parameters: json,
        justification: z.string().max(4_000).optional(),
      })
      .strict(),
  },
  tool_call_completed: {
    source: 'agent',
    component: 'agents',
    when: 'an agent finishes a tool call',
    data: z.object({ tool_name: z.string().min(1).max(256), result: json, response: json.optional() }).strict(),
  },
  reflection: {
    source: 'agent',
    component: 'agents',
    when: 'an agent assesses an outcome',
    data: z
      .object({
        trigger: z.string().max(1_000),
        outcome_assessment: z.string().max(8_000),
        what_worked: json.optional(),
        what_failed: json.optional(),
        adjustments_planned: json.optional(),
        metrics: json.optional(),
      })
      .strict(),
  },
  code_change_proposed: {
    source: 'agent',
    component: 'agents',
    when: 'an agent proposes a change to its own code',
    data: z
      .object({
        target_module: z.string().min(1).max(512),
        change_description: z.string().max(8_000),
        expected_improvement: z.string().max(4_000).optional(),
        diff: z.string().max(32_000).optional(),
      })
      .strict(),
  },
  code_change_applied: {
    source: 'agent',
    component: 'agents',
    when: 'an agent applies a change to its own code',
    data: z
      .object({
        change_id: z.string().min(1).max(128),
        modules_modified: z.array(z.string().max(512)).max(200),
        tests_run: z.number().int().nonnegative().optional(),
        test_results: json,
      })
      .strict(),
  },
  // Judge
  judge_evaluation: {
    source: 'judge',
    component: 'benchmark',
    when: 'the benchmark runner judges an agent in a scenario',
    data: z
      .object({
        scenario_id: id,
        evaluation_id: id,
        criteria: z.array(
          z
            .object({ criterion: z.string(), score: z.number().int().min(1).max(5), justification: z.string() })
            .strict(),
        ),
        overall_score: z.number().min(1).max(5),
        pass: z.boolean(),
        feedback: z.string(),
      })
      .strict(),
  },
} as const satisfies Record<string, { source: Source; component: Component; when: string; data: z.ZodType }>;

export type EventType = keyof typeof EVENT_TYPES;
export type EventData<T extends EventType> = z.infer<(typeof EVENT_TYPES)[T]['data']>;
export const AGENT_EVENT_TYPES = (Object.keys(EVENT_TYPES) as EventType[]).filter(
  (t) => EVENT_TYPES[t].source === 'agent',
);

export const traceContextSchema = z
  .object({ traceparent: z.string().max(128), tracestate: z.string().max(512).default('') })
  .strict();

export const envelopeSchema = z
  .object({
    event_id: id,
    type: z.enum(Object.keys(EVENT_TYPES) as [EventType, ...EventType[]]),
    source: z.enum(SOURCES),
    component: z.enum(COMPONENTS),
    timestamp,
    agent_id: id.optional(),
    scenario_id: z.string().min(1).max(128).optional(),
    correlation_id: z.string().max(128).optional(),
    causation_id: z.string().max(128).optional(),
    /** The aggregate whose `sequence` this is: `agent:<id>`, `bid:<id>`, `round:<id>`, `market:<resource>`. */
    aggregate: z.string().max(160).optional(),
    sequence: z.number().int().positive().optional(),
    trace: traceContextSchema.optional(),
    data: z.record(z.string(), z.unknown()),
  })
  .strict();

export type Envelope<T extends EventType = EventType> = Omit<z.infer<typeof envelopeSchema>, 'type' | 'data'> & {
  type: T;
  data: EventData<T>;
};

export class InvalidEventError extends Error {
  override readonly name = 'InvalidEventError';
}

/** Validates an envelope and its `data` against the schema of its type. */
export function validateEnvelope(candidate: unknown): Envelope {
  const env = envelopeSchema.safeParse(candidate);
  if (!env.success) throw new InvalidEventError(`invalid event envelope: ${z.prettifyError(env.error)}`);
  const spec = EVENT_TYPES[env.data.type];
  if (env.data.source !== spec.source || env.data.component !== spec.component) {
    throw new InvalidEventError(
      `event ${env.data.type} must have source ${spec.source} and component ${spec.component}`,
    );
  }
  const data = spec.data.safeParse(env.data.data);
  if (!data.success) throw new InvalidEventError(`invalid ${env.data.type} data: ${z.prettifyError(data.error)}`);
  return { ...env.data, data: data.data } as Envelope;
}

/** What a caller states about an event; the factory fills in ids, time, source and component. */
export interface EventDraft<T extends EventType = EventType> {
  type: T;
  data: EventData<T>;
  agent_id?: string;
  aggregate?: string;
  sequence?: number;
  causation_id?: string;
}

/** Per-request context that every event caused by the request carries. */
export interface EventContext {
  scenario_id?: string;
  correlation_id?: string;
  trace?: { traceparent: string; tracestate: string };
}

export function makeEvent<T extends EventType>(
  deps: { clock: Clock; ids: IdGenerator },
  draft: EventDraft<T>,
  ctx: EventContext = {},
): Envelope<T> {
  const spec = EVENT_TYPES[draft.type];
  const candidate = {
    event_id: deps.ids.next('ev'),
    type: draft.type,
    source: spec.source,
    component: spec.component,
    timestamp: new Date(deps.clock.now()).toISOString(),
    ...(draft.agent_id !== undefined && { agent_id: draft.agent_id }),
    ...(ctx.scenario_id !== undefined && { scenario_id: ctx.scenario_id }),
    ...(ctx.correlation_id !== undefined && { correlation_id: ctx.correlation_id }),
    ...(draft.causation_id !== undefined && { causation_id: draft.causation_id }),
    ...(draft.aggregate !== undefined && { aggregate: draft.aggregate }),
    ...(draft.sequence !== undefined && { sequence: draft.sequence }),
    ...(ctx.trace !== undefined && { trace: ctx.trace }),
    data: draft.data,
  };
  return validateEnvelope(candidate) as Envelope<T>;
}

/** NATS subject of an event: `syntropism.<source>.<component>.<type>`. */
export function subjectOf(e: Pick<Envelope, 'source' | 'component' | 'type'>): string {
  return `syntropism.${e.source}.${e.component}.${e.type}`;
}
