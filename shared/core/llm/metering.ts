/**
 * The LLM gateway's token arithmetic, free of any I/O: how much of an allocation a call
 * reserves before it is forwarded, and what it is charged after. A model's weight converts its
 * tokens into allocation tokens (a model twice as expensive draws twice as many), so the
 * operator's hourly spend cap holds across models. Weights are multiples of 0.001 and every
 * product is computed in integer thousandths, rounded up: no float error can undercharge.
 *
 * Invariants (property-tested in metering.test.ts):
 * - a reservation never exceeds what the allocation has left;
 * - it always covers the prompt and at least one completion token, or the call is refused
 *   (429 `quota_exceeded`) before anything is reserved;
 * - `max_tokens` is the caller's (or the default) capped by what is left, never more.
 */
import { quotaExceeded } from '../allocations.ts';

/** A weight in integer thousandths (1 → 1000, 0.25 → 250). */
export function milliWeight(weight: number): number {
  const m = Math.round(weight * 1000);
  if (!(m >= 1) || !Number.isSafeInteger(m)) throw new RangeError(`a model weight must be ≥ 0.001, got ${weight}`);
  return m;
}

/** `tokens × weight`, rounded up, exactly. */
export function weighted(tokens: number, weight: number): number {
  if (!Number.isSafeInteger(tokens) || tokens < 0) throw new RangeError(`tokens must be a whole number, got ${tokens}`);
  const m = milliWeight(weight);
  return Math.floor((tokens * m + 999) / 1000);
}

/** The most model tokens whose weighted cost fits in `allocationTokens`. */
export function modelTokensWithin(allocationTokens: number, weight: number): number {
  return Math.floor((Math.max(0, allocationTokens) * 1000) / milliWeight(weight));
}

export interface ReservationInput {
  /** The prompt as the gateway's tokenizer counts it. */
  prompt_tokens: number;
  /** The caller's `max_tokens` / `max_completion_tokens`, if it named one. */
  requested_max_tokens?: number | undefined;
  default_max_tokens: number;
  weight: number;
  /** What the allocation has left now. */
  remaining: number;
}

export interface ReservationPlan {
  /** What the provider is told it may generate. */
  max_tokens: number;
  /** Allocation tokens to reserve: (prompt + max_tokens) × weight, rounded up. */
  tokens: number;
}

/**
 * The reservation of one call: the prompt plus `max_tokens` (the caller's or the default,
 * capped by what is left), weighted. Refuses with 429 when not even the prompt and one
 * completion token fit.
 */
export function reservationOf(input: ReservationInput): ReservationPlan {
  const room = modelTokensWithin(input.remaining, input.weight) - input.prompt_tokens;
  if (room < 1) throw quotaExceeded(weighted(input.prompt_tokens + 1, input.weight), input.remaining);
  const wanted = input.requested_max_tokens ?? input.default_max_tokens;
  const max_tokens = Math.max(1, Math.min(wanted, room));
  return { max_tokens, tokens: weighted(input.prompt_tokens + max_tokens, input.weight) };
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
}

/** What a settled call draws: the provider's usage × the model's weight, rounded up. */
export const chargeOf = (usage: Usage, weight: number): number =>
  weighted(usage.prompt_tokens + usage.completion_tokens, weight);
