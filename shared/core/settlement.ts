/**
 * Settlement, free of any storage: what settling a batch of a round's bids writes. Each
 * winner's hold is posted to burn (the payer's spending) and becomes an allocation; each
 * loser's hold is voided back to its payer; each bid moves `pending → won | lost` with its two
 * settlement events (`credits_transferred`, then `resources_allocated` or `bid_rejected`) at
 * sequences `seq + 1` and `seq + 2` of its aggregate.
 *
 * A plan is split in two so that a batch can be sized without minting event ids: the writes
 * (movements, account effects, item writes — each one transaction action) and the events.
 * `settlementBatches` sizes batches from the writes themselves, so the count of actions is
 * never written down by hand.
 */
import type { BidRecord, RoundBid } from './bids.ts';
import { type BookDecision, type LossReason, OUTCOME } from './clearing.ts';
import type { Envelope, EventContext } from './events.ts';
import { makeEvent } from './events.ts';
import { formatCredits, type Micros } from './money.ts';
import {
  actionsOfChange,
  bidAggregate,
  type LedgerChange,
  ledgerChange,
  type Movement,
  post,
  transferredEvent,
  voidHold,
} from './movements.ts';
import { type Clock, derivedId, type IdGenerator } from './ports.ts';

export interface Outcome {
  bid: RoundBid;
  won: boolean;
  reason?: LossReason;
}

export interface Allocation {
  allocation_id: string;
  bid_id: string;
  round: string;
  agent_id: string;
  payer_id: string;
  bundle: RoundBid['bundle'];
  duration_seconds: number;
  rates: RoundBid['rates'];
  cost: number;
  starts_at: string;
  starts_at_ms: number;
  ends_at: string;
  ends_at_ms: number;
  /** The token budget: `granted = used + reserved + remaining` (see core/allocations.ts). */
  tokens_granted: number;
  tokens_reserved: number;
  tokens_used: number;
  tokens_remaining: number;
  status: 'active';
}

/** One item write of a settlement, one transaction action each. */
export type SettlementItem =
  | {
      kind: 'bid_status';
      target: 'bid' | 'membership';
      bid: RoundBid;
      status: 'won' | 'lost';
      seq: number;
      reason?: LossReason;
      allocation_id?: string;
    }
  | { kind: 'allocation'; allocation: Allocation }
  | { kind: 'active_allocation'; allocation: Allocation };

export interface SettlementWrites {
  change: LedgerChange;
  items: SettlementItem[];
  settled_at: string;
}

export interface SettlementSetting {
  round: string;
  clearingAt: number;
  settledAt: number;
  escrowOf: (bidId: string) => string;
  burnOf: (bidId: string) => string;
}

/** The id of the allocation a winning bid becomes: derived, so a rerun writes the same one. */
export const allocationIdOf = (bidId: string) => derivedId('al', bidId);

/** What settling `outcomes` writes: pure, deterministic, no ids minted. */
export function settlementWrites(outcomes: readonly Outcome[], at: SettlementSetting): SettlementWrites {
  const settledAt = new Date(at.settledAt).toISOString();
  const movements: Movement[] = [];
  const items: SettlementItem[] = [];
  for (const { bid, won, reason } of outcomes) {
    const amount = bid.amount as Micros;
    const escrow = at.escrowOf(bid.bid_id);
    movements.push(
      won
        ? post(bid.bid_id, bid.agent_id, escrow, at.burnOf(bid.bid_id), amount, settledAt)
        : voidHold(bid.bid_id, bid.agent_id, escrow, amount, settledAt),
    );
    const status = won ? ('won' as const) : ('lost' as const);
    const update = { kind: 'bid_status' as const, bid, status, seq: bid.seq + 2 };
    const detail = won ? { allocation_id: allocationIdOf(bid.bid_id) } : { reason: reason ?? 'outbid' };
    items.push({ ...update, target: 'bid', ...detail }, { ...update, target: 'membership', ...detail });
    if (won) {
      const allocation = allocationOf(bid, at);
      items.push({ kind: 'allocation', allocation }, { kind: 'active_allocation', allocation });
    }
  }
  // Every settled bid leaves its payer's open bids, won or lost.
  const change = ledgerChange(
    movements,
    outcomes.map((o) => ({ account_id: o.bid.agent_id, open_bids: -1 })),
  );
  return { change, items, settled_at: settledAt };
}

function allocationOf(bid: RoundBid, at: SettlementSetting): Allocation {
  const endsAt = at.clearingAt + bid.duration_seconds * 1000;
  return {
    allocation_id: allocationIdOf(bid.bid_id),
    bid_id: bid.bid_id,
    round: at.round,
    agent_id: bid.beneficiary_id,
    payer_id: bid.agent_id,
    bundle: bid.bundle,
    duration_seconds: bid.duration_seconds,
    rates: bid.rates,
    cost: bid.amount,
    starts_at: new Date(at.clearingAt).toISOString(),
    starts_at_ms: at.clearingAt,
    ends_at: new Date(endsAt).toISOString(),
    ends_at_ms: endsAt,
    tokens_granted: bid.bundle.tokens ?? 0,
    tokens_reserved: 0,
    tokens_used: 0,
    tokens_remaining: bid.bundle.tokens ?? 0,
    status: 'active',
  };
}

/**
 * The outcomes to settle from a decision over `bids` (book row k is `bids[k]`): the winners in
 * priority order, then the losers, leaving out bids no longer pending (settled by an earlier run).
 */
export function outcomesOf(bids: readonly RoundBid[], decision: Pick<BookDecision, 'outcome' | 'winners'>): Outcome[] {
  const outcomes: Outcome[] = [];
  for (const i of decision.winners) {
    const bid = bids[i] as RoundBid;
    if (bid.status === 'pending') outcomes.push({ bid, won: true });
  }
  const { outcome } = decision;
  for (let i = 0; i < bids.length; i++) {
    const o = outcome[i];
    const bid = bids[i] as RoundBid;
    if (o === OUTCOME.won || bid.status !== 'pending') continue;
    outcomes.push({ bid, won: false, reason: o === OUTCOME.outbid ? 'outbid' : 'insufficient_supply' });
  }
  return outcomes;
}

/** Transaction actions the writes become: the ledger change's, one per item, and the outbox. */
export function actionsOfSettlement(writes: SettlementWrites): number {
  return actionsOfChange(writes.change) + writes.items.length + 1;
}

/**
 * Splits outcomes, in order, into batches that each fit one transaction. Incremental: each
 * outcome's own writes are computed once, and accounts shared within a batch are counted once,
 * which is exactly `actionsOfSettlement(settlementWrites(batch))` (a property test holds it).
 */
export function settlementBatches(
  outcomes: readonly Outcome[],
  at: SettlementSetting,
  limits: { maxActions: number; maxBids: number },
): Outcome[][] {
  const batches: Outcome[][] = [];
  let batch: Outcome[] = [];
  let accounts = new Set<string>();
  let own = 0;
  for (const o of outcomes) {
    const w = settlementWrites([o], at);
    // The batch's accounts are counted apart: an account shared by two bids is one action.
    const ownActions = actionsOfChange({ movements: w.change.movements, accounts: [] }) + w.items.length;
    const added = w.change.accounts.filter((a) => !accounts.has(a.account_id)).map((a) => a.account_id);
    const total = own + ownActions + accounts.size + added.length + 1;
    if (batch.length > 0 && (batch.length >= limits.maxBids || total > limits.maxActions)) {
      batches.push(batch);
      batch = [];
      accounts = new Set();
      own = 0;
      for (const a of w.change.accounts) accounts.add(a.account_id);
    } else {
      for (const a of added) accounts.add(a);
    }
    batch.push(o);
    own += ownActions;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/**
 * A round's settlement plan: its outcomes grouped by escrow shard (stable, so winners still
 * come first within a shard), then cut into transactions. A batch then writes one or two
 * escrow and burn shards instead of all of them, so batches settled in parallel rarely write
 * the same shard account, and those that do wait for each other in-process instead of
 * conflicting in DynamoDB.
 */
export function settlementPlan(
  outcomes: readonly Outcome[],
  at: SettlementSetting,
  limits: { maxActions: number; maxBids: number },
): Outcome[][] {
  const shard = new Map<Outcome, string>();
  for (const o of outcomes) shard.set(o, at.escrowOf(o.bid.bid_id));
  const grouped = [...outcomes].sort((a, b) => {
    const x = shard.get(a) as string;
    const y = shard.get(b) as string;
    return x < y ? -1 : x > y ? 1 : 0;
  });
  return settlementBatches(grouped, at, limits);
}

/**
 * One batch of a round's settlement handed to a settlement worker (the queue message on AWS):
 * which bids and how each ended. The worker reads the bids and settles those still pending.
 */
export interface SettlementOrder {
  round: string;
  clearing_at_ms: number;
  outcomes: { bid_id: string; won: boolean; reason?: LossReason }[];
  /** The clearing run's context (its trace), continued by the settlement events. */
  ctx?: EventContext;
}

export function settlementOrderOf(
  round: string,
  clearingAt: number,
  batch: readonly Outcome[],
  ctx: EventContext,
): SettlementOrder {
  return {
    round,
    clearing_at_ms: clearingAt,
    outcomes: batch.map((o) => ({ bid_id: o.bid.bid_id, won: o.won, ...(o.reason && { reason: o.reason }) })),
    ctx,
  };
}

/** The events of a settlement, each in its bid's aggregate and the context of its placement. */
export function settlementEvents(
  deps: { clock: Clock; ids: IdGenerator },
  outcomes: readonly Outcome[],
  writes: SettlementWrites,
  ctx: EventContext,
): Envelope[] {
  const events: Envelope[] = [];
  outcomes.forEach((o, i) => {
    const movement = writes.change.movements[i];
    if (!movement) throw new Error('settlement writes do not match their outcomes');
    const bidCtx = originContext(o.bid, ctx);
    const meta = { aggregate: bidAggregate(o.bid.bid_id), ...causeOf(o.bid) };
    // The payer of a burn, the payee of a refund.
    events.push(
      transferredEvent(deps, movement.record, bidCtx, { ...meta, agent_id: o.bid.agent_id, sequence: o.bid.seq + 1 }),
    );
    events.push(makeEvent(deps, outcomeDraft(o, meta, writes), bidCtx));
  });
  return events;
}

function outcomeDraft(o: Outcome, meta: { aggregate: string; causation_id?: string }, writes: SettlementWrites) {
  const { bid } = o;
  if (!o.won) {
    const reason = o.reason ?? 'outbid';
    return {
      type: 'bid_rejected' as const,
      agent_id: bid.agent_id,
      sequence: bid.seq + 2,
      ...meta,
      data: { agent_id: bid.agent_id, reason, bid_id: bid.bid_id },
    };
  }
  const allocation = writes.items.find(
    (it): it is Extract<SettlementItem, { kind: 'allocation' }> =>
      it.kind === 'allocation' && it.allocation.bid_id === bid.bid_id,
  )?.allocation;
  if (!allocation) throw new Error(`no allocation for winning bid ${bid.bid_id}`);
  return {
    type: 'resources_allocated' as const,
    agent_id: bid.beneficiary_id,
    sequence: bid.seq + 2,
    ...meta,
    data: {
      bid_id: bid.bid_id,
      allocation_id: allocation.allocation_id,
      agent_id: bid.beneficiary_id,
      bundle: bid.bundle,
      duration_seconds: bid.duration_seconds,
      cost: formatCredits(bid.amount),
      starts_at: allocation.starts_at,
      ends_at: allocation.ends_at,
    },
  };
}

const causeOf = (bid: RoundBid) => (bid.origin?.event_id ? { causation_id: bid.origin.event_id } : {});

/** The context of a bid's outcome: the scenario and trace of the request that placed it. */
export function originContext(bid: Pick<BidRecord, 'origin'>, ctx: EventContext): EventContext {
  return {
    ...ctx,
    ...(bid.origin?.scenario_id !== undefined && { scenario_id: bid.origin.scenario_id }),
    ...(bid.origin?.trace !== undefined && { trace: bid.origin.trace }),
  };
}
