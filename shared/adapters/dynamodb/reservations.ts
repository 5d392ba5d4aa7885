/**
 * Reservations: the LLM gateway's hold on an allocation's tokens. `reserve` moves tokens from
 * remaining to reserved and writes the hold; `settle` draws what the call cost (the hold first,
 * then what is left), releases the rest and writes `llm_call_completed`, each in one
 * transaction. A hold is settled at most once: the hold's status is the condition, so a late
 * settle after the sweeper released it (a gateway that restarted) changes nothing.
 */
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { allocationEvents, type LlmCallOutcome, type Reservation, settleDraw } from '../../core/allocations.ts';
import { conflict, notFound } from '../../core/errors.ts';
import { type EventContext, makeEvent } from '../../core/events.ts';
import { keys } from '../../table.ts';
import {
  type AllocationsDeps,
  drawAction,
  ownedAllocation,
  readAllocation,
  replayOrRefuse,
} from './allocation-items.ts';
import { outboxAction } from './outbox.ts';
import type { TxAction } from './transaction.ts';

/** Settled holds are kept a day for replays, then DynamoDB TTL drops them. */
const SETTLED_RETENTION_SECONDS = 86_400;

interface HeldItem extends Reservation {
  status: 'held' | 'settled';
  tokens_charged?: number;
  remaining_after: number;
}

type Reserved = Reservation & { remaining: number };
type Settled = { tokens_charged: number; remaining: number };

export class Reservations {
  constructor(private readonly deps: AllocationsDeps) {}

  private get tableName(): string {
    return this.deps.table.tableName;
  }

  async read(reservationId: string): Promise<HeldItem | undefined> {
    const out = await this.deps.table.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.reservation(reservationId), ConsistentRead: true }),
    );
    return out.Item as HeldItem | undefined;
  }

  reserve(input: Omit<Reservation, 'created_at_ms'>, ctx: EventContext): Promise<Reserved> {
    if (!Number.isSafeInteger(input.tokens) || input.tokens <= 0)
      throw new RangeError('reserve a positive whole count');
    return this.deps.tx.run<Reserved>(
      'reserve tokens',
      async () => {
        const a = await ownedAllocation(this.deps, input.allocation_id, input.agent_id);
        const now = this.deps.runtime.clock.now();
        const replayed = await replayOrRefuse(this.deps, a, input.tokens, ctx, async () => {
          const earlier = await this.read(input.reservation_id);
          return earlier && replayedHold(earlier, input);
        });
        if (replayed) return replayed;
        const r: Reservation = { ...input, created_at_ms: now };
        const remaining = a.tokens_remaining - input.tokens;
        const hold: TxAction<Reserved> = {
          label: 'reservation',
          item: {
            Put: {
              TableName: this.tableName,
              Item: {
                ...keys.reservation(r.reservation_id),
                ...keys.heldReservationsIndex(r.deadline_ms, r.reservation_id),
                kind: 'reservation',
                ...r,
                status: 'held',
                remaining_after: remaining,
              },
              ConditionExpression: 'attribute_not_exists(PK)',
            },
          },
          onConditionFailed: (old) => ({ kind: 'done', result: replayedHold(old as unknown as HeldItem, input) }),
        };
        const draw = drawAction<Reserved>(
          this.tableName,
          a,
          now,
          input.tokens,
          'SET tokens_remaining = tokens_remaining - :n, tokens_reserved = tokens_reserved + :n',
        );
        return { actions: [hold, draw], result: () => ({ ...r, remaining }) };
      },
      { serialize: [input.allocation_id] },
    );
  }

  settle(reservation: Reservation, call: LlmCallOutcome, ctx: EventContext): Promise<Settled> {
    return this.deps.tx.run<Settled>(
      'settle reservation',
      async () => {
        const held = await this.read(reservation.reservation_id);
        if (!held) throw notFound(`Reservation ${reservation.reservation_id}`);
        if (held.status !== 'held')
          return { done: { tokens_charged: held.tokens_charged ?? 0, remaining: held.remaining_after } };
        const a = await readAllocation(this.deps, held.allocation_id);
        if (!a) throw new Error(`reservation ${held.reservation_id} holds tokens of a missing allocation`);
        const d = settleDraw(held.tokens, Math.max(0, Math.ceil(call.tokens_charged)), a.tokens_remaining);
        const settled = { tokens_charged: d.charged, remaining: a.tokens_remaining - d.extra + d.released };
        const event = makeEvent(this.deps.runtime, allocationEvents.callCompleted(held, call, d.charged), ctx);
        const now = this.deps.runtime.clock.now();
        return {
          actions: [
            this.closeHold<Settled>(held, settled, now),
            this.settleDrawAction<Settled>(held, d),
            outboxAction<Settled>(this.tableName, [event], now),
          ],
          result: () => settled,
        };
      },
      { serialize: [reservation.allocation_id] },
    );
  }

  /** The hold, `held → settled` once; a settle meanwhile makes this one replan (and find it done). */
  private closeHold<R>(held: HeldItem, settled: Settled, nowMs: number): TxAction<R> {
    return {
      label: 'reservation',
      item: {
        Update: {
          TableName: this.tableName,
          Key: keys.reservation(held.reservation_id),
          ConditionExpression: '#status = :held',
          UpdateExpression:
            'SET #status = :settled, tokens_charged = :c, remaining_after = :rem, settled_at_ms = :now, expires_at = :ttl REMOVE GSI2PK, GSI2SK',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':held': 'held',
            ':settled': 'settled',
            ':c': settled.tokens_charged,
            ':rem': settled.remaining,
            ':now': nowMs,
            ':ttl': Math.floor(nowMs / 1000) + SETTLED_RETENTION_SECONDS,
          },
        },
      },
      onConditionFailed: () => ({ kind: 'retry' }),
    };
  }

  /** The allocation's side of a settle: the hold leaves `reserved`, the charge goes to `used`. */
  private settleDrawAction<R>(held: HeldItem, d: ReturnType<typeof settleDraw>): TxAction<R> {
    return {
      label: 'allocation tokens',
      item: {
        Update: {
          TableName: this.tableName,
          Key: keys.allocation(held.allocation_id),
          // Drawing beyond the hold needs that much left; a release alone always fits.
          ConditionExpression: 'tokens_remaining >= :extra AND tokens_reserved >= :r',
          UpdateExpression:
            'SET tokens_reserved = tokens_reserved - :r, tokens_used = tokens_used + :c, tokens_remaining = tokens_remaining + :delta',
          ExpressionAttributeValues: {
            ':extra': d.extra,
            ':r': held.tokens,
            ':c': d.charged,
            ':delta': d.released - d.extra,
          },
        },
      },
      onConditionFailed: () => ({ kind: 'retry' }),
    };
  }

  /**
   * Releases holds past their deadline (a gateway that crashed between reserve and settle) as
   * `abandoned`, charging nothing; at most `limit` per call, oldest first. Returns how many.
   */
  async releaseStale(limit: number, ctx: EventContext = {}): Promise<number> {
    const now = this.deps.runtime.clock.now();
    const out = await this.deps.table.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: 'GSI2',
        KeyConditionExpression: 'GSI2PK = :p AND GSI2SK < :now',
        ExpressionAttributeValues: { ':p': keys.heldReservationsPartition, ':now': String(now).padStart(15, '0') },
        Limit: limit,
      }),
    );
    const stale = (out.Items ?? []) as HeldItem[];
    for (const r of stale) {
      await this.settle(r, abandoned(r, now), ctx);
    }
    return stale.length;
  }
}

function abandoned(r: Reservation, nowMs: number): LlmCallOutcome {
  return {
    model: r.model ?? 'unknown',
    prompt_tokens: 0,
    completion_tokens: 0,
    tokens_charged: 0,
    latency_ms: Math.max(0, nowMs - r.created_at_ms),
    status: 'abandoned',
  };
}

function replayedHold(earlier: HeldItem, input: Omit<Reservation, 'created_at_ms'>): Reserved {
  if (earlier.allocation_id !== input.allocation_id || earlier.tokens !== input.tokens) {
    throw conflict(`Reservation ${input.reservation_id} exists with other parameters.`);
  }
  const { status: _s, tokens_charged: _c, remaining_after, ...r } = earlier;
  const { PK: _pk, SK: _sk, GSI2PK: _g, GSI2SK: _gs, kind: _k, ...rest } = r as typeof r & Record<string, unknown>;
  return { ...(rest as Reservation), remaining: remaining_after };
}
