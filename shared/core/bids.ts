/**
 * Bids, free of any storage: the bid record, and the plans of placing and cancelling one —
 * which movement each makes, which account effects, which events with which sequences. The
 * DynamoDB adapter only translates a plan into transaction actions.
 *
 * A bid's events form the aggregate `bid:<id>`: `bid_placed` (1) and the escrow hold's
 * `credits_transferred` (2) at placement; then either the refund's `credits_transferred` and
 * `bid_cancelled`, or its settlement's two events (see settlement.ts).
 */
import type { LossReason } from './clearing.ts';
import type { Envelope, EventContext } from './events.ts';
import { makeEvent } from './events.ts';
import type { Micros } from './money.ts';
import { formatCredits } from './money.ts';
import {
  type AccountLock,
  agentAggregate,
  bidAggregate,
  hold,
  type LedgerChange,
  ledgerChange,
  transferredEvent,
  voidHold,
} from './movements.ts';
import type { Clock, IdGenerator } from './ports.ts';
import type { Bundle, PerResource } from './resources.ts';
import type { RoundWindow } from './rounds.ts';

export type BidStatus = 'pending' | 'won' | 'lost' | 'cancelled' | 'rejected';
/** Why a placement was refused; a refused bid is kept with status `rejected` and this reason. */
export type RejectionReason = 'insufficient_balance' | 'below_reserve' | 'round_closed' | 'too_many_open_bids';

export interface BidRecord {
  bid_id: string;
  round: string;
  /** Who pays. */
  agent_id: string;
  /** Who gets the allocation (the payer unless paying for another agent). */
  beneficiary_id: string;
  bundle: Bundle;
  duration_seconds: number;
  amount: number;
  rates: PerResource;
  status: BidStatus;
  reason?: LossReason | RejectionReason;
  allocation_id?: string;
  placed_at: string;
  placed_at_ms: number;
  /** Sequence of the last event of this bid's aggregate. */
  seq: number;
  shard: number;
  /**
   * The request that placed it: its `bid_placed` event, scenario and trace. Settlement events
   * carry them (as `causation_id`, `scenario_id`, `trace`), so one scenario's events and one
   * trace reach from the bid request to its outcome.
   */
  origin?: { event_id: string; scenario_id?: string; trace?: { traceparent: string; tracestate: string } };
}

/** What clearing reads of each bid of a round (the round-membership item). */
export type RoundBid = Omit<BidRecord, 'allocation_id'>;

export interface PlaceBid {
  bid_id: string;
  agent_id: string;
  beneficiary_id?: string;
  bundle: Bundle;
  duration_seconds: number;
  amount: Micros;
  rates: PerResource;
}

/** Where and when a placement happens, as the adapter found it. */
export interface PlacementSetting {
  now: number;
  window: RoundWindow;
  shard: number;
  /** The escrow shard of the bid. */
  escrow: string;
  /** The payer's account as read: its version locks the write (the reply reports the balance). */
  lock: AccountLock;
  maxOpenBids: number;
}

export interface Plan {
  change: LedgerChange;
  events: Envelope[];
}

type Deps = { clock: Clock; ids: IdGenerator };

/** Placing a bid: the hold, one more open bid for the payer, `bid_placed` and the hold's event. */
export function planPlacement(
  deps: Deps,
  input: PlaceBid,
  at: PlacementSetting,
  ctx: EventContext,
): Plan & { bid: BidRecord } {
  const placedAt = new Date(at.now).toISOString();
  const beneficiary = input.beneficiary_id ?? input.agent_id;
  const movement = hold(input.bid_id, input.agent_id, at.escrow, input.amount, placedAt);
  const aggregate = bidAggregate(input.bid_id);
  const placed = makeEvent(
    deps,
    {
      type: 'bid_placed',
      agent_id: input.agent_id,
      aggregate,
      sequence: 1,
      data: {
        bid_id: input.bid_id,
        agent_id: input.agent_id,
        beneficiary_id: beneficiary,
        round: at.window.round,
        bundle: input.bundle,
        duration_seconds: input.duration_seconds,
        total_cost: formatCredits(input.amount),
      },
    },
    ctx,
  );
  const held = transferredEvent(deps, movement.record, ctx, { agent_id: input.agent_id, aggregate, sequence: 2 });
  const bid: BidRecord = {
    bid_id: input.bid_id,
    round: at.window.round,
    agent_id: input.agent_id,
    beneficiary_id: beneficiary,
    bundle: input.bundle,
    duration_seconds: input.duration_seconds,
    amount: input.amount,
    rates: input.rates,
    status: 'pending',
    placed_at: placedAt,
    placed_at_ms: at.now,
    seq: 2,
    shard: at.shard,
    origin: {
      event_id: placed.event_id,
      ...(ctx.scenario_id !== undefined && { scenario_id: ctx.scenario_id }),
      ...(ctx.trace !== undefined && { trace: ctx.trace }),
    },
  };
  const change = ledgerChange(
    [movement],
    [{ account_id: input.agent_id, open_bids: 1, open_bids_cap: at.maxOpenBids, lock: at.lock }],
  );
  return { bid, change, events: [placed, held] };
}

/** Cancelling a pending bid: the hold voided back to the payer, then `bid_cancelled`. */
export function planCancellation(
  deps: Deps,
  bid: BidRecord,
  at: { now: number; escrow: string },
  ctx: EventContext,
): Plan & { bid: BidRecord } {
  const movement = voidHold(bid.bid_id, bid.agent_id, at.escrow, bid.amount as Micros, new Date(at.now).toISOString());
  const aggregate = bidAggregate(bid.bid_id);
  const events = [
    transferredEvent(deps, movement.record, ctx, { agent_id: bid.agent_id, aggregate, sequence: bid.seq + 1 }),
    makeEvent(
      deps,
      {
        type: 'bid_cancelled',
        agent_id: bid.agent_id,
        aggregate,
        sequence: bid.seq + 2,
        data: { bid_id: bid.bid_id, agent_id: bid.agent_id },
      },
      ctx,
    ),
  ];
  const change = ledgerChange([movement], [{ account_id: bid.agent_id, open_bids: -1 }]);
  return { bid: { ...bid, status: 'cancelled', seq: bid.seq + 2 }, change, events };
}

/** What a refused placement records: the reason and, for a short balance, the figures. */
export interface Rejection {
  reason: RejectionReason;
  required?: number;
  available?: number;
  bid_id?: string;
}

/** A refused placement: `bid_rejected`, the next event of the agent's sequence. */
export function planRejection(
  deps: Deps,
  agentId: string,
  data: Rejection,
  read: { seq: number },
  ctx: EventContext,
): Plan {
  const event = makeEvent(
    deps,
    {
      type: 'bid_rejected',
      agent_id: agentId,
      aggregate: agentAggregate(agentId),
      sequence: read.seq + 1,
      data: {
        agent_id: agentId,
        reason: data.reason,
        ...(data.required !== undefined && { required: formatCredits(data.required) }),
        ...(data.available !== undefined && { available: formatCredits(data.available) }),
        ...(data.bid_id !== undefined && { bid_id: data.bid_id }),
      },
    },
    ctx,
  );
  const change = ledgerChange([], [{ account_id: agentId, seq: 1, lock: { kind: 'sequence', seq: read.seq } }]);
  return { change, events: [event] };
}
