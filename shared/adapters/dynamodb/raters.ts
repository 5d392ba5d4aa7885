/**
 * Raters: the keys of the humans who read the prompt queue and reward prompts. The operator
 * creates one (its key shown once, only its hash stored) and revokes it; a revoked rater's key
 * is refused by the authorizer and by every reward's transaction, whatever a cache still holds.
 */
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { newRaterKey } from '../../core/api-keys.ts';
import { notFound } from '../../core/errors.ts';
import type { Runtime } from '../../core/ports.ts';
import { keys } from '../../table.ts';
import type { TableRef } from './client.ts';
import { listings } from './cursor.ts';
import type { TxAction } from './transaction.ts';

export type RaterStatus = 'active' | 'revoked';

export interface RaterItem {
  rater_id: string;
  name: string;
  status: RaterStatus;
  key_hash: string;
  created_at: string;
  revoked_at?: string;
}

export type RaterView = Omit<RaterItem, 'key_hash'>;

export const raterView = ({ key_hash: _hidden, ...rest }: RaterItem): RaterView => rest;

/** A rater item, consistently read: what the authorizer needs of the raters store. */
export async function readRater(table: TableRef, raterId: string): Promise<RaterItem | undefined> {
  const out = await table.doc.send(
    new GetCommand({ TableName: table.tableName, Key: keys.rater(raterId), ConsistentRead: true }),
  );
  return out.Item as RaterItem | undefined;
}

/** Holds the rater active in a transaction: a key revoked meanwhile writes nothing. */
export function activeRaterCheck<R>(tableName: string, raterId: string, onRevoked: () => Error): TxAction<R> {
  return {
    label: `rater ${raterId} active`,
    item: {
      ConditionCheck: {
        TableName: tableName,
        Key: keys.rater(raterId),
        ConditionExpression: '#status = :active',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':active': 'active' },
      },
    },
    onConditionFailed: () => ({ kind: 'fail', error: onRevoked() }),
  };
}

export class Raters {
  constructor(private readonly deps: { table: TableRef; runtime: Runtime }) {}

  get(raterId: string): Promise<RaterItem | undefined> {
    return readRater(this.deps.table, raterId);
  }

  /** Creates a rater; the key is returned once and never stored. */
  async create(name: string): Promise<{ rater: RaterView; api_key: string }> {
    const { runtime, table } = this.deps;
    const raterId = runtime.ids.next('rt');
    const { apiKey, keyHash } = newRaterKey(raterId, runtime.random);
    const rater: RaterItem = {
      rater_id: raterId,
      name,
      status: 'active',
      key_hash: keyHash,
      created_at: new Date(runtime.clock.now()).toISOString(),
    };
    await table.doc.send(
      new PutCommand({
        TableName: table.tableName,
        Item: { ...keys.rater(raterId), ...keys.ratersIndex(raterId), kind: 'rater', ...rater },
        ConditionExpression: 'attribute_not_exists(PK)',
      }),
    );
    return { rater: raterView(rater), api_key: apiKey };
  }

  /** Revokes a rater (idempotent: revoking a revoked rater answers it as it is). */
  async revoke(raterId: string): Promise<RaterView> {
    const { runtime, table } = this.deps;
    const existing = await this.get(raterId);
    if (!existing) throw notFound(`Rater ${raterId}`);
    if (existing.status === 'revoked') return raterView(existing);
    const out = await table.doc.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: keys.rater(raterId),
        UpdateExpression: 'SET #status = :revoked, revoked_at = if_not_exists(revoked_at, :now)',
        ConditionExpression: 'attribute_exists(PK)',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':revoked': 'revoked', ':now': new Date(runtime.clock.now()).toISOString() },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return raterView(out.Attributes as RaterItem);
  }

  async list(opts: { limit: number; cursor?: string; caller: string }) {
    const pages = listings.raters(opts.caller);
    const out = await this.deps.table.doc.send(
      new QueryCommand({
        TableName: this.deps.table.tableName,
        IndexName: 'GSI1',
        KeyConditionExpression: 'GSI1PK = :p',
        ExpressionAttributeValues: { ':p': keys.ratersPartition },
        Limit: opts.limit,
        ExclusiveStartKey: pages.decode(opts.cursor),
      }),
    );
    return {
      raters: ((out.Items ?? []) as RaterItem[]).map(raterView),
      next_cursor: pages.encode(out.LastEvaluatedKey),
    };
  }
}
