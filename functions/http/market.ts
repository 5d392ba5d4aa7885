/**
 * Market API: prices with their bounds, capacity and utilization; price history; quotes.
 */

import type { Market } from '#shared/adapters/dynamodb/market';
import { lambdaEntry } from '#shared/adapters/lazy-handler';
import { ledgerBaseFrom, marketOf } from '#shared/adapters/services';
import type { Config } from '#shared/config';
import type { EconomyConfig } from '#shared/core/market-config';
import { resourceQuote } from '#shared/core/market-state';
import { formatCredits } from '#shared/core/money';
import type { Runtime } from '#shared/core/ports';
import { shownPrice } from '#shared/core/pricing';
import { capacityOf, floorCost, RESOURCES, type Resource, referenceCost } from '#shared/core/resources';
import { roundAt } from '#shared/core/rounds';
import type { HttpHandler } from '#shared/http/contract';
import { httpDepsOf } from '#shared/http/http-deps';
import { type HttpDeps, httpFunction } from '#shared/http/http-function';
import { checkedBundle } from '#shared/http/market-input';

export interface MarketDeps {
  market: Market;
  economy: EconomyConfig;
  runtime: Pick<Runtime, 'clock'>;
  http: HttpDeps;
}

export function makeHandler({ market, economy, runtime, http }: MarketDeps): HttpHandler {
  return httpFunction(
    'market',
    {
      'GET /v1/market': async () => {
        const state = await market.state();
        const capacity = capacityOf(economy);
        const window = roundAt(runtime.clock.now(), economy.round_seconds);
        // The same presenter as the market state bucket on NATS: the two cannot disagree.
        const resources = Object.fromEntries(
          RESOURCES.map((r) => [
            r,
            resourceQuote(economy, capacity, r, { price: state.prices[r], utilization: state.utilization[r] }),
          ]),
          // One entry per resource, by construction.
        ) as Record<Resource, ReturnType<typeof resourceQuote>>;
        return {
          status: 200,
          body: {
            round: {
              round: window.round,
              opens_at: new Date(window.starts_at_ms).toISOString(),
              closes_at: new Date(window.closes_at_ms).toISOString(),
            },
            next_clearing_at: new Date(window.closes_at_ms).toISOString(),
            round_seconds: economy.round_seconds,
            policy: economy.clearing.policy,
            last_round: state.last_round,
            resources,
          },
        };
      },
      'GET /v1/market/history': async ({ query }) => {
        const points = await market.history(query.resource, {
          limit: query.limit,
          ...(query.since && { sinceMs: Date.parse(query.since) }),
        });
        const shown = points.map((p) => ({ ...p, price: shownPrice(p.price) }));
        return { status: 200, body: { resource: query.resource, prices: shown } };
      },
      'POST /v1/market/quote': async ({ body }) => {
        const bundle = checkedBundle(body.bundle, body.duration_seconds, economy);
        const { prices } = await market.state();
        return {
          status: 200,
          body: {
            bundle,
            duration_seconds: body.duration_seconds,
            reference_cost: formatCredits(referenceCost(bundle, body.duration_seconds, prices)),
            floor_cost: formatCredits(floorCost(bundle, body.duration_seconds, economy)),
            prices: Object.fromEntries(Object.entries(prices).map(([r, p]) => [r, shownPrice(p)])) as typeof prices,
          },
        };
      },
    },
    http,
  );
}

/** Prices and quotes: the market store alone. */
export function marketDepsOf(config: Config): MarketDeps {
  const { economy, ...base } = ledgerBaseFrom(config);
  return {
    market: marketOf(base, economy),
    economy,
    runtime: base.runtime,
    http: httpDepsOf(base.table, config, base.runtime),
  };
}

export const handler = lambdaEntry((config) => makeHandler(marketDepsOf(config)));
