/**
 * DynamoDB Local as the local stack runs it: data kept in a directory survives a restart,
 * createTable is idempotent, stop() leaves no process, a taken port is refused up front.
 * (In-memory runs are exercised by the test harness itself and by the CLI's end-to-end test.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoClients } from '#shared/adapters/dynamodb/client';
import { createTable } from './create-table.ts';
import { startDynamoDbLocal } from './dynamodb-local.ts';
import { freePort } from './ports.ts';
import { PrerequisiteError } from './processes.ts';

const clientFor = (endpoint: string) => dynamoClients({ endpoint, region: 'us-east-1' });

const isRunning = (pid: number | undefined) => {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('startDynamoDbLocal', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'syntropism-ddb-'));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it('keeps data in dataDir across a restart on the port asked for; createTable is idempotent', async () => {
    const first = await startDynamoDbLocal({ dataDir });
    let { raw, doc, destroy: destroyClients } = clientFor(first.endpoint);
    try {
      await createTable(raw, 'persisted');
      await doc.send(new PutCommand({ TableName: 'persisted', Item: { PK: 'A', SK: 'B', value: 42 } }));
    } finally {
      destroyClients();
      await first.stop();
    }
    expect(isRunning(first.pid)).toBe(false);

    const port = await freePort();
    const second = await startDynamoDbLocal({ dataDir, port });
    expect(second.endpoint).toBe(`http://127.0.0.1:${port}`);
    ({ raw, doc, destroy: destroyClients } = clientFor(second.endpoint));
    try {
      await createTable(raw, 'persisted');
      const { Item } = await doc.send(new GetCommand({ TableName: 'persisted', Key: { PK: 'A', SK: 'B' } }));
      expect(Item?.value).toBe(42);
      expect((await raw.send(new ListTablesCommand({}))).TableNames).toEqual(['persisted']);
    } finally {
      destroyClients();
      await second.stop();
      await second.stop();
    }
    expect(isRunning(second.pid)).toBe(false);
    const after = clientFor(second.endpoint);
    try {
      await expect(after.raw.send(new ListTablesCommand({}))).rejects.toThrow();
    } finally {
      after.destroy();
    }
  });

  describe('on a taken port', () => {
    let busy: Server;
    let port: number;
    beforeAll(async () => {
      busy = createServer();
      port = await new Promise<number>((resolve) =>
        busy.listen(0, '127.0.0.1', () => {
          const address = busy.address();
          resolve(typeof address === 'object' && address ? address.port : 0);
        }),
      );
    });
    afterAll(() => new Promise<void>((resolve) => busy.close(() => resolve())));

    it('refuses before starting Java, in one line', async () => {
      const start = startDynamoDbLocal({ inMemory: true, port });
      await expect(start).rejects.toThrow(PrerequisiteError);
      await expect(start).rejects.toThrow(`port ${port} is already in use`);
    });
  });
});
