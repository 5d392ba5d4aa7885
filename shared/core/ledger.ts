/**
 * Ledger rules, free of any storage: accounts, transfers, entries and the invariants.
 *
 * Vocabulary (fixed): an *account* holds a balance; a *transfer* moves an amount from one
 * account to another and is immutable; every transfer has exactly two *entries*, a debit on
 * its `from` account and a credit on its `to` account. Invariants, always and exactly:
 *  1. the sum of all account balances is 0 (mint is minus everything ever minted);
 *  2. every account's balance equals the sum of its entries;
 *  3. no account but mint is negative.
 */
import { createHash } from 'node:crypto';
import { DomainError } from './errors.ts';
import type { TransferPurpose } from './events.ts';
import type { Micros } from './money.ts';
import { MAX_MICROS } from './money.ts';

export const MINT_ACCOUNT = 'mint';

export interface TransferRequest {
  /** Idempotency key of the movement: client-derived or derived from the business object. */
  transfer_id: string;
  from: string;
  to: string;
  amount: Micros;
  purpose: TransferPurpose;
  /** What the transfer is about: a bid, a round, a prompt… */
  reference: string | null;
  memo?: string;
}

export interface TransferRecord extends TransferRequest {
  created_at: string;
}

export type Direction = 'debit' | 'credit';

export interface Entry {
  transfer_id: string;
  account_id: string;
  direction: Direction;
  amount: Micros;
  counterparty: string;
  purpose: TransferPurpose;
  reference: string | null;
  timestamp: string;
}

export function assertValidTransfer(t: TransferRequest): void {
  if (!Number.isSafeInteger(t.amount) || t.amount <= 0 || t.amount > MAX_MICROS) {
    throw new DomainError('validation_failed', 400, 'A transfer amount must be a positive number of credits.');
  }
  if (t.from === t.to) throw new DomainError('validation_failed', 400, 'A transfer needs two different accounts.');
  if (t.to === MINT_ACCOUNT) throw new DomainError('forbidden', 403, 'Credits cannot be returned to mint.');
}

export function entriesOf(t: TransferRecord): [Entry, Entry] {
  const common = { transfer_id: t.transfer_id, purpose: t.purpose, reference: t.reference, timestamp: t.created_at };
  return [
    { ...common, account_id: t.from, direction: 'debit', amount: t.amount, counterparty: t.to },
    { ...common, account_id: t.to, direction: 'credit', amount: t.amount, counterparty: t.from },
  ];
}

/** Whether a replayed transfer id asks for the same movement as the one recorded. */
export function sameTransfer(a: TransferRequest, b: TransferRequest): boolean {
  return (
    a.from === b.from &&
    a.to === b.to &&
    a.amount === b.amount &&
    a.purpose === b.purpose &&
    (a.reference ?? null) === (b.reference ?? null)
  );
}

/** The escrow/burn shard a bid's money goes through: stable, so hold and post/void meet. */
export function shardOf(key: string, shards: number): number {
  return createHash('sha256').update(key).digest().readUInt32BE(0) % shards;
}

export interface AuditInput {
  accounts: { account_id: string; balance: number; is_agent: boolean }[];
  entries: Entry[];
  transfers: TransferRecord[];
}

export interface AuditReport {
  ok: boolean;
  problems: string[];
  accounts: number;
  transfers: number;
  entries: number;
  /** Totals in micro-credits. */
  totals: { sum_of_balances: number; minted: number; burned: number; escrowed: number; agents: number };
}

/** Recomputes every balance from entries and checks the invariants. Pure; exact integers. */
export function auditLedger(input: AuditInput): AuditReport {
  const problems: string[] = [];
  const fromEntries = new Map<string, number>();
  for (const e of input.entries) {
    const delta = e.direction === 'credit' ? e.amount : -e.amount;
    fromEntries.set(e.account_id, (fromEntries.get(e.account_id) ?? 0) + delta);
  }
  const entriesByTransfer = new Map<string, Entry[]>();
  for (const e of input.entries) {
    const list = entriesByTransfer.get(e.transfer_id) ?? [];
    list.push(e);
    entriesByTransfer.set(e.transfer_id, list);
  }
  for (const t of input.transfers) {
    const list = entriesByTransfer.get(t.transfer_id) ?? [];
    const debit = list.find((e) => e.direction === 'debit');
    const credit = list.find((e) => e.direction === 'credit');
    if (list.length !== 2 || !debit || !credit) {
      problems.push(`transfer ${t.transfer_id} has ${list.length} entries instead of a debit and a credit`);
      continue;
    }
    if (
      debit.account_id !== t.from ||
      credit.account_id !== t.to ||
      debit.amount !== t.amount ||
      credit.amount !== t.amount
    ) {
      problems.push(`transfer ${t.transfer_id} does not match its entries`);
    }
    entriesByTransfer.delete(t.transfer_id);
  }
  for (const id of entriesByTransfer.keys()) problems.push(`entries of unknown transfer ${id}`);

  let sum = 0;
  const totals = { sum_of_balances: 0, minted: 0, burned: 0, escrowed: 0, agents: 0 };
  const seen = new Set<string>();
  for (const a of input.accounts) {
    seen.add(a.account_id);
    sum += a.balance;
    const recomputed = fromEntries.get(a.account_id) ?? 0;
    if (recomputed !== a.balance) {
      problems.push(`account ${a.account_id}: balance ${a.balance} but entries sum to ${recomputed}`);
    }
    if (a.account_id !== MINT_ACCOUNT && a.balance < 0)
      problems.push(`account ${a.account_id} is negative: ${a.balance}`);
    // `0 - x` rather than `-x`: an untouched mint reports 0, not -0.
    if (a.account_id === MINT_ACCOUNT) totals.minted = 0 - a.balance;
    else if (a.account_id.startsWith('burn#')) totals.burned += a.balance;
    else if (a.account_id.startsWith('escrow#')) totals.escrowed += a.balance;
    else if (a.is_agent) totals.agents += a.balance;
  }
  for (const id of fromEntries.keys()) if (!seen.has(id)) problems.push(`entries for missing account ${id}`);
  totals.sum_of_balances = sum;
  if (sum !== 0) problems.push(`sum of balances is ${sum}, not 0`);
  if (!Number.isSafeInteger(sum)) problems.push('sum of balances is not an exact integer');
  return {
    ok: problems.length === 0,
    problems,
    accounts: input.accounts.length,
    transfers: input.transfers.length,
    entries: input.entries.length,
    totals,
  };
}
