/**
 * `syntropism top`: a live terminal view of the market for those who prefer a terminal to the
 * dashboard — the open round, each resource's price between its floor and ceiling with its
 * utilization, the last cleared round's statistics and the money supply. It reads the API with
 * the operator key (`GET /v1/market`, `/v1/rounds/{round}`, `/v1/economy`) once a second.
 */

export interface MarketView {
  round: { round: string; closes_at: string };
  last_round: string | null;
  resources: Record<string, { price: number; min_price: number; max_price: number; utilization: number }>;
}

export interface RoundView {
  round: string;
  state: string;
  bid_count: number;
  statistics?: { winners?: number; losers?: number; revenue?: number } | null;
}

export interface EconomyView {
  minted: { grants: number; rewards: number; total: number };
  burned: { total: number };
  escrowed: number;
  circulating: number;
}

const BAR = 20;

/** Where a price sits between floor and ceiling, on a log scale (prices span decades). */
export function priceBar(price: number, min: number, max: number): string {
  const span = Math.log(max) - Math.log(min);
  const at = span > 0 ? (Math.log(price) - Math.log(min)) / span : 0;
  const filled = Math.max(0, Math.min(BAR, Math.round(at * BAR)));
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}]`;
}

/** The lines of one screen. Pure: the same inputs draw the same screen. */
export function renderTop(market: MarketView, last: RoundView | undefined, economy: EconomyView, nowMs: number) {
  const left = Math.max(0, Math.ceil((Date.parse(market.round.closes_at) - nowMs) / 1000));
  const lines = [`syntropism top — round ${market.round.round} closes in ${left}s`, ''];
  lines.push('resource    price          floor … ceiling (log)   utilization');
  for (const [name, r] of Object.entries(market.resources)) {
    const util = `${(r.utilization * 100).toFixed(1)}%`;
    lines.push(
      `${name.padEnd(11)} ${String(r.price).padEnd(14)} ${priceBar(r.price, r.min_price, r.max_price)}   ${util}`,
    );
  }
  lines.push('');
  if (last) {
    const s = last.statistics ?? {};
    lines.push(
      `last round  ${last.round} (${last.state}): ${last.bid_count} bids, ${s.winners ?? 0} won, ${s.losers ?? 0} lost, ${s.revenue ?? 0} credits burned`,
    );
  } else {
    lines.push('last round  none cleared yet');
  }
  const m = economy.minted;
  lines.push(
    `money       minted ${m.total} (grants ${m.grants}, rewards ${m.rewards}), burned ${economy.burned.total}, ` +
      `escrowed ${economy.escrowed}, held by agents ${economy.circulating}`,
  );
  return lines;
}

/** Reads the three views; throws with the API's problem on a refusal. */
export async function readTop(api: string, key: string) {
  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${api}${path}`, { headers: { authorization: `Bearer ${key}` } });
    const body = (await res.json()) as T & { detail?: string };
    if (!res.ok) throw new Error(`${path}: ${res.status} ${body.detail ?? ''}`.trim());
    return body;
  };
  const [market, economy] = await Promise.all([get<MarketView>('/v1/market'), get<EconomyView>('/v1/economy')]);
  const last = market.last_round ? await get<RoundView>(`/v1/rounds/${market.last_round}`) : undefined;
  return { market, economy, last };
}
