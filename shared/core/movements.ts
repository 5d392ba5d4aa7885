/**
 * Ledger movements and what they do to accounts, free of any storage. A *movement* is one
 * transfer with a purpose (a grant, a transfer, an escrow hold, its post or void, a burn); a
 * *ledger change* is the movements of one business operation plus the other account effects
 * it has (open-bid counts, event sequences, locks), folded into exactly one effect per account
 * — one transaction may write an item only once. The DynamoDB ledger writer turns a ledger
 * change into transaction actions and nothing else does, so the rules here are the only ones:
 *
 *  - which movements count as an agent's earnings (`total_in`) or spending (`total_out`):
 *    escrow holds and refunds park and return an agent's own credits and count as neither; a
 *    winning bid's post is the payer's spending although the payer's balance does not move;
 *  - which accounts a movement debits and credits.
 */
import { type Envelope, type EventContext, makeEvent, type TransferPurpose } from './events.ts';
import { MINT_ACCOUNT, type TransferRecord, tallyOf } from './ledger.ts';
import { formatCredits, type Micros } from './money.ts';
import type { Clock, IdGenerator } from './ports.ts';

/** Escrow movements: an agent's own credits parked and returned, neither earned nor spent. */
const PARKING: ReadonlySet<TransferPurpose> = new Set<TransferPurpose>([
  'bid_escrow',
  'escrow_refund',
  'service_escrow',
  'service_refund',
]);

export interface Movement {
  record: TransferRecord;
  /** The agent whose spending this movement is, when it is not the debited account (a post). */
  spender?: string;
}

/** How a write of an agent account is conditioned on what the operation read of it. */
export type AccountLock =
  /** Nothing changed since the read: the snapshot's balance and sequence are exact. */
  | { kind: 'version'; version: number }
  /** No other event joined the agent's sequence: the sequence numbers assigned are the next. */
  | { kind: 'sequence'; seq: number };

/** Everything one operation does to one account item. */
export interface AccountEffect {
  account_id: string;
  /** Net balance change (µcr). */
  balance: number;
  /** Added to the totals earned and spent. */
  total_in: number;
  total_out: number;
  /** Change of the pending-bid count (an agent's `too_many_open_bids` cap). */
  open_bids: number;
  /** Events added to the agent's sequence (`agent:<id>`). */
  seq: number;
  lock?: AccountLock;
  /** Refuse the write when `open_bids` would exceed this. */
  open_bids_cap?: number;
  /** The account does not exist yet: the operation opens it (an agent's registration). */
  opened_at?: string;
  /**
   * Added to a system account's per-purpose totals (mint: minted by purpose, burn: burned by
   * purpose), what `GET /v1/economy` reports and the audit checks against the transfers.
   */
  tallies?: Partial<Record<TransferPurpose, number>>;
}

export interface LedgerChange {
  movements: Movement[];
  /** One effect per account, in first-touched order (a deterministic transaction). */
  accounts: AccountEffect[];
}

/** Whether a movement's purpose adds to the agents' totals earned and spent. */
export function countsAsEarnedOrSpent(purpose: TransferPurpose): boolean {
  return !PARKING.has(purpose);
}

/** Extra effects an operation has on an account besides its movements. */
export type AccountEffectInput = Partial<Omit<AccountEffect, 'account_id'>> & { account_id: string };

/**
 * Folds movements and extra effects into one effect per account. Pure and deterministic: the
 * same operation always yields the same change.
 */
export function ledgerChange(movements: Movement[], extra: AccountEffectInput[] = []): LedgerChange {
  const byAccount = new Map<string, AccountEffect>();
  const effect = (id: string): AccountEffect => {
    let e = byAccount.get(id);
    if (!e) {
      e = { account_id: id, balance: 0, total_in: 0, total_out: 0, open_bids: 0, seq: 0 };
      byAccount.set(id, e);
    }
    return e;
  };
  for (const { record, spender } of movements) {
    const counts = countsAsEarnedOrSpent(record.purpose);
    const from = effect(record.from);
    const to = effect(record.to);
    from.balance -= record.amount;
    to.balance += record.amount;
    const tally = tallyOf(record);
    if (tally) addTally(tally.account === 'from' ? from : to, record.purpose, record.amount);
    if (!counts) continue;
    to.total_in += record.amount;
    effect(spender ?? record.from).total_out += record.amount;
  }
  for (const x of extra) {
    const e = effect(x.account_id);
    e.balance += x.balance ?? 0;
    e.total_in += x.total_in ?? 0;
    e.total_out += x.total_out ?? 0;
    e.open_bids += x.open_bids ?? 0;
    e.seq += x.seq ?? 0;
    if (x.lock) e.lock = x.lock;
    if (x.open_bids_cap !== undefined) e.open_bids_cap = x.open_bids_cap;
    if (x.opened_at !== undefined) e.opened_at = x.opened_at;
  }
  return { movements, accounts: [...byAccount.values()] };
}

function addTally(e: AccountEffect, purpose: TransferPurpose, amount: number): void {
  e.tallies ??= {};
  e.tallies[purpose] = (e.tallies[purpose] ?? 0) + amount;
}

/** Number of transaction actions a change becomes: a guard and two entries per movement, one per account. */
export function actionsOfChange(change: LedgerChange): number {
  return change.movements.length * 3 + change.accounts.length;
}

// ------------------------------------------------------------------ the vocabulary of movements

const record = (
  transfer_id: string,
  from: string,
  to: string,
  amount: Micros,
  purpose: TransferPurpose,
  reference: string | null,
  created_at: string,
  memo?: string,
): TransferRecord => ({
  transfer_id,
  from,
  to,
  amount,
  purpose,
  reference,
  created_at,
  ...(memo !== undefined && { memo }),
});

export const holdTransferId = (bidId: string) => `bid#${bidId}#escrow`;
export const resolveTransferId = (bidId: string) => `bid#${bidId}#resolve`;
export const grantTransferId = (agentId: string) => `agent#${agentId}#grant`;
export const spawnFeeTransferId = (childId: string) => `agent#${childId}#spawn_fee`;
export const spawnFundingTransferId = (childId: string) => `agent#${childId}#spawn_funding`;

/** Agent → agent, for the agent's own purposes. */
export function transfer(id: string, from: string, to: string, amount: Micros, at: string, memo?: string): Movement {
  return { record: record(id, from, to, amount, 'transfer', null, at, memo) };
}

/** Mint → agent: the operator's grant at registration, the economy's genesis. */
export function grant(agentId: string, amount: Micros, at: string): Movement {
  return { record: record(grantTransferId(agentId), MINT_ACCOUNT, agentId, amount, 'agent_grant', agentId, at) };
}

export const rewardTransferId = (promptId: string) => `prompt#${promptId}#reward`;

/** Mint → agent: a human's reward for a prompt, the one source of new credits after genesis. */
export function humanReward(promptId: string, agentId: string, amount: Micros, at: string): Movement {
  return {
    record: record(rewardTransferId(promptId), MINT_ACCOUNT, agentId, amount, 'human_reward', promptId, at),
  };
}

/** Parent → a burn shard: the fee of spawning `childId`, destroyed (the parent's spending). */
export function spawnFee(childId: string, parentId: string, burn: string, amount: Micros, at: string): Movement {
  return { record: record(spawnFeeTransferId(childId), parentId, burn, amount, 'spawn_fee', childId, at) };
}

/** Parent → child: the child's initial balance, its parent's spending and its earnings. */
export function spawnFunding(childId: string, parentId: string, amount: Micros, at: string): Movement {
  return { record: record(spawnFundingTransferId(childId), parentId, childId, amount, 'spawn_funding', childId, at) };
}

/** Agent → its bid's escrow shard (pending). */
export function hold(bidId: string, agentId: string, escrow: string, amount: Micros, at: string): Movement {
  return { record: record(holdTransferId(bidId), agentId, escrow, amount, 'bid_escrow', bidId, at) };
}

/** Escrow shard → burn shard: a winner's credits are spent (the payer's spending). */
export function post(bidId: string, payer: string, escrow: string, burn: string, amount: Micros, at: string): Movement {
  return { record: record(resolveTransferId(bidId), escrow, burn, amount, 'resource_burn', bidId, at), spender: payer };
}

/** Escrow shard → the payer: a bid lost or was cancelled. */
export function voidHold(bidId: string, payer: string, escrow: string, amount: Micros, at: string): Movement {
  return { record: record(resolveTransferId(bidId), escrow, payer, amount, 'escrow_refund', bidId, at) };
}

// ------------------------------------------------------------------ events of movements

/** The `credits_transferred` event of a movement, in the aggregate and sequence given. */
export function transferredEvent(
  deps: { clock: Clock; ids: IdGenerator },
  record: TransferRecord,
  ctx: EventContext,
  meta: { agent_id?: string; aggregate?: string; sequence?: number; causation_id?: string },
): Envelope {
  return makeEvent(
    deps,
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

export const agentAggregate = (agentId: string) => `agent:${agentId}`;
export const bidAggregate = (bidId: string) => `bid:${bidId}`;
