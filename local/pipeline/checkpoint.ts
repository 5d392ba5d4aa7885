/**
 * Where the local stream poller is in the table's stream, kept as an item of the table itself
 * (`CHECKPOINT#stream-poller`): the last sequence number delivered per shard, and the shards
 * read to their end. It lives and dies with the data it describes, so a restart on persisted
 * data resumes where it stopped, and a fresh table starts from scratch.
 *
 * Saves are conditional on the version read, so two pollers on one table (two local stacks on
 * one data directory) cannot silently overwrite each other's position: the second one stops.
 */

import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { TableRef } from '#shared/adapters/dynamodb/client';
import type { Clock } from '#shared/core/ports';
import { keys } from '#shared/table';

export interface Checkpoint {
  streamArn: string;
  /** Shard id → sequence number of the last record delivered. */
  positions: Record<string, string>;
  /** Shards read to their end. */
  closed: string[];
}

/** What the poller needs of a checkpoint store (a fake in unit tests). */
export interface Checkpoints {
  load(): Promise<Checkpoint | undefined>;
  /** Throws CheckpointConflictError when someone else saved since our load or last save. */
  save(cp: Checkpoint): Promise<void>;
}

export class CheckpointConflictError extends Error {
  override readonly name = 'CheckpointConflictError';
}

export class CheckpointStore implements Checkpoints {
  private version = 0;

  constructor(
    private readonly table: TableRef,
    private readonly clock: Clock,
    private readonly reader = 'stream-poller',
  ) {}

  async load(): Promise<Checkpoint | undefined> {
    const out = await this.table.doc.send(
      new GetCommand({ TableName: this.table.tableName, Key: keys.checkpoint(this.reader), ConsistentRead: true }),
    );
    const item = out.Item;
    if (!item) {
      this.version = 0;
      return undefined;
    }
    this.version = Number(item.version ?? 0);
    return {
      streamArn: String(item.stream_arn),
      positions: (item.positions ?? {}) as Record<string, string>,
      closed: Array.isArray(item.closed) ? item.closed.map(String) : [],
    };
  }

  async save(cp: Checkpoint): Promise<void> {
    const next = this.version + 1;
    try {
      await this.table.doc.send(
        new PutCommand({
          TableName: this.table.tableName,
          Item: {
            ...keys.checkpoint(this.reader),
            kind: 'checkpoint',
            stream_arn: cp.streamArn,
            positions: cp.positions,
            closed: cp.closed,
            version: next,
            updated_at: new Date(this.clock.now()).toISOString(),
          },
          // Nobody saved since we loaded or last saved.
          ConditionExpression: this.version === 0 ? 'attribute_not_exists(PK)' : 'version = :v',
          ...(this.version !== 0 && { ExpressionAttributeValues: { ':v': this.version } }),
        }),
      );
      this.version = next;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new CheckpointConflictError(
          `another stream poller saved a checkpoint in ${this.table.tableName}; two pipelines must not share a table`,
        );
      }
      throw error;
    }
  }
}
