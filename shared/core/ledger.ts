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
  /**
   * Totals in micro-credits, summed exactly (BigInt). The money-supply ceiling keeps them within
   * what a double holds exactly; a total beyond that is itself reported as a problem.
   */
  totals: Record<'sum_of_balances' | 'minted' | 'burned' | 'escrowed' | 'agents', number>;
}

/** Recomputes every balance from entries and checks the invariants. Pure; exact integers. */
export function auditLedger(input: AuditInput): AuditReport {
  const problems = [...transferProblems(input)];
  const fromEntries = new Map<string, bigint>();
  for (const e of input.entries) {
    const delta = BigInt(e.amount);
    fromEntries.set(e.account_id, (fromEntries.get(e.account_id) ?? 0n) + (e.direction === 'credit' ? delta : -delta));
  }
  const totals = { sum_of_balances: 0n, minted: 0n, burned: 0n, escrowed: 0n, agents: 0n };
  const seen = new Set<string>();
  for (const a of input.accounts) {
    seen.add(a.account_id);
    if (!Number.isSafeInteger(a.balance)) {
      problems.push(`account ${a.account_id}: balance ${a.balance} is not an exact integer of micro-credits`);
      continue;
    }
    const balance = BigInt(a.balance);
    totals.sum_of_balances += balance;
    const recomputed = fromEntries.get(a.account_id) ?? 0n;
    if (recomputed !== balance) {
      problems.push(`account ${a.account_id}: balance ${a.balance} but entries sum to ${recomputed}`);
    }
    if (a.account_id !== MINT_ACCOUNT && balance < 0n)
      problems.push(`account ${a.account_id} is negative: ${a.balance}`);
    if (a.account_id === MINT_ACCOUNT) totals.minted = -balance;
    else if (a.account_id.startsWith('burn#')) totals.burned += balance;
    else if (a.account_id.startsWith('escrow#')) totals.escrowed += balance;
    else if (a.is_agent) totals.agents += balance;
  }
  for (const id of fromEntries.keys()) if (!seen.has(id)) problems.push(`entries for missing account ${id}`);
  if (totals.sum_of_balances !== 0n) problems.push(`sum of balances is ${totals.sum_of_balances}, not 0`);
  for (const [name, total] of Object.entries(totals)) {
    if (!isExact(total)) problems.push(`total ${name} of ${total} µcr is beyond the money-supply range`);
  }
  return {
    ok: problems.length === 0,
    problems,
    accounts: input.accounts.length,
    transfers: input.transfers.length,
    entries: input.entries.length,
    totals: {
      sum_of_balances: Number(totals.sum_of_balances),
      minted: Number(totals.minted),
      burned: Number(totals.burned),
      escrowed: Number(totals.escrowed),
      agents: Number(totals.agents),
    },
  };
}

const isExact = (n: bigint) => n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER);

/** Every transfer has exactly its debit and its credit entry, and no entry lacks its transfer. */
function transferProblems(input: AuditInput): string[] {
  const problems: string[] = [];
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
    entriesByTransfer.delete(t.transfer_id);
    if (list.length !== 2 || !debit || !credit) {
      problems.push(`transfer ${t.transfer_id} has ${list.length} entries instead of a debit and a credit`);
      continue;
    }
    const matches =
      debit.account_id === t.from &&
      credit.account_id === t.to &&
      debit.amount === t.amount &&
      credit.amount === t.amount;
    if (!matches) problems.push(`transfer ${t.transfer_id} does not match its entries`);
  }
  for (const id of entriesByTransfer.keys()) problems.push(`entries of unknown transfer ${id}`);
  return problems;
}
