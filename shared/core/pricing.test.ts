/**
 * Bounded tâtonnement: the formula, monotone in excess demand, never outside the floor and
 * the ceiling, never a step above max_step, and the reasons it reports.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clear } from './clearing.ts';
import { ECONOMY_DEFAULTS, parseEconomyConfig } from './market-config.ts';
import {
  AT_CAPACITY,
  excessDemand,
  nextPrice,
  type PricingParams,
  priceReason,
  pricesAfter,
  type ResourceRound,
  updatePrice,
  updatePrices,
} from './pricing.ts';
import { capacityOf, initialPrices, RESOURCES } from './resources.ts';

const params: PricingParams = { target_utilization: 0.8, k: 0.5, max_step: 0.2, blend: 0, stable_band: 0.1 };
const bounds = { min_price: 0.001, max_price: 10 };

const paramsArb = fc.record({
  target_utilization: fc.double({ min: 0.05, max: 1, noNaN: true }),
  k: fc.double({ min: 0.01, max: 10, noNaN: true }),
  max_step: fc.double({ min: 0.01, max: 0.99, noNaN: true }),
  blend: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1, noNaN: true })),
  stable_band: fc.double({ min: 0, max: 0.5, noNaN: true }),
});
const boundsArb = fc
  .tuple(fc.double({ min: 1e-9, max: 1, noNaN: true }), fc.double({ min: 1, max: 1e6, noNaN: true }))
  .map(([min_price, max_price]) => ({ min_price, max_price }));
const zArb = fc.double({ min: -1, max: 1e6, noNaN: true });
const observedArb = fc.oneof(fc.constant(null), fc.double({ min: 0, max: 1e7, noNaN: true }));

describe('nextPrice', () => {
  it('follows p × exp(k × z) inside the step and the bounds', () => {
    expect(nextPrice(1, 0, null, params, bounds)).toBe(1);
    expect(nextPrice(1, 0.2, null, params, bounds)).toBeCloseTo(Math.exp(0.1), 15);
    expect(nextPrice(1, -0.3, null, params, bounds)).toBeCloseTo(Math.exp(-0.15), 15);
  });

  it('clamps the step to ±max_step', () => {
    expect(nextPrice(1, 5, null, params, bounds)).toBeCloseTo(1.2, 15);
    expect(nextPrice(1, -0.8, null, { ...params, k: 10 }, bounds)).toBeCloseTo(0.8, 15);
  });

  it('blends toward the observed clearing price before clamping the step', () => {
    const blended = { ...params, blend: 0.5 };
    expect(nextPrice(1, 0, 1.2, blended, bounds)).toBeCloseTo(1.1, 15);
    expect(nextPrice(1, 0, 100, blended, bounds)).toBeCloseTo(1.2, 15);
    expect(nextPrice(1, 0, null, blended, bounds)).toBe(1);
  });

  it('is monotone in excess demand', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e-6, max: 1e5, noNaN: true }),
        zArb,
        zArb,
        observedArb,
        paramsArb,
        boundsArb,
        (p, z1, z2, observed, prm, b) => {
          const [lo, hi] = z1 <= z2 ? [z1, z2] : [z2, z1];
          expect(nextPrice(p, lo, observed, prm, b)).toBeLessThanOrEqual(nextPrice(p, hi, observed, prm, b));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('never leaves [floor, ceiling], even from a price outside them', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e-12, max: 1e9, noNaN: true }),
        zArb,
        observedArb,
        paramsArb,
        boundsArb,
        (p, z, o, prm, b) => {
          const next = nextPrice(p, z, o, prm, b);
          expect(next).toBeGreaterThanOrEqual(b.min_price);
          expect(next).toBeLessThanOrEqual(b.max_price);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('never moves a price within bounds by more than max_step', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1, noNaN: true }),
        zArb,
        observedArb,
        paramsArb,
        boundsArb,
        (f, z, o, prm, b) => {
          const p = b.min_price + f * (b.max_price - b.min_price);
          const next = nextPrice(p, z, o, prm, b);
          expect(Math.abs(next - p)).toBeLessThanOrEqual(prm.max_step * p * (1 + 1e-12));
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('reasons', () => {
  const round = (over: Partial<ResourceRound> = {}): ResourceRound => ({
    requested: 80,
    capacity: 100,
    utilization: 0.5,
    clearing_price: null,
    ...over,
  });

  it('labels excess demand beyond the stable band', () => {
    expect(priceReason(excessDemand(95, 100, 0.8), round(), params)).toBe('demand_spike');
    expect(priceReason(excessDemand(60, 100, 0.8), round(), params)).toBe('low_demand');
    expect(priceReason(excessDemand(85, 100, 0.8), round(), params)).toBe('stable');
  });

  it('reports a supply constraint when the resource is full and bundles could not fit at all', () => {
    const full = round({ utilization: AT_CAPACITY, insufficient: 2, requested: 20 });
    expect(priceReason(-0.6, full, params)).toBe('supply_constraint');
    expect(priceReason(-0.6, { ...full, insufficient: 0 }, params)).toBe('low_demand');
    expect(priceReason(-0.6, { ...full, utilization: 0.5 }, params)).toBe('low_demand');
  });

  it('returns the price_update fields', () => {
    const u = updatePrice('attention', 0.2, round({ requested: 2, capacity: 1, utilization: 1 }), params, bounds);
    expect(u).toEqual({
      resource: 'attention',
      old_price: 0.2,
      new_price: 0.24,
      utilization: 1,
      reason: 'demand_spike',
    });
    expect(Object.keys(u).sort()).toEqual(['new_price', 'old_price', 'reason', 'resource', 'utilization']);
  });
});

describe('updatePrices', () => {
  it('moves every resource, attention included, from a clearing decision', () => {
    const config = ECONOMY_DEFAULTS;
    const capacity = capacityOf(config);
    const prices = initialPrices(config);
    // Demand far above target on cpu and attention, none on memory and tokens.
    const bids = Array.from({ length: 6 }, (_, i) => ({
      bid_id: `b${i}`,
      amount: 1_000_000 + i,
      placed_at: i,
      duration_seconds: 60,
      rates: { cpu: 40, attention: 0.5 },
    }));
    const decision = clear(bids, { capacity, supply: capacity, prices });
    const updates = updatePrices(prices, decision, config);
    expect(updates.map((u) => u.resource)).toEqual([...RESOURCES]);
    const next = pricesAfter(updates, prices);
    expect(next.cpu).toBeGreaterThan(prices.cpu);
    expect(next.attention).toBeGreaterThan(prices.attention);
    expect(next.memory).toBeLessThan(prices.memory);
    expect(next.tokens).toBeLessThan(prices.tokens);
    for (const u of updates) {
      expect(u.new_price).toBeGreaterThanOrEqual(config.prices[u.resource].min_price);
      expect(u.new_price).toBeLessThanOrEqual(config.prices[u.resource].max_price);
    }
    expect(updates.find((u) => u.resource === 'attention')?.utilization).toBe(1);
  });

  it('is pure: the same round applied twice gives the same update', () => {
    const config = parseEconomyConfig({ pricing: { blend: 0.2 } });
    const prices = initialPrices(config);
    const stats = {
      requested: { cpu: 90, memory: 10, tokens: 100, attention: 0.9 },
      capacity: capacityOf(config),
      utilization: { cpu: 0.9, memory: 0.1, tokens: 0.1, attention: 0.9 },
      clearing_prices: { cpu: 0.002, memory: null, tokens: 0.0001, attention: 0.5 },
    };
    expect(updatePrices(prices, stats, config)).toEqual(updatePrices(prices, stats, config));
  });
});
