/**
 * Dead letters of the event pipeline, kept in the table: a bus event that a rule target gave up
 * on (a poison envelope, or a target that kept failing), stored whole so an operator can see
 * why and redrive it. One item per target and outbox item (`DLQ#<target>` / `<outbox_id>`):
 * dead-lettering the same bus event again (a replay) overwrites instead of piling up. Listed
 * newest first through GSI1 (`DEAD_LETTERS`) by `GET /v1/dead-letters`.
 *
 * Locally the bus writes them; on AWS the NATS bridge records its poison events here as well
 * (the rule's SQS dead-letter queue keeps the authoritative copy).
 */
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Clock } from '../../core/ports.ts';
import { keys } from '../../table.ts';
import type { PoisonEvent } from '../nats/errors.ts';
import { type BusEvent, eventIdsOf } from '../outbox-relay.ts';
import type { TableRef } from './client.ts';
import { listings } from './cursor.ts';

/** Dead letters are kept a month (DynamoDB TTL), like the bus archive. */
export const DEAD_LETTER_RETENTION_SECONDS = 30 * 24 * 3600;

export interface DeadLetterInput {
  target: string;
  /** The rule that routed the event to the target, when known. */
  rule?: string;
  event: BusEvent;
  error: unknown;
  attempts: number;
}

export interface DeadLetter {
  target: string;
  rule: string | null;
  outbox_id: string;
  source: string;
  detail_type: string;
  event_ids: string[];
  error: { name: string; message: string };
  /** The envelopes that failed validation, when that was the reason. */
  poison: Array<Omit<PoisonEvent, 'event'>>;
  attempts: number;
  created_at: string;
  /** The bus event as the target received it, for inspection and redrive. */
  event: BusEvent | null;
}

/** Where targets send what they give up on. */
export interface DeadLetterSink {
  record(letter: DeadLetterInput): Promise<void>;
}

const MAX_MESSAGE = 4_000;

export class DeadLetters implements DeadLetterSink {
  constructor(
    private readonly table: TableRef,
    private readonly clock: Clock,
  ) {}

  async record(letter: DeadLetterInput): Promise<void> {
    const now = this.clock.now();
    const createdAt = new Date(now).toISOString();
    const outboxId = letter.event.detail.outbox_id;
    const err = letter.error;
    const poison = Array.isArray((err as { poison?: unknown } | null)?.poison)
      ? ((err as { poison: PoisonEvent[] }).poison.map(({ event: _event, ...rest }) => rest) as DeadLetter['poison'])
      : [];
    await this.table.doc.send(
      new PutCommand({
        TableName: this.table.tableName,
        Item: {
          ...keys.deadLetter(letter.target, outboxId),
          ...keys.deadLettersIndex(`${createdAt}#${letter.target}#${outboxId}`),
          kind: 'dead_letter',
          target: letter.target,
          rule: letter.rule ?? null,
          outbox_id: outboxId,
          source: letter.event.source,
          detail_type: letter.event['detail-type'],
          event_ids: eventIdsOf(letter.event.detail),
          error_name: err instanceof Error ? err.name : 'Error',
          error_message: (err instanceof Error ? err.message : String(err)).slice(0, MAX_MESSAGE),
          poison,
          attempts: letter.attempts,
          // A string keeps the bus event exact (no number or empty-value conversions).
          payload: JSON.stringify(letter.event),
          created_at: createdAt,
          expires_at: Math.floor(now / 1000) + DEAD_LETTER_RETENTION_SECONDS,
        },
      }),
    );
  }

  /** Newest first; of one target, or of all. */
  async list(q: { target?: string; limit: number; cursor?: string; caller: string }): Promise<{
    dead_letters: DeadLetter[];
    next_cursor: string | null;
  }> {
    const byTarget = q.target !== undefined;
    const pages = listings.deadLetters(q.caller, q.target);
    const start = pages.decode(q.cursor);
    const out = await this.table.doc.send(
      new QueryCommand({
        TableName: this.table.tableName,
        ...(byTarget
          ? {
              KeyConditionExpression: 'PK = :pk',
              ExpressionAttributeValues: { ':pk': keys.deadLetter(q.target ?? '', '').PK },
            }
          : {
              IndexName: 'GSI1',
              KeyConditionExpression: 'GSI1PK = :pk',
              ExpressionAttributeValues: { ':pk': 'DEAD_LETTERS' },
            }),
        ScanIndexForward: false,
        Limit: q.limit,
        ExclusiveStartKey: start,
      }),
    );
    return { dead_letters: (out.Items ?? []).map(toDeadLetter), next_cursor: pages.encode(out.LastEvaluatedKey) };
  }
}

function toDeadLetter(item: Record<string, unknown>): DeadLetter {
  let event: BusEvent | null = null;
  try {
    event = JSON.parse(String(item.payload)) as BusEvent;
  } catch {
    // Written by `record` as JSON; an unreadable payload is shown as missing, not as an error.
  }
  return {
    target: String(item.target),
    rule: typeof item.rule === 'string' ? item.rule : null,
    outbox_id: String(item.outbox_id),
    source: String(item.source),
    detail_type: String(item.detail_type),
    event_ids: Array.isArray(item.event_ids) ? item.event_ids.map(String) : [],
    error: { name: String(item.error_name), message: String(item.error_message) },
    poison: Array.isArray(item.poison) ? (item.poison as DeadLetter['poison']) : [],
    attempts: Number(item.attempts),
    created_at: String(item.created_at),
    event,
  };
}
