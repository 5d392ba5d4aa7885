import { describe, expect, it } from 'vitest';
import type { DeadLetterInput } from '#shared/adapters/dynamodb/dead-letters';
import { NatsUnavailableError, PoisonEventError } from '#shared/adapters/nats/errors';
import type { BusEvent } from '#shared/adapters/outbox-relay';
import { seededRandom } from '#shared/core/ports';
import { RULES } from '#shared/rules';
import { BusStoppedError, LocalBus, type PipelineLogger } from './local-bus.ts';
import { compareSequence, readableShards } from './stream-poller.ts';

const event = (n: number, types = ['credits_transferred']): BusEvent => ({
  version: '0',
  id: `b${n}`,
  'detail-type': types[0] ?? '',
  source: 'syntropism.economy',
  account: '0',
  time: '2026-01-01T00:00:00Z',
  region: 'local',
  resources: [],
  detail: { outbox_id: `ev_${n}`, events: types.map((type) => ({ type })) },
});

function setup(targets: Record<string, (e: BusEvent) => Promise<unknown>>) {
  const letters: DeadLetterInput[] = [];
  const warnings: string[] = [];
  const logger: PipelineLogger = { info: () => {}, warn: (m) => warnings.push(m), error: () => {} };
  const bus = new LocalBus({
    rules: RULES,
    targets,
    deadLetters: { record: async (l) => void letters.push(l) },
    logger,
    retry: { attempts: 3, baseMs: 1, maxMs: 4, holdMaxMs: 4 },
    random: seededRandom(7),
  });
  return { bus, letters, warnings };
}

describe('local bus', () => {
  it('applies the shared rules: every event to each all-events target, in order; auction_cleared also to price-update', async () => {
    const seen: Record<string, string[]> = { 'nats-bridge': [], 'price-update': [], 'event-log': [] };
    const record = (name: string) => async (e: BusEvent) => void seen[name]?.push(e.detail.outbox_id);
    const { bus } = setup({
      'nats-bridge': record('nats-bridge'),
      'price-update': record('price-update'),
      'event-log': record('event-log'),
    });
    await bus.putEvents([event(1), event(2, ['credits_transferred', 'auction_cleared']), event(3)]);
    expect(seen['nats-bridge']).toEqual(['ev_1', 'ev_2', 'ev_3']);
    expect(seen['event-log']).toEqual(['ev_1', 'ev_2', 'ev_3']);
    expect(seen['price-update']).toEqual(['ev_2']);
  });

  it('skips a target that is not registered, warning once', async () => {
    const { bus, warnings } = setup({ 'nats-bridge': async () => {} });
    await bus.putEvents([event(1, ['auction_cleared']), event(2, ['auction_cleared'])]);
    await bus.putEvents([event(3, ['auction_cleared'])]);
    expect(warnings.filter((w) => w.includes('price-update'))).toHaveLength(1);
  });

  it('retries a failing target a bounded number of times, then dead-letters and moves on', async () => {
    let calls = 0;
    const delivered: string[] = [];
    const { bus, letters } = setup({
      'nats-bridge': async (e) => {
        if (e.detail.outbox_id === 'ev_1') {
          calls++;
          throw new Error('boom');
        }
        delivered.push(e.detail.outbox_id);
      },
    });
    await bus.putEvents([event(1), event(2)]);
    expect(calls).toBe(3);
    expect(delivered).toEqual(['ev_2']);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ target: 'nats-bridge', rule: 'all-to-nats', attempts: 3 });
    expect(bus.stats.deadLettered).toBe(1);
  });

  it('dead-letters a poison event at once: retrying cannot fix it', async () => {
    let calls = 0;
    const { bus, letters } = setup({
      'nats-bridge': async () => {
        calls++;
        throw new PoisonEventError('ev_1', [{ index: 0, error: 'bad', event: {} }]);
      },
    });
    await bus.putEvents([event(1)]);
    expect(calls).toBe(1);
    expect(letters[0]?.error).toBeInstanceOf(PoisonEventError);
  });

  it('holds on a transient failure (NATS down) until it passes, without dead-lettering', async () => {
    let calls = 0;
    const { bus, letters } = setup({
      'nats-bridge': async () => {
        calls++;
        if (calls < 10) throw new NatsUnavailableError('down');
      },
    });
    await bus.putEvents([event(1)]);
    expect(calls).toBe(10);
    expect(letters).toEqual([]);
  });

  it('rejects with BusStoppedError when stopped while holding, after every target has finished', async () => {
    let otherDone = false;
    const { bus, letters } = setup({
      'nats-bridge': async () => {
        throw new NatsUnavailableError('down');
      },
      'event-log': async () => {
        await new Promise((r) => setTimeout(r, 30));
        otherDone = true;
      },
    });
    const pending = bus.putEvents([event(1)]);
    setTimeout(() => bus.stop(), 10);
    await expect(pending).rejects.toBeInstanceOf(BusStoppedError);
    expect(otherDone).toBe(true);
    expect(letters).toEqual([]);
  });
});

describe('stream poller shard order', () => {
  const shard = (id: string, start: string, parent?: string) => ({
    ShardId: id,
    ...(parent !== undefined && { ParentShardId: parent }),
    SequenceNumberRange: { StartingSequenceNumber: start },
  });

  it('reads a child only after its parent is finished, or when the parent is gone', () => {
    const shards = [shard('b', '200', 'a'), shard('a', '100'), shard('c', '300', 'gone')];
    expect(readableShards(shards, new Set()).map((s) => s.ShardId)).toEqual(['a', 'c']);
    expect(readableShards(shards, new Set(['a'])).map((s) => s.ShardId)).toEqual(['b', 'c']);
  });

  it('compares sequence numbers numerically', () => {
    expect(compareSequence('99', '100')).toBeLessThan(0);
    expect(compareSequence('000000000000000000100', '99')).toBeGreaterThan(0);
    expect(compareSequence('5', '5')).toBe(0);
  });
});
