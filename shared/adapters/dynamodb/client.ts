/**
 * DynamoDB clients, created once per container (module scope in the functions).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
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
