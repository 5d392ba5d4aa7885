/**
 * Economy API: the money supply at a glance — minted by source (the operator's grants, the
 * economy's genesis, apart from human rewards), burned by purpose, escrowed, circulating, and
 * the ceilings that bound minting.
 */

import { type EconomyDeps, economySummary } from '#shared/adapters/dynamodb/economy';
import { lambdaEntry } from '#shared/adapters/lazy-handler';
import { economyOf, tableOf } from '#shared/adapters/services';
import type { Config } from '#shared/config';
import { systemClock } from '#shared/core/ports';
import type { HttpHandler } from '#shared/http/contract';
import { httpDepsOf } from '#shared/http/http-deps';
import { type HttpDeps, httpFunction } from '#shared/http/http-function';
import { presentEconomy } from '#shared/http/presenters';

export interface EconomyHandlerDeps {
  summary: EconomyDeps;
  http: HttpDeps;
}

export function makeHandler({ summary, http }: EconomyHandlerDeps): HttpHandler {
  return httpFunction(
    'economy',
    {
      'GET /v1/economy': async () => ({ status: 200, body: presentEconomy(await economySummary(summary)) }),
    },
    http,
  );
}

/** Reads of the system accounts alone. */
export function economyDepsOf(config: Config): EconomyHandlerDeps {
  const table = tableOf(config);
  return {
    summary: { table, shards: config.LEDGER_SHARDS, clock: systemClock, economy: economyOf(config) },
    http: httpDepsOf(table, config, { clock: systemClock }),
  };
}

export const handler = lambdaEntry((config) => makeHandler(economyDepsOf(config)));
