/**
 * Executions on DynamoDB: a start is the execution item and its `execution_started` event in one
 * transaction; a termination is one conditional update of that item (`status = running`) with
 * its `execution_terminated` event. Ids derive from the caller and its Idempotency-Key, so a
 * retry finds its own item (the failed condition returns it) instead of starting twice.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { AllocationRecord } from '../../core/allocations.ts';
import { DomainError } from '../../core/errors.ts';
import { type EventContext, makeEvent } from '../../core/events.ts';
import {
  type ExecutionRecord,
  planStart,
  type Termination,
  terminationDecision,
  terminationEvent,
} from '../../core/executions.ts';
import type { Runtime } from '../../core/ports.ts';
import { keys } from '../../table.ts';
import type { TableRef } from './client.ts';
import { outboxAction } from './outbox.ts';
import type { Item, TxRunner } from './transaction.ts';

export interface ExecutionsDeps {
  table: TableRef;
  tx: TxRunner;
  runtime: Runtime;
  /** The allocation an execution runs in (`Allocations.get`). */
  allocation: (allocationId: string) => Promise<AllocationRecord | undefined>;
}

/** Only the execution's own attributes, never the table's keys. */
function recordOf(item: Item): ExecutionRecord {
  const { PK: _pk, SK: _sk, GSI1PK: _g, GSI1SK: _gs, kind: _k, ...rest } = item;
  return rest as unknown as ExecutionRecord;
}

export interface StartExecution {
  execution_id: string;
  allocation_id: string;
  agent_id: string;
}

export class Executions {
  constructor(private readonly deps: ExecutionsDeps) {}

  private get tableName(): string {
    return this.deps.table.tableName;
  }

  async get(executionId: string): Promise<ExecutionRecord | undefined> {
    const out = await this.deps.table.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.execution(executionId), ConsistentRead: true }),
    );
    return out.Item ? recordOf(out.Item) : undefined;
  }

  /**
   * Starts an execution in an allocation the agent owns, inside its window. The window and the
   * owner are fixed when the allocation is settled, so checking them on a consistent read is
   * enough: no writer can change them between the read and the transaction.
   */
  async start(input: StartExecution, ctx: EventContext): Promise<ExecutionRecord> {
    const { runtime } = this.deps;
    return this.deps.tx.run<ExecutionRecord>('start execution', async () => {
      const existing = await this.get(input.execution_id);
      if (existing) return { done: this.startedAgain(existing, input) };
      const now = runtime.clock.now();
      const plan = planStart(await this.deps.allocation(input.allocation_id), { ...input, now_ms: now });
      const event = makeEvent(runtime, plan.event, ctx);
      const execution: ExecutionRecord = { ...plan.execution, started_event_id: event.event_id };
      return {
        actions: [
          {
            label: 'execution',
            item: {
              Put: {
                TableName: this.tableName,
                Item: {
                  ...keys.execution(execution.execution_id),
                  ...keys.allocationExecutionsIndex(execution.allocation_id, execution.execution_id),
                  kind: 'execution',
                  ...execution,
                },
                ConditionExpression: 'attribute_not_exists(PK)',
              },
            },
            // A concurrent retry of the same start won: answer with its execution.
            onConditionFailed: (old) =>
              old ? { kind: 'done', result: this.startedAgain(recordOf(old), input) } : { kind: 'retry' },
          },
          outboxAction(this.tableName, [event], now),
        ],
        result: () => execution,
      };
    });
  }

  /** The execution a start with this id made before: the same request's replay, or a collision. */
  private startedAgain(existing: ExecutionRecord, input: StartExecution): ExecutionRecord {
    if (existing.agent_id !== input.agent_id || existing.allocation_id !== input.allocation_id) {
      throw new DomainError('conflict', 409, 'Execution id collision.');
    }
    return existing;
  }

  /** Records how the execution ended; the same termination again answers the recorded one. */
  async terminate(
    executionId: string,
    agentId: string,
    termination: Termination,
    ctx: EventContext,
  ): Promise<ExecutionRecord> {
    const { runtime } = this.deps;
    return this.deps.tx.run<ExecutionRecord>('terminate execution', async () => {
      const execution = await this.get(executionId);
      const decision = terminationDecision(executionId, execution, agentId, termination);
      if (decision === 'replay' || !execution) return { done: execution as ExecutionRecord };
      const now = runtime.clock.now();
      const event = makeEvent(runtime, terminationEvent(execution, termination), ctx);
      const terminated: ExecutionRecord = {
        ...execution,
        status: 'terminated',
        terminated_at: new Date(now).toISOString(),
        termination,
      };
      return {
        actions: [
          {
            label: 'execution',
            item: {
              Update: {
                TableName: this.tableName,
                Key: keys.execution(executionId),
                UpdateExpression: 'SET #s = :terminated, terminated_at = :at, termination = :t',
                // Only a running execution ends: of two racing terminations exactly one commits.
                ConditionExpression: '#s = :running',
                ExpressionAttributeNames: { '#s': 'status' },
                ExpressionAttributeValues: {
                  ':terminated': 'terminated',
                  ':running': 'running',
                  ':at': terminated.terminated_at,
                  ':t': termination,
                },
              },
            },
            // The other termination won the race: replay it if it is this one, else 409.
            onConditionFailed: (old) => {
              const current = old ? recordOf(old) : undefined;
              try {
                const again = terminationDecision(executionId, current, agentId, termination);
                return again === 'replay' ? { kind: 'done', result: current as ExecutionRecord } : { kind: 'retry' };
              } catch (error) {
                return { kind: 'fail', error: error as Error };
              }
            },
          },
          outboxAction(this.tableName, [event], now),
        ],
        result: () => terminated,
      };
    });
  }
}
