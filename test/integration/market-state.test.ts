/**
 * Market state on NATS through the whole local stack: a bid, the clearing of its round, the
 * price update triggered by the delivered `auction_cleared`, the bridge publishing the price
 * updates and writing the key-value bucket. The bucket then holds what `GET /v1/market` shows,
 * and a watcher sees the next round's prices arrive.
 *
 * The stack's clock is the test's: it stands in the middle of a round while bids are placed
 * and is moved one round on before clearing, so no step depends on real round boundaries.
 */
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { type KV, Kvm, KvWatchInclude } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResourceState, RoundState } from '#shared/core/market-state';
import { seededRandom, ulidGenerator } from '#shared/core/ports';
import { RESOURCES } from '#shared/core/resources';
import { roundStartMs } from '#shared/core/rounds';
import { useApi } from '../harness/api.ts';
import { natsUrl } from '../harness/context.ts';

const suffix = randomBytes(4).toString('hex');
const BUCKET = `market-${suffix}`;
const STREAM = `MARKETKV_${suffix}`;
const ROOT = `marketkv${suffix}`;
const ROUND_MS = 60_000;
/** The middle of the current round: bids placed now share it, however slow the machine. */
let now = (Math.floor(Date.now() / ROUND_MS) + 0.5) * ROUND_MS;
const clock = { now: () => now };

const api = useApi('market-state', {
  env: { NATS_MARKET_BUCKET: BUCKET },
  services: { runtime: { clock, ids: ulidGenerator(clock, seededRandom(11)), random: seededRandom(12) } },
  pipeline: {
    stream: { name: STREAM, subjectRoot: ROOT },
    priceUpdate: true,
    marketState: true,
    logger: { info: () => {}, warn: () => {}, error: () => {} },
  },
});

let nc: NatsConnection;
let kv: KV;
beforeAll(async () => {
  nc = await connect({ servers: natsUrl() });
  // Binds without a round trip; the bucket itself is made by the bridge's first write.
  kv = await new Kvm(nc).open(BUCKET);
});

afterAll(async () => {
  if (!nc) return;
  await (await new Kvm(nc).open(BUCKET)).destroy().catch(() => false);
  await (await jetstreamManager(nc)).streams.delete(STREAM).catch(() => false);
  await nc.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The bucket's value under `key` once `ready` accepts it (the bridge works in the background). */
async function valueWhen<T>(key: string, ready: (v: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    // Until the bridge's first write the bucket does not exist: keep asking.
    const entry = await kv.get(key).catch(() => null);
    const value = entry?.operation === 'PUT' ? entry.json<T>() : undefined;
    if (value !== undefined && ready(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last ${JSON.stringify(value)}`);
    await sleep(50);
  }
}

async function bidAndClear(key: string, n: number): Promise<string> {
  const placed = await api.call('POST', '/v1/bids', {
    key,
    idempotencyKey: `bid-${n}`,
    body: { bundle: { cpu: 70, attention: 0.95 }, duration_seconds: 1, amount: 30 },
  });
  expect(placed.status, placed.text).toBe(201);
  now += ROUND_MS;
  const cleared = await api.call('POST', '/v1/rounds/clear');
  expect(cleared.status, cleared.text).toBe(200);
  expect(cleared.body.cleared.map((c: { round: string }) => c.round)).toContain(placed.body.round);
  return placed.body.round as string;
}

describe('market state on NATS', () => {
  it('holds the prices of the last cleared round, as GET /v1/market shows them, and the open round', async () => {
    const agent = await api.agent('kv-1', 200);
    const round = await bidAndClear(agent.key, 1);

    const open = await valueWhen<RoundState>(
      'round',
      (v) => roundStartMs(v.round) > roundStartMs(round),
      'the round key',
    );
    const market = await api.call('GET', '/v1/market', { key: agent.key });
    expect(market.status).toBe(200);
    expect(market.body.last_round).toBe(round);
    expect(open).toEqual(market.body.round);
    for (const r of RESOURCES) {
      const state = await valueWhen<ResourceState>(`resources.${r}`, (v) => v.round === round, r);
      expect(state).toEqual({ ...market.body.resources[r], round });
    }
    // The round's demand moved attention up: the bucket holds the new price, not the initial one.
    const history = await api.call('GET', '/v1/market/history?resource=attention', { key: agent.key });
    const point = history.body.prices.find((p: { round: string }) => p.round === round);
    expect(point.price).toBeGreaterThan(point.old_price);
    expect((await kv.get('resources.attention'))?.json<ResourceState>().price).toBe(point.price);
  });

  it('a watcher sees the next round arrive, the round key after the prices', async () => {
    const agent = await api.agent('kv-2', 200);
    const seen: Array<{ key: string; round: string }> = [];
    // Every key (server 2.9 watches one filter); only what changes from now on.
    const watcher = await kv.watch({ key: '>', include: KvWatchInclude.UpdatesOnly });
    const watching = (async () => {
      for await (const e of watcher) {
        seen.push({ key: e.key, round: e.json<{ round: string }>().round });
        if (e.key === 'round') break;
      }
    })();
    const round = await bidAndClear(agent.key, 2);
    await watching;
    watcher.stop();
    expect(seen.map((s) => s.key)).toEqual([...RESOURCES.map((r) => `resources.${r}`), 'round']);
    expect(seen.slice(0, 4).every((s) => s.round === round)).toBe(true);
    expect(seen.at(-1)?.round).toBe((await api.call('GET', '/v1/market', { key: agent.key })).body.round.round);
  });
});
