/**
 * Every HTTP handler and the authorizer of the API, built from one `Services` composition by
 * each function's own `makeHandler` (the very code each Lambda runs): what the local server
 * serves. All handlers share the composition's HTTP dependencies, so one caller's rate limit
 * holds across the API as it would for one Lambda container.
 */
import { makeAuthorizer } from '#functions/authorizer';
import { makeHandler as agents } from '#functions/http/agents';
import { makeHandler as allocations } from '#functions/http/allocations';
import { makeHandler as bids } from '#functions/http/bids';
import { makeHandler as economy } from '#functions/http/economy';
import { makeHandler as events } from '#functions/http/events';
import { makeHandler as executions } from '#functions/http/executions';
import { makeHandler as health } from '#functions/http/health';
import { makeHandler as llm } from '#functions/http/llm';
import { makeHandler as market } from '#functions/http/market';
import { makeHandler as prompts } from '#functions/http/prompts';
import { makeHandler as raters } from '#functions/http/raters';
import { makeHandler as rounds } from '#functions/http/rounds';
import { makeHandler as transfers } from '#functions/http/transfers';
import { llmGatewayOf } from '#shared/adapters/llm/compose';
import type { Services } from '#shared/adapters/services';
import { parseCredits } from '#shared/core/money';
import type { HttpHandler } from '#shared/http/contract';
import { withHttp } from '#shared/http/http-deps';
import type { HttpFunction } from '#shared/http/routes';
import type { Authorizer } from './http-server.ts';

export interface HttpFunctions {
  handlers: Record<HttpFunction, HttpHandler>;
  authorizer: Authorizer;
}

export function httpFunctions(s: Services): HttpFunctions {
  const deps = withHttp(s);
  return {
    handlers: {
      health: health(deps),
      agents: agents({ ...deps, maxGrant: parseCredits(s.economy.money.max_grant) }),
      transfers: transfers(deps),
      bids: bids(deps),
      rounds: rounds(deps),
      allocations: allocations({ ...deps, clock: s.runtime.clock }),
      market: market(deps),
      events: events(deps),
      executions: executions(deps),
      // Unbuffered: the local server streams `stream: true` answers as they come.
      llm: llm({ ...deps, llm: llmGatewayOf({ meter: s.allocations, ...s }, s.config) }),
      prompts: prompts({ ...deps, maxPromptChars: s.economy.rewards.max_prompt_chars }),
      raters: raters(deps),
      economy: economy({
        http: deps.http,
        summary: { table: s.table, shards: s.config.LEDGER_SHARDS, clock: s.runtime.clock, economy: s.economy },
      }),
    },
    authorizer: makeAuthorizer(s),
  };
}
