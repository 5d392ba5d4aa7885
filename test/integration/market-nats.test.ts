/**
 * The seed's order on NATS for one winning bid, through the whole local stack: HTTP handlers →
 * outbox → stream poller → local bus (shared rules) → NATS bridge → JetStream → consumer, with
 * the price update triggered by the delivered `auction_cleared`, as on AWS.
 */
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Delivery, EventConsumer } from '#shared/adapters/nats/consumer';
import { DEFAULT_STREAM, ensureStream } from '#shared/adapters/nats/stream';
import type { Envelope } from '#shared/core/events';
import { useApi } from '../harness/api.ts';
import { natsUrl } from '../harness/context.ts';

const suffix = randomBytes(4).toString('hex');
const STREAM = `MARKET_${suffix}`;
const ROOT = `market${suffix}`;
const received: Delivery[] = [];
let nc: NatsConnection;
let consumer: EventConsumer;
let consuming: Promise<void>;

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nextRound = () => sleep(1_050 - (Date.now() % 1_000));

// Registered before the stack's hooks: the consumer attaches before the bridge's first publish
// creates the stream, and is closed after the pipeline stopped.
beforeAll(async () => {
  nc = await connect({ servers: natsUrl() });
  await ensureStream(await jetstreamManager(nc), { ...DEFAULT_STREAM, name: STREAM, subjectRoot: ROOT });
  consumer = await EventConsumer.create({
    connection: nc,
    stream: STREAM,
    durable: 'market',
    filterSubject: `${ROOT}.>`,
  });
  consuming = consumer.run((d) => {
    received.push(d);
  });
});

afterAll(async () => {
  await consumer?.close();
  await consuming;
  if (nc) {
    await (await jetstreamManager(nc)).streams.delete(STREAM).catch(() => false);
    await nc.close();
  }
});

const api = useApi('market-nats', {
  env: { SYNTROPISM_ECONOMY: JSON.stringify({ round_seconds: 1 }) },
  pipeline: { stream: { name: STREAM, subjectRoot: ROOT }, logger: quiet, priceUpdate: true },
});

async function until<T>(probe: () => T | undefined, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe('auction events on NATS', () => {
  it('arrive in the seed order for a winner, and the loser is refunded', async () => {
    const rich = await api.agent('rich', 100);
    const poor = await api.agent('poor', 100);
    let win: Awaited<ReturnType<typeof api.call>> | undefined;
    let lose: Awaited<ReturnType<typeof api.call>> | undefined;
    for (let attempt = 0; attempt < 5; attempt++) {
      await nextRound();
      [win, lose] = await Promise.all([
        api.call('POST', '/v1/bids', {
          key: rich.key,
          idempotencyKey: `w${attempt}`,
          body: { bundle: { cpu: 70, attention: 0.95 }, duration_seconds: 1, amount: 30 },
        }),
        api.call('POST', '/v1/bids', {
          key: poor.key,
          idempotencyKey: `l${attempt}`,
          body: { bundle: { cpu: 60 }, duration_seconds: 1, amount: 3 },
        }),
      ]);
      expect(win.status, win.text).toBe(201);
      expect(lose.status, lose.text).toBe(201);
      if (win.body.round === lose.body.round) break;
    }
    if (!win || !lose) throw new Error('no bids');
    const round = win.body.round as string;
    await nextRound();
    expect((await api.call('POST', '/v1/rounds/clear')).status).toBe(200);

    const envelopes = () => received.map((d) => d.envelope as Envelope & { data: Record<string, unknown> });
    await until(
      () =>
        envelopes().filter((e) => e.type === 'price_update' && e.data.round === round).length === 4 ? true : undefined,
      'the price updates of the round',
    );
    const all = envelopes();
    const at = (pred: (e: (typeof all)[number]) => boolean, what: string) => {
      const i = all.findIndex(pred);
      expect(i, what).toBeGreaterThanOrEqual(0);
      return i;
    };
    const bidId = win.body.bid_id as string;
    const placed = at((e) => e.type === 'bid_placed' && e.data.bid_id === bidId, 'bid_placed');
    const burn = at(
      (e) => e.type === 'credits_transferred' && e.data.reference === bidId && e.data.purpose === 'resource_burn',
      'burn',
    );
    const allocated = at((e) => e.type === 'resources_allocated' && e.data.bid_id === bidId, 'resources_allocated');
    const cleared = at((e) => e.type === 'auction_cleared' && e.data.round === round, 'auction_cleared');
    const price = at((e) => e.type === 'price_update' && e.data.round === round, 'price_update');
    expect([placed, burn, allocated, cleared, price]).toEqual(
      [placed, burn, allocated, cleared, price].sort((a, b) => a - b),
    );
    expect(new Set([placed, burn, allocated, cleared, price]).size).toBe(5);

    const attention = all.find(
      (e) => e.type === 'price_update' && e.data.round === round && e.data.resource === 'attention',
    );
    expect(attention?.data.new_price).toBeGreaterThan(attention?.data.old_price as number); // attention priced too

    const loserId = lose.body.bid_id as string;
    const refund = at(
      (e) => e.type === 'credits_transferred' && e.data.reference === loserId && e.data.purpose === 'escrow_refund',
      'refund',
    );
    const rejected = at((e) => e.type === 'bid_rejected' && e.data.bid_id === loserId, 'bid_rejected');
    expect(refund).toBeLessThan(rejected);
    expect(all[rejected]?.data.reason).toBe('outbid');

    // Subjects follow syntropism.<source>.<component>.<type> under the test's root.
    const d = received.find((x) => x.envelope.type === 'resources_allocated');
    expect(d?.subject).toBe(`${ROOT}.system.scheduler.resources_allocated`);
    // Nothing was delivered twice.
    const ids = received.map((x) => x.envelope.event_id);
    expect(new Set(ids).size).toBe(ids.length);
    await api.expectAuditClean();
  });
});
