/**
 * The allocation item as the token meter reads and conditions it: shared by direct usage
 * (`allocations.ts`) and reservations (`reservations.ts`), so both draw under one condition.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { type AllocationRecord, allocationEvents, notUsable, quotaExceeded } from '../../core/allocations.ts';
import { notFound } from '../../core/errors.ts';
import { type EventContext, makeEvent } from '../../core/events.ts';
import type { Runtime } from '../../core/ports.ts';
import { keys } from '../../table.ts';
import type { TableRef } from './client.ts';
import { outboxAction } from './outbox.ts';
import type { TxAction, TxRunner } from './transaction.ts';

export interface AllocationsDeps {
  table: TableRef;
  tx: TxRunner;
  runtime: Runtime;
}

/** Only the allocation's own attributes, never the table's keys. */
export function recordOf(item: Record<string, unknown>): AllocationRecord {
  const { PK: _pk, SK: _sk, GSI1PK: _g, GSI1SK: _gs, GSI2PK: _h, GSI2SK: _hs, kind: _k, ...rest } = item;
  return rest as unknown as AllocationRecord;
}

export async function readAllocation(deps: AllocationsDeps, allocationId: string) {
  const out = await deps.table.doc.send(
    new GetCommand({ TableName: deps.table.tableName, Key: keys.allocation(allocationId), ConsistentRead: true }),
  );
  return out.Item ? recordOf(out.Item) : undefined;
}

/** The allocation if `agentId` owns it; another agent's is as missing as a missing one. */
export async function ownedAllocation(deps: AllocationsDeps, allocationId: string, agentId: string) {
  const a = await readAllocation(deps, allocationId);
  if (!a || a.agent_id !== agentId) throw notFound(`Allocation ${allocationId}`);
  return a;
}

/**
 * Takes `tokens` from the allocation's remaining budget, inside its window, for its own agent;
 * `update` says where they go (used, or reserved).
 */
export function drawAction<R>(
  tableName: string,
  a: Pick<AllocationRecord, 'allocation_id' | 'agent_id'>,
  nowMs: number,
  tokens: number,
  update: string,
): TxAction<R> {
  return {
    label: 'allocation tokens',
    item: {
      Update: {
        TableName: tableName,
        Key: keys.allocation(a.allocation_id),
        ConditionExpression:
          'agent_id = :agent AND starts_at_ms <= :now AND ends_at_ms > :now AND tokens_remaining >= :n',
        UpdateExpression: update,
        ExpressionAttributeValues: { ':agent': a.agent_id, ':now': nowMs, ':n': tokens },
      },
    },
    // Someone drew meanwhile, or the window closed: plan again from a fresh read.
    onConditionFailed: () => ({ kind: 'retry' }),
  };
}

/**
 * Refuses a draw of `tokens` now outside the window (409) or over the budget (429, recording
 * `quota_exceeded` in a transaction of its own: the refused draw writes nothing else).
 */
export async function refuseDraw(
  deps: AllocationsDeps,
  a: AllocationRecord,
  tokens: number,
  ctx: EventContext,
): Promise<void> {
  const now = deps.runtime.clock.now();
  const refusal = notUsable(a, now);
  if (refusal) throw refusal;
  if (a.tokens_remaining >= tokens) return;
  const event = makeEvent(deps.runtime, allocationEvents.quotaExceeded(a, tokens), ctx);
  await deps.tx.run('record quota_exceeded', async () => ({
    actions: [outboxAction(deps.table.tableName, [event], now)],
    result: () => undefined,
  }));
  throw quotaExceeded(tokens, a.tokens_remaining);
}

/**
 * Before a draw: when it would be refused now, a retry of a draw that already happened (its
 * guard exists: it may have taken the last tokens) is answered with `replay`, and anything else
 * is refused (`refuseDraw`). Undefined when the draw may go ahead.
 */
export async function replayOrRefuse<T>(
  deps: AllocationsDeps,
  a: AllocationRecord,
  tokens: number,
  ctx: EventContext,
  replay: () => Promise<T | undefined>,
): Promise<{ done: T } | undefined> {
  if (notUsable(a, deps.runtime.clock.now()) === undefined && a.tokens_remaining >= tokens) return undefined;
  const earlier = await replay();
  if (earlier !== undefined) return { done: earlier };
  await refuseDraw(deps, a, tokens, ctx);
  return undefined;
}
