/**
 * Economy configuration: defaults are complete and valid, layers merge in the documented
 * order, and every invalid value fails at load with the offending path.
 */
import { describe, expect, it } from 'vitest';
import {
  ECONOMY_DEFAULTS,
  EconomyConfigError,
  economyConfigSchema,
  loadEconomyConfig,
  mergeLayers,
  parseEconomyConfig,
} from './market-config.ts';

describe('defaults', () => {
  it('are the documented values', () => {
    expect(ECONOMY_DEFAULTS.round_seconds).toBe(60);
    expect(ECONOMY_DEFAULTS.duration_seconds).toEqual({ min: 1, max: 3600 });
    expect(ECONOMY_DEFAULTS.capacity).toEqual({ cpu: 100, memory: 100, attention: 1 });
    expect(ECONOMY_DEFAULTS.llm).toEqual({
      max_spend_usd_per_hour: 10,
      usd_per_million_tokens: 2,
      models: {},
      default_max_tokens: 1024,
      reservation_seconds: 900,
    });
    expect(ECONOMY_DEFAULTS.pricing).toEqual({
      target_utilization: 0.8,
      k: 0.3,
      max_step: 0.2,
      blend: 0,
      stable_band: 0.1,
    });
    expect(ECONOMY_DEFAULTS.clearing.policy).toBe('best');
    expect(ECONOMY_DEFAULTS.rewards).toMatchObject({ w_i: 10, w_u: 10, w_n: 10 });
    for (const p of Object.values(ECONOMY_DEFAULTS.prices)) {
      expect(p.min_price).toBeGreaterThan(0);
      expect(p.min_price).toBeLessThanOrEqual(p.initial_price);
      expect(p.initial_price).toBeLessThanOrEqual(p.max_price);
    }
  });

  it('validate against the schema and cannot be mutated', () => {
    expect(economyConfigSchema.parse(ECONOMY_DEFAULTS)).toEqual(ECONOMY_DEFAULTS);
    expect(() => {
      (ECONOMY_DEFAULTS.pricing as { k: number }).k = 5;
    }).toThrow(TypeError);
  });

  it('fill every key the input leaves out', () => {
    expect(parseEconomyConfig()).toEqual(ECONOMY_DEFAULTS);
    expect(parseEconomyConfig({})).toEqual(ECONOMY_DEFAULTS);
  });
});

describe('parseEconomyConfig', () => {
  it('deep-merges a partial override, keeping sibling defaults', () => {
    const cfg = parseEconomyConfig({ prices: { cpu: { max_price: 2 } }, round_seconds: 5 });
    expect(cfg.round_seconds).toBe(5);
    expect(cfg.prices.cpu).toEqual({ ...ECONOMY_DEFAULTS.prices.cpu, max_price: 2 });
    expect(cfg.prices.memory).toEqual(ECONOMY_DEFAULTS.prices.memory);
  });

  it('applies later layers over earlier ones', () => {
    const cfg = parseEconomyConfig({ pricing: { k: 1, blend: 0.5 } }, { pricing: { k: 2 } });
    expect(cfg.pricing.k).toBe(2);
    expect(cfg.pricing.blend).toBe(0.5);
  });

  it.each([
    [{ round_seconds: 0 }, 'round_seconds'],
    [{ round_seconds: 1.5 }, 'round_seconds'],
    [{ duration_seconds: { min: 10, max: 5 } }, 'duration_seconds'],
    [{ prices: { cpu: { min_price: 2 } } }, 'prices.cpu'],
    [{ prices: { tokens: { min_price: 0 } } }, 'prices.tokens.min_price'],
    [{ pricing: { max_step: 1 } }, 'pricing.max_step'],
    [{ pricing: { blend: 1.5 } }, 'pricing.blend'],
    [{ pricing: { target_utilization: 0 } }, 'pricing.target_utilization'],
    [{ capacity: { attention: 2 } }, 'capacity.attention'],
    [{ capacity: { cpu: 33.3333 } }, 'capacity.cpu'],
    [{ capacity: { memory: 1e-300 } }, 'capacity.memory'],
    [{ capacity: { attention: 0.00005 } }, 'capacity.attention'],
    [{ llm: { max_spend_usd_per_hour: 1e-7, usd_per_million_tokens: 1 } }, 'llm'],
    [{ llm: { max_spend_usd_per_hour: 1e9, usd_per_million_tokens: 0.001 } }, 'llm'],
    [{ clearing: { policy: 'fastest' } }, 'clearing.policy'],
    [{ llm: { usd_per_million_tokens: -1 } }, 'llm.usd_per_million_tokens'],
    [{ bids: { max_open_bids_per_agent: 0 } }, 'bids.max_open_bids_per_agent'],
    [{ pricing: { kk: 1 } }, 'pricing'],
    [{ typo: true }, 'typo'],
  ])('rejects %j (at %s)', (input, path) => {
    expect(() => parseEconomyConfig(input)).toThrow(EconomyConfigError);
    expect(() => parseEconomyConfig(input)).toThrow(path.split('.').at(-1));
  });

  it('accepts capacities in whole quanta and any budget buying at least one token per hour', () => {
    const cfg = parseEconomyConfig({
      capacity: { cpu: 33.333, memory: 0.001, attention: 0.0001 },
      llm: { max_spend_usd_per_hour: 0.000001, usd_per_million_tokens: 1 },
    });
    expect(cfg.capacity).toEqual({ cpu: 33.333, memory: 0.001, attention: 0.0001 });
    expect(cfg.llm.max_spend_usd_per_hour).toBe(0.000001);
  });

  it('rejects a layer that is not an object', () => {
    expect(() => parseEconomyConfig([1, 2])).toThrow(EconomyConfigError);
    expect(() => parseEconomyConfig('{}')).toThrow(EconomyConfigError);
  });

  it('ignores keys that would write to the prototype chain', () => {
    const merged = mergeLayers(JSON.parse('{"__proto__": {"polluted": true}, "round_seconds": 5}'));
    expect(merged).toEqual({ round_seconds: 5 });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('loadEconomyConfig', () => {
  const files: Record<string, string> = {
    '/etc/economy.json': JSON.stringify({ round_seconds: 30, pricing: { k: 1 } }),
    '/etc/local.json': JSON.stringify({ round_seconds: 5 }),
    '/etc/broken.json': '{ not json',
  };
  const readFile = (path: string) => {
    const text = files[path];
    if (text === undefined) throw new Error('ENOENT: no such file');
    return text;
  };

  it('defaults with no file and no environment', () => {
    expect(loadEconomyConfig({ env: {}, readFile })).toEqual(ECONOMY_DEFAULTS);
  });

  it('merges defaults ← file ← inline environment JSON', () => {
    const cfg = loadEconomyConfig({
      env: { SYNTROPISM_ECONOMY: '{"pricing":{"blend":0.3}}' },
      file: '/etc/economy.json',
      readFile,
    });
    expect(cfg.round_seconds).toBe(30);
    expect(cfg.pricing).toMatchObject({ k: 1, blend: 0.3, max_step: 0.2 });
  });

  it('reads the environment variable as a path when it is not JSON', () => {
    const cfg = loadEconomyConfig({
      env: { SYNTROPISM_ECONOMY: '/etc/local.json' },
      file: '/etc/economy.json',
      readFile,
    });
    expect(cfg.round_seconds).toBe(5);
    expect(cfg.pricing.k).toBe(1);
  });

  it('reports unreadable files and bad JSON with their source', () => {
    expect(() => loadEconomyConfig({ env: {}, file: '/nope.json', readFile })).toThrow(/cannot read .*\/nope\.json/);
    expect(() => loadEconomyConfig({ env: {}, file: '/etc/broken.json', readFile })).toThrow(
      /broken\.json is not valid JSON/,
    );
    expect(() => loadEconomyConfig({ env: { SYNTROPISM_ECONOMY: '{bad' }, readFile })).toThrow(/SYNTROPISM_ECONOMY/);
  });

  it('validates the merged result once', () => {
    expect(() => loadEconomyConfig({ env: { SYNTROPISM_ECONOMY: '{"round_seconds":-1}' }, readFile })).toThrow(
      EconomyConfigError,
    );
  });
});
