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

/**
 * Where new credits may come from and where spent ones may go: the operator's grants (the
 * economy's genesis) and human rewards are the only minting; resources and spawn fees the only
 * burning. `GET /v1/economy` and the audit report by these purposes.
 */
export const MINTING_PURPOSES = ['agent_grant', 'human_reward'] as const satisfies readonly TransferPurpose[];
export const BURNING_PURPOSES = ['resource_burn', 'spawn_fee'] as const satisfies readonly TransferPurpose[];
export type MintingPurpose = (typeof MINTING_PURPOSES)[number];
export type BurningPurpose = (typeof BURNING_PURPOSES)[number];

/** The per-purpose tally a movement adds to a system account, if it adds one. */
export function tallyOf(t: Pick<TransferRecord, 'from' | 'to' | 'purpose'>): { account: 'from' | 'to' } | undefined {
  if (t.from === MINT_ACCOUNT) return { account: 'from' };
  if (t.to.startsWith('burn#')) return { account: 'to' };
  return undefined;
}

export interface AuditAccount {
  account_id: string;
  balance: number;
  is_agent: boolean;
  /**
   * Per-purpose totals the account keeps (mint: minted by purpose, burn shards: burned by
   * purpose), checked against the transfers when given.
   */
  tallies?: Partial<Record<TransferPurpose, number>>;
}

export interface AuditInput {
  accounts: AuditAccount[];
  entries: Entry[];
  transfers: TransferRecord[];
}

/** Minted by source and burned by purpose (µcr), summed from the transfers themselves. */
export interface SupplyTotals {
  minted: Record<MintingPurpose, number>;
  burned: Record<BurningPurpose, number>;
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
  /** The money supply by source and by purpose; `minted.agent_grant` is the genesis. */
  supply: SupplyTotals;
}

/** Recomputes every balance from entries and checks the invariants. Pure; exact integers. */
export function auditLedger(input: AuditInput): AuditReport {
  const flows = supplyFlows(input);
  const problems = [...transferProblems(input), ...flows.problems];
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
    supply: flows.supply,
  };
}

/**
 * Sums minting by source and burning by purpose over the transfers, and checks them: mint pays
 * only grants and rewards, burn receives only resources and spawn fees, and every tally an
 * account keeps equals the sum of its transfers of that purpose.
 */
function supplyFlows(input: AuditInput): { supply: SupplyTotals; problems: string[] } {
  const problems: string[] = [];
  const byAccount = new Map<string, Map<string, bigint>>();
  const minted = new Map<string, bigint>();
  const burned = new Map<string, bigint>();
  for (const t of input.transfers) {
    const tally = tallyOf(t);
    if (!tally) continue;
    const account = tally.account === 'from' ? t.from : t.to;
    const allowed: readonly string[] = tally.account === 'from' ? MINTING_PURPOSES : BURNING_PURPOSES;
    if (!allowed.includes(t.purpose)) problems.push(`transfer ${t.transfer_id}: ${account} may not move ${t.purpose}`);
    const sums = byAccount.get(account) ?? new Map<string, bigint>();
    byAccount.set(account, sums);
    sums.set(t.purpose, (sums.get(t.purpose) ?? 0n) + BigInt(t.amount));
    const total = tally.account === 'from' ? minted : burned;
    total.set(t.purpose, (total.get(t.purpose) ?? 0n) + BigInt(t.amount));
  }
  for (const a of input.accounts) {
    if (!a.tallies) continue;
    const sums = byAccount.get(a.account_id) ?? new Map<string, bigint>();
    const purposes = new Set([...Object.keys(a.tallies), ...sums.keys()]);
    for (const purpose of purposes) {
      const kept = BigInt((a.tallies as Record<string, number>)[purpose] ?? 0);
      const summed = sums.get(purpose) ?? 0n;
      if (kept !== summed)
        problems.push(`account ${a.account_id}: tally of ${purpose} is ${kept}, transfers sum to ${summed}`);
    }
  }
  const pick = <P extends string>(names: readonly P[], from: Map<string, bigint>) =>
    Object.fromEntries(names.map((n) => [n, Number(from.get(n) ?? 0n)])) as Record<P, number>;
  return { supply: { minted: pick(MINTING_PURPOSES, minted), burned: pick(BURNING_PURPOSES, burned) }, problems };
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
