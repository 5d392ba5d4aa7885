/**
 * Bundles: validation rules with field errors, rates, capacity, and costs in exact
 * micro-credits (rounded up, computed from the decimals as written, never float noise).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ECONOMY_DEFAULTS, parseEconomyConfig } from './market-config.ts';
import type { Micros } from './money.ts';
import {
  type Bundle,
  bundleRates,
  bundleUsage,
  capacityOf,
  floorCost,
  initialPrices,
  isBelowReserve,
  normalizedFootprint,
  type PerResource,
  referenceCost,
  tokenCapacityPerSecond,
  validateBundle,
} from './resources.ts';

const cfg = ECONOMY_DEFAULTS;

describe('capacity', () => {
  it('derives token capacity from the LLM budget', () => {
    // 10 USD/h ÷ 2 USD per million tokens = 5 M tokens/h.
    expect(tokenCapacityPerSecond(cfg.llm)).toBeCloseTo(5_000_000 / 3600, 9);
    expect(capacityOf(cfg)).toEqual({ cpu: 100, memory: 100, tokens: 5_000_000 / 3600, attention: 1 });
  });

  it('follows the configuration', () => {
    const c = parseEconomyConfig({
      capacity: { cpu: 50 },
      llm: { max_spend_usd_per_hour: 36, usd_per_million_tokens: 1 },
    });
    expect(capacityOf(c).cpu).toBe(50);
    expect(capacityOf(c).tokens).toBeCloseTo(10_000, 9);
  });
});

describe('validateBundle', () => {
  const paths = (bundle: unknown, duration: unknown = 600) => validateBundle(bundle, duration, cfg).map((e) => e.path);

  it('accepts valid bundles', () => {
    expect(validateBundle({ cpu: 10, memory: 5, tokens: 20_000 }, 600, cfg)).toEqual([]);
    expect(validateBundle({ attention: 1 }, 1, cfg)).toEqual([]);
    expect(validateBundle({ cpu: 100, memory: 100, attention: 0.000001 }, 3600, cfg)).toEqual([]);
    expect(validateBundle({ tokens: 1 }, 3600, cfg)).toEqual([]);
  });

  it.each([
    [{ cpu: 0 }, '/bundle/cpu'],
    [{ cpu: -1 }, '/bundle/cpu'],
    [{ cpu: 100.5 }, '/bundle/cpu'],
    [{ memory: Number.NaN }, '/bundle/memory'],
    [{ memory: '5' }, '/bundle/memory'],
    [{ attention: 1.01 }, '/bundle/attention'],
    [{ attention: 0 }, '/bundle/attention'],
    [{ tokens: 0 }, '/bundle/tokens'],
    [{ tokens: 1.5 }, '/bundle/tokens'],
    [{ tokens: 2 ** 60 }, '/bundle/tokens'],
    [{ gpu: 1 }, '/bundle/gpu'],
    [{}, '/bundle'],
    [null, '/bundle'],
    [[1], '/bundle'],
  ])('rejects %j at %s', (bundle, path) => {
    expect(paths(bundle)).toContain(path);
  });

  it('rejects a token rate above capacity and says how many tokens fit', () => {
    // Capacity ≈ 1388.9 tokens/s: 10 s hold at most 13 888 tokens.
    expect(validateBundle({ tokens: 13_888 }, 10, cfg)).toEqual([]);
    const errors = validateBundle({ tokens: 13_889 }, 10, cfg);
    expect(errors).toEqual([{ path: '/bundle/tokens', message: expect.stringContaining('13888') }]);
  });

  it('rejects a quantity above a configured capacity below 100', () => {
    const small = parseEconomyConfig({ capacity: { cpu: 40 } });
    expect(validateBundle({ cpu: 41 }, 60, small).map((e) => e.path)).toEqual(['/bundle/cpu']);
  });

  it.each([0, -1, 1.5, 3601, '60', null, Number.POSITIVE_INFINITY])('rejects duration %j', (duration) => {
    expect(paths({ cpu: 1 }, duration)).toEqual(['/duration_seconds']);
  });

  it('follows configured duration bounds and reports every problem at once', () => {
    const c = parseEconomyConfig({ duration_seconds: { min: 10, max: 20 } });
    expect(validateBundle({ cpu: 1 }, 9, c).map((e) => e.path)).toEqual(['/duration_seconds']);
    expect(validateBundle({ cpu: 1 }, 20, c)).toEqual([]);
    expect(validateBundle({ cpu: 0, attention: 2 }, 0, c).map((e) => e.path)).toEqual([
      '/duration_seconds',
      '/bundle/cpu',
      '/bundle/attention',
    ]);
  });

  it('uses the caller’s paths', () => {
    const errors = validateBundle({}, 0, cfg, { bundle: '/b', duration: '/d' });
    expect(errors.map((e) => e.path)).toEqual(['/d', '/b']);
  });
});

describe('rates and usage', () => {
  it('holds cpu, memory and attention as rates, and spreads tokens over the duration', () => {
    expect(bundleRates({ cpu: 10, tokens: 6000 }, 600)).toEqual({ cpu: 10, memory: 0, tokens: 10, attention: 0 });
    expect(bundleUsage({ cpu: 10, tokens: 6000, attention: 0.5 }, 600)).toEqual({
      cpu: 6000,
      memory: 0,
      tokens: 6000,
      attention: 300,
    });
  });

  it('measures the footprint as the sum of capacity shares', () => {
    const cap = capacityOf(cfg);
    expect(normalizedFootprint({ cpu: 50, attention: 0.25 }, cap)).toBeCloseTo(0.75, 12);
  });
});

describe('costs', () => {
  const prices: PerResource = { cpu: 0.001, memory: 0.0005, tokens: 0.0001, attention: 0.3 };

  it('prices a bundle at Σ price × quantity × duration, tokens at price × tokens', () => {
    // 0.001×10×600 + 0.0005×5×600 + 0.0001×20 000 = 6 + 1.5 + 2 credits.
    expect(referenceCost({ cpu: 10, memory: 5, tokens: 20_000 }, 600, prices)).toBe(9_500_000);
  });

  it('is exact where float arithmetic is not', () => {
    // In floats 0.1 × 0.07 × 3 × 1e6 = 21000.000000000004, which a ceiling turns into 21 001.
    expect(Math.ceil(0.1 * 0.07 * 3 * 1e6)).toBe(21_001);
    expect(referenceCost({ cpu: 0.07 }, 3, { ...prices, cpu: 0.1 })).toBe(21_000);
    expect(referenceCost({ attention: 0.1 }, 1, { ...prices, attention: 0.07 })).toBe(7_000);
  });

  it('rounds fractions of a micro-credit up', () => {
    expect(referenceCost({ tokens: 1 }, 1, { ...prices, tokens: 0.0000001 })).toBe(1);
    expect(referenceCost({ tokens: 10 }, 1, { ...prices, tokens: 0.0000001 })).toBe(1);
    expect(referenceCost({ tokens: 11 }, 1, { ...prices, tokens: 0.0000001 })).toBe(2);
    expect(referenceCost({ cpu: 1e-7 }, 1, prices)).toBe(1);
  });

  it('handles prices printed in exponent form', () => {
    expect(referenceCost({ tokens: 3 }, 1, { ...prices, tokens: 2.5e-7 })).toBe(1);
    expect(referenceCost({ tokens: 4_000_000 }, 1, { ...prices, tokens: 2.5e-7 })).toBe(1_000_000);
  });

  it('matches an integer oracle on decimal inputs', () => {
    // Quantities with ≤ 4 decimals and prices with ≤ 9 decimals, as integer numerators.
    const bundleArb = fc.record({
      cpu: fc.integer({ min: 1, max: 1_000_000 }),
      memory: fc.integer({ min: 1, max: 1_000_000 }),
      attention: fc.integer({ min: 1, max: 10_000 }),
      tokens: fc.integer({ min: 1, max: 1_000_000 }),
    });
    const priceArb = fc.record({
      cpu: fc.integer({ min: 1, max: 1_000_000_000 }),
      memory: fc.integer({ min: 1, max: 1_000_000_000 }),
      attention: fc.integer({ min: 1, max: 1_000_000_000 }),
      tokens: fc.integer({ min: 1, max: 100_000_000 }),
    });
    fc.assert(
      fc.property(bundleArb, priceArb, fc.integer({ min: 1, max: 3600 }), (q, p, d) => {
        const bundle: Bundle = {
          cpu: q.cpu / 1e4,
          memory: q.memory / 1e4,
          attention: q.attention / 1e4,
          tokens: q.tokens,
        };
        const pr: PerResource = {
          cpu: p.cpu / 1e9,
          memory: p.memory / 1e9,
          attention: p.attention / 1e9,
          tokens: p.tokens / 1e9,
        };
        // Σ (p/1e9)(q/1e4)d + (p_t/1e9) t, in µcr = numerator / 1e7, rounded up.
        const D = BigInt(d);
        const num =
          BigInt(p.cpu) * BigInt(q.cpu) * D +
          BigInt(p.memory) * BigInt(q.memory) * D +
          BigInt(p.attention) * BigInt(q.attention) * D +
          BigInt(p.tokens) * BigInt(q.tokens) * 10_000n;
        const expected = Number((num + 10_000_000n - 1n) / 10_000_000n);
        expect(referenceCost(bundle, d, pr)).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('is monotone in every price and quantity', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.01, max: 100, noNaN: true }),
        fc.double({ min: 1e-6, max: 1, noNaN: true }),
        fc.double({ min: 1, max: 2, noNaN: true }),
        (q, p, f) => {
          const base = referenceCost({ cpu: q }, 60, { ...prices, cpu: p });
          expect(referenceCost({ cpu: q }, 60, { ...prices, cpu: p * f })).toBeGreaterThanOrEqual(base);
          expect(referenceCost({ cpu: Math.min(100, q * f) }, 60, { ...prices, cpu: p })).toBeGreaterThanOrEqual(base);
        },
      ),
    );
  });

  it('uses the floor prices for the floor cost and the reserve check', () => {
    const bundle = { cpu: 10, memory: 5, tokens: 20_000 };
    // 0.00001×10×600 + 0.00001×5×600 + 0.0000001×20 000 = 0.06 + 0.03 + 0.002 credits.
    const floor = floorCost(bundle, 600, cfg);
    expect(floor).toBe(92_000);
    expect(isBelowReserve(floor, bundle, 600, cfg)).toBe(false);
    expect(isBelowReserve((floor - 1) as Micros, bundle, 600, cfg)).toBe(true);
    expect(floor).toBeLessThan(referenceCost(bundle, 600, initialPrices(cfg)));
  });
});
