/**
 * Market API: prices with their bounds, capacity and utilization; price history; quotes.
 */
import { services } from '#shared/adapters/services';
import { formatCredits } from '#shared/core/money';
import { capacityOf, floorCost, RESOURCES, referenceCost } from '#shared/core/resources';
import { roundAt } from '#shared/core/rounds';
import { defineRoute, httpFunction } from '#shared/http/http-function';
import { checkedBundle } from '#shared/http/market-input';
import { priceHistoryQuery, quoteBody } from '#shared/http/schemas';

const s = services();

export const handler = httpFunction(
  'market',
  {
    'GET /v1/market': defineRoute({
      handle: async () => {
        const state = await s.market.state();
        const capacity = capacityOf(s.economy);
        const window = roundAt(s.runtime.clock.now(), s.economy.round_seconds);
        const resources = Object.fromEntries(
          RESOURCES.map((r) => [
            r,
            {
              price: state.prices[r],
              min_price: s.economy.prices[r].min_price,
              max_price: s.economy.prices[r].max_price,
              capacity: capacity[r],
              utilization: state.utilization[r],
            },
          ]),
        );
        return {
          status: 200,
          body: {
            round: {
              round: window.round,
              opens_at: new Date(window.starts_at_ms).toISOString(),
              closes_at: new Date(window.closes_at_ms).toISOString(),
            },
            next_clearing_at: new Date(window.closes_at_ms).toISOString(),
            round_seconds: s.economy.round_seconds,
            policy: s.economy.clearing.policy,
            last_round: state.last_round,
            resources,
          },
        };
      },
    }),
    'GET /v1/market/history': defineRoute({
      query: priceHistoryQuery,
      handle: async ({ query }) => {
        const points = await s.market.history(query.resource, {
          limit: query.limit,
          ...(query.since && { sinceMs: Date.parse(query.since) }),
        });
        return { status: 200, body: { resource: query.resource, prices: points } };
      },
    }),
    'POST /v1/market/quote': defineRoute({
      body: quoteBody,
      handle: async ({ body }) => {
        const bundle = checkedBundle(body.bundle, body.duration_seconds, s.economy);
        const { prices } = await s.market.state();
        return {
          status: 200,
          body: {
            bundle,
            duration_seconds: body.duration_seconds,
            reference_cost: formatCredits(referenceCost(bundle, body.duration_seconds, prices)),
            floor_cost: formatCredits(floorCost(bundle, body.duration_seconds, s.economy)),
            prices,
          },
        };
      },
    }),
  },
  s,
);
