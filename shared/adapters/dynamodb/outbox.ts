/**
 * The outbox: the events of one transaction, written as ONE item in that same transaction.
 * One item per transaction keeps the transaction's events in the order they were written all
 * the way to NATS (DynamoDB Streams order records per key only). The stream relay turns the
 * item into one bus event.
 */
import type { Envelope } from '../../core/events.ts';
import { keys } from '../../table.ts';
import type { TxAction } from './transaction.ts';

/** Outbox items are kept a week: long enough for any relay retry, then DynamoDB TTL drops them. */
export const OUTBOX_RETENTION_SECONDS = 7 * 24 * 3600;

export interface OutboxItem {
  kind: 'outbox';
  outbox_id: string;
  /** Type, source and component of the first event: the bus event's detail-type and source. */
  type: string;
  source: string;
  component: string;
  /** The ordered envelopes, as JSON (a string keeps the stream record compact and exact). */
  events: string;
  created_at: string;
  expires_at: number;
}

export function outboxItem(events: Envelope[], nowMs: number): OutboxItem & { PK: string; SK: string } {
  const first = events[0];
  if (!first) throw new Error('an outbox item needs at least one event');
  return {
    ...keys.outbox(first.event_id),
    kind: 'outbox',
    outbox_id: first.event_id,
    type: first.type,
    source: first.source,
    component: first.component,
    events: JSON.stringify(events),
    created_at: new Date(nowMs).toISOString(),
    expires_at: Math.floor(nowMs / 1000) + OUTBOX_RETENTION_SECONDS,
  };
}

export function outboxAction<R>(tableName: string, events: Envelope[], nowMs: number): TxAction<R> {
  return {
    label: 'outbox',
    item: {
      Put: {
        TableName: tableName,
        Item: outboxItem(events, nowMs),
        ConditionExpression: 'attribute_not_exists(PK)',
      },
    },
  };
}

/** Parses the events of an outbox item (a stream NewImage, unmarshalled). */
export function eventsOfOutbox(item: { events?: unknown }): Envelope[] {
  if (typeof item.events !== 'string') throw new Error('outbox item without events');
  return JSON.parse(item.events) as Envelope[];
}
