/**
 * The simulated human's decisions, pure: how it scores a prompt (its taste) and whether it may
 * reward now (its pace, and the hourly ceiling on what one rater may mint). The local stack's
 * population (`local/population/human.ts`) reads the queue with a rater key and calls the reward
 * route with these scores; a real person rating through the inbox makes it step back.
 *
 * Taste: three scores 0–10, each from a feature of the prompt plus seeded noise —
 * `interesting` from the variety of its words and the topics it likes, `useful` from how close
 * its length is to the length it prefers, `understandable` from how short its sentences are —
 * and a bonus for the attention paid (a human reads more kindly what was fought for).
 */
import type { Random } from '../core/ports.ts';

export interface Taste {
  /** Content length it likes best, in characters. */
  ideal_chars: number;
  /** Words that make a prompt more interesting to it. */
  topics: string[];
  /** Standard deviation of the noise added to each score. */
  noise: number;
  /** Points added per doubling of the attention price above `attention_reference`. */
  attention_bonus: number;
  /** Credits per attention-second it considers ordinary. */
  attention_reference: number;
}

export const DEFAULT_TASTE: Taste = {
  ideal_chars: 220,
  topics: ['demand', 'cache', 'cheaper', 'summary', 'idea'],
  noise: 1.5,
  attention_bonus: 0.5,
  attention_reference: 0.2,
};

/** What the human sees of a prompt in its queue (`GET /v1/prompts`). */
export interface QueuedPrompt {
  prompt_id: string;
  content: string;
  /** Credits per attention-second the allocation cost. */
  attention_price: number;
}

export interface Scores {
  interesting: number;
  useful: number;
  understandable: number;
  reason: string;
}

const clampScore = (x: number) => Math.max(0, Math.min(10, Math.round(x)));
const gaussian = (rng: Random) => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());

/** The human's scores for a prompt, with a one-line reason. */
export function scorePrompt(prompt: QueuedPrompt, taste: Taste, rng: Random): Scores {
  const text = prompt.content;
  const words = text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
  const variety = words.length === 0 ? 0 : new Set(words).size / words.length;
  const liked = taste.topics.filter((t) => text.toLowerCase().includes(t.toLowerCase()));
  const lengthFit = 1 - Math.min(1, Math.abs(Math.log2(Math.max(1, text.length) / taste.ideal_chars)));
  const sentences = text.split(/[.!?]+/).filter((s) => s.trim().length > 0);
  const meanWords = sentences.length === 0 ? 0 : words.length / sentences.length;
  const clarity = 1 - Math.min(1, Math.max(0, meanWords - 8) / 24);
  const paid = prompt.attention_price > 0 ? Math.log2(prompt.attention_price / taste.attention_reference) : 0;
  const bonus = Math.max(-1, Math.min(2, taste.attention_bonus * paid));
  const scores = {
    interesting: clampScore(2 + 5 * variety + 1.5 * liked.length + bonus + taste.noise * gaussian(rng)),
    useful: clampScore(2 + 6 * lengthFit + bonus + taste.noise * gaussian(rng)),
    understandable: clampScore(3 + 6 * clarity + taste.noise * gaussian(rng)),
  };
  const likedText = liked.length > 0 ? `liked: ${liked.join(', ')}` : 'no topic I care about';
  const lengthText = lengthFit > 0.7 ? 'a good length' : text.length < taste.ideal_chars ? 'too short' : 'too long';
  return { ...scores, reason: `${likedText}; ${lengthText}; ${sentences.length} sentence(s)` };
}

/** Credits a reward of these scores mints, with the economy's weights (`rewards.w_*`). */
export function rewardCredits(s: Scores, weights: { w_i: number; w_u: number; w_n: number }): number {
  return s.interesting * weights.w_i + s.useful * weights.w_u + s.understandable * weights.w_n;
}

export interface Pace {
  /** Least time between two rewards, ms. */
  interval_ms: number;
  /** The rater's ceiling per UTC hour, in credits (`money.max_minted_per_rater_per_hour`). */
  hourly_ceiling: number;
  /** Share of the hour's ceiling it may mint at once at the start of an hour. */
  burst_share: number;
}

const HOUR_MS = 3_600_000;

/**
 * Whether the human may reward a prompt worth `credits` now, having minted `mintedThisHour`
 * in the current UTC hour and rewarded last at `lastAt`. It spreads the hour's ceiling evenly
 * (after a burst at the hour's start) so that it never runs into the ceiling and then falls
 * silent for the rest of the hour.
 */
export function mayReward(
  nowMs: number,
  lastAt: number | undefined,
  mintedThisHour: number,
  credits: number,
  pace: Pace,
): boolean {
  if (lastAt !== undefined && nowMs - lastAt < pace.interval_ms) return false;
  const elapsed = (nowMs % HOUR_MS) / HOUR_MS;
  const allowance = pace.hourly_ceiling * Math.min(1, pace.burst_share + (1 - pace.burst_share) * elapsed);
  return mintedThisHour + credits <= allowance;
}

/** The UTC hour a moment falls in (the ceiling's window). */
export const hourOf = (nowMs: number) => Math.floor(nowMs / HOUR_MS);
