/**
 * DynamoDB Local for benchmarks: one in-memory instance per bench, tables from the real
 * definition, and the services wired to a table.
 */
import { randomBytes } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createTable } from '../../../local/create-table.ts';
import { type DynamoDbLocal, startDynamoDbLocal } from '../../../local/dynamodb-local.ts';
import { dynamoClients } from '../../../shared/adapters/dynamodb/client.ts';

export interface BenchDb {
  local: DynamoDbLocal;
  raw: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  newTable(prefix: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startBenchDb(): Promise<BenchDb> {
  const local = await startDynamoDbLocal({ inMemory: true });
  // More SDK attempts than a function's: a bench loads one DynamoDB Local far harder.
  const { raw, doc, destroy } = dynamoClients({ endpoint: local.endpoint, region: 'us-east-1', maxAttempts: 10 });
  return {
    local,
    raw,
    doc,
    async newTable(prefix) {
      const name = `${prefix}-${randomBytes(4).toString('hex')}`;
      await createTable(raw, name);
      return name;
    },
    async stop() {
      destroy();
      await local.stop();
    },
  };
}

/** Writes items with BatchWriteItem (25 per call, a few calls in flight), retrying leftovers. */
export async function putAll(
  doc: DynamoDBDocumentClient,
  table: string,
  items: Record<string, unknown>[],
): Promise<void> {
  const chunks: Record<string, unknown>[][] = [];
  for (let i = 0; i < items.length; i += 25) chunks.push(items.slice(i, i + 25));
  let next = 0;
  const worker = async () => {
    while (next < chunks.length) {
      const chunk = chunks[next++];
      if (!chunk) break;
      let requests = chunk.map((Item) => ({ PutRequest: { Item } }));
      while (requests.length) {
        const out = await doc.send(new BatchWriteCommand({ RequestItems: { [table]: requests } }));
        requests = (out.UnprocessedItems?.[table] ?? []) as typeof requests;
      }
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
}
