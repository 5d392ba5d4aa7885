/**
 * Clearing leases a dead stack left behind. A clearer claims a round with a lease
 * (`lease_until`, 60 s) so that a crashed clearer's round is taken over once it runs out. On a
 * data folder only one stack runs at a time (stack-lock.ts), so when a stack starts, every
 * lease still held on its table belongs to a predecessor that is gone: it is ended at once,
 * and the round clears at the first tick instead of a minute later.
 */
import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { TableRef } from '#shared/adapters/dynamodb/client';
import { keys } from '#shared/table';

export interface ReleasedLease {
  round: string;
  clearer: string;
  lease_until: number;
}

/** Ends every clearing lease on the table (only call with the data folder's lock held). */
export async function releaseDeadLeases(table: TableRef, now: number): Promise<ReleasedLease[]> {
  const released: ReleasedLease[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await table.doc.send(
      new QueryCommand({
        TableName: table.tableName,
        IndexName: 'GSI2',
        KeyConditionExpression: 'GSI2PK = :p',
        ExpressionAttributeValues: { ':p': keys.unclearedRoundsIndex('').GSI2PK },
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) {
      if (item.state !== 'clearing' || typeof item.lease_until !== 'number' || item.lease_until <= now) continue;
      if (await release(table, String(item.round_id), String(item.clearer), item.lease_until, now)) {
        released.push({ round: String(item.round_id), clearer: String(item.clearer), lease_until: item.lease_until });
      }
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return released;
}

/** Moves the lease's end to now, if the round is still held by that clearer under that lease. */
async function release(table: TableRef, round: string, clearer: string, until: number, now: number) {
  try {
    await table.doc.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: keys.round(round),
        UpdateExpression: 'SET lease_until = :now',
        ConditionExpression: '#state = :clearing AND clearer = :clearer AND lease_until = :until',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':now': now - 1, ':clearing': 'clearing', ':clearer': clearer, ':until': until },
      }),
    );
    return true;
  } catch (error) {
    if ((error as { name?: string }).name === 'ConditionalCheckFailedException') return false;
    throw error;
  }
}
