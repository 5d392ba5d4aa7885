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

/**
 * System accounts (`mint` is `MINT_ACCOUNT` of the ledger rules). `escrow` and `burn` are split
 * into shards to avoid a hot key.
 */
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
  /**
   * The event log, written by the `event-log` bus target: one item per envelope in the
   * partition of its UTC day (`YYYY-MM-DD`), sorted by event id; agent and scenario views
   * through the two indexes (see docs/pipeline.md, "Event log").
   */
  event: (day: string, eventId: string) => ({ PK: `EVENTS#${day}`, SK: eventId }),
  eventsOfAgent: (agentId: string, eventId: string) => ({ GSI1PK: `AGENT#${agentId}#EVENTS`, GSI1SK: eventId }),
  /** A transfer's event again, listed under the agent it paid (in GSI1 only). */
  eventForRecipient: (eventId: string) => ({ PK: `EVENT#${eventId}`, SK: 'RECIPIENT' }),
  eventsOfScenario: (scenarioId: string, eventId: string) => ({
    GSI2PK: `SCENARIO#${scenarioId}#EVENTS`,
    GSI2SK: eventId,
  }),
  /** A bus event a rule target gave up on, per target; listed newest first through GSI1. */
  deadLetter: (target: string, outboxId: string) => ({ PK: `DLQ#${target}`, SK: outboxId }),
  deadLettersIndex: (createdKey: string) => ({ GSI1PK: 'DEAD_LETTERS', GSI1SK: createdKey }),
  /**
   * A caller's request-rate bucket (`shared/adapters/dynamodb/rate-limiter.ts`), shared by every
   * container; expires (TTL) once the bucket would be full again.
   */
  rateLimit: (caller: string) => ({ PK: `RATE#${caller}`, SK: 'RATE' }),
  /** Position of a stream reader (the local stream poller), written after delivery. */
  checkpoint: (reader: string) => ({ PK: `CHECKPOINT#${reader}`, SK: 'CHECKPOINT' }),
  /** A round: its state (`open → clearing → cleared`), window, bid count and statistics. */
  round: (roundId: string) => ({ PK: `ROUND#${roundId}`, SK: 'ROUND' }),
  /** Rounds not yet cleared, for catch-up after downtime (sparse: removed once cleared). */
  unclearedRoundsIndex: (roundId: string) => ({ GSI2PK: 'ROUNDS#UNCLEARED', GSI2SK: roundId }),
  /** A bid, by id: its status and everything the bid API shows. */
  bid: (bidId: string) => ({ PK: `BID#${bidId}`, SK: 'BID' }),
  /**
   * A bid's membership in its round, in the round's own partitions (sharded): clearing reads
   * them with a strongly consistent query, so no committed bid can be missed (a GSI could lag).
   */
  roundBid: (roundId: string, shard: number, bidId: string) => ({ PK: `ROUND#${roundId}#BIDS#${shard}`, SK: bidId }),
  roundBidsPartition: (roundId: string, shard: number) => `ROUND#${roundId}#BIDS#${shard}`,
  agentBidsIndex: (agentId: string, bidId: string) => ({ GSI1PK: `AGENT#${agentId}#BIDS`, GSI1SK: bidId }),
  allocation: (allocationId: string) => ({ PK: `ALLOCATION#${allocationId}`, SK: 'ALLOCATION' }),
  /** An agent's allocations by start time (newest first with a descending query). */
  agentAllocationsIndex: (agentId: string, startsAtMs: number, allocationId: string) => ({
    GSI1PK: `AGENT#${agentId}#ALLOCATIONS`,
    GSI1SK: `${String(startsAtMs).padStart(15, '0')}#${allocationId}`,
  }),
  agentAllocationsPartition: (agentId: string) => `AGENT#${agentId}#ALLOCATIONS`,
  /** Allocations the sweeper has not yet marked expired, by end (sparse GSI2: removed on expiry). */
  unexpiredAllocationsIndex: (endsAtMs: number, allocationId: string) => ({
    GSI2PK: 'ALLOCATIONS#UNEXPIRED',
    GSI2SK: `${String(endsAtMs).padStart(15, '0')}#${allocationId}`,
  }),
  unexpiredAllocationsPartition: 'ALLOCATIONS#UNEXPIRED',
  /** A draw of tokens by `POST /v1/allocations/{id}/usage`: its guard, kept with its answer. */
  tokenUsage: (usageId: string) => ({ PK: `USAGE#${usageId}`, SK: 'USAGE' }),
  /** A hold on an allocation's tokens (LLM gateway), settled or released once. */
  reservation: (reservationId: string) => ({ PK: `RESERVATION#${reservationId}`, SK: 'RESERVATION' }),
  /** Reservations still held, by deadline (sparse GSI2: removed when settled). */
  heldReservationsIndex: (deadlineMs: number, reservationId: string) => ({
    GSI2PK: 'RESERVATIONS#HELD',
    GSI2SK: `${String(deadlineMs).padStart(15, '0')}#${reservationId}`,
  }),
  heldReservationsPartition: 'RESERVATIONS#HELD',
  /**
   * An execution: one run of an agent's process inside an allocation, started and terminated
   * by the execution runner (local/exec/); listed under its allocation through GSI1.
   */
  execution: (executionId: string) => ({ PK: `EXECUTION#${executionId}`, SK: 'EXECUTION' }),
  allocationExecutionsIndex: (allocationId: string, executionId: string) => ({
    GSI1PK: `ALLOCATION#${allocationId}#EXECUTIONS`,
    GSI1SK: executionId,
  }),
  /** A rater: a human's key (hash only), revocable by the operator; listed through GSI1. */
  rater: (raterId: string) => ({ PK: `RATER#${raterId}`, SK: 'RATER' }),
  ratersIndex: (raterId: string) => ({ GSI1PK: 'RATERS', GSI1SK: raterId }),
  ratersPartition: 'RATERS',
  /** A prompt to the human, one per allocation with attention. */
  prompt: (promptId: string) => ({ PK: `PROMPT#${promptId}`, SK: 'PROMPT' }),
  /**
   * Prompts by status (GSI2 `PROMPTS#PENDING|REWARDED|EXPIRED`): pending ones in the human's
   * queue order (`promptQueueKey`), the others newest first by the time they were decided.
   */
  promptsIndex: (status: string, sortKey: string) => ({ GSI2PK: `PROMPTS#${status.toUpperCase()}`, GSI2SK: sortKey }),
  promptsPartition: (status: string) => `PROMPTS#${status.toUpperCase()}`,
  /** Pending prompts by expiry (sparse GSI1: removed once rewarded or expired), for the sweeper. */
  expiringPromptsIndex: (expiresAtMs: number, promptId: string) => ({
    GSI1PK: 'PROMPTS#EXPIRING',
    GSI1SK: `${String(expiresAtMs).padStart(15, '0')}#${promptId}`,
  }),
  expiringPromptsPartition: 'PROMPTS#EXPIRING',
  /** Credits one rater minted in one UTC hour (the per-rater mint ceiling); expires by TTL. */
  mintWindow: (rater: string, hour: string) => ({ PK: `MINTED#${rater}#${hour}`, SK: 'MINTED' }),
  /** Allocations by end time: the supply still committed at a clearing is a consistent range query. */
  activeAllocation: (endsAtMs: number, allocationId: string) => ({
    PK: 'ALLOCATIONS#ACTIVE',
    SK: `${String(endsAtMs).padStart(15, '0')}#${allocationId}`,
  }),
  activeAllocationsPartition: 'ALLOCATIONS#ACTIVE',
  activeAllocationsFrom: (nowMs: number) => String(nowMs).padStart(15, '0'),
  /** Current prices of all resources (one item, updated atomically once per round). */
  prices: () => ({ PK: 'MARKET', SK: 'PRICES' }),
  /** The clearing schedule: the last round window the scheduler has handled. */
  clearingCursor: () => ({ PK: 'MARKET', SK: 'CLEARING' }),
  priceHistory: (resource: string, roundStartMs: number) => ({
    PK: `PRICE_HISTORY#${resource}`,
    SK: String(roundStartMs).padStart(15, '0'),
  }),
  /**
   * A spawned agent under its parent, by creation time (sparse GSI2: registered agents have no
   * parent). Child ids derive from the parent and a key, so time, not the id, orders them.
   */
  childrenIndex: (parentId: string, createdAtMs: number, childId: string) => ({
    GSI2PK: `AGENT#${parentId}#CHILDREN`,
    GSI2SK: `${String(createdAtMs).padStart(15, '0')}#${childId}`,
  }),
  childrenPartition: (parentId: string) => `AGENT#${parentId}#CHILDREN`,
} as const;

/** Item kinds, stored in the `kind` attribute of every item (the Pipe filters on it). */
export type ItemKind =
  | 'account'
  | 'entry'
  | 'transfer'
  | 'agent'
  | 'idempotency'
  | 'outbox'
  | 'round'
  | 'bid'
  | 'round_bid'
  | 'allocation'
  | 'active_allocation'
  | 'token_usage'
  | 'reservation'
  | 'execution'
  | 'rater'
  | 'prompt'
  | 'mint_window'
  | 'prices'
  | 'price_history'
  | 'clearing_cursor'
  | 'event'
  | 'event_recipient'
  | 'dead_letter'
  | 'rate_limit'
  | 'checkpoint';
