/**
 * The single DynamoDB table: its physical definition (used verbatim by the CDK stack and by
 * the local/test setup) and the key builders of every item kind. Pure data, no SDK imports,
 * so `infra/` can import it without pulling runtime code. The design and its reasons are in
 * docs/architecture.md.
 */

export const TABLE_DEFINITION = {
  partitionKey: 'PK',
  sortKey: 'SK',
  /** Epoch seconds; items past it are deleted by DynamoDB TTL (idempotency records, outbox). */
  ttlAttribute: 'expires_at',
  /** The outbox is relayed from the stream; NEW_IMAGE is all the relay needs. */
  streamViewType: 'NEW_IMAGE',
  globalSecondaryIndexes: [
    /** Overloaded index 1: agents list (`AGENTS`), bids of an agent (`AGENT#<id>#BIDS`), … */
    { indexName: 'GSI1', partitionKey: 'GSI1PK', sortKey: 'GSI1SK' },
    /** Overloaded index 2: sparse indexes such as pending bids of a round, events by type. */
    { indexName: 'GSI2', partitionKey: 'GSI2PK', sortKey: 'GSI2SK' },
  ],
} as const;

export const DEFAULT_TABLE_NAME = 'syntropism';

/** System accounts. `escrow` and `burn` are split into shards to avoid a hot key. */
export const MINT = 'mint';
export const SYSTEM_ACCOUNTS = ['mint', 'escrow', 'burn'] as const;
export type SystemAccount = (typeof SYSTEM_ACCOUNTS)[number];

export function shardAccountId(base: 'escrow' | 'burn', shard: number): string {
  return `${base}#${String(shard).padStart(2, '0')}`;
}

/** The system account (without shard) an account id belongs to, or undefined for agents. */
export function systemAccountOf(accountId: string): SystemAccount | undefined {
  const base = accountId.split('#')[0];
  return (SYSTEM_ACCOUNTS as readonly string[]).includes(base ?? '') ? (base as SystemAccount) : undefined;
}

export const keys = {
  account: (accountId: string) => ({ PK: `ACCOUNT#${accountId}`, SK: 'ACCOUNT' }),
  /** Entries live in their account's partition, sorted by time then transfer id. */
  entry: (accountId: string, timestampMs: number, transferId: string) => ({
    PK: `ACCOUNT#${accountId}`,
    SK: `ENTRY#${String(timestampMs).padStart(15, '0')}#${transferId}`,
  }),
  entryPrefix: 'ENTRY#',
  transfer: (transferId: string) => ({ PK: `TRANSFER#${transferId}`, SK: 'TRANSFER' }),
  agent: (agentId: string) => ({ PK: `AGENT#${agentId}`, SK: 'AGENT' }),
  agentsIndex: (createdKey: string) => ({ GSI1PK: 'AGENTS', GSI1SK: createdKey }),
  idempotency: (caller: string, key: string) => ({ PK: `IDEMPOTENCY#${caller}#${key}`, SK: 'IDEMPOTENCY' }),
  outbox: (outboxId: string) => ({ PK: `OUTBOX#${outboxId}`, SK: 'OUTBOX' }),
} as const;

/** Item kinds, stored in the `kind` attribute of every item (the Pipe filters on it). */
export type ItemKind = 'account' | 'entry' | 'transfer' | 'agent' | 'idempotency' | 'outbox';
