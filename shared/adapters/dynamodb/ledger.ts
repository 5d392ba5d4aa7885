/**
 * The ledger on DynamoDB. Every transfer is one `TransactWriteItems` holding:
 *   1. the transfer record, conditioned on its id not existing (the guard: idempotency),
 *   2. the debit of `from`, conditioned on its balance (and, for an agent, on its version),
 *   3. the credit of `to`, conditioned on the account existing,
 *   4. the two entries (history),
 *   5. the outbox item with the events describing it,
 * plus whatever else the business operation changes (an agent, a bid…).
 *
 * Agent accounts are written with optimistic concurrency: every change increments `version`,
 * and an operation that *read* an agent account (to know its balance or its event sequence)
 * is conditioned on that version. Credits to an account nobody read are unconditional
 * increments, so receivers are not a point of contention. System accounts are never read on
 * the write path: `mint` may go negative, `escrow`/`burn` shards are sharded by the key of
 * the business object so a hold and its post/void always meet in the same shard.
 */
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DomainError, notFound } from '../../core/errors.ts';
import type { Envelope, EventContext, EventDraft, TransferPurpose } from '../../core/events.ts';
import { makeEvent } from '../../core/events.ts';
import {
  assertValidTransfer,
  type Entry,
  entriesOf,
  MINT_ACCOUNT,
  sameTransfer,
  shardOf,
  type TransferRecord,
  type TransferRequest,
} from '../../core/ledger.ts';
import { formatCredits, type Micros, micros } from '../../core/money.ts';
import type { Runtime } from '../../core/ports.ts';
import { keys, shardAccountId, systemAccountOf } from '../../table.ts';
import { getAll, type TableRef } from './client.ts';
import { listings } from './cursor.ts';
import { outboxAction } from './outbox.ts';
import type { Item, TxAction, TxRunner } from './transaction.ts';

/** Purposes that move an agent's credits into or out of escrow, not to or from someone else. */
const PARKING_PURPOSES: ReadonlySet<TransferPurpose> = new Set<TransferPurpose>([
  'bid_escrow',
  'escrow_refund',
  'service_escrow',
  'service_refund',
]);

export interface AccountItem {
  account_id: string;
  is_agent: boolean;
  balance: number;
  /** Incremented by every change; the optimistic lock. */
  version: number;
  /** Sequence of the last event whose aggregate is this agent (`agent:<id>`). */
  seq: number;
  /** Totals ever credited to and debited from an agent account (µcr). */
  total_in?: number;
  total_out?: number;
  /** Pending bids of an agent (the `too_many_open_bids` cap). */
  open_bids?: number;
  created_at: string;
}

/** A read of an agent account, used to condition a write on it. */
export interface AccountSnapshot {
  account_id: string;
  balance: Micros;
  version: number;
  seq: number;
}

export interface LedgerDeps {
  table: TableRef;
  tx: TxRunner;
  runtime: Runtime;
  shards: number;
}

export interface TransferOutcome {
  transfer: TransferRecord;
  /** True when the transfer id had already been applied: nothing changed. */
  replayed: boolean;
  /** Balance of the account the operation was made for, after the transfer (when known). */
  balance?: Micros;
}

export const agentAggregate = (agentId: string) => `agent:${agentId}`;

export class Ledger {
  constructor(private readonly deps: LedgerDeps) {}

  private get tableName() {
    return this.deps.table.tableName;
  }

  /** The table name, for operations that add their own actions to a ledger transaction. */
  get tableNameForActions(): string {
    return this.deps.table.tableName;
  }

  // ---------------------------------------------------------------- reads

  async getAccount(accountId: string, consistent = true): Promise<AccountItem | undefined> {
    const out = await this.deps.table.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.account(accountId), ConsistentRead: consistent }),
    );
    return out.Item as AccountItem | undefined;
  }

  async snapshot(accountId: string): Promise<AccountSnapshot | undefined> {
    const a = await this.getAccount(accountId);
    return a && toSnapshot(a);
  }

  async getTransfer(transferId: string): Promise<TransferRecord | undefined> {
    const out = await this.deps.table.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.transfer(transferId), ConsistentRead: true }),
    );
    return out.Item ? toTransferRecord(out.Item) : undefined;
  }

  /** Balance of a (possibly sharded) system account: the sum of its shards. */
  async systemBalance(base: 'escrow' | 'burn'): Promise<Micros> {
    const ids = Array.from({ length: this.deps.shards }, (_, i) => keys.account(shardAccountId(base, i)));
    const items = (await getAll(this.deps.table, ids)) as unknown as AccountItem[];
    return micros(items.reduce((s, a) => s + a.balance, 0));
  }

  /** An account's entries, newest first, paginated by an opaque cursor. */
  async history(
    accountId: string,
    opts: { limit: number; cursor?: string; caller: string },
  ): Promise<{ entries: Entry[]; next_cursor: string | null }> {
    const pk = keys.account(accountId).PK;
    const pages = listings.history(opts.caller, accountId);
    const start = pages.decode(opts.cursor);
    const out = await this.deps.table.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'PK = :pk AND begins_with(SK, :entry)',
        ExpressionAttributeValues: { ':pk': pk, ':entry': keys.entryPrefix },
        ScanIndexForward: false,
        Limit: opts.limit,
        ExclusiveStartKey: start,
      }),
    );
    const entries = (out.Items ?? []).map(toEntry);
    return { entries, next_cursor: pages.encode(out.LastEvaluatedKey) };
  }

  // ---------------------------------------------------------------- building blocks

  /** Deterministic escrow shard of a business key (a bid id). */
  escrowAccount(key: string): string {
    return shardAccountId('escrow', shardOf(key, this.deps.shards));
  }

  burnAccount(key: string): string {
    return shardAccountId('burn', shardOf(key, this.deps.shards));
  }

  /**
   * The actions of one transfer, for inclusion in a larger transaction.
   * `locked` lists agent accounts read by the caller: their writes are conditioned on the
   * snapshot's version (and, for a debit, the balance is known to suffice).
   */
  transferActions<R>(
    record: TransferRecord,
    locked: Map<string, AccountSnapshot & { seqDelta?: number }>,
    onReplay: (existing: TransferRecord) => R | Promise<R>,
  ): TxAction<R>[] {
    assertValidTransfer(record);
    // Escrow movements park and return an agent's own credits: neither earned nor spent.
    const counts = !PARKING_PURPOSES.has(record.purpose);
    return [
      this.guardAction(record, onReplay),
      this.accountChange<R>(record.from, -record.amount, locked.get(record.from), record.created_at, counts),
      this.accountChange<R>(record.to, record.amount, locked.get(record.to), record.created_at, counts),
      ...this.entryActions<R>(record),
    ];
  }

  /** The transfer record, conditioned on its id not existing: a transfer applies at most once. */
  guardAction<R>(record: TransferRecord, onReplay: (existing: TransferRecord) => R | Promise<R>): TxAction<R> {
    return {
      label: 'transfer guard',
      item: {
        Put: {
          TableName: this.tableName,
          Item: { ...keys.transfer(record.transfer_id), kind: 'transfer', ...record },
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      },
      onConditionFailed: (old) => {
        const existing = old ? toTransferRecord(old) : undefined;
        if (existing && sameTransfer(existing, record)) return { kind: 'done', result: onReplay(existing) };
        return {
          kind: 'fail',
          error: new DomainError(
            'conflict',
            409,
            `Transfer ${record.transfer_id} already exists with other parameters.`,
          ),
        };
      },
    };
  }

  /** The debit and credit entries of a transfer (each account's history). */
  entryActions<R>(record: TransferRecord): TxAction<R>[] {
    const nowMs = Date.parse(record.created_at);
    return entriesOf(record).map((e) => ({
      label: `${e.direction} entry`,
      item: {
        Put: {
          TableName: this.tableName,
          Item: { ...keys.entry(e.account_id, nowMs, e.transfer_id), kind: 'entry', ...e },
        },
      },
    }));
  }

  /** Only the seq bump of a locked account (an event about it without a balance change). */
  lockAction<R>(snap: AccountSnapshot, seqDelta: number): TxAction<R> {
    return {
      label: `lock ${snap.account_id}`,
      item: {
        Update: {
          TableName: this.tableName,
          Key: keys.account(snap.account_id),
          UpdateExpression: 'SET version = version + :one, seq = seq + :seq',
          ConditionExpression: 'version = :v',
          ExpressionAttributeValues: { ':one': 1, ':seq': seqDelta, ':v': snap.version },
        },
      },
      onConditionFailed: (old) =>
        old ? { kind: 'retry' } : { kind: 'fail', error: notFound(`Agent ${snap.account_id}`) },
    };
  }

  /**
   * One account's side of a movement. `counts`: whether it adds to the agent's totals earned
   * (`total_in`) and spent (`total_out`); escrow holds and refunds do not.
   */
  accountChange<R>(
    accountId: string,
    delta: number,
    lock: (AccountSnapshot & { seqDelta?: number }) | undefined,
    createdAt: string,
    counts = true,
  ): TxAction<R> {
    const table = this.tableName;
    const key = keys.account(accountId);
    const system = systemAccountOf(accountId);
    const side = delta < 0 ? 'debit' : 'credit';
    if (system) {
      // System accounts are created lazily by their first movement. Mint may go below zero
      // (it is minus everything ever minted); an escrow or burn shard's debit must be covered.
      return {
        label: `${side} ${accountId}`,
        item: {
          Update: {
            TableName: table,
            Key: key,
            UpdateExpression:
              'SET kind = :kind, account_id = :id, is_agent = :false, created_at = if_not_exists(created_at, :now), seq = if_not_exists(seq, :zero) ADD balance :d, version :one',
            ...(delta < 0 && system !== 'mint' && { ConditionExpression: 'balance >= :amt' }),
            ExpressionAttributeValues: {
              ':kind': 'account',
              ':id': accountId,
              ':false': false,
              ':now': createdAt,
              ':zero': 0,
              ':d': delta,
              ':one': 1,
              ...(delta < 0 && system !== 'mint' && { ':amt': -delta }),
            },
          },
        },
        onConditionFailed: (old) => ({
          kind: 'fail',
          error: new Error(
            `${accountId} holds ${String(old?.balance)} µcr, less than ${-delta}: escrow invariant broken`,
          ),
        }),
      };
    }
    if (lock) {
      return {
        label: `${side} ${accountId}`,
        item: {
          Update: {
            TableName: table,
            Key: key,
            UpdateExpression: `SET balance = balance + :d, version = version + :one, seq = seq + :seq${counts ? ` ADD ${delta < 0 ? 'total_out' : 'total_in'} :abs` : ''}`,
            // Condition 2: nothing changed since we read the account (so the balance we checked
            // is the balance we debit, and the event sequence we assigned is the next one).
            ConditionExpression: delta < 0 ? 'version = :v AND balance >= :amt' : 'version = :v',
            ExpressionAttributeValues: {
              ':d': delta,
              ':one': 1,
              ':seq': lock.seqDelta ?? 0,
              ':v': lock.version,
              ...(counts && { ':abs': Math.abs(delta) }),
              ...(delta < 0 && { ':amt': -delta }),
            },
          },
        },
        onConditionFailed: (old) => (old ? { kind: 'retry' } : { kind: 'fail', error: notFound(`Agent ${accountId}`) }),
      };
    }
    if (delta < 0) throw new Error(`debit of ${accountId} requires a snapshot (read before write)`);
    return {
      label: `credit ${accountId}`,
      item: {
        Update: {
          TableName: table,
          Key: key,
          UpdateExpression: counts ? 'ADD balance :d, version :one, total_in :d' : 'ADD balance :d, version :one',
          // Condition 3: ADD would otherwise create a phantom account for an unknown id.
          ConditionExpression: 'attribute_exists(PK)',
          ExpressionAttributeValues: { ':d': delta, ':one': 1 },
        },
      },
      onConditionFailed: () => ({ kind: 'fail', error: notFound(`Agent ${accountId}`) }),
    };
  }

  /** Makes the `credits_transferred` event of a transfer. */
  transferEvent(
    record: TransferRecord,
    ctx: EventContext,
    meta: { agent_id?: string; aggregate?: string; sequence?: number; causation_id?: string },
  ): Envelope {
    return makeEvent(
      this.deps.runtime,
      {
        type: 'credits_transferred',
        ...meta,
        data: {
          transfer_id: record.transfer_id,
          from: record.from,
          to: record.to,
          amount: formatCredits(record.amount),
          purpose: record.purpose,
          reference: record.reference,
          ...(record.memo !== undefined && { memo: record.memo }),
        },
      },
      ctx,
    );
  }

  // ---------------------------------------------------------------- operations

  /**
   * One transfer made on behalf of `actor` (an agent account that is locked and whose event
   * sequence numbers the events). The actor must be `from` or `to`.
   */
  async transfer(
    req: TransferRequest,
    opts: { actor: string; ctx: EventContext; extraEvents?: EventDraft[] },
  ): Promise<TransferOutcome> {
    assertValidTransfer(req);
    if (opts.actor !== req.from && opts.actor !== req.to) throw new Error('the actor must be a party of the transfer');
    // A payment to another agent wakes it when it is dormant (spec: being paid wakes an agent).
    const payee = req.to !== opts.actor && !systemAccountOf(req.to) ? req.to : undefined;
    return this.deps.tx.run<TransferOutcome>(`transfer ${req.transfer_id}`, async () => {
      const [snap, existing, payeeState] = await Promise.all([
        this.snapshot(opts.actor),
        this.getTransfer(req.transfer_id),
        payee ? this.agentState(payee) : undefined,
      ]);
      if (existing) return { done: await this.replayOutcome(existing, req, opts.actor) };
      if (!snap) throw notFound(`Agent ${opts.actor}`);
      if (opts.actor === req.from && snap.balance < req.amount) throw insufficientBalance(req.amount, snap.balance);
      const now = this.deps.runtime.clock.now();
      const record: TransferRecord = { ...req, created_at: new Date(now).toISOString() };
      const events: Envelope[] = [
        this.transferEvent(record, opts.ctx, {
          agent_id: opts.actor,
          aggregate: agentAggregate(opts.actor),
          sequence: snap.seq + 1,
        }),
        ...(opts.extraEvents ?? []).map((d, i) =>
          makeEvent(
            this.deps.runtime,
            { ...d, aggregate: agentAggregate(opts.actor), sequence: snap.seq + 2 + i },
            opts.ctx,
          ),
        ),
      ];
      const locked = new Map<string, AccountSnapshot & { seqDelta?: number }>([
        [opts.actor, { ...snap, seqDelta: events.length }],
      ]);
      const stateActions: TxAction<TransferOutcome>[] = [];
      if (payee && payeeState === 'dormant') {
        const payeeSnap = await this.snapshot(payee);
        if (!payeeSnap) throw notFound(`Agent ${payee}`);
        locked.set(payee, { ...payeeSnap, seqDelta: 1 });
        events.push(
          makeEvent(
            this.deps.runtime,
            {
              type: 'agent_awake',
              agent_id: payee,
              aggregate: agentAggregate(payee),
              sequence: payeeSnap.seq + 1,
              causation_id: events[0]?.event_id,
              data: {
                agent_id: payee,
                awakened_by: opts.actor,
                current_balance: formatCredits(payeeSnap.balance + req.amount),
              },
            },
            opts.ctx,
          ),
        );
        stateActions.push(this.agentStateAction(payee, 'dormant', 'active'));
      } else if (payee && payeeState === 'active') {
        // Paid while active: if it went dormant meanwhile, replan (and wake it).
        stateActions.push(this.agentStateAction(payee, 'active'));
      }
      const balance = micros(snap.balance + (opts.actor === req.from ? -req.amount : req.amount));
      return {
        actions: [
          ...this.transferActions<TransferOutcome>(record, locked, (t) => this.replayOutcome(t, req, opts.actor)),
          ...stateActions,
          outboxAction(this.tableName, events, now),
        ],
        result: () => ({ transfer: record, replayed: false, balance }),
      };
    });
  }

  private async agentState(agentId: string): Promise<string | undefined> {
    const out = await this.deps.table.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.agent(agentId), ConsistentRead: true }),
    );
    return out.Item?.state as string | undefined;
  }

  /** Holds the agent in state `from`, moving it to `to` when given; a change meanwhile replans. */
  agentStateAction<R>(agentId: string, from: string, to?: string): TxAction<R> {
    const condition = {
      TableName: this.tableName,
      Key: keys.agent(agentId),
      ConditionExpression: '#state = :from',
      ExpressionAttributeNames: { '#state': 'state' },
    };
    return {
      label: `agent state ${agentId}`,
      item:
        to === undefined
          ? { ConditionCheck: { ...condition, ExpressionAttributeValues: { ':from': from } } }
          : {
              Update: {
                ...condition,
                UpdateExpression: 'SET #state = :to',
                ExpressionAttributeValues: { ':from': from, ':to': to },
              },
            },
      onConditionFailed: () => ({ kind: 'retry' }),
    };
  }

  private async replayOutcome(existing: TransferRecord, req: TransferRequest, actor: string): Promise<TransferOutcome> {
    if (!sameTransfer(existing, req)) {
      throw new DomainError('conflict', 409, `Transfer ${req.transfer_id} already exists with other parameters.`);
    }
    const account = await this.getAccount(actor);
    return { transfer: existing, replayed: true, ...(account && { balance: micros(account.balance) }) };
  }
}

export function toSnapshot(a: AccountItem): AccountSnapshot {
  return { account_id: a.account_id, balance: micros(a.balance), version: a.version, seq: a.seq };
}

export function insufficientBalance(required: number, available: number): DomainError {
  return new DomainError(
    'insufficient_balance',
    409,
    `The balance of ${formatCredits(available)} credits does not cover ${formatCredits(required)} credits.`,
    { required: formatCredits(required), available: formatCredits(available) },
  );
}

export function toTransferRecord(item: Item): TransferRecord {
  return {
    transfer_id: String(item.transfer_id),
    from: String(item.from),
    to: String(item.to),
    amount: micros(Number(item.amount)),
    purpose: item.purpose as TransferRecord['purpose'],
    reference: (item.reference as string | null | undefined) ?? null,
    ...(typeof item.memo === 'string' && { memo: item.memo }),
    created_at: String(item.created_at),
  };
}

export function toEntry(item: Item): Entry {
  return {
    transfer_id: String(item.transfer_id),
    account_id: String(item.account_id),
    direction: item.direction === 'debit' ? 'debit' : 'credit',
    amount: micros(Number(item.amount)),
    counterparty: String(item.counterparty),
    purpose: item.purpose as Entry['purpose'],
    reference: (item.reference as string | null | undefined) ?? null,
    timestamp: String(item.timestamp),
  };
}

export { MINT_ACCOUNT };
