/**
 * Bundles: validation rules with field errors, rates, capacity, and costs in exact
 * micro-credits (rounded up, computed from the decimals as written, never float noise).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ClearingBid, clear, remainingSupply } from './clearing.ts';
import { ECONOMY_DEFAULTS, type EconomyConfig, loadEconomyConfig, parseEconomyConfig } from './market-config.ts';
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
    expect(validateBundle({ cpu: 100, memory: 100, attention: 0.0001 }, 3600, cfg)).toEqual([]);
    expect(validateBundle({ cpu: 0.001, memory: 99.999, attention: 0.9999 }, 1, cfg)).toEqual([]);
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

describe('validateBundle: quanta', () => {
  const problems = (bundle: unknown) => validateBundle(bundle, 1, cfg);

  it.each([
    [{ cpu: 1e-300 }, '/bundle/cpu', '0.001'],
    [{ cpu: 5e-324 }, '/bundle/cpu', '0.001'],
    [{ memory: 1e-131 }, '/bundle/memory', '0.001'],
    [{ cpu: 0.0005 }, '/bundle/cpu', '0.001'],
    [{ cpu: 12.3456 }, '/bundle/cpu', '0.001'],
    [{ memory: 99.9999 }, '/bundle/memory', '0.001'],
    [{ attention: 0.00001 }, '/bundle/attention', '0.0001'],
    [{ attention: 0.12345 }, '/bundle/attention', '0.0001'],
  ])('refuses %j, naming the field and the quantum', (bundle, path, quantum) => {
    expect(problems(bundle)).toEqual([{ path, message: expect.stringContaining(quantum) }]);
  });

  it.each([
    [{ cpu: 1e308 }, '/bundle/cpu'],
    [{ attention: 1e308 }, '/bundle/attention'],
    [{ tokens: 1e308 }, '/bundle/tokens'],
    [{ tokens: 1e-300 }, '/bundle/tokens'],
    [{ cpu: -0 }, '/bundle/cpu'],
  ])('refuses the absurd %j', (bundle, path) => {
    expect(problems(bundle).map((e) => e.path)).toEqual([path]);
  });

  it('decides multiples on the decimal text, whatever the float product says', () => {
    // In floats 1.001 × 1000 = 1000.9999999999999 and 0.0003 × 10 000 = 2.9999999999999996.
    expect(problems({ cpu: 1.001, memory: 1.005, attention: 0.0003 })).toEqual([]);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 0, max: 9 }),
        fc.integer({ min: 1, max: 9 }),
        (n, extra, digit) => {
          // n thousandths are whole quanta; one more decimal digit that is not 0 is not.
          expect(problems({ cpu: n / 1000 })).toEqual([]);
          const finer = Number(`${Math.floor(n / 1000)}.${String(n % 1000).padStart(3, '0')}${extra}${digit}`);
          if (finer <= 100) expect(problems({ cpu: finer }).map((e) => e.path)).toEqual(['/bundle/cpu']);
        },
      ),
    );
  });
});

/** A market cleared against this economy's full capacity, as the clearing function builds it. */
function emptyRound(economy: EconomyConfig, bids: ClearingBid[]) {
  const capacity = capacityOf(economy);
  return clear(bids, { capacity, supply: remainingSupply(capacity, []), prices: initialPrices(economy) });
}

let seq = 0;
function bidFor(bundle: Bundle, durationSeconds: number): ClearingBid {
  seq++;
  return {
    bid_id: `b${String(seq).padStart(6, '0')}`,
    amount: 1_000_000,
    placed_at: seq,
    duration_seconds: durationSeconds,
    rates: bundleRates(bundle, durationSeconds),
  };
}

describe('placement and clearing agree', () => {
  it('the default economy: exactly the token capacity is accepted and wins; two halves both win', () => {
    const economy = loadEconomyConfig({ env: {} });
    // 5 M tokens/h = 12 500 ÷ 9 tokens per second: 9 s hold exactly 12 500 tokens.
    expect(validateBundle({ tokens: 12_500 }, 9, economy)).toEqual([]);
    expect(validateBundle({ tokens: 12_501 }, 9, economy).map((e) => e.path)).toEqual(['/bundle/tokens']);
    const whole = bidFor({ tokens: 12_500 }, 9);
    expect(emptyRound(economy, [whole]).winners).toEqual([whole.bid_id]);
    const halves = [1, 2, 3].map(() => bidFor({ tokens: 6250 }, 9));
    const d = emptyRound(economy, halves);
    expect(d.winners).toEqual([halves[0]?.bid_id, halves[1]?.bid_id]);
    expect(d.losers).toEqual([{ bid_id: halves[2]?.bid_id, reason: 'outbid' }]);
    expect(d.utilization.tokens).toBe(1);
  });

  it('an idle market reports utilization exactly 0', () => {
    const d = emptyRound(cfg, []);
    expect(d.utilization).toEqual({ cpu: 0, memory: 0, tokens: 0, attention: 0 });
  });

  it('a half held by an active allocation leaves exactly the other half', () => {
    const capacity = capacityOf(cfg);
    const held = bundleRates({ tokens: 6250 }, 9);
    const next = bidFor({ tokens: 6250 }, 9);
    for (const supply of [
      remainingSupply(capacity, [held]),
      remainingSupply(capacity, [{ rates: held, duration_seconds: 9 }]),
    ]) {
      const d = clear([next, bidFor({ tokens: 1 }, 9)], { capacity, supply, prices: initialPrices(cfg) });
      expect(d.winners).toEqual([next.bid_id]);
      expect(d.utilization.tokens).toBe(1);
    }
  });

  /** Economies whose capacities are decimals in their quanta and whose token capacity is any budget. */
  const economyArb = fc
    .record({
      spend: fc.integer({ min: 1, max: 10_000_000 }),
      spendDecimals: fc.integer({ min: 0, max: 6 }),
      price: fc.integer({ min: 1, max: 100_000 }),
      priceDecimals: fc.integer({ min: 0, max: 4 }),
      cpu: fc.integer({ min: 1, max: 100_000 }),
      memory: fc.integer({ min: 1, max: 100_000 }),
      attention: fc.integer({ min: 1, max: 10_000 }),
    })
    .map((e) => ({
      llm: {
        max_spend_usd_per_hour: e.spend / 10 ** e.spendDecimals,
        usd_per_million_tokens: e.price / 10 ** e.priceDecimals,
      },
      capacity: { cpu: e.cpu / 1000, memory: e.memory / 1000, attention: e.attention / 10_000 },
      duration_seconds: { min: 1, max: 86_400 },
    }))
    .filter((layer) => {
      try {
        parseEconomyConfig(layer);
        return true;
      } catch {
        return false;
      }
    })
    .map((layer) => parseEconomyConfig(layer));

  /** The whole tokens a budget buys in d seconds, by integer arithmetic on the decimals as written. */
  function tokenBudget(economy: EconomyConfig, d: number): number {
    const [s, sScale] = decimal(economy.llm.max_spend_usd_per_hour);
    const [p, pScale] = decimal(economy.llm.usd_per_million_tokens);
    // ⌊⌊s ÷ p × 1e6⌋ tokens per hour × d ÷ 3600⌋
    const perHour = (s * 10n ** BigInt(pScale + 6)) / (p * 10n ** BigInt(sScale));
    return Number((perHour * BigInt(d)) / 3600n);
  }
  function decimal(x: number): [bigint, number] {
    const [whole, frac = ''] = x.toFixed(10).replace(/0+$/, '').split('.');
    return [BigInt(`${whole}${frac}`), frac.length];
  }

  it('a bundle accepted at placement, alone in an empty round, wins', () => {
    const pick = (cap: number, quantum: number) =>
      fc.oneof(
        fc.constant(cap),
        fc.integer({ min: 1, max: Math.round(cap / quantum) }).map((n) => Number((n * quantum).toFixed(4))),
      );
    fc.assert(
      fc.property(
        economyArb.chain((economy) =>
          fc.record({
            economy: fc.constant(economy),
            d: fc.integer({ min: 1, max: 86_400 }),
            cpu: fc.option(pick(economy.capacity.cpu, 0.001), { nil: undefined }),
            memory: fc.option(pick(economy.capacity.memory, 0.001), { nil: undefined }),
            attention: fc.option(pick(economy.capacity.attention, 0.0001), { nil: undefined }),
            tokenShift: fc.option(fc.integer({ min: -2, max: 1 }), { nil: undefined }),
          }),
        ),
        ({ economy, d, cpu, memory, attention, tokenShift }) => {
          const budget = tokenBudget(economy, d);
          const bundle: Bundle = { cpu, memory, attention };
          if (tokenShift !== undefined) bundle.tokens = budget + tokenShift;
          const errors = validateBundle(bundle, d, economy);
          const tokensAsked = bundle.tokens !== undefined && bundle.tokens >= 1;
          // The budget itself is accepted, one token more is not.
          if (tokensAsked && tokenShift === 0) expect(errors).toEqual([]);
          if (tokensAsked && tokenShift === 1) expect(errors.map((e) => e.path)).toEqual(['/bundle/tokens']);
          if (errors.length > 0 || Object.values(bundle).every((q) => q === undefined)) return;
          const b = bidFor(bundle, d);
          expect(emptyRound(economy, [b]).winners).toEqual([b.bid_id]);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('k bundles of a k-th of the capacity all win, and one more loses', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000_000 }),
        fc.constantFrom(1, 2, 3, 4, 5, 8),
        fc.integer({ min: 1, max: 28 }),
        fc.integer({ min: 1, max: 40 }),
        (perHour, price, k, m) => {
          // Capacity of `perHour` tokens per hour; for k tokens bids of n over d seconds to
          // share it exactly, n = perHour × d ÷ 3600k must be whole: d = 3600k ÷ gcd.
          const economy = parseEconomyConfig({
            llm: { max_spend_usd_per_hour: (perHour * price) / 1e6, usd_per_million_tokens: price },
            capacity: { cpu: (k * m) / 1000 },
            duration_seconds: { min: 1, max: 86_400 },
          });
          let g = perHour;
          let b = 3600 * k;
          while (b) [g, b] = [b, g % b];
          const d = (3600 * k) / g;
          fc.pre(d <= 86_400);
          const n = (perHour * d) / (3600 * k);
          expect(validateBundle({ tokens: n }, d, economy)).toEqual([]);
          const tokenBids = Array.from({ length: k + 1 }, () => bidFor({ tokens: n }, d));
          const cpuBids = Array.from({ length: k + 1 }, () => bidFor({ cpu: m / 1000 }, 60));
          for (const bids of [tokenBids, cpuBids]) {
            const decision = emptyRound(economy, bids);
            expect(decision.winners).toEqual(bids.slice(0, k).map((x) => x.bid_id));
            expect(decision.losers).toEqual([{ bid_id: bids[k]?.bid_id, reason: 'outbid' }]);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
