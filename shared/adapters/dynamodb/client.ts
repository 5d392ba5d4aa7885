/**
 * DynamoDB clients and the two read loops every store shares. `dynamoClients` is the one place
 * a client is configured (marshalling, retries, the credentials rule for DynamoDB Local): the
 * functions, the local stack, the tests and the benchmarks all build theirs here.
 */
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import type { Config } from '../../config.ts';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface DynamoClientOptions {
  /** Absent: the SDK's own resolution (AWS_REGION, ~/.aws/config). */
  region?: string;
  /** Set for DynamoDB Local; absent on AWS. */
  endpoint?: string;
  /** Absent: the SDK's default provider chain (or dummies, for an endpoint; see below). */
  credentials?: Credentials;
  /** Attempts of one call by the SDK. Whole transactions are retried by TxRunner. Default 3. */
  maxAttempts?: number;
  /** Socket timeouts in ms (a readiness probe wants short ones). Default: the SDK's. */
  timeouts?: { connectionTimeout?: number; requestTimeout?: number };
}

export interface DynamoClients {
  raw: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  /** Releases both clients' sockets. */
  destroy(): void;
}

/**
 * DynamoDB Local accepts any credentials, so a fresh shell needs none: with an endpoint and
 * no credentials given, dummies. Without an endpoint (AWS) nothing is invented, the SDK's
 * provider chain decides.
 */
export function credentialsFor(endpoint: string | undefined, given: Credentials | undefined): Credentials | undefined {
  if (given) return given;
  return endpoint === undefined ? undefined : { accessKeyId: 'local', secretAccessKey: 'local' };
}

/** Configuration of a low-level client (DynamoDB or DynamoDB Streams) for `options`. */
export function clientConfig(options: DynamoClientOptions): DynamoDBClientConfig {
  const credentials = credentialsFor(options.endpoint, options.credentials);
  return {
    ...(options.region !== undefined && { region: options.region }),
    ...(options.endpoint !== undefined && { endpoint: options.endpoint }),
    ...(credentials && { credentials }),
    maxAttempts: options.maxAttempts ?? 3,
    ...(options.timeouts && { requestHandler: options.timeouts }),
  };
}

/** The marshalling every store relies on: undefined members dropped, class instances refused. */
export const MARSHALL_OPTIONS = { removeUndefinedValues: true, convertClassInstanceToMap: false } as const;

export function dynamoClients(options: DynamoClientOptions): DynamoClients {
  const raw = new DynamoDBClient(clientConfig(options));
  const doc = DynamoDBDocumentClient.from(raw, { marshallOptions: MARSHALL_OPTIONS });
  return {
    raw,
    doc,
    destroy: () => {
      doc.destroy();
      raw.destroy();
    },
  };
}

type ClientConfigFields = 'DYNAMODB_ENDPOINT' | 'AWS_REGION' | 'AWS_ACCESS_KEY_ID' | 'AWS_SECRET_ACCESS_KEY';

/** Client options from the functions' configuration. */
export function dynamoOptionsOf(config: Pick<Config, ClientConfigFields> & Partial<Config>): DynamoClientOptions {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = config;
  return {
    region: config.AWS_REGION,
    ...(config.DYNAMODB_ENDPOINT !== undefined && { endpoint: config.DYNAMODB_ENDPOINT }),
    // Only with an endpoint: on AWS the provider chain also handles the session token and expiry.
    ...(config.DYNAMODB_ENDPOINT !== undefined &&
      accessKeyId &&
      secretAccessKey && { credentials: { accessKeyId, secretAccessKey } }),
  };
}

/** The table a store works on. */
export interface TableRef {
  doc: DynamoDBDocumentClient;
  tableName: string;
}

export type QueryInput = Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey'>;

export interface PageOptions {
  /** `Limit` of the next page, asked before each call (e.g. what is still wanted). */
  nextLimit?: () => number;
}

/**
 * The pages of a query on `table`, each asked from where the previous one stopped, until the
 * last. Stop iterating to stop reading; `LastEvaluatedKey` of a page says where it stopped.
 */
export async function* queryPages(
  table: TableRef,
  input: QueryInput,
  options: PageOptions = {},
): AsyncGenerator<QueryCommandOutput, void, undefined> {
  let start: Record<string, unknown> | undefined;
  do {
    const limit = options.nextLimit?.();
    const page = await table.doc.send(
      new QueryCommand({
        ...input,
        TableName: table.tableName,
        ...(limit !== undefined && { Limit: limit }),
        ...(start !== undefined && { ExclusiveStartKey: start }),
      }),
    );
    yield page;
    start = page.LastEvaluatedKey;
  } while (start);
}

/** Every item a query matches, all pages read. */
export async function queryAll<T = Item>(table: TableRef, input: QueryInput): Promise<T[]> {
  const items: T[] = [];
  for await (const page of queryPages(table, input)) items.push(...((page.Items ?? []) as T[]));
  return items;
}

export interface BatchRetry {
  /** Calls for one chunk before giving up on keys still unprocessed. */
  maxAttempts: number;
  baseMs: number;
  maxMs: number;
  sleep: (ms: number) => Promise<void>;
  /** Uniform in [0, 1). */
  random: () => number;
}

export const DEFAULT_BATCH_RETRY: BatchRetry = {
  maxAttempts: 8,
  baseMs: 25,
  maxMs: 1_000,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
};

/**
 * Raised when keys are still unprocessed after every attempt: sustained throttling, so it bears
 * the name of the SDK's throttling error, and a transaction planning on these reads backs off
 * and ends in a 503 with Retry-After like any other throttled read (transaction.ts).
 */
export class UnprocessedKeysError extends Error {
  override readonly name = 'ProvisionedThroughputExceededException';
  constructor(readonly remaining: number) {
    super(`BatchGetItem left ${remaining} key(s) unprocessed after every retry`);
  }
}

/**
 * Consistent reads of many items by key: BatchGetItem in chunks of 100. Keys the service left
 * unprocessed (throttling, 16 MB limit) are asked again after a full-jitter exponential
 * backoff, as AWS advises; asking again at once would only be throttled again. Bounded: after
 * `maxAttempts` calls for a chunk, `UnprocessedKeysError`. Items come back in no particular
 * order; missing ones are absent.
 */
export async function getAll(
  table: TableRef,
  itemKeys: readonly Record<string, unknown>[],
  retry: Partial<BatchRetry> = {},
): Promise<Item[]> {
  const policy = { ...DEFAULT_BATCH_RETRY, ...retry };
  const found: Item[] = [];
  for (let i = 0; i < itemKeys.length; i += 100) {
    let wanted = itemKeys.slice(i, i + 100) as Record<string, unknown>[];
    for (let attempt = 0; wanted.length > 0; attempt++) {
      if (attempt >= policy.maxAttempts) throw new UnprocessedKeysError(wanted.length);
      if (attempt > 0) {
        await policy.sleep(Math.floor(policy.random() * Math.min(policy.maxMs, policy.baseMs * 2 ** attempt)));
      }
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
