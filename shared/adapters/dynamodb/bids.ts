/**
 * Bids on DynamoDB: placement (escrow hold + bid + round membership + round condition + events,
 * one transaction), cancellation (void + bid cancelled, only while the round is open), reads,
 * and the `bid_rejected` record of refused placements. What a placement or a cancellation
 * moves and emits is decided in `shared/core/bids.ts`; this module translates the plan.
 *
 * The round condition is what makes "a bid racing the round closing" safe: the placement
 * transaction increments the round's bid count under `state = open`, and clearing flips the
 * state to `clearing` before it reads the round's bids with a consistent query. A bid is
 * therefore either committed before the flip (and read by clearing) or refused `round_closed`.
 */
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import {
  type BidRecord,
  type BidStatus,
  type PlaceBid,
  planCancellation,
  planPlacement,
  planRejection,
  type Rejection,
  type RejectionReason,
  type RoundBid,
} from '../../core/bids.ts';
import { DomainError, notFound } from '../../core/errors.ts';
import type { EventContext } from '../../core/events.ts';
import { shardOf } from '../../core/ledger.ts';
import type { EconomyConfig } from '../../core/market-config.ts';
import { type Micros, micros } from '../../core/money.ts';
import type { Runtime } from '../../core/ports.ts';
import { type RoundWindow, roundAt } from '../../core/rounds.ts';
import { keys } from '../../table.ts';
import { queryAll, type TableRef } from './client.ts';
import { listings } from './cursor.ts';
import type { Ledger } from './ledger.ts';
import { insufficientBalance, type LedgerWriter, replayOrConflict, tooManyOpenBids } from './ledger-writer.ts';
import { outboxAction } from './outbox.ts';
import type { TxAction, TxRunner } from './transaction.ts';

export type { BidRecord, BidStatus, PlaceBid, RejectionReason, RoundBid };

export interface BidsDeps {
  table: TableRef;
  tx: TxRunner;
  ledger: Ledger;
  writer: LedgerWriter;
  runtime: Runtime;
  economy: EconomyConfig;
  /** Shards of a round's bid partitions. */
  roundShards: number;
}

export class Bids {
  constructor(private readonly deps: BidsDeps) {}

  private get tableName() {
    return this.deps.table.tableName;
  }

  shardOf(bidId: string): number {
    return shardOf(bidId, this.deps.roundShards);
  }

  async get(bidId: string): Promise<BidRecord | undefined> {
    const out = await this.deps.table.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.bid(bidId), ConsistentRead: true }),
    );
    return out.Item as BidRecord | undefined;
  }

  async listForAgent(
    agentId: string,
    opts: { limit: number; cursor?: string; status?: BidStatus; round?: string; caller: string },
  ): Promise<{ bids: BidRecord[]; next_cursor: string | null }> {
    const filters: string[] = [];
    const values: Record<string, unknown> = { ':p': `AGENT#${agentId}#BIDS` };
    const names: Record<string, string> = {};
    if (opts.status) {
      filters.push('#status = :status');
      values[':status'] = opts.status;
      names['#status'] = 'status';
    }
    if (opts.round) {
      filters.push('#round = :round');
      values[':round'] = opts.round;
      names['#round'] = 'round';
    }
    const pages = listings.bidsOfAgent(opts.caller, agentId, { status: opts.status, round: opts.round });
    const out = await this.deps.table.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: 'GSI1',
        KeyConditionExpression: 'GSI1PK = :p',
        ExpressionAttributeValues: values,
        ...(filters.length && { FilterExpression: filters.join(' AND '), ExpressionAttributeNames: names }),
        ScanIndexForward: false,
        Limit: opts.limit,
        ExclusiveStartKey: pages.decode(opts.cursor),
      }),
    );
    return { bids: (out.Items ?? []) as BidRecord[], next_cursor: pages.encode(out.LastEvaluatedKey) };
  }

  /** Every bid of a round (all shards), strongly consistent. */
  async ofRound(round: string, opts: { pendingOnly?: boolean } = {}): Promise<RoundBid[]> {
    const shards = Array.from({ length: this.deps.roundShards }, (_, i) => i);
    const parts = await Promise.all(
      shards.map((shard) =>
        queryAll<RoundBid>(this.deps.table, {
          KeyConditionExpression: 'PK = :p',
          ...(opts.pendingOnly
            ? {
                FilterExpression: '#status = :pending',
                ExpressionAttributeNames: { '#status': 'status' },
                ExpressionAttributeValues: { ':p': keys.roundBidsPartition(round, shard), ':pending': 'pending' },
              }
            : { ExpressionAttributeValues: { ':p': keys.roundBidsPartition(round, shard) } }),
          ConsistentRead: true,
        }),
      ),
    );
    return parts.flat();
  }

  /** Places a bid in the round open now. */
  place(input: PlaceBid, ctx: EventContext): Promise<Placed> {
    return this.deps.tx.run<Placed>(`place bid ${input.bid_id}`, () => this.planPlace(input, ctx), {
      serialize: [input.agent_id],
    });
  }

  private async planPlace(input: PlaceBid, ctx: EventContext) {
    const { runtime, economy, ledger } = this.deps;
    const [account, existing] = await Promise.all([ledger.getAccount(input.agent_id), this.get(input.bid_id)]);
    if (existing) return { done: placedAgain(existing, input.agent_id, account?.balance) };
    if (!account?.is_agent) throw notFound(`Agent ${input.agent_id}`);
    const max = economy.bids.max_open_bids_per_agent;
    if (account.balance < input.amount) throw insufficientBalance(input.amount, account.balance);
    if ((account.open_bids ?? 0) >= max) throw tooManyOpenBids(max);
    const now = runtime.clock.now();
    const window = roundAt(now, economy.round_seconds);
    const plan = planPlacement(
      runtime,
      input,
      {
        now,
        window,
        shard: this.shardOf(input.bid_id),
        escrow: ledger.escrowAccount(input.bid_id),
        lock: { kind: 'version', version: account.version },
        maxOpenBids: max,
      },
      ctx,
    );
    const replay = async (): Promise<Placed> => {
      const [again, acc] = await Promise.all([this.get(input.bid_id), ledger.getAccount(input.agent_id)]);
      if (!again) throw new Error('escrow exists without its bid');
      return { bid: again, balance: micros(acc?.balance ?? 0), replayed: true };
    };
    const actions: TxAction<Placed>[] = [
      ...this.deps.writer.actions<Placed>(plan.change, replayOrConflict(replay)),
      ...this.placementItems(plan.bid, window, replay),
      outboxAction<Placed>(this.tableName, plan.events, now),
    ];
    const balance = micros(account.balance - input.amount);
    return { actions, result: (): Placed => ({ bid: plan.bid, balance, replayed: false }) };
  }

  /** The bid, its round membership, the round held open, and the beneficiary's existence. */
  private placementItems(bid: BidRecord, window: RoundWindow, replay: () => Promise<Placed>): TxAction<Placed>[] {
    const t = this.tableName;
    const items: TxAction<Placed>[] = [
      {
        label: 'bid',
        item: {
          Put: {
            TableName: t,
            Item: { ...keys.bid(bid.bid_id), ...keys.agentBidsIndex(bid.agent_id, bid.bid_id), kind: 'bid', ...bid },
            ConditionExpression: 'attribute_not_exists(PK)',
          },
        },
        onConditionFailed: () => ({ kind: 'done', result: replay() }),
      },
      {
        label: 'round membership',
        item: {
          Put: {
            TableName: t,
            Item: { ...keys.roundBid(bid.round, bid.shard, bid.bid_id), kind: 'round_bid', ...bid },
          },
        },
      },
      this.roundOpen(window),
    ];
    if (bid.beneficiary_id !== bid.agent_id) {
      items.push({
        label: 'beneficiary exists',
        item: {
          ConditionCheck: {
            TableName: t,
            Key: keys.agent(bid.beneficiary_id),
            ConditionExpression: 'attribute_exists(PK)',
          },
        },
        onConditionFailed: () => ({ kind: 'fail', error: notFound(`Beneficiary ${bid.beneficiary_id}`) }),
      });
    }
    return items;
  }

  /** The round accepts bids until clearing flips it: atomic, not a clock check. */
  private roundOpen<R>(window: RoundWindow): TxAction<R> {
    return {
      label: 'round open',
      item: {
        Update: {
          TableName: this.tableName,
          Key: keys.round(window.round),
          UpdateExpression:
            'SET #state = if_not_exists(#state, :open), kind = :kind, round_id = :round, starts_at_ms = :s, closes_at_ms = :c, seq = if_not_exists(seq, :zero), GSI2PK = :gpk, GSI2SK = :round ADD bid_count :one',
          ConditionExpression: 'attribute_not_exists(#state) OR #state = :open',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':open': 'open',
            ':kind': 'round',
            ':round': window.round,
            ':s': window.starts_at_ms,
            ':c': window.closes_at_ms,
            ':zero': 0,
            ':one': 1,
            ':gpk': keys.unclearedRoundsIndex(window.round).GSI2PK,
          },
        },
      },
      onConditionFailed: () => ({ kind: 'fail', error: roundClosed(window.round) }),
    };
  }

  /**
   * Cancels a pending bid of an open round: the escrow is voided back to the payer. The answer
   * is what happened to the bid: a bid that clearing settled first is `won` or `lost`, and the
   * cancellation is refused with that status (the refund and the loser's refund share one
   * resolution, so a guard that exists is never taken for this cancellation's replay).
   */
  cancel(bidId: string, agentId: string, ctx: EventContext): Promise<BidRecord> {
    return this.deps.tx.run<BidRecord>(`cancel bid ${bidId}`, () => this.planCancel(bidId, agentId, ctx), {
      serialize: [agentId],
    });
  }

  private async planCancel(bidId: string, agentId: string, ctx: EventContext) {
    const bid = await this.get(bidId);
    if (!bid || bid.agent_id !== agentId) throw notFound(`Bid ${bidId}`);
    if (bid.status === 'cancelled') return { done: bid };
    if (bid.status !== 'pending') throw notCancellable(bid);
    const now = this.deps.runtime.clock.now();
    const plan = planCancellation(this.deps.runtime, bid, { now, escrow: this.deps.ledger.escrowAccount(bidId) }, ctx);
    // Whoever resolved the escrow first, the bid's status now says what happened: replan.
    const actions: TxAction<BidRecord>[] = [
      ...this.deps.writer.actions<BidRecord>(plan.change, () => ({ kind: 'retry' })),
      this.stillPending(keys.bid(bidId), 'bid pending', plan.bid.seq),
      this.stillPending(keys.roundBid(bid.round, bid.shard, bidId), 'round membership pending', plan.bid.seq),
      {
        label: 'round still open',
        item: {
          ConditionCheck: {
            TableName: this.tableName,
            Key: keys.round(bid.round),
            ConditionExpression: '#state = :open',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: { ':open': 'open' },
          },
        },
        onConditionFailed: () => ({ kind: 'fail', error: roundClosed(bid.round, 'cancelled') }),
      },
      outboxAction<BidRecord>(this.tableName, plan.events, now),
    ];
    return { actions, result: () => plan.bid };
  }

  private stillPending(key: Record<string, string>, label: string, seq: number): TxAction<BidRecord> {
    return {
      label,
      item: {
        Update: {
          TableName: this.tableName,
          Key: key,
          UpdateExpression: 'SET #status = :cancelled, seq = :seq',
          ConditionExpression: '#status = :pending',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':cancelled': 'cancelled', ':pending': 'pending', ':seq': seq },
        },
      },
      onConditionFailed: () => ({ kind: 'retry' }),
    };
  }

  /**
   * Records a refused placement: `bid_rejected` in the agent's sequence and, when the attempt is
   * given, the bid itself with status `rejected`, so `GET /v1/bids/{id}` answers for it. Its own
   * transaction: the placement's did not commit.
   */
  async recordRejection(agentId: string, data: Rejection, ctx: EventContext, attempt?: RefusedAttempt): Promise<void> {
    await this.deps.tx.run<void>(
      `reject bid of ${agentId}`,
      async () => {
        const account = await this.deps.ledger.getAccount(agentId);
        if (!account) return { done: undefined };
        const now = this.deps.runtime.clock.now();
        const plan = planRejection(this.deps.runtime, agentId, data, { seq: account.seq }, ctx);
        const refused = attempt && data.bid_id !== undefined ? [this.refusedBid(agentId, data, attempt, now)] : [];
        return {
          actions: [
            ...refused,
            ...this.deps.writer.actions<void>(plan.change, () => ({ kind: 'retry' })),
            outboxAction<void>(this.tableName, plan.events, now),
          ],
          result: () => undefined,
        };
      },
      { serialize: [agentId] },
    );
  }

  private refusedBid(agentId: string, data: Rejection, attempt: RefusedAttempt, now: number): TxAction<void> {
    const bidId = data.bid_id ?? '';
    const item: BidRecord = {
      bid_id: bidId,
      round: attempt.round ?? roundAt(now, this.deps.economy.round_seconds).round,
      agent_id: agentId,
      beneficiary_id: attempt.beneficiary_id ?? agentId,
      bundle: attempt.bundle,
      duration_seconds: attempt.duration_seconds,
      amount: attempt.amount,
      rates: attempt.rates,
      status: 'rejected',
      reason: data.reason,
      placed_at: new Date(now).toISOString(),
      placed_at_ms: now,
      seq: 0,
      shard: this.shardOf(bidId),
    };
    return {
      label: 'refused bid',
      item: {
        Put: {
          TableName: this.tableName,
          Item: {
            ...keys.bid(bidId),
            ...keys.agentBidsIndex(agentId, bidId),
            kind: 'bid',
            ...item,
            // Kept as long as the idempotent response that reports the refusal.
            expires_at: Math.floor(now / 1000) + REFUSED_BID_TTL_SECONDS,
          },
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      },
      // A bid already stored under this id (a replayed refusal): nothing more to record.
      onConditionFailed: () => ({ kind: 'done', result: undefined }),
    };
  }
}

type RefusedAttempt = Omit<PlaceBid, 'bid_id' | 'agent_id'> & { round?: string };

/** A refused bid is kept a week (its Idempotency-Key record lives 24 h). */
const REFUSED_BID_TTL_SECONDS = 7 * 86_400;

export function roundClosed(round: string, what: 'placed' | 'cancelled' = 'placed'): DomainError {
  return new DomainError('round_closed', 409, `Round ${round} is clearing; bids can no longer be ${what} in it.`, {
    round,
  });
}

type Placed = { bid: BidRecord; balance: Micros; replayed: boolean };

/** A placement whose bid exists: the same agent's replay, or a collision. */
function placedAgain(existing: BidRecord, agentId: string, balance: number | undefined): Placed {
  if (existing.agent_id !== agentId) throw new DomainError('conflict', 409, 'Bid id collision.');
  if (existing.status === 'rejected') {
    // Only once its Idempotency-Key record has expired can a refused placement come back.
    throw new DomainError('conflict', 409, `Bid ${existing.bid_id} was refused; place it with a new Idempotency-Key.`);
  }
  return { bid: existing, balance: micros(balance ?? 0), replayed: true };
}

function notCancellable(bid: BidRecord): DomainError {
  return new DomainError('invalid_state', 409, `Bid ${bid.bid_id} is ${bid.status} and can no longer be cancelled.`, {
    status: bid.status,
  });
}
