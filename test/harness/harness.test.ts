/**
 * The integration harness itself: DynamoDB Local answers, test tables get the production
 * definition, NATS answers with JetStream, and the handler environment points at both.
 */
import { DescribeTableCommand, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { describe, expect, inject, it } from 'vitest';
import { dynamoClients } from '#shared/adapters/dynamodb/client';
import { TABLE_DEFINITION } from '#shared/table';
import {
  createTestTable,
  deleteTestTable,
  dynamoEndpoint,
  localDynamoClient,
  natsUrl,
  TEST_OPERATOR_KEY,
  testConfig,
  useTestTable,
} from './context.ts';

describe('integration harness', () => {
  const table = useTestTable('harness');

  it('hands the endpoints to tests through inject() and the environment', () => {
    expect(dynamoEndpoint()).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(inject('dynamoEndpoint')).toBe(dynamoEndpoint());
    expect(process.env.DYNAMODB_ENDPOINT).toBe(dynamoEndpoint());
    expect(natsUrl()).toMatch(/^nats:\/\//);
    expect(process.env.NATS_URL).toBe(natsUrl());
  });

  it('DynamoDB Local answers', async () => {
    const client = localDynamoClient();
    try {
      const out = await client.send(new ListTablesCommand({}));
      expect(out.TableNames).toContain(table.tableName);
    } finally {
      client.destroy();
    }
  });

  it('creates test tables with the production key schema, both GSIs and a NEW_IMAGE stream', async () => {
    const { Table } = await table.raw.send(new DescribeTableCommand({ TableName: table.tableName }));
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.KeySchema).toEqual([
      { AttributeName: TABLE_DEFINITION.partitionKey, KeyType: 'HASH' },
      { AttributeName: TABLE_DEFINITION.sortKey, KeyType: 'RANGE' },
    ]);
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    expect(Table?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: 'NEW_IMAGE' });
    expect(Table?.LatestStreamArn).toBeTruthy();
    const indexes = (Table?.GlobalSecondaryIndexes ?? []).map((gsi) => ({
      name: gsi.IndexName,
      keys: gsi.KeySchema?.map((k) => `${k.AttributeName}:${k.KeyType}`),
      projection: gsi.Projection?.ProjectionType,
    }));
    expect(indexes.sort((a, b) => String(a.name).localeCompare(String(b.name)))).toEqual(
      TABLE_DEFINITION.globalSecondaryIndexes.map((gsi) => ({
        name: gsi.indexName,
        keys: [`${gsi.partitionKey}:HASH`, `${gsi.sortKey}:RANGE`],
        projection: 'ALL',
      })),
    );
  });

  it('gives a document client that drops undefined values', async () => {
    const item = { PK: 'TEST#1', SK: 'TEST', kept: 1, dropped: undefined };
    await table.client.send(new PutCommand({ TableName: table.tableName, Item: item }));
    const { Item } = await table.client.send(
      new GetCommand({ TableName: table.tableName, Key: { PK: 'TEST#1', SK: 'TEST' } }),
    );
    expect(Item).toEqual({ PK: 'TEST#1', SK: 'TEST', kept: 1 });
  });

  it('creates distinct tables, and deleting one that is gone is harmless', async () => {
    const a = await createTestTable('harness same');
    const b = await createTestTable('harness same');
    expect(a.tableName).not.toBe(b.tableName);
    expect(a.tableName).toMatch(/^harness-same-/);
    await deleteTestTable(a);
    await deleteTestTable(b);

    const { raw, doc } = dynamoClients({ endpoint: dynamoEndpoint(), region: 'us-east-1' });
    const { TableNames } = await raw.send(new ListTablesCommand({}));
    expect(TableNames).not.toContain(a.tableName);
    expect(TableNames).not.toContain(b.tableName);
    const gone = { tableName: a.tableName, raw, client: doc };
    await expect(deleteTestTable(gone)).resolves.toBeUndefined();
  });

  it('NATS answers with JetStream enabled', async () => {
    const nc = await connect({ servers: natsUrl(), timeout: 2_000 });
    try {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.getAccountInfo();
      expect(info.limits).toBeDefined();
    } finally {
      await nc.close();
    }
  });

  it('configures the code under test for the table, DynamoDB Local and NATS, without touching the environment', () => {
    const before = { ...process.env };
    const config = testConfig(table.tableName, { LOG_LEVEL: 'DEBUG' });
    expect(config).toMatchObject({
      TABLE_NAME: table.tableName,
      DYNAMODB_ENDPOINT: dynamoEndpoint(),
      NATS_URL: natsUrl(),
      SYNTROPISM_OPERATOR_KEY: TEST_OPERATOR_KEY,
      AWS_REGION: 'us-east-1',
      RATE_LIMIT_PER_SECOND: 100000,
      LOG_LEVEL: 'DEBUG',
    });
    expect(process.env).toEqual(before);
  });
});
