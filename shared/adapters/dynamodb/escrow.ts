/**
 * Two-phase escrow for bids: `hold` moves a bid's amount from the agent to its escrow shard;
 * the bid is then resolved exactly once, either `post` (escrow → burn, `resource_burn`) for a
 * winner or `void` (escrow → agent, `escrow_refund`) for a loser or a cancelled bid.
 *
 * Exactly-once resolution comes from the transfer guard: post and void share one transfer id
 * (`bid#<id>#resolve`), so whichever commits first wins and the other is a replay (same
 * parameters) or a conflict (the other resolution) — never a second movement.
 */

import { notFound } from '../../core/errors.ts';
import type { EventContext, EventDraft } from '../../core/events.ts';
import { makeEvent } from '../../core/events.ts';
import type { TransferRecord, TransferRequest } from '../../core/ledger.ts';
import type { Micros } from '../../core/money.ts';
import { agentAggregate, insufficientBalance, type Ledger, type TransferOutcome } from './ledger.ts';
import { outboxAction } from './outbox.ts';
import type { TxAction, TxRunner } from './transaction.ts';

export const holdTransferId = (bidId: string) => `bid#${bidId}#escrow`;
export const resolveTransferId = (bidId: string) => `bid#${bidId}#resolve`;
export const bidAggregate = (bidId: string) => `bid:${bidId}`;

export interface EscrowOptions {
  ctx: EventContext;
  /** Items the business operation writes in the same transaction (the bid…). */
  extraActions?: TxAction<TransferOutcome>[];
  /** Events written after `credits_transferred`, in order, in the bid's aggregate. */
  extraEvents?: EventDraft[];
  /** Sequence of the bid aggregate before this operation (0 for a new bid). */
  bidSeq: number;
}

export class Escrow {
  constructor(
    private readonly ledger: Ledger,
    private readonly tx: TxRunner,
    private readonly runtime: { clock: { now(): number }; ids: { next(p?: string): string } },
  ) {}

  /** Agent → escrow shard of the bid. */
  hold(bidId: string, agentId: string, amount: Micros, opts: EscrowOptions): Promise<TransferOutcome> {
    return this.tx.run(`escrow hold ${bidId}`, async () => {
      const [snap, existing] = await Promise.all([
        this.ledger.snapshot(agentId),
        this.ledger.getTransfer(holdTransferId(bidId)),
      ]);
      const req: TransferRequest = {
        transfer_id: holdTransferId(bidId),
        from: agentId,
        to: this.ledger.escrowAccount(bidId),
        amount,
        purpose: 'bid_escrow',
        reference: bidId,
      };
      if (existing) return { done: replayed(existing, req) };
      if (!snap) throw notFound(`Agent ${agentId}`);
      if (snap.balance < amount) throw insufficientBalance(amount, snap.balance);
      const locked = new Map([[agentId, { ...snap, seqDelta: 0 }]]);
      return this.plan(req, locked, opts, snap.balance - amount);
    });
  }

  /** Escrow shard → burn shard: the winner's credits are spent. */
  post(bidId: string, agentId: string, amount: Micros, opts: EscrowOptions): Promise<TransferOutcome> {
    return this.resolve(bidId, agentId, amount, 'post', opts);
  }

  /** Escrow shard → agent: the bid lost or was cancelled. */
  void(bidId: string, agentId: string, amount: Micros, opts: EscrowOptions): Promise<TransferOutcome> {
    return this.resolve(bidId, agentId, amount, 'void', opts);
  }

  private resolve(
    bidId: string,
    agentId: string,
    amount: Micros,
    how: 'post' | 'void',
    opts: EscrowOptions,
  ): Promise<TransferOutcome> {
    const req: TransferRequest = {
      transfer_id: resolveTransferId(bidId),
      from: this.ledger.escrowAccount(bidId),
      to: how === 'post' ? this.ledger.burnAccount(bidId) : agentId,
      amount,
      purpose: how === 'post' ? 'resource_burn' : 'escrow_refund',
      reference: bidId,
    };
    return this.tx.run(`escrow ${how} ${bidId}`, async () => {
      const existing = await this.ledger.getTransfer(req.transfer_id);
      if (existing) return { done: replayed(existing, req) };
      return this.plan(req, new Map(), opts, undefined);
    });
  }

  private plan(
    req: TransferRequest,
    locked: Parameters<Ledger['transferActions']>[1],
    opts: EscrowOptions,
    balance: number | undefined,
  ) {
    const now = this.runtime.clock.now();
    const record: TransferRecord = { ...req, created_at: new Date(now).toISOString() };
    const aggregate = bidAggregate(String(req.reference));
    const agentId = req.from.startsWith('escrow#') ? req.to : req.from;
    const events = [
      this.ledger.transferEvent(record, opts.ctx, {
        agent_id: req.purpose === 'resource_burn' ? undefined : agentId,
        aggregate,
        sequence: opts.bidSeq + 1,
      }),
      ...(opts.extraEvents ?? []).map((d, i) =>
        makeEvent(this.runtime, { ...d, aggregate, sequence: opts.bidSeq + 2 + i }, opts.ctx),
      ),
    ];
    const actions: TxAction<TransferOutcome>[] = [
      ...this.ledger.transferActions<TransferOutcome>(record, locked, (t) => replayed(t, req)),
      ...(opts.extraActions ?? []),
      outboxAction(this.ledger.tableNameForActions, events, now),
    ];
    return {
      actions,
      result: (): TransferOutcome => ({
        transfer: record,
        replayed: false,
        ...(balance !== undefined && { balance: balance as Micros }),
      }),
    };
  }
}

function replayed(existing: TransferRecord, req: TransferRequest): TransferOutcome {
  if (existing.from !== req.from || existing.to !== req.to || existing.amount !== req.amount) {
    // A bid resolved the other way (posted vs voided) or with another amount.
    throw new EscrowAlreadyResolved(existing);
  }
  return { transfer: existing, replayed: true };
}

export class EscrowAlreadyResolved extends Error {
  override readonly name = 'EscrowAlreadyResolved';
  constructor(readonly existing: TransferRecord) {
    super(`escrow of ${existing.reference} was already resolved by ${existing.purpose}`);
  }
}

export { agentAggregate };
