/**
 * Allocations on DynamoDB: reading an agent's execution contexts and metering their tokens.
 * Every token draw is one conditional transaction on the allocation item (`tokens_remaining ≥ n`
 * and `starts_at_ms ≤ now < ends_at_ms`), with its guard and its events, so no interleaving of
 * callers can overspend and no retry can draw twice.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { type AllocationRecord, allocationStatus } from '../../core/allocations.ts';
import type { Runtime } from '../../core/ports.ts';
import { keys } from '../../table.ts';
import { queryAll, type TableRef } from './client.ts';
import type { TxRunner } from './transaction.ts';

export interface AllocationsDeps {
  table: TableRef;
  tx: TxRunner;
  runtime: Runtime;
}

/** Only the allocation's own attributes, never the table's keys. */
function recordOf(item: Record<string, unknown>): AllocationRecord {
  const { PK: _pk, SK: _sk, GSI1PK: _g, GSI1SK: _gs, kind: _k, ...rest } = item;
  return rest as unknown as AllocationRecord;
}

export class Allocations {
  constructor(private readonly deps: AllocationsDeps) {}

  protected get tableName(): string {
    return this.deps.table.tableName;
  }

  async get(allocationId: string): Promise<AllocationRecord | undefined> {
    const out = await this.deps.table.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.allocation(allocationId), ConsistentRead: true }),
    );
    return out.Item ? recordOf(out.Item) : undefined;
  }

  /** The agent's allocations whose window holds now, newest first. */
  async activeOf(agentId: string): Promise<AllocationRecord[]> {
    const now = this.deps.runtime.clock.now();
    const items = await queryAll<Record<string, unknown>>(this.deps.table, {
      IndexName: 'GSI1',
      KeyConditionExpression: 'GSI1PK = :p',
      ExpressionAttributeValues: { ':p': keys.agentAllocationsIndex(agentId, '').GSI1PK },
      ScanIndexForward: false,
    });
    return items.map(recordOf).filter((a) => allocationStatus(a, now) === 'active');
  }
}
