/**
 * The ledger on DynamoDB: account and transfer reads, an account's history, and the transfer
 * operation (agent → agent). Every write of an account item goes through the ledger writer
 * (`ledger-writer.ts`); what a movement does to accounts is decided in `shared/core/movements.ts`.
 *
 * A transfer is one `TransactWriteItems`: the transfer guard, the two entries, one update per
 * account, the outbox item with its events, and — when the payee is dormant — the payee's wake.
 * The payer's update is conditioned on the version read (its reply reports the balance after)
 * and on `balance >= amount`; the payee's is an increment conditioned on the account existing.
 */
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { notFound } from '../../core/errors.ts';
import type { Envelope, EventContext } from '../../core/events.ts';
import { makeEvent } from '../../core/events.ts';
import {
  assertValidTransfer,
  type Entry,
  sameTransfer,
  shardOf,
  type TransferRecord,
  type TransferRequest,
} from '../../core/ledger.ts';
import { formatCredits, type Micros, micros } from '../../core/money.ts';
import { type AccountEffectInput, agentAggregate, ledgerChange, transferredEvent } from '../../core/movements.ts';
import type { Runtime } from '../../core/ports.ts';
import { keys, shardAccountId, systemAccountOf } from '../../table.ts';
import { agentStateAction } from './agent-state.ts';
import { getAll, type TableRef } from './client.ts';
import { listings } from './cursor.ts';
import {
  insufficientBalance,
  type LedgerWriter,
  replayOrConflict,
  toTransferRecord,
  transferConflict,
} from './ledger-writer.ts';
import { outboxAction } from './outbox.ts';
import type { Item, TxAction, TxRunner } from './transaction.ts';

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
  writer: LedgerWriter;
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

export class Ledger {
  constructor(private readonly deps: LedgerDeps) {}

  private get tableName() {
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

  // ---------------------------------------------------------------- operations

  /**
   * One transfer made on behalf of `actor` (an agent account that is locked and whose event
   * sequence numbers the events). The actor must be `from` or `to`.
   */
  async transfer(req: TransferRequest, opts: { actor: string; ctx: EventContext }): Promise<TransferOutcome> {
    assertValidTransfer(req);
    if (opts.actor !== req.from && opts.actor !== req.to) throw new Error('the actor must be a party of the transfer');
    // A payment to another agent wakes it when it is dormant (spec: being paid wakes an agent).
    const payee = req.to !== opts.actor && !systemAccountOf(req.to) ? req.to : undefined;
    return this.deps.tx.run<TransferOutcome>(`transfer ${req.transfer_id}`, () => this.planTransfer(req, opts, payee), {
      serialize: payee ? [opts.actor, payee] : [opts.actor],
    });
  }

  private async planTransfer(req: TransferRequest, opts: { actor: string; ctx: EventContext }, payee?: string) {
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
      transferredEvent(this.deps.runtime, record, opts.ctx, {
        agent_id: opts.actor,
        aggregate: agentAggregate(opts.actor),
        sequence: snap.seq + 1,
      }),
    ];
    const effects: AccountEffectInput[] = [
      { account_id: opts.actor, seq: 1, lock: { kind: 'version', version: snap.version } },
    ];
    const stateActions: TxAction<TransferOutcome>[] = [];
    if (payee && payeeState === 'dormant') {
      const wake = await this.payeeWake(payee, opts.actor, req.amount, opts.ctx, events[0]?.event_id);
      events.push(wake.event);
      effects.push(wake.effect);
      stateActions.push(agentStateAction(this.tableName, payee, 'dormant', 'active'));
    } else if (payee && payeeState === 'active') {
      // Paid while active: if it went dormant meanwhile, replan (and wake it).
      stateActions.push(agentStateAction(this.tableName, payee, 'active'));
    }
    const change = ledgerChange([{ record }], effects);
    const balance = micros(snap.balance + (opts.actor === req.from ? -req.amount : req.amount));
    const replay = replayOrConflict<TransferOutcome>((t) => this.replayOutcome(t, req, opts.actor));
    return {
      actions: [
        ...this.deps.writer.actions<TransferOutcome>(change, replay),
        ...stateActions,
        outboxAction<TransferOutcome>(this.tableName, events, now),
      ],
      result: () => ({ transfer: record, replayed: false, balance }),
    };
  }

  /** The `agent_awake` of a dormant payee, numbered in its sequence under its version. */
  private async payeeWake(payee: string, by: string, amount: Micros, ctx: EventContext, cause?: string) {
    const snap = await this.snapshot(payee);
    if (!snap) throw notFound(`Agent ${payee}`);
    const event = makeEvent(
      this.deps.runtime,
      {
        type: 'agent_awake',
        agent_id: payee,
        aggregate: agentAggregate(payee),
        sequence: snap.seq + 1,
        ...(cause !== undefined && { causation_id: cause }),
        data: { agent_id: payee, awakened_by: by, current_balance: formatCredits(snap.balance + amount) },
      },
      ctx,
    );
    const effect: AccountEffectInput = { account_id: payee, seq: 1, lock: { kind: 'version', version: snap.version } };
    return { event, effect };
  }

  private async agentState(agentId: string): Promise<string | undefined> {
    const out = await this.deps.table.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.agent(agentId), ConsistentRead: true }),
    );
    return out.Item?.state as string | undefined;
  }

  private async replayOutcome(existing: TransferRecord, req: TransferRequest, actor: string): Promise<TransferOutcome> {
    if (!sameTransfer(existing, req)) throw transferConflict(req.transfer_id);
    const account = await this.getAccount(actor);
    return { transfer: existing, replayed: true, ...(account && { balance: micros(account.balance) }) };
  }
}

export function toSnapshot(a: AccountItem): AccountSnapshot {
  return { account_id: a.account_id, balance: micros(a.balance), version: a.version, seq: a.seq };
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
