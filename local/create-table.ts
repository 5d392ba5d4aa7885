/**
 * Creates the table from the same TABLE_DEFINITION the CDK stack uses, so the local stack
 * and the tests run against the key schema, indexes and stream that AWS gets.
 *
 * Not applied: TTL. DynamoDB Local never expires items, so nothing here enables it; tests of
 * expiry (idempotency records, outbox) must advance time themselves.
 */
import {
  type AttributeDefinition,
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  ResourceInUseException,
} from '@aws-sdk/client-dynamodb';
import { TABLE_DEFINITION } from '#shared/table';
import { sleep } from './processes.ts';

export interface CreateTableOptions {
  /** How long to wait for the table and its indexes to become ACTIVE. Default 60 s. */
  timeoutMs?: number;
}

/** Creates `tableName` unless it exists, then waits until it and its indexes are ACTIVE. */
export async function createTable(
  client: DynamoDBClient,
  tableName: string,
  options: CreateTableOptions = {},
): Promise<void> {
  const def = TABLE_DEFINITION;
  const keyAttributes = [
    def.partitionKey,
    def.sortKey,
    ...def.globalSecondaryIndexes.flatMap((gsi) => [gsi.partitionKey, gsi.sortKey]),
  ];
  const attributeDefinitions: AttributeDefinition[] = [...new Set(keyAttributes)].map((name) => ({
    AttributeName: name,
    AttributeType: 'S',
  }));
  const indexes: GlobalSecondaryIndex[] = def.globalSecondaryIndexes.map((gsi) => ({
    IndexName: gsi.indexName,
    KeySchema: [
      { AttributeName: gsi.partitionKey, KeyType: 'HASH' },
      { AttributeName: gsi.sortKey, KeyType: 'RANGE' },
    ],
    Projection: { ProjectionType: 'ALL' },
  }));

  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: attributeDefinitions,
        KeySchema: [
          { AttributeName: def.partitionKey, KeyType: 'HASH' },
          { AttributeName: def.sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: indexes,
        StreamSpecification: { StreamEnabled: true, StreamViewType: def.streamViewType },
      }),
    );
  } catch (error) {
    // Idempotent: a restart of the local stack on its persisted data finds the table there.
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  await waitUntilActive(client, tableName, options.timeoutMs ?? 60_000);
}

async function waitUntilActive(client: DynamoDBClient, tableName: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 50;
  for (;;) {
    const { Table: table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const indexesActive = (table?.GlobalSecondaryIndexes ?? []).every((gsi) => gsi.IndexStatus === 'ACTIVE');
    if (table?.TableStatus === 'ACTIVE' && indexesActive) return;
    if (Date.now() >= deadline) {
      throw new Error(`table ${tableName} is not ACTIVE after ${timeoutMs} ms (status ${table?.TableStatus})`);
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 2_000);
  }
}
