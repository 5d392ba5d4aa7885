/**
 * Wire shape of bids, allocations and rounds.
 */
import { type AllocationRecord, allocationView } from '../core/allocations.ts';
import type { BidRecord } from '../core/bids.ts';
import { formatCredits } from '../core/money.ts';

export const presentBid = (b: BidRecord) => ({
  bid_id: b.bid_id,
  round: b.round,
  agent_id: b.agent_id,
  beneficiary_id: b.beneficiary_id,
  bundle: b.bundle,
  duration_seconds: b.duration_seconds,
  amount: formatCredits(b.amount),
  status: b.status,
  reason: b.reason ?? null,
  allocation_id: b.allocation_id ?? null,
  placed_at: b.placed_at,
});

export const presentAllocation = (a: AllocationRecord, nowMs: number) => {
  const view = allocationView(a, nowMs);
  return { ...view, cost: formatCredits(view.cost) };
};
