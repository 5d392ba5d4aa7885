/**
 * Capacity is exact end to end, against DynamoDB Local: what placement accepts, clearing
 * allocates, and allocations still running are subtracted in the same exact units — with the
 * default economy, whose token capacity per second (12 500 tokens per 9 s) is not a finite decimal.
 */
import { describe, expect, it } from 'vitest';
import { createServices, type Services } from '#shared/adapters/services';
import { loadConfig } from '#shared/config';
import { parseEconomyConfig } from '#shared/core/market-config';
import { micros } from '#shared/core/money';
import { derivedId, seededRandom, ulidGenerator } from '#shared/core/ports';
import { type Bundle, bundleRates, validateBundle } from '#shared/core/resources';
import { roundAt } from '#shared/core/rounds';
import { useApi } from '../harness/api.ts';

const api = useApi('capacity');
const ECONOMY = parseEconomyConfig({ round_seconds: 60 });
/**
 * Clocks stand still at a time in the middle of a round (each services' clock is this plus its
 * offset), so bids placed one after another always share their round however slow the machine.
 */
const ANCHOR = (Math.floor(Date.now() / (ECONOMY.round_seconds * 1000)) + 0.5) * ECONOMY.round_seconds * 1000;
/** Each composition draws its ids from its own seed: with clocks standing still, ids must still differ. */
let compositions = 0;
const ROUND_MS = ECONOMY.round_seconds * 1000;

function services(offsetMs: number): Services {
  const clock = { now: () => ANCHOR + offsetMs };
  return createServices(loadConfig({ ...process.env, TABLE_NAME: api.table.tableName }), {
    table: { doc: api.table.client, tableName: api.table.tableName },
    economy: ECONOMY,
    runtime: { clock, ids: ulidGenerator(clock, seededRandom(++compositions)), random: seededRandom(3) },
  });
}

let n = 0;
async function place(s: Services, agentId: string, bundle: Bundle, duration: number) {
  expect(validateBundle(bundle, duration, ECONOMY)).toEqual([]);
  const input = {
    bid_id: derivedId('b', 'capacity', String(++n)),
    agent_id: agentId,
    bundle,
    duration_seconds: duration,
    amount: micros(5_000_000),
    rates: bundleRates(bundle, duration),
  };
  return (await s.bids.place(input, {})).bid;
}

const windowOf = (round: string) => roundAt(Number(round.slice(2)) * 1000, ECONOMY.round_seconds);

describe('token capacity', () => {
  it('exactly the capacity, alone, wins; two halves both win; a third half loses while they run', async () => {
    const agents = await Promise.all(['whole', 'half-a', 'half-b', 'half-c'].map((name) => api.agent(name, 100)));
    const id = (i: number) => agents[i]?.id ?? '';
    const now = services(0);
    const later = services(ROUND_MS);

    // 12 500 tokens for 9 s is exactly the default capacity: accepted, and alone it wins.
    const whole = await place(now, id(0), { tokens: 12_500 }, 9);
    await later.clearing.clearRound(windowOf(whole.round));
    expect((await now.bids.get(whole.bid_id))?.status).toBe('won');

    // Two halves of the capacity for 90 s each, in one round: both win.
    const base = 10 * ROUND_MS;
    const [a, b] = [
      await place(services(base), id(1), { tokens: 62_500 }, 90),
      await place(services(base), id(2), { tokens: 62_500 }, 90),
    ];
    await services(base + ROUND_MS).clearing.clearRound(windowOf(a.round));
    expect([(await now.bids.get(a.bid_id))?.status, (await now.bids.get(b.bid_id))?.status]).toEqual(['won', 'won']);

    // The next round, while both still hold their tokens: a third half finds no supply left.
    const c = await place(services(base + ROUND_MS + 1), id(3), { tokens: 62_500 }, 90);
    expect(c.round).not.toBe(a.round);
    await services(base + 2 * ROUND_MS).clearing.clearRound(windowOf(c.round));
    expect(await now.bids.get(c.bid_id)).toMatchObject({ status: 'lost', reason: 'insufficient_supply' });
    await api.expectAuditClean();
  });
});

describe('quantities below a resource quantum', () => {
  it('are a 400 naming the field on every route that takes a bundle, and write nothing', async () => {
    const a = await api.agent('tiny', 10);
    const before = await api.snapshot(['account', 'entry', 'transfer', 'bid', 'outbox']);
    const bundles = [{ cpu: 1e-300 }, { memory: 1e-131 }, { cpu: 5e-324 }, { attention: 0.00001 }, { cpu: 1.0005 }];
    for (const bundle of bundles) {
      const field = Object.keys(bundle)[0];
      for (const [path, body] of [
        ['/v1/bids', { bundle, duration_seconds: 1, amount: 0.000001 }],
        ['/v1/market/quote', { bundle, duration_seconds: 1 }],
      ] as const) {
        const res = await api.call('POST', path, { key: a.key, idempotencyKey: `tiny-${++n}`, body });
        expect(res.status, `${path} ${JSON.stringify(bundle)}: ${res.text}`).toBe(400);
        expect(JSON.stringify(res.body.errors)).toContain(`/bundle/${field}`);
      }
    }
    expect(await api.snapshot(['account', 'entry', 'transfer', 'bid', 'outbox'])).toBe(before);
  });
});
