/**
 * The event log behind `GET /v1/events`: every envelope that went through the bus, stored as
 * one `event` item by the `event-log` rule target (not in the business transaction; the
 * reasons are in docs/pipeline.md, "Event log").
 *
 * Layout (keys in shared/table.ts):
 * - base table `EVENTS#<UTC day>` / `<event_id>`: the whole log in id order, one partition per
 *   day, so "everything after X" walks a few partitions from X's day on;
 * - GSI1 `AGENT#<id>#EVENTS` / `<event_id>`: one agent's events (what an agent may read), with
 *   transfers it received through a second item (`EVENT#<id>` / `RECIPIENT`);
 * - GSI2 `SCENARIO#<id>#EVENTS` / `<event_id>`: one benchmark scenario's events;
 * - a `type` filter is applied on whichever of these the query uses.
 *
 * Pages run in ascending id order; the cursor is the last id returned (or examined), so a
 * client can also poll with `after` alone. Writes are idempotent (keyed by event id), so a
 * redelivered bus event changes nothing.
 */
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { decodeTime, encodeTime } from 'ulidx';
import { type Envelope, type EventType, validateEnvelope } from '../../core/events.ts';
import type { Clock } from '../../core/ports.ts';
import { keys, systemAccountOf } from '../../table.ts';
import { errorMessage, type PoisonEvent, PoisonEventError } from '../nats/errors.ts';
import type { BusDetail } from '../outbox-relay.ts';
import { type QueryInput, queryPages, type TableRef } from './client.ts';
import { type Listing, listing } from './cursor.ts';

export const EVENT_LOG_RETENTION_DAYS = 30;
const DAY_MS = 86_400_000;
/** Event ids as `makeEvent` makes them: `ev_` and a ULID (its first 10 characters are the time). */
export const EVENT_ID = /^ev_[0-9A-HJKMNP-TV-Z]{26}$/;
/**
 * Day partitions one request may walk before it answers with a cursor: the whole retention,
 * so a query without `after` reaches today in one request (empty days cost one small read).
 */
const MAX_DAYS_PER_PAGE = EVENT_LOG_RETENTION_DAYS + 2;
/** Items one request may examine (DynamoDB applies `Limit` before a filter). */
const MAX_EXAMINED_PER_PAGE = 2_000;
const BATCH = 25;

export interface EventLogQuery {
  /** Exclusive: events with a greater id. */
  after?: string;
  cursor?: string;
  type?: EventType;
  agent_id?: string;
  scenario_id?: string;
  limit: number;
  /** Who asks (`callerOf`): its cursors are bound to it. */
  caller: string;
}

export interface EventPage {
  events: Envelope[];
  next_cursor: string | null;
}

export const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Creation time of an event: its id's ULID time, else its timestamp. */
export function eventTime(e: Pick<Envelope, 'event_id' | 'timestamp'>): number {
  if (EVENT_ID.test(e.event_id)) return decodeTime(e.event_id.slice(3));
  const t = Date.parse(e.timestamp);
  return Number.isFinite(t) ? t : 0;
}

/** An id below every real event id of the millisecond `ms` (the randomness is all zeros). */
export const idFloor = (ms: number) => `ev_${encodeTime(ms, 10)}${'0'.repeat(16)}`;

/** `GET /v1/events`: the position is the last event id returned (or examined). */
export function eventCursors(q: EventLogQuery): Listing<'after'> {
  const { caller, after, type, agent_id, scenario_id } = q;
  return listing(
    { caller, listing: 'events', filters: { after, type, agent_id, scenario_id } },
    { attributes: ['after'], partition: {}, valid: (p) => EVENT_ID.test(p.after) },
  );
}

type Item = Record<string, unknown>;

interface Partition {
  index?: 'GSI1' | 'GSI2';
  pkName: string;
  skName: string;
  pk: string;
  /** Strongly consistent reads where DynamoDB allows them (the base table). */
  consistent: boolean;
}

interface Collected {
  items: Item[];
  /** The partition has nothing more after the last item examined. */
  exhausted: boolean;
  /** Sort key of the last item examined, when stopped early. */
  lastExamined?: string;
}

export class EventLog {
  constructor(
    private readonly table: TableRef,
    private readonly clock: Clock,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /** Stores envelopes (idempotent). Retries unprocessed items a few times, then throws. */
  async append(events: readonly Envelope[]): Promise<void> {
    const unique = new Map(events.map((e) => [e.event_id, e]));
    const items = [...unique.values()].flatMap((e) => {
      const to = recipientAgent(e);
      return to === undefined ? [this.item(e)] : [this.item(e), this.recipientItem(e, to)];
    });
    for (let i = 0; i < items.length; i += BATCH) {
      let requests = items.slice(i, i + BATCH).map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 0; requests.length > 0; attempt++) {
        if (attempt >= 8) throw new Error(`event log: ${requests.length} item(s) still unprocessed after retries`);
        if (attempt > 0) await this.sleep(Math.min(2_000, 25 * 2 ** attempt));
        const out = await this.table.doc.send(
          new BatchWriteCommand({ RequestItems: { [this.table.tableName]: requests } }),
        );
        requests = (out.UnprocessedItems?.[this.table.tableName] ?? []).flatMap((r) =>
          r.PutRequest?.Item ? [{ PutRequest: { Item: r.PutRequest.Item } }] : [],
        );
      }
    }
  }

  /**
   * The same envelope in the recipient's list (GSI1 only): a transfer concerns both agents, and
   * the one paid should see it among its events. Its own partition keeps it out of the timeline.
   */
  private recipientItem(e: Envelope, to: string): Item {
    return {
      ...keys.eventForRecipient(e.event_id),
      ...keys.eventsOfAgent(to, e.event_id),
      kind: 'event_recipient',
      event_id: e.event_id,
      type: e.type,
      agent_id: to,
      envelope: JSON.stringify(e),
      expires_at: Math.floor(this.clock.now() / 1000) + EVENT_LOG_RETENTION_DAYS * 86_400,
    };
  }

  private item(e: Envelope): Item {
    return {
      ...keys.event(dayOf(eventTime(e)), e.event_id),
      ...(e.agent_id !== undefined && keys.eventsOfAgent(e.agent_id, e.event_id)),
      ...(e.scenario_id !== undefined && keys.eventsOfScenario(e.scenario_id, e.event_id)),
      kind: 'event',
      event_id: e.event_id,
      type: e.type,
      ...(e.agent_id !== undefined && { agent_id: e.agent_id }),
      ...(e.scenario_id !== undefined && { scenario_id: e.scenario_id }),
      // The envelope as JSON: read back exactly as published.
      envelope: JSON.stringify(e),
      expires_at: Math.floor(this.clock.now() / 1000) + EVENT_LOG_RETENTION_DAYS * 86_400,
    };
  }

  async query(q: EventLogQuery): Promise<EventPage> {
    let after = q.after;
    const cursors = eventCursors(q);
    const fromCursor = cursors.decode(q.cursor)?.after;
    if (fromCursor !== undefined && (after === undefined || fromCursor > after)) after = fromCursor;
    const budget = { left: MAX_EXAMINED_PER_PAGE };
    if (q.agent_id !== undefined) {
      const partition: Partition = {
        index: 'GSI1',
        pkName: 'GSI1PK',
        skName: 'GSI1SK',
        pk: keys.eventsOfAgent(q.agent_id, '').GSI1PK,
        consistent: false,
      };
      return this.single(partition, after, { type: q.type, scenario_id: q.scenario_id }, q.limit, budget, cursors);
    }
    if (q.scenario_id !== undefined) {
      const partition: Partition = {
        index: 'GSI2',
        pkName: 'GSI2PK',
        skName: 'GSI2SK',
        pk: keys.eventsOfScenario(q.scenario_id, '').GSI2PK,
        consistent: false,
      };
      return this.single(partition, after, { type: q.type }, q.limit, budget, cursors);
    }
    return this.timeline(after, { type: q.type }, q.limit, budget, cursors);
  }

  private async single(
    partition: Partition,
    after: string | undefined,
    filters: Filters,
    limit: number,
    budget: { left: number },
    cursors: Listing<'after'>,
  ): Promise<EventPage> {
    const got = await this.collect(partition, after, filters, limit, budget);
    const events = got.items.map(toEnvelope);
    const last = events.at(-1)?.event_id;
    const cursor = events.length >= limit ? last : got.exhausted ? undefined : (got.lastExamined ?? last);
    return { events, next_cursor: cursors.encode(cursor === undefined ? undefined : { after: cursor }) };
  }

  /** The whole log: day partitions from `after`'s day (or the retention horizon) to tomorrow. */
  private async timeline(
    after: string | undefined,
    filters: Filters,
    limit: number,
    budget: { left: number },
    cursors: Listing<'after'>,
  ): Promise<EventPage> {
    const now = this.clock.now();
    // Nothing older than the retention is kept (TTL): start there at the earliest.
    const horizon = now - EVENT_LOG_RETENTION_DAYS * DAY_MS;
    const from = after === undefined ? horizon : Math.max(horizon, decodeTime(after.slice(3)));
    // Tomorrow too: a writer whose clock runs ahead may have put an event there.
    const lastDay = Math.floor(now / DAY_MS) * DAY_MS + DAY_MS;
    const items: Item[] = [];
    let cursor: string | undefined;
    let walked = 0;
    for (let day = Math.floor(from / DAY_MS) * DAY_MS; day <= lastDay; day += DAY_MS) {
      if (walked++ >= MAX_DAYS_PER_PAGE) {
        // Everything returned lies in earlier days: resume at the start of this one.
        cursor = idFloor(day);
        break;
      }
      const partition: Partition = {
        pkName: 'PK',
        skName: 'SK',
        pk: keys.event(dayOf(day), '').PK,
        consistent: true,
      };
      const got = await this.collect(partition, after, filters, limit - items.length, budget);
      items.push(...got.items);
      if (items.length >= limit) {
        cursor = String(items.at(-1)?.event_id);
        break;
      }
      if (!got.exhausted) {
        cursor = got.lastExamined ?? idFloor(day);
        break;
      }
    }
    return {
      events: items.map(toEnvelope),
      next_cursor: cursors.encode(cursor === undefined ? undefined : { after: cursor }),
    };
  }

  /** Up to `want` items of one partition after `after`, within the examination budget. */
  private async collect(
    p: Partition,
    after: string | undefined,
    filters: Filters,
    want: number,
    budget: { left: number },
  ): Promise<Collected> {
    const names: Record<string, string> = { '#pk': p.pkName };
    const values: Record<string, unknown> = { ':pk': p.pk };
    let condition = '#pk = :pk';
    if (after !== undefined) {
      names['#sk'] = p.skName;
      values[':after'] = after;
      condition += ' AND #sk > :after';
    }
    const filterParts: string[] = [];
    if (filters.type !== undefined) {
      names['#type'] = 'type';
      values[':type'] = filters.type;
      filterParts.push('#type = :type');
    }
    if (filters.scenario_id !== undefined) {
      names['#scenario'] = 'scenario_id';
      values[':scenario'] = filters.scenario_id;
      filterParts.push('#scenario = :scenario');
    }
    const items: Item[] = [];
    const input: QueryInput = {
      ...(p.index !== undefined && { IndexName: p.index }),
      KeyConditionExpression: condition,
      ...(filterParts.length > 0 && { FilterExpression: filterParts.join(' AND ') }),
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
      ConsistentRead: p.consistent,
    };
    // With a filter a page may match few items: read big pages; without one, only what is wanted.
    const nextLimit = () =>
      Math.max(1, filterParts.length > 0 ? Math.min(500, budget.left) : Math.min(want - items.length, budget.left));
    for await (const out of queryPages(this.table, input, { nextLimit })) {
      budget.left -= out.ScannedCount ?? 0;
      items.push(...(out.Items ?? []));
      if (items.length >= want) return { items: items.slice(0, want), exhausted: false };
      if (!out.LastEvaluatedKey) break;
      if (budget.left <= 0) return { items, exhausted: false, lastExamined: String(out.LastEvaluatedKey[p.skName]) };
    }
    return { items, exhausted: true };
  }
}

interface Filters {
  type?: EventType | undefined;
  scenario_id?: string | undefined;
}

/** The agent credited by a transfer, when it is not the event's own agent. */
function recipientAgent(e: Envelope): string | undefined {
  if (e.type !== 'credits_transferred') return undefined;
  const to = (e.data as { to?: unknown }).to;
  return typeof to === 'string' && !systemAccountOf(to) && to !== e.agent_id ? to : undefined;
}

function toEnvelope(item: Item): Envelope {
  return JSON.parse(String(item.envelope)) as Envelope;
}

/**
 * The `event-log` target: appends the valid envelopes of a bus event; poison ones (and an
 * unreadable outbox item) make it throw PoisonEventError afterwards, so they are dead-lettered
 * like at the NATS bridge.
 */
export async function appendBusDetail(log: EventLog, detail: BusDetail): Promise<number> {
  const { valid, poison } = validateDetail(detail);
  await log.append(valid);
  if (poison.length > 0) throw new PoisonEventError(detail.outbox_id, poison);
  return valid.length;
}

/**
 * Several bus events in batched writes, when none holds a poison event (else it throws before
 * writing, and the caller falls back to `appendBusDetail` per event).
 */
export async function appendBusDetails(log: EventLog, details: readonly BusDetail[]): Promise<number> {
  const all: Envelope[] = [];
  for (const detail of details) {
    const { valid, poison } = validateDetail(detail);
    if (poison.length > 0) throw new PoisonEventError(detail.outbox_id, poison);
    all.push(...valid);
  }
  await log.append(all);
  return all.length;
}

function validateDetail(detail: BusDetail): { valid: Envelope[]; poison: PoisonEvent[] } {
  if (detail.relay_error !== undefined) {
    return { valid: [], poison: [{ index: -1, error: detail.relay_error, event: null }] };
  }
  const valid: Envelope[] = [];
  const poison: PoisonEvent[] = [];
  for (const [index, candidate] of detail.events.entries()) {
    try {
      valid.push(validateEnvelope(candidate));
    } catch (error) {
      const id = (candidate as { event_id?: unknown } | null)?.event_id;
      poison.push({
        index,
        ...(typeof id === 'string' && { event_id: id }),
        error: errorMessage(error),
        event: candidate,
      });
    }
  }
  return { valid, poison };
}
