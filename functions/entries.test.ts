/**
 * The non-HTTP Lambda entries: importing one reads no configuration (it is read on the first
 * invocation, `lazyHandler`), and each `makeHandler` does its work with the narrow deps given.
 */
import type { EventBridgeEvent } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DeadLetterInput } from '#shared/adapters/dynamodb/dead-letters';
import { PoisonEventError } from '#shared/adapters/nats/errors';
import type { BusDetail } from '#shared/adapters/outbox-relay';
import { loadConfig } from '#shared/config';

const MODULES = [
  'clearing',
  'price-update',
  'outbox-relay',
  'event-log',
  'nats-bridge',
  'sweeper',
  'llm-stream',
  'settlement',
];
/** The variables of shared/config.ts (the defaults of an empty record name them all). */
const CONFIG_KEYS = new Set([...Object.keys(loadConfig({})), 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']);

describe('importing a function module', () => {
  const original = process.env;
  afterEach(() => {
    process.env = original;
  });

  it('reads none of its configuration', async () => {
    const reads = new Set<string>();
    process.env = new Proxy(
      { ...original },
      {
        get(target, key, receiver) {
          if (typeof key === 'string') reads.add(key);
          return Reflect.get(target, key, receiver);
        },
      },
    );
    // Imported here, not at the top, precisely to watch what the import itself reads.
    for (const name of MODULES) await import(`./${name}.ts`);
    expect([...reads].filter((k) => CONFIG_KEYS.has(k))).toEqual([]);
  });

  it('reads it on the first invocation, and again after a configuration error', async () => {
    const { handler } = await import('./outbox-relay.ts');
    process.env = { ...original, LOG_LEVEL: 'LOUD' };
    await expect(handler([])).rejects.toThrow(/invalid configuration/);
    process.env = { ...original, LOG_LEVEL: 'SILENT' };
    await expect(handler([])).resolves.toEqual([]);
  });
});

const busEvent = (detail: BusDetail): EventBridgeEvent<string, BusDetail> => ({
  version: '0',
  id: 'e1',
  'detail-type': 't',
  source: 's',
  account: '1',
  time: 't',
  region: 'r',
  resources: [],
  detail,
});

describe('makeHandler', () => {
  it('clearing: clears what is due and reports the rounds', async () => {
    const { makeHandler } = await import('./clearing.ts');
    const info = vi.fn();
    const clearDue = vi.fn(async () => [{ round: 'r_1' }, { round: 'r_2' }]);
    const handler = makeHandler({ clearing: { clearDue } as never, logger: { info } });
    expect(await handler()).toEqual({ cleared: 2, rounds: ['r_1', 'r_2'] });
    expect(info).toHaveBeenCalledTimes(2);
  });

  it('outbox-relay: logs an unreadable item and forwards it for dead-lettering', async () => {
    const { makeHandler } = await import('./outbox-relay.ts');
    const error = vi.fn();
    const record = { eventName: 'INSERT', dynamodb: { NewImage: { kind: { S: 'outbox' }, outbox_id: { S: 'ev_1' } } } };
    const entries = await makeHandler({ logger: { error } })([record]);
    expect(entries).toHaveLength(1);
    expect(entries[0]?.detail.relay_error).toBe('outbox item without events');
    expect(error).toHaveBeenCalledOnce();
  });

  it('nats-bridge: records poison events as a dead letter and still fails the invocation', async () => {
    const { makeHandler } = await import('./nats-bridge.ts');
    const letters: DeadLetterInput[] = [];
    const handler = makeHandler({
      bridge: { publish: async () => ({ acks: [], poison: [{ index: 0, error: 'bad', event: {} }] }) } as never,
      deadLetters: { record: async (letter) => void letters.push(letter) },
      logger: { info: vi.fn(), warn: vi.fn(), error: vi.fn() },
    });
    await expect(handler(busEvent({ outbox_id: 'ev_1', events: [{}] }))).rejects.toBeInstanceOf(PoisonEventError);
    expect(letters.map((l) => [l.target, l.rule, l.event.id])).toEqual([['nats-bridge', 'all-to-nats', 'e1']]);
  });

  it('nats-bridge: an unreachable NATS fails the invocation without a dead letter', async () => {
    const { makeHandler } = await import('./nats-bridge.ts');
    const record = vi.fn();
    const handler = makeHandler({
      bridge: { publish: async () => Promise.reject(new Error('CONNECTION_REFUSED')) } as never,
      deadLetters: { record },
      logger: { info: vi.fn(), warn: vi.fn(), error: vi.fn() },
    });
    await expect(handler(busEvent({ outbox_id: 'ev_1', events: [] }))).rejects.toThrow('CONNECTION_REFUSED');
    expect(record).not.toHaveBeenCalled();
  });
});
