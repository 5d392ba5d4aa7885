/**
 * Prompts API: agents with attention show the human a prompt; the human (a rater key, or the
 * operator) reads the queue and rewards, which mints. A rater's key is re-checked here on
 * every call, so a revocation holds at once even while the authorizer's cache still admits it.
 */

import { callerOf } from '#shared/adapters/dynamodb/cursor';
import type { Prompts } from '#shared/adapters/dynamodb/prompts';
import type { Raters } from '#shared/adapters/dynamodb/raters';
import type { RewardingHuman, Rewards } from '#shared/adapters/dynamodb/rewards';
import { lambdaEntry } from '#shared/adapters/lazy-handler';
import { allocationsOf, ledgerBaseFrom, promptsOf, ratersOf, rewardsOf } from '#shared/adapters/services';
import type { Config } from '#shared/config';
import { unauthorized, validationFailed } from '#shared/core/errors';
import { formatCredits } from '#shared/core/money';
import { derivedId } from '#shared/core/ports';
import type { OperatorCaller, RaterCaller } from '#shared/http/api';
import type { HttpHandler } from '#shared/http/contract';
import { httpDepsOf } from '#shared/http/http-deps';
import { type HttpDeps, httpFunction } from '#shared/http/http-function';
import { callerKey } from '#shared/http/middleware/state';
import { presentPrompt } from '#shared/http/presenters';
import { promptId } from '#shared/http/schemas';

export interface PromptsDeps {
  prompts: Prompts;
  rewards: Rewards;
  raters: Pick<Raters, 'get'>;
  /** The economy's `rewards.max_prompt_chars`. */
  maxPromptChars: number;
  http: HttpDeps;
}

/** The human behind the call; a rater revoked since the authorizer admitted it is refused. */
async function activeHuman(
  raters: PromptsDeps['raters'],
  caller: RaterCaller | OperatorCaller,
): Promise<RewardingHuman> {
  if (caller.role === 'operator') return caller;
  const rater = await raters.get(caller.rater_id);
  if (rater?.status !== 'active') throw unauthorized('This rater key was revoked.');
  return caller;
}

export function makeHandler({ prompts, rewards, raters, maxPromptChars, http }: PromptsDeps): HttpHandler {
  return httpFunction(
    'prompts',
    {
      'POST /v1/prompts': async ({ caller, body, events }) => {
        if (body.content.length > maxPromptChars) {
          throw validationFailed([{ path: '/content', message: `must be at most ${maxPromptChars} characters` }]);
        }
        const prompt = await prompts.submit(
          caller.agent_id,
          {
            allocation_id: body.allocation_id,
            content: body.content,
            format: body.format,
            ...(body.reply_to !== undefined && { reply_to: body.reply_to }),
          },
          events,
        );
        return { status: 201, body: presentPrompt(prompt) };
      },
      'GET /v1/prompts': async ({ caller, query }) => {
        await activeHuman(raters, caller);
        const page = await prompts.list({ ...query, caller: callerOf(caller) });
        return { status: 200, body: { prompts: page.prompts.map(presentPrompt), next_cursor: page.next_cursor } };
      },
      'POST /v1/prompts/{id}/reward': async ({ caller, params, body, events, idempotencyKey }) => {
        const human = await activeHuman(raters, caller);
        const id = params.id ?? '';
        if (!promptId.safeParse(id).success) throw validationFailed([{ path: '/path/id', message: 'not a prompt id' }]);
        const { interesting, useful, understandable, reason } = body;
        const scores = { interesting, useful, understandable };
        const request_id = derivedId('rw', callerKey(caller), idempotencyKey);
        const outcome = await rewards.reward(id, human, { scores, reason, request_id }, events);
        return {
          status: 201,
          body: {
            prompt_id: id,
            agent_id: outcome.prompt.agent_id,
            credits_awarded: formatCredits(outcome.reward.credits_awarded),
            balance: formatCredits(outcome.balance),
            scores: outcome.reward.scores,
            reason: outcome.reward.reason,
            rewarded_at: outcome.reward.rewarded_at,
          },
        };
      },
    },
    http,
  );
}

/** Prompts read allocations and raters; rewards write through the ledger writer. */
export function promptsDepsOf(config: Config): PromptsDeps {
  const base = ledgerBaseFrom(config);
  const prompts = promptsOf(base, allocationsOf(base), base.economy);
  return {
    prompts,
    rewards: rewardsOf(base, prompts, base.economy),
    raters: ratersOf(base),
    maxPromptChars: base.economy.rewards.max_prompt_chars,
    http: httpDepsOf(base.table, config, base.runtime),
  };
}

export const handler = lambdaEntry((config) => makeHandler(promptsDepsOf(config)));
