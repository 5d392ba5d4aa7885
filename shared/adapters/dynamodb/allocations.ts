/**
 * Allocations on DynamoDB: an agent's execution contexts, their token budget, and their expiry.
 * Every token draw is one conditional transaction on the allocation item (`tokens_remaining ≥ n`,
 * `starts_at_ms ≤ now < ends_at_ms`, the item's own agent) with its guard and its events, so
 * no interleaving of callers can overspend and no retry can draw twice. Draws on one allocation
 * wait for each other within a process (`serialize`) instead of racing; across processes the
 * condition alone decides.
 */
import { GetCommand, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import {
  type AllocationRecord,
  allocationEvents,
  allocationStatus,
  type Reservation,
  type TokenMeter,
} from '../../core/allocations.ts';
import { conflict } from '../../core/errors.ts';
import { type EventContext, makeEvent } from '../../core/events.ts';
import { keys } from '../../table.ts';
import {
  type AllocationsDeps,
  drawAction,
  ownedAllocation,
  readAllocation,
  recordOf,
  replayOrRefuse,
} from './allocation-items.ts';
import { queryAll, queryPages } from './client.ts';
import { listings } from './cursor.ts';
import { outboxAction } from './outbox.ts';
import { Reservations } from './reservations.ts';
import type { TxAction } from './transaction.ts';

export type { AllocationsDeps } from './allocation-items.ts';

export interface UsageRequest {
  usage_id: string;
  allocation_id: string;
  agent_id: string;
  tokens: number;
}

export interface Metered {
  usage_id: string;
  allocation_id: string;
  tokens: number;
  tokens_used: number;
  remaining: number;
}

export interface AllocationQuery {
  /** Whose allocations; without it (operator), only those not yet expired can be listed. */
  agent_id?: string;
  status?: 'active' | 'expired';
  limit: number;
  cursor?: string;
  caller: string;
}

const pad = (ms: number) => String(ms).padStart(15, '0');

export class Allocations implements TokenMeter {
  readonly reservations: Reservations;

  constructor(private readonly deps: AllocationsDeps) {
    this.reservations = new Reservations(deps);
  }

  private get tableName(): string {
    return this.deps.table.tableName;
  }

  private now(): number {
    return this.deps.runtime.clock.now();
  }

  get(allocationId: string): Promise<AllocationRecord | undefined> {
    return readAllocation(this.deps, allocationId);
  }

  owned(allocationId: string, agentId: string): Promise<AllocationRecord> {
    return ownedAllocation(this.deps, allocationId, agentId);
  }

  /** The agent's allocations whose window holds now, newest first. */
  async activeOf(agentId: string): Promise<AllocationRecord[]> {
    const now = this.now();
    const items = await queryAll<Record<string, unknown>>(this.deps.table, {
      IndexName: 'GSI1',
      KeyConditionExpression: 'GSI1PK = :p',
      FilterExpression: 'ends_at_ms > :now',
      ExpressionAttributeValues: { ':p': keys.agentAllocationsPartition(agentId), ':now': now },
      ScanIndexForward: false,
    });
    return items.map(recordOf).filter((a) => allocationStatus(a, now) === 'active');
  }

  /** One page of allocations, newest first (by agent) or soonest ending first (all active). */
  async list(q: AllocationQuery): Promise<{ allocations: AllocationRecord[]; next_cursor: string | null }> {
    const now = this.now();
    const pages = listings.allocations(q.caller, q.agent_id, q.status);
    const input: QueryCommandInput =
      q.agent_id !== undefined
        ? {
            TableName: this.tableName,
            IndexName: 'GSI1',
            KeyConditionExpression: 'GSI1PK = :p',
            ExpressionAttributeValues: { ':p': keys.agentAllocationsPartition(q.agent_id) },
            ScanIndexForward: false,
          }
        : {
            TableName: this.tableName,
            IndexName: 'GSI2',
            KeyConditionExpression: 'GSI2PK = :p AND GSI2SK > :from',
            ExpressionAttributeValues: { ':p': keys.unexpiredAllocationsPartition, ':from': pad(now) },
          };
    const window = windowFilter(q.status, now);
    if (window) {
      input.FilterExpression = window.expression;
      Object.assign(input.ExpressionAttributeValues ?? {}, window.values);
    }
    const out = await this.deps.table.doc.send(
      new QueryCommand({ ...input, Limit: q.limit, ExclusiveStartKey: pages.decode(q.cursor) }),
    );
    return { allocations: (out.Items ?? []).map(recordOf), next_cursor: pages.encode(out.LastEvaluatedKey) };
  }

  /** `POST /v1/allocations/{id}/usage`: draws `tokens` now, once per `usage_id`. */
  consume(req: UsageRequest, ctx: EventContext): Promise<Metered> {
    return this.deps.tx.run<Metered>(
      'meter tokens',
      async () => {
        const a = await this.owned(req.allocation_id, req.agent_id);
        const replayed = await replayOrRefuse(this.deps, a, req.tokens, ctx, async () => {
          const earlier = await this.usage(req.usage_id);
          return earlier && replayedUsage(earlier, req);
        });
        if (replayed) return replayed;
        return this.usagePlan(a, req, ctx);
      },
      { serialize: [req.allocation_id] },
    );
  }

  private usagePlan(a: AllocationRecord, req: UsageRequest, ctx: EventContext) {
    const now = this.now();
    const event = makeEvent(this.deps.runtime, allocationEvents.metered(a, req.tokens), ctx);
    const metered: Metered = {
      usage_id: req.usage_id,
      allocation_id: a.allocation_id,
      tokens: req.tokens,
      tokens_used: event.data.tokens_used,
      remaining: event.data.remaining,
    };
    const guard: TxAction<Metered> = {
      label: 'usage guard',
      item: {
        Put: {
          TableName: this.tableName,
          Item: { ...keys.tokenUsage(req.usage_id), kind: 'token_usage', ...metered, created_at_ms: now },
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      },
      onConditionFailed: (old) => ({ kind: 'done', result: replayedUsage(old as unknown as Metered, req) }),
    };
    const draw = drawAction<Metered>(
      this.tableName,
      a,
      now,
      req.tokens,
      'SET tokens_remaining = tokens_remaining - :n, tokens_used = tokens_used + :n',
    );
    // The guard first: on a replay it decides, whatever the budget says now.
    return { actions: [guard, draw, outboxAction<Metered>(this.tableName, [event], now)], result: () => metered };
  }

  private async usage(usageId: string): Promise<Metered | undefined> {
    const out = await this.deps.table.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.tokenUsage(usageId), ConsistentRead: true }),
    );
    return out.Item as Metered | undefined;
  }

  reserve(input: Omit<Reservation, 'created_at_ms'>, ctx: EventContext) {
    return this.reservations.reserve(input, ctx);
  }

  settle(...args: Parameters<TokenMeter['settle']>) {
    return this.reservations.settle(...args);
  }

  /**
   * Marks allocations past their end `expired` with `allocation_expired`, oldest first, looking
   * at up to `limit` of them. One still holding reserved tokens waits until its holds are settled
   * or released (it stays in the index), so the `tokens_used` it reports is final. Returns how
   * many it looked at and how many it expired.
   */
  async expireEnded(limit: number, ctx: EventContext = {}): Promise<{ examined: number; expired: number }> {
    let examined = 0;
    let expired = 0;
    const pages = queryPages(
      this.deps.table,
      {
        IndexName: 'GSI2',
        KeyConditionExpression: 'GSI2PK = :p AND GSI2SK < :now',
        ExpressionAttributeValues: { ':p': keys.unexpiredAllocationsPartition, ':now': pad(this.now()) },
      },
      { nextLimit: () => Math.min(100, limit - examined) },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        examined++;
        if (await this.expire(recordOf(item), ctx)) expired++;
      }
      if (examined >= limit) break;
    }
    return { examined, expired };
  }

  private expire(seen: AllocationRecord, ctx: EventContext): Promise<boolean> {
    return this.deps.tx.run<boolean>('expire allocation', async () => {
      const a = await this.get(seen.allocation_id);
      if (!a || a.status === 'expired' || a.tokens_reserved > 0) return { done: false };
      const now = this.now();
      const event = makeEvent(this.deps.runtime, allocationEvents.expired(a), ctx);
      const mark: TxAction<boolean> = {
        label: 'allocation status',
        item: {
          Update: {
            TableName: this.tableName,
            Key: keys.allocation(a.allocation_id),
            // The counts the event reports are the ones expired: a settle meanwhile replans.
            ConditionExpression: '#status = :active AND tokens_reserved = :zero AND tokens_used = :used',
            UpdateExpression: 'SET #status = :expired, expired_at = :at REMOVE GSI2PK, GSI2SK',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: {
              ':active': 'active',
              ':expired': 'expired',
              ':zero': 0,
              ':used': a.tokens_used,
              ':at': new Date(now).toISOString(),
            },
          },
        },
        onConditionFailed: () => ({ kind: 'retry' }),
      };
      return { actions: [mark, outboxAction<boolean>(this.tableName, [event], now)], result: () => true };
    });
  }
}

/** The window a status selects, as a filter on the item's own times. */
function windowFilter(status: AllocationQuery['status'], nowMs: number) {
  if (status === 'active') {
    return { expression: 'starts_at_ms <= :now AND ends_at_ms > :now', values: { ':now': nowMs } };
  }
  if (status === 'expired') return { expression: 'ends_at_ms <= :now', values: { ':now': nowMs } };
  return undefined;
}

function replayedUsage(earlier: Metered, req: UsageRequest): Metered {
  if (earlier.allocation_id !== req.allocation_id || earlier.tokens !== req.tokens) {
    throw conflict(`Usage ${req.usage_id} was recorded with other parameters.`);
  }
  const { usage_id, allocation_id, tokens, tokens_used, remaining } = earlier;
  return { usage_id, allocation_id, tokens, tokens_used, remaining };
}
