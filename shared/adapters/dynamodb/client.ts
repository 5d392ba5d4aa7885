/**
 * DynamoDB clients, created once per container (module scope in the functions).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../../config.ts';

export function makeDocumentClient(config: Pick<Config, 'DYNAMODB_ENDPOINT' | 'AWS_REGION'>): DynamoDBDocumentClient {
  const raw = new DynamoDBClient({
    region: config.AWS_REGION,
    ...(config.DYNAMODB_ENDPOINT && {
      endpoint: config.DYNAMODB_ENDPOINT,
      // DynamoDB Local accepts any credentials; fall back to dummies so a fresh shell works.
      credentials: {
        accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'local',
        secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'local',
      },
    }),
    // Retries of whole transactions are ours (jittered, bounded); the SDK retries single calls.
    maxAttempts: 3,
  });
  return DynamoDBDocumentClient.from(raw, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
}

/** The table a store works on. */
export interface TableRef {
  doc: DynamoDBDocumentClient;
  tableName: string;
}

/**
 * Consistent reads of many items by key: BatchGetItem in chunks of 100, keys the service left
 * unprocessed asked again. Items come back in no particular order; missing ones are absent.
 */
export async function getAll(table: TableRef, itemKeys: readonly Record<string, unknown>[]): Promise<Item[]> {
  const found: Item[] = [];
  for (let i = 0; i < itemKeys.length; i += 100) {
    let wanted = itemKeys.slice(i, i + 100) as Record<string, unknown>[];
    while (wanted.length > 0) {
      const out = await table.doc.send(
        new BatchGetCommand({ RequestItems: { [table.tableName]: { Keys: wanted, ConsistentRead: true } } }),
      );
      found.push(...((out.Responses?.[table.tableName] ?? []) as Item[]));
      wanted = (out.UnprocessedKeys?.[table.tableName]?.Keys ?? []) as Record<string, unknown>[];
    }
  }
  return found;
}

type Item = Record<string, unknown>;
