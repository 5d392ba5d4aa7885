import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { matchesPattern } from '../core/event-pattern.ts';
import { makeEvent } from '../core/events.ts';
import { seededRandom, ulidGenerator } from '../core/ports.ts';
import { RULES } from '../rules.ts';
import { outboxItem } from './dynamodb/outbox.ts';
import {
  eventIdsOf,
  relayRecord,
  relayRecords,
  type StreamAttributeValue,
  type StreamRecordLike,
  toBusEvent,
} from './outbox-relay.ts';

const clock = { now: () => Date.parse('2026-01-01T00:00:00Z') };
const deps = { clock, ids: ulidGenerator(clock, seededRandom(1)) };

const ev = (n: number) =>
  makeEvent(deps, {
    type: 'credits_transferred',
    agent_id: 'a_1',
    aggregate: 'agent:a_1',
    sequence: n,
    data: { transfer_id: `tr_${n}`, from: 'a_1', to: 'a_2', amount: 1, purpose: 'transfer', reference: null },
  });

const record = (image: object, eventName = 'INSERT'): StreamRecordLike => ({
  eventName,
  dynamodb: {
    NewImage: marshall(image as Record<string, unknown>) as Record<string, StreamAttributeValue>,
    SequenceNumber: '1',
  },
});

describe('outbox relay', () => {
  it('turns an outbox insert into one bus entry carrying the ordered events of its transaction', () => {
    const events = [ev(1), ev(2), ev(3)];
    const item = outboxItem(events, clock.now());
    const entry = relayRecord(record(item));
    expect(entry).toEqual({
      source: 'syntropism.economy',
      detail_type: 'credits_transferred',
      detail: { outbox_id: item.outbox_id, events: JSON.parse(JSON.stringify(events)) },
    });
    expect(eventIdsOf(entry?.detail ?? { events: [] })).toEqual(events.map((e) => e.event_id));
  });

  it('lets through only INSERTs of outbox items, like the Pipe filter', () => {
    const item = outboxItem([ev(1)], clock.now());
    expect(relayRecord(record(item, 'MODIFY'))).toBeUndefined();
    expect(relayRecord(record(item, 'REMOVE'))).toBeUndefined();
    expect(relayRecord(record({ ...item, kind: 'account' }))).toBeUndefined();
    expect(relayRecord({ eventName: 'INSERT' })).toBeUndefined();
    expect(relayRecords([record(item), record({ PK: 'x', kind: 'entry' }), record(item)])).toHaveLength(2);
  });

  it('forwards an unreadable outbox item marked with relay_error instead of throwing', () => {
    const item = { ...outboxItem([ev(1)], clock.now()), events: '{not json' };
    const entry = relayRecord(record(item));
    expect(entry?.detail.events).toEqual([]);
    expect(entry?.detail.relay_error).toMatch(/not JSON/);
    const missing = relayRecord(record({ kind: 'outbox', PK: 'OUTBOX#x' }));
    expect(missing?.detail).toMatchObject({ outbox_id: 'OUTBOX#x', relay_error: 'outbox item without events' });
    expect(missing?.source).toBe('syntropism.unknown');
  });

  it('builds bus events that the shared rules route (nats-bridge for all, price-update for auction_cleared)', () => {
    const entry = relayRecord(record(outboxItem([ev(1)], clock.now())));
    if (!entry) throw new Error('no entry');
    const bus = toBusEvent(entry, { id: 'b1', time: '2026-01-01T00:00:00Z' });
    const targets = RULES.filter((r) => matchesPattern(r.pattern, bus)).map((r) => r.target);
    expect(targets).toContain('nats-bridge');
    expect(targets).not.toContain('price-update');
  });
});
