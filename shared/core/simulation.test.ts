/**
 * Market dynamics end to end, in process: with stationary demand prices settle; a demand
 * spike raises them within bounds and they come back after it; attention is priced like every
 * other resource; and a seed replays exactly.
 */
import { describe, expect, it } from 'vitest';
import { ECONOMY_DEFAULTS, parseEconomyConfig } from './market-config.ts';
import { capacityOf, RESOURCES } from './resources.ts';
import { relativeSpread, type SimulationOptions, simulate } from './simulation.ts';

/** Every agent bids every round, its own bundle ± 10%: demand that does not change. */
const stationary: SimulationOptions = { agents: 1000, rounds: 200, seed: 1, activity: 1, jitter: 0.1 };

function withinBounds(series: Record<string, number[]>): void {
  for (const r of RESOURCES) {
    const { min_price, max_price } = ECONOMY_DEFAULTS.prices[r];
    for (const p of series[r] ?? []) {
      expect(p).toBeGreaterThanOrEqual(min_price);
      expect(p).toBeLessThanOrEqual(max_price);
    }
  }
}

describe('simulate', () => {
  it('replays a seed exactly, and another seed differs', () => {
    const a = simulate({ ...stationary, agents: 200, rounds: 30 });
    const b = simulate({ ...stationary, agents: 200, rounds: 30 });
    expect(b).toEqual(a);
    const c = simulate({ ...stationary, agents: 200, rounds: 30, seed: 2 });
    expect(c.price_series).not.toEqual(a.price_series);
  });

  it.each([1, 2, 3])(
    'settles under stationary demand: the last 20 of 200 rounds vary by under 5 percent (seed %i)',
    (seed) => {
      const res = simulate({ ...stationary, seed });
      expect(res.price_series.cpu).toHaveLength(201);
      for (const r of RESOURCES) {
        expect(relativeSpread(res.price_series[r], 20), r).toBeLessThan(0.05);
        // Settled at the target: demand in the last rounds is close to 80% of capacity.
        const tail = res.rounds.slice(-20);
        const demand = tail.reduce((s, x) => s + x.requested[r], 0) / tail.length / capacityOf(ECONOMY_DEFAULTS)[r];
        expect(demand, r).toBeGreaterThan(0.7);
        expect(demand, r).toBeLessThan(0.9);
      }
      withinBounds(res.price_series);
    },
  );

  it('never allocates beyond capacity', () => {
    const res = simulate({ agents: 500, rounds: 60, seed: 5 });
    for (const round of res.rounds) {
      for (const r of RESOURCES) expect(round.utilization[r]).toBeLessThanOrEqual(1);
    }
    expect(res.winners).toBeGreaterThan(0);
    expect(res.winners).toBeLessThan(res.bids);
  });

  it('holds allocations for their whole duration', () => {
    // Rounds of 5 s and allocations of 60 s: a winner holds its rates for 12 rounds.
    const economy = parseEconomyConfig({ round_seconds: 5, duration_seconds: { min: 60, max: 60 } });
    const res = simulate({ agents: 300, rounds: 40, seed: 9, economy, activity: 1 });
    const cap = capacityOf(economy);
    for (let t = 0; t < res.rounds.length; t++) {
      const held = res.rounds.slice(Math.max(0, t - 11), t + 1);
      for (const r of RESOURCES) {
        const total = held.reduce((s, x) => s + x.allocated[r], 0);
        expect(total, `${r} in round ${t}`).toBeLessThanOrEqual(cap[r] * (1 + 1e-9));
      }
    }
    // Supply freed only when allocations end: after round 0 the market is nearly full.
    expect(res.rounds[1]?.winners).toBeLessThan(res.rounds[0]?.winners ?? 0);
  });

  it('raises prices within bounds under a demand spike, and lowers them after it', () => {
    const res = simulate({ ...stationary, spikes: [{ from_round: 100, to_round: 150, factor: 1.5 }] });
    const s = res.price_series;
    for (const r of RESOURCES) {
      const before = s[r][100] as number;
      const during = s[r][150] as number;
      const after = s[r][200] as number;
      expect(during, r).toBeGreaterThan(before * 1.2);
      expect(after, r).toBeLessThan(during);
    }
    // The rounds of the spike report it.
    expect(res.rounds[101]?.updates.every((u) => u.reason === 'demand_spike')).toBe(true);
    withinBounds(s);
  });

  it('prices attention like the others: its price follows its own demand', () => {
    const up = simulate({
      ...stationary,
      spikes: [{ from_round: 100, to_round: 150, factor: 1.5, resources: ['attention'] }],
    });
    const down = simulate({
      ...stationary,
      spikes: [{ from_round: 100, to_round: 150, factor: 0.5, resources: ['attention'] }],
    });
    const ratio = (series: number[]) => (series[150] as number) / (series[100] as number);
    expect(ratio(up.price_series.attention)).toBeGreaterThan(1.2);
    expect(ratio(down.price_series.attention)).toBeLessThan(0.8);
    for (const r of ['cpu', 'memory', 'tokens'] as const) {
      expect(Math.abs(ratio(up.price_series[r]) - 1), r).toBeLessThan(0.05);
      expect(Math.abs(ratio(down.price_series[r]) - 1), r).toBeLessThan(0.05);
    }
    withinBounds(up.price_series);
    withinBounds(down.price_series);
  });

  it('runs each strategy alone, and the density policy', () => {
    for (const mix of [{ zero_intelligence: 1 }, { conservative: 1 }, { aggressive: 1 }, { adaptive: 1 }]) {
      const res = simulate({ agents: 200, rounds: 20, seed: 3, mix });
      expect(res.bids, JSON.stringify(mix)).toBeGreaterThan(0);
      withinBounds(res.price_series);
    }
    const dense = simulate({ agents: 200, rounds: 20, seed: 3, policy: 'density' });
    expect(dense.winners).toBeGreaterThan(0);
  });

  it('rejects impossible options', () => {
    expect(() => simulate({ agents: 0, rounds: 1, seed: 1 })).toThrow(RangeError);
    expect(() => simulate({ agents: 1, rounds: 1, seed: 1, activity: 0 })).toThrow(RangeError);
    expect(() => simulate({ agents: 1, rounds: 1, seed: 1, mix: { adaptive: 0 } })).toThrow(RangeError);
  });
});
