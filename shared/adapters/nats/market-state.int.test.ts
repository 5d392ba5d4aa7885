/**
 * The market state writer against a real NATS: the bucket made once however many writers race
 * to make it, never backwards under redeliveries and racing writers (checked on the key's whole
 * history, not only its last value), and a failure reported as transient.
 */
import { randomBytes } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsUrl } from '../../../test/harness/context.ts';
import { makeEvent } from '../../core/events.ts';
import { parseEconomyConfig } from '../../core/market-config.ts';
import type { ResourceState, RoundState } from '../../core/market-state.ts';
import { seededRandom, ulidGenerator } from '../../core/ports.ts';
import { RESOURCES } from '../../core/resources.ts';
import { roundStartMs } from '../../core/rounds.ts';
import { NatsConnector } from './connection.ts';
import { isTransient } from './errors.ts';
import { MarketStateWriter } from './market-state.ts';

const economy = parseEconomyConfig({ round_seconds: 60 });
const R0 = 1_764_158_400;
const BUCKET = `market-state-${randomBytes(4).toString('hex')}`;
let nc: NatsConnection;

/** One outbox item: the price updates of round `i`, made just after it closed. */
function outbox(i: number) {
  const clock = { now: () => (R0 + 60 * (i + 1)) * 1000 + 100 };
  const runtime = { clock, ids: ulidGenerator(clock, seededRandom(i + 1)) };
  return RESOURCES.map((r) =>
    makeEvent(runtime, {
      type: 'price_update',
      data: {
        resource: r,
        round: `r_${R0 + 60 * i}`,
        old_price: 1,
        new_price: 1 + i,
        utilization: 0.2,
        reason: 'stable',
      },
    }),
  );
}

const writers: NatsConnector[] = [];
function writer(bucket = BUCKET): MarketStateWriter {
  const connector = new NatsConnector({ settings: async () => ({ url: natsUrl() }), name: 'market-state-test' });
  writers.push(connector);
  return new MarketStateWriter({ connector, economy, bucket: { name: bucket } });
}

beforeAll(async () => {
  nc = await connect({ servers: natsUrl() });
});

afterAll(async () => {
  for (const c of writers) await c.close();
  if (nc) {
    await (await new Kvm(nc).open(BUCKET)).destroy().catch(() => false);
    await nc.close();
  }
});

describe('MarketStateWriter on NATS', () => {
  it('creates the bucket once while several writers race, and writes every key', async () => {
    const reports = await Promise.all([writer(), writer(), writer()].map((w) => w.write(outbox(1))));
    // Exactly one writer wrote each key; the others found it at this round already.
    for (const key of ['resources.cpu', 'resources.memory', 'resources.tokens', 'resources.attention', 'round']) {
      expect(reports.filter((r) => r.written.some((w) => w.key === key))).toHaveLength(1);
    }
    const kv = await new Kvm(nc).open(BUCKET);
    const status = await kv.status();
    expect(status.history).toBe(10);
    expect(status.values).toBe(5);
    expect((await kv.get('resources.cpu'))?.json<ResourceState>().price).toBe(2);
    expect((await kv.get('round'))?.json<RoundState>().round).toBe(`r_${R0 + 120}`);
  });

  it('never goes backwards: redeliveries and late rounds keep the newest, racing writers included', async () => {
    const [a, b] = [writer(), writer()];
    await a.write(outbox(6));
    const kv = await new Kvm(nc).open(BUCKET);
    const before = (await kv.get('resources.tokens'))?.revision;
    expect(await a.write(outbox(6))).toMatchObject({ written: [] }); // a redelivery: no new revision
    expect(await b.write(outbox(3))).toMatchObject({ written: [] }); // a late, older round
    expect((await kv.get('resources.tokens'))?.revision).toBe(before);

    // Two bridges delivering rounds 7..16 in opposite orders at the same time.
    const rounds = Array.from({ length: 10 }, (_, i) => 7 + i);
    await Promise.all([
      (async () => {
        for (const i of rounds) await a.write(outbox(i));
      })(),
      (async () => {
        for (const i of [...rounds].reverse()) await b.write(outbox(i));
      })(),
    ]);
    expect((await kv.get('resources.tokens'))?.json<ResourceState>().round).toBe(`r_${R0 + 60 * 16}`);
    const history: number[] = [];
    for await (const e of await kv.history({ key: 'resources.tokens' })) {
      history.push(roundStartMs(e.json<ResourceState>().round));
      if (e.revision === (await kv.get('resources.tokens'))?.revision) break;
    }
    expect(history.length).toBeGreaterThan(1);
    expect(history).toEqual([...new Set(history)].sort((x, y) => x - y)); // strictly increasing
  });

  it('reports a failure as transient and drops the connection', async () => {
    const closed = await connect({ servers: natsUrl() });
    await closed.close();
    let invalidated = 0;
    const w = new MarketStateWriter({
      connector: { get: async () => closed, invalidate: async () => void invalidated++ },
      economy,
      bucket: { name: `${BUCKET}-closed` },
    });
    const error = await w.write(outbox(1)).catch((e: unknown) => e);
    expect(isTransient(error)).toBe(true);
    expect(invalidated).toBe(1);
  });
});
