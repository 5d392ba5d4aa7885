/**
 * Idempotency records for `Idempotency-Key`: scoped to the caller, kept 24 h, holding the
 * fingerprint of the request and, once answered, the response (success or 4xx).
 *
 * begin(): claims the key with a conditional put. If the key is taken, the old record (returned
 * by the failed condition, no second read) decides: same fingerprint and answered → replay;
 * same fingerprint still running → in progress (409 + Retry-After); other fingerprint → 422.
 * DynamoDB Local has no TTL, so expiry is also checked here: an expired record is reclaimed.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Clock } from '../../core/ports.ts';
import { keys } from '../../table.ts';
import type { TableRef } from './client.ts';

export const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;
/** A claim older than this is considered abandoned (the function timed out or crashed). */
export const IN_PROGRESS_LEASE_SECONDS = 60;

export interface StoredResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export type Claim =
  | { kind: 'claimed' }
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'in_progress' }
  | { kind: 'mismatch' };

export interface IdempotencyStore {
  begin(caller: string, key: string, fingerprint: string): Promise<Claim>;
  complete(caller: string, key: string, response: StoredResponse): Promise<void>;
  release(caller: string, key: string): Promise<void>;
}

export class DynamoIdempotencyStore implements IdempotencyStore {
  constructor(
    private readonly table: TableRef,
    private readonly clock: Clock,
  ) {}

  async begin(caller: string, key: string, fingerprint: string): Promise<Claim> {
    const now = Math.floor(this.clock.now() / 1000);
    try {
      await this.table.doc.send(
        new PutCommand({
          TableName: this.table.tableName,
          Item: {
            ...keys.idempotency(caller, key),
            kind: 'idempotency',
            status: 'in_progress',
            fingerprint,
            lease_until: now + IN_PROGRESS_LEASE_SECONDS,
            expires_at: now + IDEMPOTENCY_TTL_SECONDS,
          },
          // Free, expired (TTL not yet run), or an abandoned claim of the same request.
          ConditionExpression:
            'attribute_not_exists(PK) OR expires_at < :now OR (#s = :running AND lease_until < :now AND fingerprint = :fp)',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':now': now, ':running': 'in_progress', ':fp': fingerprint },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { kind: 'claimed' };
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      const old = err.Item ? unmarshall(err.Item) : undefined;
      if (!old) return { kind: 'in_progress' };
      if (old.fingerprint !== fingerprint) return { kind: 'mismatch' };
      if (old.status === 'completed' && old.response)
        return { kind: 'replay', response: old.response as StoredResponse };
      return { kind: 'in_progress' };
    }
  }

  async complete(caller: string, key: string, response: StoredResponse): Promise<void> {
    await this.table.doc.send(
      new UpdateCommand({
        TableName: this.table.tableName,
        Key: keys.idempotency(caller, key),
        UpdateExpression: 'SET #s = :done, #r = :response REMOVE lease_until',
        ExpressionAttributeNames: { '#s': 'status', '#r': 'response' },
        ExpressionAttributeValues: { ':done': 'completed', ':response': response },
      }),
    );
  }

  /** Frees a key whose request failed with a 5xx, so the client's retry runs again. */
  async release(caller: string, key: string): Promise<void> {
    await this.table.doc
      .send(
        new DeleteCommand({
          TableName: this.table.tableName,
          Key: keys.idempotency(caller, key),
          ConditionExpression: '#s = :running',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':running': 'in_progress' },
        }),
      )
      .catch((err: unknown) => {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      });
  }
}
