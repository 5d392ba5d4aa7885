/**
 * The outbox relay: turns a table stream record into the bus event that carries it. On AWS
 * this runs as the Pipe's enrichment (`functions/outbox-relay.ts`); locally the stream poller
 * calls it, so both apply the same filter and build the same bus events.
 *
 * Only INSERTs of `kind = outbox` items pass (the Pipe's filter, repeated here so the local
 * poller needs no other). One outbox item becomes ONE bus event whose `detail` holds the ordered
 * envelopes of its transaction: EventBridge does not order separate events, so keeping a
 * transaction's events together is what keeps them in order on NATS.
 *
 * The relay does not validate envelopes: an item whose events cannot even be parsed is still
 * forwarded, marked with `relay_error`, so that it reaches the targets' dead letters (the
 * bridge refuses it) instead of blocking the stream or vanishing.
 */
import type { Envelope } from '../core/events.ts';
import { EVENT_SOURCE_PREFIX } from '../rules.ts';

/** A DynamoDB attribute value as stream records carry it (Lambda and the Streams API agree). */
export interface StreamAttributeValue {
  S?: string;
  N?: string;
  [other: string]: unknown;
}

/** The part of a stream record the relay reads (a Lambda `DynamoDBRecord` or a Streams `_Record`). */
export interface StreamRecordLike {
  eventName?: string;
  dynamodb?: {
    NewImage?: Record<string, StreamAttributeValue>;
    SequenceNumber?: string;
  };
}

/** What the bus event's `detail` holds: one outbox item. */
export interface BusDetail {
  outbox_id: string;
  /** The envelopes in the order they were written. Unvalidated: targets validate. */
  events: unknown[];
  /** Set when the outbox item itself was unreadable; targets dead-letter such events. */
  relay_error?: string;
}

/** The Pipe enrichment's output element: the Pipe maps it to `PutEvents` (see event-pipeline.ts). */
export interface PipeBusEntry {
  source: string;
  detail_type: string;
  detail: BusDetail;
}

/** An event as EventBridge delivers it to a rule target. */
export interface BusEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: BusDetail;
}

export const OUTBOX_KIND = 'outbox';

const str = (image: Record<string, StreamAttributeValue>, name: string): string | undefined => {
  const value = image[name]?.S;
  return typeof value === 'string' ? value : undefined;
};

/** True for the records the Pipe lets through: new outbox items. */
export function isOutboxInsert(record: StreamRecordLike): boolean {
  const image = record.dynamodb?.NewImage;
  return record.eventName === 'INSERT' && image !== undefined && str(image, 'kind') === OUTBOX_KIND;
}

/**
 * The bus entry of a stream record, or undefined for records the Pipe would filter out.
 * Never throws on the item's contents.
 */
export function relayRecord(record: StreamRecordLike): PipeBusEntry | undefined {
  if (!isOutboxInsert(record)) return undefined;
  const image = record.dynamodb?.NewImage ?? {};
  const outboxId = str(image, 'outbox_id') ?? str(image, 'PK') ?? 'unknown';
  const component = str(image, 'component') ?? 'unknown';
  const type = str(image, 'type') ?? 'unknown';
  const entry = (detail: BusDetail): PipeBusEntry => ({
    source: `${EVENT_SOURCE_PREFIX}${component}`,
    detail_type: type,
    detail,
  });
  const raw = str(image, 'events');
  if (raw === undefined) return entry({ outbox_id: outboxId, events: [], relay_error: 'outbox item without events' });
  try {
    const events: unknown = JSON.parse(raw);
    if (!Array.isArray(events)) {
      return entry({ outbox_id: outboxId, events: [], relay_error: 'outbox events are not a list' });
    }
    return entry({ outbox_id: outboxId, events });
  } catch (error) {
    return entry({
      outbox_id: outboxId,
      events: [],
      relay_error: `outbox events are not JSON: ${error instanceof Error ? error.message : String(error)}`,
    });
  }
}

/** The Pipe enrichment: one entry per outbox insert, in record order. */
export function relayRecords(records: readonly StreamRecordLike[]): PipeBusEntry[] {
  const out: PipeBusEntry[] = [];
  for (const record of records) {
    const entry = relayRecord(record);
    if (entry) out.push(entry);
  }
  return out;
}

/** What EventBridge makes of a Pipe entry (`source`, `detail-type`, `detail` as in event-pipeline.ts). */
export function toBusEvent(
  entry: PipeBusEntry,
  meta: { id: string; time: string; account?: string; region?: string },
): BusEvent {
  return {
    version: '0',
    id: meta.id,
    'detail-type': entry.detail_type,
    source: entry.source,
    account: meta.account ?? '000000000000',
    time: meta.time,
    region: meta.region ?? 'local',
    resources: [],
    detail: entry.detail,
  };
}

/** The envelopes' ids of a detail, for logs and dead letters (whatever their validity). */
export function eventIdsOf(detail: Pick<BusDetail, 'events'>): string[] {
  return detail.events.map((e) =>
    typeof e === 'object' && e !== null && typeof (e as Partial<Envelope>).event_id === 'string'
      ? String((e as Partial<Envelope>).event_id)
      : '?',
  );
}
