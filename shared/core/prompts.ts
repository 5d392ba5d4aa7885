/**
 * Prompts and human rewards, free of any storage: who may show the human a prompt, where it
 * stands in the human's queue, what a reward mints, and the events of both.
 *
 *  - A prompt needs an active allocation of the caller's whose bundle holds attention; one per
 *    allocation, so its id derives from the allocation's.
 *  - The queue is ordered by the **attention bid** — what the allocation cost, per
 *    attention-second it holds (`cost ÷ (attention × duration)`) — highest first, then oldest.
 *  - A prompt not rewarded within `prompt_ttl_seconds` is expired: computed from `expires_at`
 *    on every read and every reward, whatever the sweeper has stored.
 *  - A reward mints `interesting × w_i + useful × w_u + understandable × w_n` credits (integer
 *    scores 0–10) from `mint` to the agent, once.
 */

import type { AllocationRecord } from './allocations.ts';
import { notUsable } from './allocations.ts';
import { DomainError, notFound } from './errors.ts';
import type { Envelope, EventContext } from './events.ts';
import { makeEvent } from './events.ts';
import type { EconomyConfig } from './market-config.ts';
import { formatCredits, MICROS_PER_CREDIT, type Micros, micros, parseCredits } from './money.ts';
import { derivedId, type Runtime } from './ports.ts';

export type PromptStatus = 'pending' | 'rewarded' | 'expired';
export const PROMPT_STATUSES = ['pending', 'rewarded', 'expired'] as const;
export const PROMPT_FORMATS = ['text', 'markdown'] as const;
export type PromptFormat = (typeof PROMPT_FORMATS)[number];

export interface Scores {
  interesting: number;
  useful: number;
  understandable: number;
}

export interface PromptReward {
  scores: Scores;
  reason: string;
  credits_awarded: Micros;
  /** Who rewarded: `rater:<id>` or `operator`. */
  rated_by: string;
  rewarded_at: string;
  transfer_id: string | null;
  /** The request that rewarded (from its Idempotency-Key), so that its retry is answered again. */
  request_id: string;
}

export interface PromptRecord {
  prompt_id: string;
  agent_id: string;
  allocation_id: string;
  /** Exactly as submitted; shown escaped wherever it is shown, never executed. */
  content: string;
  format: PromptFormat;
  reply_to: string | null;
  /** What the sweeper or a reward last stored; `promptStatus` is the truth. */
  status: PromptStatus;
  /** The attention share the allocation holds, and for how long. */
  attention: number;
  duration_seconds: number;
  /** What the allocation cost (µcr). */
  paid: Micros;
  /** The attention bid: credits per attention-second, the queue's order. */
  attention_price: number;
  created_at: string;
  created_at_ms: number;
  expires_at: string;
  expires_at_ms: number;
  reward?: PromptReward;
  expired_at?: string;
}

export const promptIdOf = (allocationId: string) => derivedId('pr', allocationId);
export const promptAggregate = (promptId: string) => `prompt:${promptId}`;

export function promptStatus(p: Pick<PromptRecord, 'status' | 'expires_at_ms'>, nowMs: number): PromptStatus {
  return p.status === 'pending' && nowMs >= p.expires_at_ms ? 'expired' : p.status;
}

// ------------------------------------------------------------------ the queue's order

/** Fixed-point scale of the queue key: µcr per (attention quantum × second), times 1e12. */
const PRICE_SCALE = 10n ** 12n;
const ATTENTION_QUANTA = 10_000n;
const KEY_DIGITS = 32;
const KEY_MAX = 10n ** BigInt(KEY_DIGITS) - 1n;

/** The attention bid as a number for display (credits per attention-second), and its exact key. */
export function attentionBid(paid: Micros, attention: number, durationSeconds: number) {
  const quanta = BigInt(Math.round(attention * Number(ATTENTION_QUANTA)));
  const exact = (BigInt(paid) * PRICE_SCALE * ATTENTION_QUANTA) / (quanta * BigInt(durationSeconds));
  const price = paid / MICROS_PER_CREDIT / (attention * durationSeconds);
  return { price: Math.round(price * 1e6) / 1e6, exact };
}

/** GSI2 sort key of a pending prompt: highest attention bid first, then oldest, then id. */
export function queueKey(
  p: Pick<PromptRecord, 'paid' | 'attention' | 'duration_seconds' | 'created_at_ms' | 'prompt_id'>,
) {
  const { exact } = attentionBid(p.paid, p.attention, p.duration_seconds);
  const inverted = (KEY_MAX - (exact > KEY_MAX ? KEY_MAX : exact)).toString().padStart(KEY_DIGITS, '0');
  return `${inverted}#${String(p.created_at_ms).padStart(15, '0')}#${p.prompt_id}`;
}

/** GSI2 sort key of a decided prompt (rewarded or expired): listed newest first. */
export const decidedKey = (atMs: number, promptId: string) => `${String(atMs).padStart(15, '0')}#${promptId}`;

// ------------------------------------------------------------------ submission

export interface PromptInput {
  allocation_id: string;
  content: string;
  format: PromptFormat;
  reply_to?: string;
}

/** Why the caller may not prompt on this allocation, if it may not. */
export function submissionRefusal(a: AllocationRecord, agentId: string, nowMs: number): DomainError | undefined {
  // Another agent's allocation is not found: existence must not leak.
  if (a.agent_id !== agentId) return notFound(`Allocation ${a.allocation_id}`);
  if (!((a.bundle.attention ?? 0) > 0)) {
    return new DomainError(
      'attention_required',
      403,
      `Allocation ${a.allocation_id} holds no attention: only an allocation with attention may prompt the human.`,
    );
  }
  return notUsable(a, nowMs);
}

export function newPrompt(input: PromptInput, a: AllocationRecord, nowMs: number, ttlSeconds: number): PromptRecord {
  const attention = a.bundle.attention ?? 0;
  const paid = micros(a.cost);
  const expiresAtMs = nowMs + ttlSeconds * 1000;
  return {
    prompt_id: promptIdOf(a.allocation_id),
    agent_id: a.agent_id,
    allocation_id: a.allocation_id,
    content: input.content,
    format: input.format,
    reply_to: input.reply_to ?? null,
    status: 'pending',
    attention,
    duration_seconds: a.duration_seconds,
    paid,
    attention_price: attentionBid(paid, attention, a.duration_seconds).price,
    created_at: new Date(nowMs).toISOString(),
    created_at_ms: nowMs,
    expires_at: new Date(expiresAtMs).toISOString(),
    expires_at_ms: expiresAtMs,
  };
}

export const promptExists = (allocationId: string) =>
  new DomainError('prompt_exists', 409, `Allocation ${allocationId} has already been used for a prompt.`);

/** A prompt's first event, in its own sequence. */
export function submittedEvent(rt: Pick<Runtime, 'clock' | 'ids'>, p: PromptRecord, ctx: EventContext): Envelope {
  return makeEvent(
    rt,
    {
      type: 'prompt_submitted',
      agent_id: p.agent_id,
      aggregate: promptAggregate(p.prompt_id),
      sequence: 1,
      data: { prompt_id: p.prompt_id, allocation_id: p.allocation_id, agent_id: p.agent_id },
    },
    ctx,
  );
}

/** A prompt's last event when no reward came in time. */
export function expiredEvent(rt: Pick<Runtime, 'clock' | 'ids'>, p: PromptRecord, ctx: EventContext): Envelope {
  return makeEvent(
    rt,
    {
      type: 'prompt_expired',
      agent_id: p.agent_id,
      aggregate: promptAggregate(p.prompt_id),
      sequence: 2,
      data: { prompt_id: p.prompt_id, agent_id: p.agent_id },
    },
    ctx,
  );
}

// ------------------------------------------------------------------ rewards

/** Credits a reward mints (µcr): each score times its weight, exactly. */
export function rewardAmount(scores: Scores, weights: EconomyConfig['rewards']): Micros {
  const w = (x: number) => parseCredits(x);
  return micros(
    scores.interesting * w(weights.w_i) + scores.useful * w(weights.w_u) + scores.understandable * w(weights.w_n),
  );
}

/** Why a prompt cannot be rewarded now, if it cannot. */
export function rewardRefusal(
  p: Pick<PromptRecord, 'prompt_id' | 'status' | 'expires_at' | 'expires_at_ms'>,
  nowMs: number,
) {
  const status = promptStatus(p, nowMs);
  if (status === 'rewarded') return alreadyRewarded(p.prompt_id);
  if (status === 'expired') {
    return new DomainError('prompt_expired', 409, `Prompt ${p.prompt_id} expired at ${p.expires_at}.`, {
      expires_at: p.expires_at,
    });
  }
  return undefined;
}

export const alreadyRewarded = (promptId: string) =>
  new DomainError('prompt_already_rewarded', 409, `Prompt ${promptId} has already been rewarded.`);

/** `human_reward_issued`, the second and last event of a rewarded prompt's sequence. */
export function rewardEvent(
  rt: Pick<Runtime, 'clock' | 'ids'>,
  p: PromptRecord,
  reward: PromptReward,
  ctx: EventContext,
  causationId?: string,
): Envelope {
  return makeEvent(
    rt,
    {
      type: 'human_reward_issued',
      agent_id: p.agent_id,
      aggregate: promptAggregate(p.prompt_id),
      sequence: 2,
      ...(causationId !== undefined && { causation_id: causationId }),
      data: {
        agent_id: p.agent_id,
        prompt_id: p.prompt_id,
        scores: reward.scores,
        credits_awarded: formatCredits(reward.credits_awarded),
        reason: reward.reason,
      },
    },
    ctx,
  );
}

// ------------------------------------------------------------------ the per-rater mint ceiling

/** The UTC hour a mint counts in (`2026-12-02T07`) and the seconds until the next one. */
export function mintHour(nowMs: number): { hour: string; endsAtMs: number; retryAfterSeconds: number } {
  const hourMs = 3_600_000;
  const endsAtMs = (Math.floor(nowMs / hourMs) + 1) * hourMs;
  return {
    hour: new Date(nowMs).toISOString().slice(0, 13),
    endsAtMs,
    retryAfterSeconds: Math.max(1, Math.ceil((endsAtMs - nowMs) / 1000)),
  };
}

/** 429: this reward would take the rater past its minting ceiling for the hour. */
export function mintCeilingExceeded(
  ceiling: Micros,
  minted: Micros | undefined,
  requested: Micros,
  nowMs: number,
): DomainError {
  const { retryAfterSeconds, endsAtMs } = mintHour(nowMs);
  return new DomainError(
    'mint_ceiling_exceeded',
    429,
    `A rater may mint at most ${formatCredits(ceiling)} credits per hour; this reward of ${formatCredits(requested)} credits would pass it.`,
    {
      ceiling: formatCredits(ceiling),
      requested: formatCredits(requested),
      ...(minted !== undefined && { minted_this_hour: formatCredits(minted) }),
      window_ends_at: new Date(endsAtMs).toISOString(),
    },
    undefined,
    retryAfterSeconds,
  );
}
