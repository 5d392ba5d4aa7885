/**
 * Helpers for integration tests: where DynamoDB Local and NATS are (started once per run by
 * global-setup.ts), a fresh table per test file built from the real table definition, and the
 * configuration the code under test is handed (`testConfig`, `testServices`).
 */
import { randomBytes } from 'node:crypto';
import { DeleteTableCommand, type DynamoDBClient, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, expect, inject } from 'vitest';
import { createTable } from '#local/create-table';
import { localHandlerEnv } from '#local/env';
import { auditLedger } from '#shared/adapters/dynamodb/audit';
import { dynamoClients } from '#shared/adapters/dynamodb/client';
import { createServices, type ServiceOverrides, type Services } from '#shared/adapters/services';
import { type Config, loadConfig } from '#shared/config';
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
  return dynamoClients({ endpoint: dynamoEndpoint(), region: 'us-east-1' }).raw;
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
  const { raw, doc, destroy } = dynamoClients({ endpoint: dynamoEndpoint(), region: 'us-east-1' });
  try {
    await createTable(raw, tableName);
  } catch (error) {
    destroy();
    throw error;
  }
  return { tableName, client: doc, raw };
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
 * The variables of the handlers for `tableName` on the harness's DynamoDB Local and NATS, with
 * no throttling surprises (a test of throttling passes its own limits in `extra`) and no logs.
 */
export function testEnv(tableName: string, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return {
    ...localHandlerEnv({
      dynamoEndpoint: dynamoEndpoint(),
      tableName,
      natsUrl: natsUrl(),
      operatorKey: TEST_OPERATOR_KEY,
    }),
    RATE_LIMIT_PER_SECOND: '100000',
    RATE_LIMIT_BURST: '100000',
    LOG_LEVEL: 'SILENT',
    ...extra,
  };
}

/** The configuration of `testEnv`, as the code under test is handed it. */
export function testConfig(tableName: string, extra: Readonly<Record<string, string>> = {}): Config {
  return loadConfig(testEnv(tableName, extra));
}

/** Services on `table` (its own client), configured by `config`, with `overrides`. */
export function testServices(table: TestTable, config: Config, overrides: ServiceOverrides = {}): Services {
  return createServices(config, { table: { doc: table.client, tableName: table.tableName }, ...overrides });
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
