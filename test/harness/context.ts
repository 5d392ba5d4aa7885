/**
 * Helpers for integration tests: where DynamoDB Local and NATS are (started once per run by
 * global-setup.ts), a fresh table per test file built from the real table definition, and
 * the environment the handlers read at module scope.
 */
import { randomBytes } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, expect, inject } from 'vitest';
import { createTable } from '#local/create-table';
import { localHandlerEnv } from '#local/env';
import { auditLedger } from '#shared/adapters/dynamodb/audit';
import './provided.ts';

/** Operator key the handlers accept in tests (config demands at least 16 characters). */
export const TEST_OPERATOR_KEY = 'test-operator-key-0123456789abcdef';

const NOT_STARTED =
  'is not running for this test file: integration tests live under test/ or are named *.int.test.ts, ' +
  'so that the integration project (whose global setup starts it) runs them';

export function dynamoEndpoint(): string {
  const endpoint = inject('dynamoEndpoint') ?? process.env.DYNAMODB_ENDPOINT;
  if (!endpoint) throw new Error(`DynamoDB Local ${NOT_STARTED}`);
  return endpoint;
}

export function natsUrl(): string {
  const url = inject('natsUrl') ?? process.env.NATS_URL;
  if (!url) throw new Error(`NATS ${NOT_STARTED}`);
  return url;
}

/** A DynamoDB client for DynamoDB Local, which accepts any credentials. */
export function localDynamoClient(): DynamoDBClient {
  return new DynamoDBClient({
    endpoint: dynamoEndpoint(),
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

export interface TestTable {
  tableName: string;
  client: DynamoDBDocumentClient;
  raw: DynamoDBClient;
}

/**
 * Creates a uniquely named table (`<prefix>-<time>-<random>`) with the production definition:
 * key schema, both GSIs, the stream. One per test file keeps files independent while they
 * share one DynamoDB Local.
 */
export async function createTestTable(prefix = 'test'): Promise<TestTable> {
  const safePrefix = prefix.replace(/[^a-zA-Z0-9_.-]/g, '-').slice(0, 100) || 'test';
  const tableName = `${safePrefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const raw = localDynamoClient();
  try {
    await createTable(raw, tableName);
  } catch (error) {
    raw.destroy();
    throw error;
  }
  const client = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
  return { tableName, client, raw };
}

/** Deletes the table (if still there) and releases its clients. */
export async function deleteTestTable(table: TestTable): Promise<void> {
  try {
    await table.raw.send(new DeleteTableCommand({ TableName: table.tableName }));
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  } finally {
    table.client.destroy();
    table.raw.destroy();
  }
}

/**
 * A table created before the file's tests and deleted after them. Call it at the top of a
 * file or describe block; read its fields only inside tests and hooks.
 */
export function useTestTable(prefix = 'test'): TestTable {
  let table: TestTable | undefined;
  beforeAll(async () => {
    table = await createTestTable(prefix);
  });
  afterAll(async () => {
    if (table) await deleteTestTable(table);
  });
  const current = (): TestTable => {
    if (!table) throw new Error('useTestTable: the table exists only inside tests and hooks, after beforeAll');
    return table;
  };
  return {
    get tableName() {
      return current().tableName;
    },
    get client() {
      return current().client;
    },
    get raw() {
      return current().raw;
    },
  };
}

/**
 * Points the handlers at `tableName` on the harness's DynamoDB Local and NATS. Handlers read
 * their configuration when first imported, so call this before importing them
 * (`await import('#functions/http/agents')`) and give each table its own test file.
 */
export function applyHandlerEnv(tableName: string, options: { operatorKey?: string } = {}): Record<string, string> {
  const env = localHandlerEnv({
    dynamoEndpoint: dynamoEndpoint(),
    tableName,
    natsUrl: natsUrl(),
    operatorKey: options.operatorKey ?? TEST_OPERATOR_KEY,
  });
  Object.assign(process.env, env);
  return env;
}

/**
 * Runs the ledger audit after every test of the file (recomputed balances, sum zero, no agent
 * negative): the invariants hold whatever a test itself asserts. `current` gives the file's
 * table once it exists.
 */
export function auditAfterEach(current: () => TestTable | undefined): void {
  afterEach(async () => {
    const table = current();
    if (!table) return;
    const report = await auditLedger({ client: table.client, tableName: table.tableName });
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });
}
