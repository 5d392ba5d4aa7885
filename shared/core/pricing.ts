/**
 * Price updates by bounded tâtonnement, one resource at a time, after every round. Pure: the
 * store makes an update idempotent per round (a replayed `auction_cleared` changes nothing).
 *
 * For a resource with price p, capacity C and requested rate Q in the round (winners and
 * losers):
 *
 *   z  = Q ÷ C − target_utilization                      excess demand
 *   p₁ = p × exp(k × z)                                   tâtonnement
 *   p₂ = (1 − blend) × p₁ + blend × observed              only when a clearing price was observed
 *   p' = clamp(p₂, p × (1 − max_step), p × (1 + max_step)), then clamp to [min_price, max_price]
 *
 * The blend is applied before the step clamp so that no round moves a price by more than
 * `max_step`, whatever the observed price. Every stage is non-decreasing in z, so the update is
 * monotone in excess demand, and the last clamp keeps it within the floor and the ceiling.
 */
import type { ClearingStats } from './clearing.ts';
import type { EconomyConfig } from './market-config.ts';
import { type PerResource, RESOURCES, type Resource } from './resources.ts';

export type PriceReason = 'demand_spike' | 'supply_constraint' | 'low_demand' | 'stable';

export type PricingParams = EconomyConfig['pricing'];

export interface PriceBounds {
  min_price: number;
  max_price: number;
}

/** What the update needs to know about one resource in the round. */
export interface ResourceRound {
  /** Σ rates asked by all bids of the round. */
  requested: number;
  capacity: number;
  /** Share of capacity in use after clearing (0..1). */
  utilization: number;
  /** Observed clearing price, or null when no winner used the resource. */
  clearing_price: number | null;
  /** Losers for `insufficient_supply` that needed more of this resource than was free; 0 when unknown. */
  insufficient?: number;
}

/** The data of a `price_update` event (without its round). */
export interface PriceUpdate {
  resource: Resource;
  old_price: number;
  new_price: number;
  utilization: number;
  reason: PriceReason;
}

/** Utilization from which a resource counts as at capacity (for `supply_constraint`). */
export const AT_CAPACITY = 0.95;

/** Keeps `exp` finite: beyond ±50 the step clamp decides anyway. */
const MAX_EXPONENT = 50;

export function excessDemand(requested: number, capacity: number, targetUtilization: number): number {
  return requested / capacity - targetUtilization;
}

/**
 * A price as the API and the market state bucket show it: to 12 significant digits. Prices are
 * products of floating-point steps (each update stays exactly within its step bound, which a
 * rounded price could pass), so a floor reached by nine −20 % steps is stored as
 * 0.00013421772800000008; 12 digits drop that noise for readers and keep far more precision
 * than any cost needs. Costs and `price_update` events use the stored price.
 */
export const shownPrice = (price: number): number => Number(price.toPrecision(12));

/** The next price (see the module header). */
export function nextPrice(
  price: number,
  z: number,
  observed: number | null,
  params: PricingParams,
  bounds: PriceBounds,
): number {
  const exponent = Math.min(MAX_EXPONENT, Math.max(-MAX_EXPONENT, params.k * z));
  let target = price * Math.exp(exponent);
  if (observed !== null && Number.isFinite(observed) && observed >= 0 && params.blend > 0) {
    target = (1 - params.blend) * target + params.blend * observed;
  }
  const stepped = Math.min(price * (1 + params.max_step), Math.max(price * (1 - params.max_step), target));
  return Math.min(bounds.max_price, Math.max(bounds.min_price, stepped));
}

/**
 * Why the price moved. `supply_constraint` comes first: when a resource is full and bundles
 * could not fit at all, that is the fact an operator needs, whichever way z points.
 */
export function priceReason(z: number, round: ResourceRound, params: PricingParams): PriceReason {
  if (round.utilization >= AT_CAPACITY && (round.insufficient ?? 0) > 0) return 'supply_constraint';
  if (z > params.stable_band) return 'demand_spike';
  if (z < -params.stable_band) return 'low_demand';
  return 'stable';
}

export function updatePrice(
  resource: Resource,
  price: number,
  round: ResourceRound,
  params: PricingParams,
  bounds: PriceBounds,
): PriceUpdate {
  const z = excessDemand(round.requested, round.capacity, params.target_utilization);
  return {
    resource,
    old_price: price,
    new_price: nextPrice(price, z, round.clearing_price, params, bounds),
    utilization: round.utilization,
    reason: priceReason(z, round, params),
  };
}

/** The round statistics the update reads (a clearing decision has them all). */
export type RoundStats = Pick<ClearingStats, 'requested' | 'capacity' | 'utilization' | 'clearing_prices'> &
  Partial<Pick<ClearingStats, 'insufficient'>>;

/** Updates every resource's price after a round, in `RESOURCES` order. */
export function updatePrices(prices: PerResource, round: RoundStats, config: EconomyConfig): PriceUpdate[] {
  return RESOURCES.map((r) =>
    updatePrice(
      r,
      prices[r],
      {
        requested: round.requested[r],
        capacity: round.capacity[r],
        utilization: round.utilization[r],
        clearing_price: round.clearing_prices[r],
        insufficient: round.insufficient?.[r] ?? 0,
      },
      config.pricing,
      config.prices[r],
    ),
  );
}

/** The prices after a set of updates. */
export function pricesAfter(updates: readonly PriceUpdate[], prices: PerResource): PerResource {
  const next = { ...prices };
  for (const u of updates) next[u.resource] = u.new_price;
  return next;
}
