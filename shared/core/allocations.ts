/**
 * Allocations, free of any storage: a won bid's execution context, what it shows, and the rules
 * of its token budget. Whether an allocation is active is computed from its window on every
 * read (`starts_at ≤ now < ends_at`); the `status` a sweeper stores is bookkeeping, never the
 * truth. Token budgets keep `used + reserved + remaining = granted`, with `remaining` stored so
 * that a conditional write (`remaining ≥ n`) can enforce the budget without arithmetic in the
 * condition.
 */
import { DomainError } from './errors.ts';
import type { EventContext, EventDraft } from './events.ts';
import type { Allocation } from './settlement.ts';

/** The stored allocation: the settlement's record and the token counters. */
export interface AllocationRecord extends Omit<Allocation, 'status'> {
  /** What the sweeper last wrote; `allocationStatus` is the truth. */
  status: 'active' | 'expired';
  expired_at?: string;
}

/** `pending` before `starts_at`, `active` inside the window, `expired` from `ends_at` on. */
export type AllocationStatus = 'pending' | 'active' | 'expired';

export function allocationStatus(a: Pick<AllocationRecord, 'starts_at_ms' | 'ends_at_ms'>, nowMs: number) {
  if (nowMs < a.starts_at_ms) return 'pending' as const;
  return nowMs < a.ends_at_ms ? ('active' as const) : ('expired' as const);
}

export interface TokenCounts {
  granted: number;
  reserved: number;
  used: number;
  remaining: number;
}

export const tokenCountsOf = (a: AllocationRecord): TokenCounts => ({
  granted: a.tokens_granted,
  reserved: a.tokens_reserved,
  used: a.tokens_used,
  remaining: a.tokens_remaining,
});

/** The refusal of a token draw outside the allocation's window. */
export function notUsable(a: AllocationRecord, nowMs: number): DomainError | undefined {
  const status = allocationStatus(a, nowMs);
  if (status === 'active') return undefined;
  return new DomainError(
    'allocation_not_active',
    409,
    status === 'pending'
      ? `Allocation ${a.allocation_id} starts at ${a.starts_at}.`
      : `Allocation ${a.allocation_id} ended at ${a.ends_at}.`,
    { allocation_status: status, starts_at: a.starts_at, ends_at: a.ends_at },
  );
}

/** 429 `quota_exceeded`: more tokens asked than the allocation has left. */
export function quotaExceeded(requested: number, remaining: number): DomainError {
  return new DomainError('quota_exceeded', 429, `${requested} tokens requested, ${remaining} left in the allocation.`, {
    requested,
    remaining,
  });
}

/** A hold on an allocation's tokens, made before an LLM call and settled after it. */
export interface Reservation {
  reservation_id: string;
  allocation_id: string;
  agent_id: string;
  tokens: number;
  /** The model the call is for, reported again when the hold is released unsettled. */
  model?: string;
  /** After this instant the sweeper releases the hold as `abandoned`. */
  deadline_ms: number;
  created_at_ms: number;
}

/** What a settled LLM call reports; `tokens_charged` is what it asks to draw (usage × weight). */
export interface LlmCallOutcome {
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  tokens_charged: number;
  latency_ms: number;
  status: 'ok' | 'provider_error' | 'timeout' | 'client_closed' | 'abandoned';
}

/**
 * The token budget as the LLM gateway uses it: reserve an upper bound, call, settle to what the
 * call cost (the rest released). Implemented on DynamoDB by `adapters/dynamodb/allocations.ts`.
 */
export interface TokenMeter {
  /** The caller's allocations active now (newest first), for a request that names none. */
  activeOf(agentId: string): Promise<AllocationRecord[]>;
  get(allocationId: string): Promise<AllocationRecord | undefined>;
  /**
   * Holds `tokens` of an allocation the agent owns; refuses with 404 (not the agent's),
   * 409 `allocation_not_active` or 429 `quota_exceeded` (and a `quota_exceeded` event).
   */
  reserve(input: Omit<Reservation, 'created_at_ms'>, ctx: EventContext): Promise<Reservation & { remaining: number }>;
  /**
   * Draws the call's charge (at most the reservation plus what is left), releases the rest and
   * writes `llm_call_completed`, in one transaction; settling twice changes nothing.
   */
  settle(
    reservation: Reservation,
    call: LlmCallOutcome,
    ctx: EventContext,
  ): Promise<{ tokens_charged: number; remaining: number }>;
}

/** What an allocation shows at `nowMs`: its window, what is left of it, and its token budget. */
export function allocationView(a: AllocationRecord, nowMs: number) {
  return {
    allocation_id: a.allocation_id,
    agent_id: a.agent_id,
    payer_id: a.payer_id,
    bid_id: a.bid_id,
    round: a.round,
    bundle: a.bundle,
    duration_seconds: a.duration_seconds,
    cost: a.cost,
    starts_at: a.starts_at,
    ends_at: a.ends_at,
    seconds_left: Math.max(0, Math.min(a.ends_at_ms - nowMs, a.ends_at_ms - a.starts_at_ms)) / 1000,
    status: allocationStatus(a, nowMs),
    tokens: tokenCountsOf(a),
  };
}
export type AllocationView = ReturnType<typeof allocationView>;

/**
 * What settling a reservation of `reserved` tokens moves when the call cost `wanted`: the charge
 * is drawn from the reservation first, then from what is left (a provider may report more than
 * was reserved), never beyond; the rest of the reservation is released.
 */
export function settleDraw(reserved: number, wanted: number, remaining: number) {
  const charged = Math.min(wanted, reserved + remaining);
  return { charged, extra: Math.max(0, charged - reserved), released: Math.max(0, reserved - charged) };
}

/** The events of the token budget, one place for their fields. */
export const allocationEvents = {
  metered(a: AllocationRecord, tokens: number): EventDraft<'tokens_metered'> {
    return {
      type: 'tokens_metered',
      agent_id: a.agent_id,
      data: {
        allocation_id: a.allocation_id,
        agent_id: a.agent_id,
        tokens,
        tokens_used: a.tokens_used + tokens,
        remaining: a.tokens_remaining - tokens,
      },
    };
  },
  quotaExceeded(a: AllocationRecord, requested: number): EventDraft<'quota_exceeded'> {
    return {
      type: 'quota_exceeded',
      agent_id: a.agent_id,
      data: { allocation_id: a.allocation_id, agent_id: a.agent_id, requested, remaining: a.tokens_remaining },
    };
  },
  callCompleted(r: Reservation, call: LlmCallOutcome, charged: number): EventDraft<'llm_call_completed'> {
    return {
      type: 'llm_call_completed',
      agent_id: r.agent_id,
      data: {
        allocation_id: r.allocation_id,
        agent_id: r.agent_id,
        reservation_id: r.reservation_id,
        model: call.model,
        prompt_tokens: call.prompt_tokens,
        completion_tokens: call.completion_tokens,
        tokens_charged: charged,
        latency_ms: call.latency_ms,
        status: call.status,
      },
    };
  },
  expired(a: AllocationRecord): EventDraft<'allocation_expired'> {
    return {
      type: 'allocation_expired',
      agent_id: a.agent_id,
      data: { allocation_id: a.allocation_id, agent_id: a.agent_id, tokens_used: a.tokens_used },
    };
  },
};
