/**
 * The shared DynamoDB plumbing without a DynamoDB: the credentials rule, the paging of queries
 * and the backoff of batch reads, against a scripted document client.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import {
  clientConfig,
  credentialsFor,
  dynamoOptionsOf,
  getAll,
  queryAll,
  queryPages,
  type TableRef,
} from './client.ts';

/** A document client answering each `send` with the next scripted output, recording the inputs. */
function scripted(outputs: Array<(input: Record<string, unknown>) => unknown>, limit = 50) {
  const inputs: Array<Record<string, unknown>> = [];
  const doc = {
    send: async (command: { input: Record<string, unknown> }) => {
      inputs.push(command.input);
      // A loop that never ends would hang the test; fail it instead.
      if (inputs.length > limit) throw new Error(`more than ${limit} calls`);
      const next = outputs[Math.min(inputs.length - 1, outputs.length - 1)];
      return next?.(command.input) ?? {};
    },
  };
  const table: TableRef = { doc: doc as unknown as DynamoDBDocumentClient, tableName: 't' };
  return { table, inputs };
}

const keysOf = (n: number) => Array.from({ length: n }, (_, i) => ({ PK: `K#${i}`, SK: 'S' }));

describe('credentials', () => {
  it('invents dummies only for an endpoint without credentials', () => {
    const given = { accessKeyId: 'a', secretAccessKey: 'b' };
    expect(credentialsFor('http://127.0.0.1:8000', undefined)).toEqual({
      accessKeyId: 'local',
      secretAccessKey: 'local',
    });
    expect(credentialsFor('http://127.0.0.1:8000', given)).toBe(given);
    expect(credentialsFor(undefined, undefined)).toBeUndefined();
    expect(clientConfig({ region: 'eu-west-1' })).toEqual({ region: 'eu-west-1', maxAttempts: 3 });
  });

  it('passes credentials from the configuration only for an endpoint', () => {
    const keys = { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b', AWS_REGION: 'us-east-1' };
    expect(dynamoOptionsOf({ ...keys, DYNAMODB_ENDPOINT: undefined })).toEqual({ region: 'us-east-1' });
    expect(dynamoOptionsOf({ ...keys, DYNAMODB_ENDPOINT: 'http://x:1' })).toEqual({
      region: 'us-east-1',
      endpoint: 'http://x:1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
  });
});

describe('queryPages / queryAll', () => {
  it('reads every page from where the previous one stopped', async () => {
    const { table, inputs } = scripted([
      () => ({ Items: [{ n: 1 }], LastEvaluatedKey: { PK: 'a' } }),
      () => ({ Items: [{ n: 2 }], LastEvaluatedKey: { PK: 'b' } }),
      () => ({ Items: [{ n: 3 }] }),
    ]);
    expect(await queryAll(table, { KeyConditionExpression: 'PK = :p' })).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(inputs.map((i) => i.ExclusiveStartKey)).toEqual([undefined, { PK: 'a' }, { PK: 'b' }]);
    expect(inputs.every((i) => i.TableName === 't')).toBe(true);
  });

  it('asks each page its own limit and stops reading when the caller stops', async () => {
    const { table, inputs } = scripted([() => ({ Items: [{}], LastEvaluatedKey: { PK: 'x' } })]);
    let limit = 10;
    for await (const _ of queryPages(table, {}, { nextLimit: () => limit-- })) if (limit < 8) break;
    expect(inputs.map((i) => i.Limit)).toEqual([10, 9, 8]);
  });
});

describe('getAll', () => {
  const unprocessed = (keys: unknown[]) => ({ Responses: { t: [] }, UnprocessedKeys: { t: { Keys: keys } } });

  it('backs off, jittered and growing up to a cap, before asking unprocessed keys again', async () => {
    const wanted = keysOf(3);
    const { table, inputs } = scripted([
      () => ({ Responses: { t: [wanted[0]] }, UnprocessedKeys: { t: { Keys: wanted.slice(1) } } }),
      () => unprocessed(wanted.slice(1)),
      () => unprocessed(wanted.slice(1)),
      () => unprocessed(wanted.slice(1)),
      () => ({ Responses: { t: wanted.slice(1) } }),
    ]);
    const sleeps: number[] = [];
    const found = await getAll(table, wanted, {
      baseMs: 10,
      maxMs: 50,
      random: () => 0.5,
      sleep: async (ms) => void sleeps.push(ms),
    });
    expect(found).toEqual(wanted);
    expect(inputs).toHaveLength(5);
    // Half (the injected random) of min(cap, base·2^attempt) for attempts 1..4.
    expect(sleeps).toEqual([10, 20, 25, 25]);
  });

  it('gives up after its bound when keys stay unprocessed', async () => {
    const { table, inputs } = scripted([() => unprocessed(keysOf(2))]);
    await expect(getAll(table, keysOf(2), { maxAttempts: 4, random: () => 0, sleep: async () => {} })).rejects.toThrow(
      /2 key\(s\) unprocessed/,
    );
    expect(inputs).toHaveLength(4);
  });

  it('reads in chunks of 100 keys', async () => {
    const { table, inputs } = scripted([
      (input) => ({ Responses: { t: (input.RequestItems as { t: { Keys: unknown[] } }).t.Keys } }),
    ]);
    expect(await getAll(table, keysOf(250))).toHaveLength(250);
    expect(inputs.map((i) => (i.RequestItems as { t: { Keys: unknown[] } }).t.Keys.length)).toEqual([100, 100, 50]);
  });
});
