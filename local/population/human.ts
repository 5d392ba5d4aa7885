/**
 * The simulated human: a rater key of its own, the queue read in the market's order, and a
 * reward for the prompt at its head by its taste (`shared/agents/human.ts`), at a human pace and
 * within the hourly ceiling on what one rater may mint. It steps back when told to (`pause()`,
 * for a page where a real person rates) and on its own while someone else is rewarding: a
 * reward by another rater in the last `STEP_BACK_MS` keeps it quiet.
 */
import {
  DEFAULT_TASTE,
  hourOf,
  mayReward,
  type Pace,
  rewardCredits,
  scorePrompt,
  type Taste,
} from '#shared/agents/human';
import type { Random } from '#shared/core/ports';
import { type ApiClient, problemCode } from './client.ts';

/** How long a reward by someone else keeps the simulated human quiet. */
export const STEP_BACK_MS = 60_000;
/** How often it looks at the queue between rewards. */
const LOOK_MS = 1_000;

export interface HumanControl {
  /** A real person is rating: stop rewarding until `resume()`. */
  pause(): void;
  resume(): void;
  readonly paused: boolean;
}

export interface HumanOptions {
  client: ApiClient;
  raterId: string;
  rng: Random;
  pace: Pace;
  weights: { w_i: number; w_u: number; w_n: number };
  taste?: Taste;
  report(problem: string): void;
}

interface WirePrompt {
  prompt_id: string;
  content: string;
  attention: { price: number };
  reward: { rated_by: string; rewarded_at: string } | null;
}

export class SimulatedHuman implements HumanControl {
  private pausedByCaller = false;
  private lastAt: number | undefined;
  private hour = -1;
  private mintedThisHour = 0;
  private holdUntil = 0;
  private readonly taste: Taste;

  constructor(private readonly opts: HumanOptions) {
    this.taste = opts.taste ?? DEFAULT_TASTE;
  }

  get paused(): boolean {
    return this.pausedByCaller;
  }

  pause(): void {
    this.pausedByCaller = true;
  }

  resume(): void {
    this.pausedByCaller = false;
  }

  /** The least time between two looks, ms. */
  get lookMs(): number {
    return Math.min(LOOK_MS, this.opts.pace.interval_ms);
  }

  /** One look at the queue; rewards its head when its pace and the ceiling allow. */
  async look(now: number): Promise<void> {
    if (this.pausedByCaller || now < this.holdUntil) return;
    if (this.lastAt !== undefined && now - this.lastAt < this.opts.pace.interval_ms) return;
    if (await this.someoneElseRates(now)) return;
    const queue = await this.opts.client.get<{ prompts: WirePrompt[] }>('/v1/prompts?status=pending&limit=1');
    const head = queue.status === 200 ? queue.body.prompts[0] : undefined;
    if (!head) return;
    const scores = scorePrompt(
      { prompt_id: head.prompt_id, content: head.content, attention_price: head.attention.price },
      this.taste,
      this.opts.rng,
    );
    const credits = rewardCredits(scores, this.opts.weights);
    if (hourOf(now) !== this.hour) {
      this.hour = hourOf(now);
      this.mintedThisHour = 0;
    }
    if (!mayReward(now, this.lastAt, this.mintedThisHour, credits, this.opts.pace)) return;
    await this.reward(head.prompt_id, scores, credits, now);
  }

  private async reward(promptId: string, scores: object, credits: number, now: number): Promise<void> {
    const answer = await this.opts.client.post(`/v1/prompts/${promptId}/reward`, scores, {
      idempotencyKey: `reward:${promptId}`,
    });
    this.lastAt = now;
    // Scores are fixed by now: the next look scores the next prompt, whatever happened here.
    if (answer.status === 201) {
      this.mintedThisHour += credits;
      return;
    }
    const code = problemCode(answer);
    if (code === 'mint_ceiling_exceeded') {
      const ends = Date.parse((answer.body as { window_ends_at?: string }).window_ends_at ?? '');
      this.holdUntil = Number.isFinite(ends) ? ends : now + 60_000;
      this.mintedThisHour = this.opts.pace.hourly_ceiling;
    } else if (code !== 'prompt_already_rewarded' && code !== 'prompt_expired') {
      this.opts.report(`POST /v1/prompts/{id}/reward answered ${answer.status}${code ? ` ${code}` : ''}`);
    }
  }

  /** Whether another rater rewarded a prompt within `STEP_BACK_MS`. */
  private async someoneElseRates(now: number): Promise<boolean> {
    const answer = await this.opts.client.get<{ prompts: WirePrompt[] }>('/v1/prompts?status=rewarded&limit=5');
    if (answer.status !== 200) return false;
    return answer.body.prompts.some(
      (p) =>
        p.reward !== null &&
        p.reward.rated_by !== `rater:${this.opts.raterId}` &&
        p.reward.rated_by !== this.opts.raterId &&
        now - Date.parse(p.reward.rewarded_at) < STEP_BACK_MS,
    );
  }
}
