/**
 * What every agent sees of the market in a round, read once per round for the whole population
 * (it is public: the same for every caller): `GET /v1/market` and the last cleared round's
 * clearing prices from `GET /v1/rounds/{round}`.
 */
import type { MarketView, ResourceView } from '#shared/agents/strategies';
import { type PerResource, perResource } from '#shared/core/resources';
import type { MarketSnapshot } from './agent.ts';
import { type ApiClient, ApiFailure } from './client.ts';

interface WireMarket {
  round: { round: string };
  round_seconds: number;
  last_round: string | null;
  resources: PerResource<ResourceView>;
}

interface WireRound {
  statistics?: { clearing_prices?: Partial<PerResource<number | null>> };
}

export async function marketSnapshot(client: ApiClient): Promise<MarketSnapshot> {
  const now = Date.now();
  const market = await client.get<WireMarket>('/v1/market');
  if (market.status !== 200) throw new ApiFailure(`GET /v1/market answered ${market.status}`);
  const { round, round_seconds, last_round, resources } = market.body;
  const view: MarketView = {
    round: round.round,
    round_seconds,
    resources: perResource((r) => {
      const { price, min_price, max_price, capacity } = resources[r];
      return { price, min_price, max_price, capacity };
    }),
  };
  let seen: Partial<PerResource<number | null>> = {};
  if (last_round) {
    const cleared = await client.get<WireRound>(`/v1/rounds/${last_round}`);
    if (cleared.status === 200) seen = cleared.body.statistics?.clearing_prices ?? {};
  }
  return { now, view, clearing_prices: perResource((r) => seen[r] ?? null) };
}
