/**
 * The market state's compare-and-set against an in-memory bucket that behaves like JetStream's
 * (revisions, `create` only when absent, `update` only at the given revision), including a
 * writer that gets in between a read and a write.
 */
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KvEntry } from '@nats-io/kv';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config.ts';
import { makeEvent } from '../../core/events.ts';
import { parseEconomyConfig } from '../../core/market-config.ts';
import { MARKET_STATE_BUCKET, type MarketStateEntry, marketStateEntries } from '../../core/market-state.ts';
import { seededRandom, ulidGenerator } from '../../core/ports.ts';
import { RESOURCES } from '../../core/resources.ts';
import { type MarketBucket, MarketStateWriter, writeEntry } from './market-state.ts';

const economy = parseEconomyConfig({ round_seconds: 60 });
const R0 = 1_764_158_400;

function priceUpdates(i: number) {
  const clock = { now: () => (R0 + 60 * (i + 1)) * 1000 + 100 };
  const runtime = { clock, ids: ulidGenerator(clock, seededRandom(i + 7)) };
  return RESOURCES.map((r) =>
    makeEvent(runtime, {
      type: 'price_update',
      data: {
        resource: r,
        round: `r_${R0 + 60 * i}`,
        old_price: 1,
        new_price: 2 + i,
        utilization: 0.1,
        reason: 'stable',
      },
    }),
  );
}
const cpuOf = (i: number) => marketStateEntries(priceUpdates(i), economy)[0] as MarketStateEntry;

const wrongLastSequence = () =>
  new JetStreamApiError({
    code: 400,
    err_code: JetStreamApiCodes.StreamWrongLastSequence,
    description: 'wrong last sequence',
  });

/** A bucket with JetStream's revision rules; `beforeWrite` runs between a caller's read and its write. */
class FakeBucket implements MarketBucket {
  private seq = 0;
  readonly entries = new Map<string, { revision: number; data: string }>();
  writes = 0;
  beforeWrite: (() => void) | undefined;

  put(key: string, value: unknown) {
    this.entries.set(key, { revision: ++this.seq, data: JSON.stringify(value) });
  }

  async get(key: string): Promise<KvEntry | null> {
    const e = this.entries.get(key);
    if (!e) return null;
    return { key, revision: e.revision, operation: 'PUT', json: () => JSON.parse(e.data) } as unknown as KvEntry;
  }

  async create(key: string, data: unknown): Promise<number> {
    this.interleave();
    if (this.entries.has(key)) throw wrongLastSequence();
    return this.write(key, data);
  }

  async update(key: string, data: unknown, revision: number): Promise<number> {
    this.interleave();
    if (this.entries.get(key)?.revision !== revision) throw wrongLastSequence();
    return this.write(key, data);
  }

  private interleave() {
    const f = this.beforeWrite;
    this.beforeWrite = undefined;
    f?.();
  }

  private write(key: string, data: unknown): number {
    this.writes++;
    this.entries.set(key, { revision: ++this.seq, data: String(data) });
    return this.seq;
  }

  value(key: string) {
    const e = this.entries.get(key);
    return e && JSON.parse(e.data);
  }
}

describe('writeEntry (compare-and-set)', () => {
  it('creates a missing key and replaces an earlier round at its revision', async () => {
    const kv = new FakeBucket();
    expect(await writeEntry(kv, cpuOf(1))).toBe(1);
    expect(await writeEntry(kv, cpuOf(2))).toBe(2);
    expect(kv.value('resources.cpu')).toEqual(cpuOf(2).value);
  });

  it('leaves the same round (a redelivery) and a later one as they are', async () => {
    const kv = new FakeBucket();
    await writeEntry(kv, cpuOf(5));
    expect(await writeEntry(kv, cpuOf(5))).toBeUndefined();
    expect(await writeEntry(kv, cpuOf(4))).toBeUndefined();
    expect(kv.writes).toBe(1);
    expect(kv.value('resources.cpu').round).toBe(`r_${R0 + 300}`);
  });

  it('overwrites an unreadable value', async () => {
    const kv = new FakeBucket();
    kv.put('resources.cpu', { not: 'ours' });
    expect(await writeEntry(kv, cpuOf(1))).toBeDefined();
    expect(kv.value('resources.cpu')).toEqual(cpuOf(1).value);
  });

  it('losing a race to a later round: reads again and keeps it', async () => {
    const kv = new FakeBucket();
    await writeEntry(kv, cpuOf(1));
    kv.beforeWrite = () => kv.put('resources.cpu', cpuOf(9).value);
    expect(await writeEntry(kv, cpuOf(3))).toBeUndefined();
    expect(kv.value('resources.cpu')).toEqual(cpuOf(9).value);
  });

  it('losing a race to an earlier round: reads again and writes over it', async () => {
    const kv = new FakeBucket();
    kv.beforeWrite = () => kv.put('resources.cpu', cpuOf(2).value);
    expect(await writeEntry(kv, cpuOf(3))).toBeDefined();
    expect(kv.value('resources.cpu')).toEqual(cpuOf(3).value);
  });

  it('gives up after losing every race, and passes other errors on at once', async () => {
    const racing = new FakeBucket();
    racing.create = async () => {
      throw wrongLastSequence();
    };
    await expect(writeEntry(racing, cpuOf(1))).rejects.toThrow(/wrong last sequence/);
    const broken = new FakeBucket();
    let calls = 0;
    broken.create = async () => {
      calls++;
      throw new Error('timeout');
    };
    await expect(writeEntry(broken, cpuOf(1))).rejects.toThrow('timeout');
    expect(calls).toBe(1);
  });
});

describe('MarketStateWriter', () => {
  it('does not even connect for an outbox item without a price update', async () => {
    let connects = 0;
    const connector = {
      get: async () => {
        connects++;
        throw new Error('unexpected');
      },
      invalidate: async () => {},
    };
    const writer = new MarketStateWriter({ connector, economy });
    const clock = { now: () => R0 * 1000 };
    const other = makeEvent({ clock, ids: ulidGenerator(clock) }, { type: 'bid_cancelled', data: { bid_id: 'b_1' } });
    const invalid = { ...priceUpdates(1)[0], data: { resource: 'gold' } };
    expect(await writer.write([other, invalid, 'junk', null])).toEqual({ written: [], kept: [] });
    expect(connects).toBe(0);
  });

  it('uses the spec bucket by default, the configured one otherwise', () => {
    const connector = { get: async () => Promise.reject(new Error('no')), invalidate: async () => {} };
    expect(new MarketStateWriter({ connector, economy }).bucket).toEqual({ name: MARKET_STATE_BUCKET, history: 10 });
    expect(loadConfig({}).NATS_MARKET_BUCKET).toBe(MARKET_STATE_BUCKET);
    expect(() => loadConfig({ NATS_MARKET_BUCKET: 'a.b' })).toThrow(/NATS_MARKET_BUCKET/);
  });
});
