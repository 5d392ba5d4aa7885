/**
 * The ledger writer: the only module that writes account items. It turns a `LedgerChange`
 * (movements and account effects, decided in `shared/core`) into transaction actions:
 *
 *   - per movement, its transfer record conditioned on the id not existing (the guard: a
 *     transfer applies at most once) and its two entries (each account's history);
 *   - per account, exactly one update holding every effect of the operation on it.
 *
 * Account conditions, each named where it is built:
 *   - a debit is conditioned on `balance >= amount` — on the item as it is at commit, so it
 *     needs no prior read and holds under any concurrency (mint alone may go negative, down to
 *     minus the money-supply ceiling);
 *   - a credit is conditioned on the account existing (no phantom accounts) and on the
 *     balance ceiling;
 *   - an account whose events the operation numbers is conditioned on its sequence (or, when
 *     the operation reported its balance, on its version), so a concurrent writer replans.
 */
import { DomainError, notFound } from '../../core/errors.ts';
import { entriesOf, sameTransfer, type TransferRecord } from '../../core/ledger.ts';
import type { EconomyConfig } from '../../core/market-config.ts';
import { formatCredits, MICROS_PER_CREDIT } from '../../core/money.ts';
import type { AccountEffect, LedgerChange } from '../../core/movements.ts';
import { keys, systemAccountOf } from '../../table.ts';
import type { Item, Resolution, TxAction } from './transaction.ts';

/** Attribute prefix of a system account's per-purpose totals: `tally_human_reward`. */
export const TALLY_PREFIX = 'tally_';

/** The per-purpose totals an account item keeps (empty for agents). */
export function talliesOf(item: Item): Partial<Record<TransferRecord['purpose'], number>> {
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(item)) {
    if (name.startsWith(TALLY_PREFIX)) out[name.slice(TALLY_PREFIX.length)] = Number(value);
  }
  return out;
}

export interface MoneyLimits {
  /** Most micro-credits ever minted (mint's balance never goes below minus this). */
  maxMinted: number;
  /** Most micro-credits any account may hold. */
  maxBalance: number;
}

/** The economy's money-supply bounds, in micro-credits. */
export function moneyLimitsOf(economy: Pick<EconomyConfig, 'money'>): MoneyLimits {
  return {
    maxMinted: economy.money.max_minted * MICROS_PER_CREDIT,
    maxBalance: economy.money.max_balance * MICROS_PER_CREDIT,
  };
}

/** What a guard that already exists means for the operation (default: replay or conflict). */
export type OnGuardExists<R> = (existing: TransferRecord, requested: TransferRecord) => Resolution<R>;

export class LedgerWriter {
  constructor(
    private readonly tableName: string,
    private readonly limits: MoneyLimits,
  ) {}

  /** The actions of a ledger change: guards and entries of its movements, one update per account. */
  actions<R>(change: LedgerChange, onGuardExists: OnGuardExists<R>): TxAction<R>[] {
    const actions: TxAction<R>[] = [];
    for (const { record } of change.movements) {
      actions.push(this.guard(record, onGuardExists), ...this.entries<R>(record));
    }
    // System accounts are created by their first movement, stamped with its time.
    const at = change.movements[0]?.record.created_at ?? new Date(0).toISOString();
    for (const effect of change.accounts) actions.push(this.account<R>(effect, at));
    return actions;
  }

  /** The transfer record, conditioned on its id not existing: a transfer applies at most once. */
  private guard<R>(record: TransferRecord, onExists: OnGuardExists<R>): TxAction<R> {
    return {
      label: `transfer guard ${record.transfer_id}`,
      item: {
        Put: {
          TableName: this.tableName,
          Item: { ...keys.transfer(record.transfer_id), kind: 'transfer', ...record },
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      },
      onConditionFailed: (old) => {
        const existing = old ? toTransferRecord(old) : undefined;
        return existing ? onExists(existing, record) : { kind: 'retry' };
      },
    };
  }

  private entries<R>(record: TransferRecord): TxAction<R>[] {
    const ms = Date.parse(record.created_at);
    return entriesOf(record).map((e) => ({
      label: `${e.direction} entry ${e.transfer_id}`,
      item: {
        Put: {
          TableName: this.tableName,
          Item: { ...keys.entry(e.account_id, ms, e.transfer_id), kind: 'entry', ...e },
        },
      },
    }));
  }

  private account<R>(effect: AccountEffect, at: string): TxAction<R> {
    if (effect.opened_at !== undefined) return this.openAccount(effect);
    const system = systemAccountOf(effect.account_id);
    if (system) return this.systemAccount(effect, system === 'mint', at);
    return this.agentAccount(effect);
  }

  /** An agent's account, created by its registration with its opening effects applied. */
  private openAccount<R>(e: AccountEffect): TxAction<R> {
    if (e.balance < 0 || e.balance > this.limits.maxBalance) throw balanceCeiling(e.balance, this.limits.maxBalance);
    return {
      label: `open ${e.account_id}`,
      item: {
        Put: {
          TableName: this.tableName,
          Item: {
            ...keys.account(e.account_id),
            kind: 'account',
            account_id: e.account_id,
            is_agent: true,
            balance: e.balance,
            total_in: e.total_in,
            total_out: e.total_out,
            open_bids: e.open_bids,
            version: 1,
            seq: e.seq,
            created_at: e.opened_at,
          },
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      },
      onConditionFailed: () => ({ kind: 'fail', error: new DomainError('conflict', 409, 'Account id collision.') }),
    };
  }

  /**
   * `mint`, `escrow#nn`, `burn#nn`: created by their first movement, never read on the write
   * path. An escrow or burn shard's debit must be covered (a broken escrow is a bug, not a
   * business outcome); mint's debit is bounded by the money-supply ceiling.
   */
  private systemAccount<R>(e: AccountEffect, isMint: boolean, at: string): TxAction<R> {
    const debit = e.balance < 0;
    const values: Record<string, unknown> = {
      ':kind': 'account',
      ':id': e.account_id,
      ':false': false,
      ':now': at,
      ':zero': 0,
      ':d': e.balance,
      ':one': 1,
    };
    let condition: string | undefined;
    if (debit && isMint) {
      if (-e.balance > this.limits.maxMinted) throw moneySupplyExhausted(-e.balance, this.limits.maxMinted);
      // Mint may only go as low as minus the ceiling of everything ever minted.
      condition = 'attribute_not_exists(balance) OR balance >= :floor';
      values[':floor'] = -e.balance - this.limits.maxMinted;
    } else if (debit) {
      condition = 'balance >= :amt';
      values[':amt'] = -e.balance;
    }
    const tallies = Object.entries(e.tallies ?? {}).map(([purpose, amount], i) => {
      values[`:t${i}`] = amount;
      return `${TALLY_PREFIX}${purpose} :t${i}`;
    });
    return {
      label: `${debit ? 'debit' : 'credit'} ${e.account_id}`,
      item: {
        Update: {
          TableName: this.tableName,
          Key: keys.account(e.account_id),
          UpdateExpression: `SET kind = :kind, account_id = :id, is_agent = :false, created_at = if_not_exists(created_at, :now), seq = if_not_exists(seq, :zero) ADD ${['balance :d', 'version :one', ...tallies].join(', ')}`,
          ...(condition && { ConditionExpression: condition }),
          ExpressionAttributeValues: values,
        },
      },
      onConditionFailed: (old) => {
        if (isMint) return { kind: 'fail', error: moneySupplyExhausted(-e.balance, this.limits.maxMinted, old) };
        return {
          kind: 'fail',
          error: new Error(
            `${e.account_id} holds ${String(old?.balance)} µcr, less than ${-e.balance}: escrow invariant broken`,
          ),
        };
      },
    };
  }

  /** An agent's account: every effect of the operation in one update. */
  private agentAccount<R>(e: AccountEffect): TxAction<R> {
    if (e.seq !== 0 && !e.lock) throw new Error(`events numbered in ${e.account_id}'s sequence need a lock`);
    const { expression, values } = agentUpdate(e);
    const conditions = ['attribute_exists(PK)'];
    // The lock: no event joined the sequence (or nothing at all changed) since the read.
    if (e.lock?.kind === 'sequence') {
      conditions.push('seq = :seq0');
      values[':seq0'] = e.lock.seq;
    } else if (e.lock?.kind === 'version') {
      conditions.push('version = :v0');
      values[':v0'] = e.lock.version;
    }
    if (e.balance < 0) {
      // The debit is covered by the balance at commit time: no read needed for correctness.
      conditions.push('balance >= :amt');
      values[':amt'] = -e.balance;
    } else if (e.balance > 0 && e.total_in > 0) {
      // Earnings are bounded by the balance ceiling; a refund only returns the agent's own credits.
      conditions.push('balance <= :room');
      values[':room'] = this.limits.maxBalance - e.balance;
    }
    if (e.open_bids > 0 && e.open_bids_cap !== undefined) {
      conditions.push('(attribute_not_exists(open_bids) OR open_bids <= :bids_room)');
      values[':bids_room'] = e.open_bids_cap - e.open_bids;
    }
    return {
      label: `account ${e.account_id}`,
      item: {
        Update: {
          TableName: this.tableName,
          Key: keys.account(e.account_id),
          UpdateExpression: expression,
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeValues: values,
        },
      },
      onConditionFailed: (old) => this.agentRefusal(e, old),
    };
  }

  /** Why an agent account's condition failed, read off the item as it was (ALL_OLD). */
  private agentRefusal<R>(e: AccountEffect, old: Item | undefined): Resolution<R> {
    if (!old) return { kind: 'fail', error: notFound(`Agent ${e.account_id}`) };
    if (e.lock?.kind === 'sequence' && Number(old.seq) !== e.lock.seq) return { kind: 'retry' };
    if (e.lock?.kind === 'version' && Number(old.version) !== e.lock.version) return { kind: 'retry' };
    const balance = Number(old.balance);
    if (e.balance < 0 && balance < -e.balance) return { kind: 'fail', error: insufficientBalance(-e.balance, balance) };
    if (e.balance > 0 && e.total_in > 0 && balance + e.balance > this.limits.maxBalance) {
      return { kind: 'fail', error: balanceCeiling(balance + e.balance, this.limits.maxBalance) };
    }
    if (e.open_bids_cap !== undefined && Number(old.open_bids ?? 0) + e.open_bids > e.open_bids_cap) {
      return { kind: 'fail', error: tooManyOpenBids(e.open_bids_cap) };
    }
    return { kind: 'retry' };
  }
}

/** The update expression of an agent account's effect: only the attributes it changes. */
function agentUpdate(e: AccountEffect): { expression: string; values: Record<string, unknown> } {
  const values: Record<string, unknown> = { ':one': 1 };
  const adds = ['version :one'];
  const add = (attr: string, v: number) => {
    if (v === 0) return;
    adds.push(`${attr} :${attr}`);
    values[`:${attr}`] = v;
  };
  add('balance', e.balance);
  add('total_in', e.total_in);
  add('total_out', e.total_out);
  add('open_bids', e.open_bids);
  add('seq', e.seq);
  return { expression: `ADD ${adds.join(', ')}`, values };
}

/** The default meaning of an existing guard: the same movement is a replay, another a conflict. */
export function replayOrConflict<R>(replay: (existing: TransferRecord) => R | Promise<R>): OnGuardExists<R> {
  return (existing, requested) =>
    sameTransfer(existing, requested)
      ? { kind: 'done', result: replay(existing) }
      : { kind: 'fail', error: transferConflict(requested.transfer_id) };
}

export const transferConflict = (transferId: string) =>
  new DomainError('conflict', 409, `Transfer ${transferId} already exists with other parameters.`);

export function insufficientBalance(required: number, available: number): DomainError {
  return new DomainError(
    'insufficient_balance',
    409,
    `The balance of ${formatCredits(available)} credits does not cover ${formatCredits(required)} credits.`,
    { required: formatCredits(required), available: formatCredits(available) },
  );
}

export function tooManyOpenBids(max: number): DomainError {
  return new DomainError('too_many_open_bids', 409, `An agent may hold at most ${max} pending bids.`, { max });
}

function balanceCeiling(wouldHold: number, max: number): DomainError {
  return new DomainError(
    'balance_ceiling_exceeded',
    409,
    `An account may hold at most ${formatCredits(max)} credits; this would make ${formatCredits(Math.min(wouldHold, Number.MAX_SAFE_INTEGER))}.`,
    { max_balance: formatCredits(max) },
  );
}

function moneySupplyExhausted(amount: number, max: number, mint?: Item): DomainError {
  const minted = mint ? -Number(mint.balance) : undefined;
  return new DomainError(
    'money_supply_exhausted',
    409,
    `Minting ${formatCredits(Math.min(amount, Number.MAX_SAFE_INTEGER))} credits would pass the money-supply ceiling of ${formatCredits(max)} credits.`,
    { max_minted: formatCredits(max), ...(minted !== undefined && { minted: formatCredits(minted) }) },
  );
}

export function toTransferRecord(item: Item): TransferRecord {
  return {
    transfer_id: String(item.transfer_id),
    from: String(item.from),
    to: String(item.to),
    amount: Number(item.amount) as TransferRecord['amount'],
    purpose: item.purpose as TransferRecord['purpose'],
    reference: (item.reference as string | null | undefined) ?? null,
    ...(typeof item.memo === 'string' && { memo: item.memo }),
    created_at: String(item.created_at),
  };
}
