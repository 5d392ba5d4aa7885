/**
 * Bids: placement (escrow hold + bid + round membership + round condition + events, one
 * transaction), cancellation (void + bid cancelled, only while the round is open), reads, and
 * the `bid_rejected` record of refused placements.
 *
 * The round condition is what makes "a bid racing the round closing" safe: the placement
 * transaction increments the round's bid count under `state = open`, and clearing flips the
 * state to `clearing` before it reads the round's bids with a consistent query. A bid is
 * therefore either committed before the flip (and read by clearing) or refused `round_closed`.
 */
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DomainError, notFound } from '../../core/errors.ts';
import type { EventContext } from '../../core/events.ts';
import { makeEvent } from '../../core/events.ts';
import { shardOf, type TransferRecord } from '../../core/ledger.ts';
import type { EconomyConfig } from '../../core/market-config.ts';
import { formatCredits, type Micros, micros } from '../../core/money.ts';
import type { Runtime } from '../../core/ports.ts';
import type { Bundle, PerResource } from '../../core/resources.ts';
import { roundAt } from '../../core/rounds.ts';
import { keys } from '../../table.ts';
import type { TableRef } from './client.ts';
import { listings } from './cursor.ts';
import { bidAggregate, holdTransferId, resolveTransferId } from './escrow.ts';
import { agentAggregate, insufficientBalance, type Ledger, toSnapshot } from './ledger.ts';
import { outboxAction } from './outbox.ts';
import type { Item, TxAction, TxRunner } from './transaction.ts';

export type BidStatus = 'pending' | 'won' | 'lost' | 'cancelled' | 'rejected';
export type LossReason = 'outbid' | 'insufficient_supply';
/** Why a placement was refused; a refused bid is kept with status `rejected` and this reason. */
export type RejectionReason = 'insufficient_balance' | 'below_reserve' | 'round_closed' | 'too_many_open_bids';

export interface BidItem {
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
export type RoundBid = Omit<BidItem, 'allocation_id'>;

export interface BidsDeps {
  table: TableRef;
  tx: TxRunner;
  ledger: Ledger;
  runtime: Runtime;
  economy: EconomyConfig;
  /** Shards of a round's bid partitions. */
  roundShards: number;
}

export interface PlaceBid {
  bid_id: string;
  agent_id: string;
  beneficiary_id?: string;
  bundle: Bundle;
  duration_seconds: number;
  amount: Micros;
  rates: PerResource;
  /** Floor cost of the bundle (already checked against `amount` by the caller). */
}

export class Bids {
  constructor(private readonly deps: BidsDeps) {}

  private get tableName() {
    return this.deps.table.tableName;
  }

  shardOf(bidId: string): number {
    return shardOf(bidId, this.deps.roundShards);
  }

  async get(bidId: string): Promise<BidItem | undefined> {
    const out = await this.deps.table.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.bid(bidId), ConsistentRead: true }),
    );
    return out.Item as BidItem | undefined;
  }

  async listForAgent(
    agentId: string,
    opts: { limit: number; cursor?: string; status?: BidStatus; round?: string; caller: string },
  ): Promise<{ bids: BidItem[]; next_cursor: string | null }> {
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
    return { bids: (out.Items ?? []) as BidItem[], next_cursor: pages.encode(out.LastEvaluatedKey) };
  }

  /** Every bid of a round (all shards), strongly consistent. */
  async ofRound(round: string, opts: { pendingOnly?: boolean } = {}): Promise<RoundBid[]> {
    const shards = Array.from({ length: this.deps.roundShards }, (_, i) => i);
    const parts = await Promise.all(
      shards.map(async (shard) => {
        const items: RoundBid[] = [];
        let start: Record<string, unknown> | undefined;
        do {
          const out = await this.deps.table.doc.send(
            new QueryCommand({
              TableName: this.tableName,
              KeyConditionExpression: 'PK = :p',
              ...(opts.pendingOnly
                ? {
                    FilterExpression: '#status = :pending',
                    ExpressionAttributeNames: { '#status': 'status' },
                    ExpressionAttributeValues: { ':p': keys.roundBidsPartition(round, shard), ':pending': 'pending' },
                  }
                : { ExpressionAttributeValues: { ':p': keys.roundBidsPartition(round, shard) } }),
              ConsistentRead: true,
              ExclusiveStartKey: start,
            }),
          );
          items.push(...((out.Items ?? []) as RoundBid[]));
          start = out.LastEvaluatedKey;
        } while (start);
        return items;
      }),
    );
    return parts.flat();
  }

  /** Places a bid in the round open now. */
  async place(input: PlaceBid, ctx: EventContext): Promise<{ bid: BidItem; balance: Micros; replayed: boolean }> {
    type R = { bid: BidItem; balance: Micros; replayed: boolean };
    const { runtime, economy } = this.deps;
    const beneficiary = input.beneficiary_id ?? input.agent_id;
    return this.deps.tx.run<R>(`place bid ${input.bid_id}`, async () => {
      const [account, existing] = await Promise.all([
        this.deps.ledger.getAccount(input.agent_id),
        this.get(input.bid_id),
      ]);
      if (existing) {
        if (existing.agent_id !== input.agent_id) throw new DomainError('conflict', 409, 'Bid id collision.');
        if (existing.status === 'rejected') {
          // Only once its Idempotency-Key record has expired can a refused placement come back.
          throw new DomainError(
            'conflict',
            409,
            `Bid ${input.bid_id} was refused; place it with a new Idempotency-Key.`,
          );
        }
        return { done: { bid: existing, balance: micros(account?.balance ?? 0), replayed: true } };
      }
      if (!account?.is_agent) throw notFound(`Agent ${input.agent_id}`);
      const snap = toSnapshot(account);
      const openBids = account.open_bids ?? 0;
      const max = economy.bids.max_open_bids_per_agent;
      if (snap.balance < input.amount) throw insufficientBalance(input.amount, snap.balance);
      if (openBids >= max) throw tooManyOpenBids(max);

      const now = runtime.clock.now();
      const window = roundAt(now, economy.round_seconds);
      const placedAt = new Date(now).toISOString();
      const shard = this.shardOf(input.bid_id);
      const bid: BidItem = {
        bid_id: input.bid_id,
        round: window.round,
        agent_id: input.agent_id,
        beneficiary_id: beneficiary,
        bundle: input.bundle,
        duration_seconds: input.duration_seconds,
        amount: input.amount,
        rates: input.rates,
        status: 'pending',
        placed_at: placedAt,
        placed_at_ms: now,
        seq: 2,
        shard,
      };
      const hold: TransferRecord = {
        transfer_id: holdTransferId(input.bid_id),
        from: input.agent_id,
        to: this.deps.ledger.escrowAccount(input.bid_id),
        amount: input.amount,
        purpose: 'bid_escrow',
        reference: input.bid_id,
        created_at: placedAt,
      };
      const aggregate = bidAggregate(input.bid_id);
      const events = [
        makeEvent(
          runtime,
          {
            type: 'bid_placed',
            agent_id: input.agent_id,
            aggregate,
            sequence: 1,
            data: {
              bid_id: input.bid_id,
              agent_id: input.agent_id,
              beneficiary_id: beneficiary,
              round: window.round,
              bundle: input.bundle,
              duration_seconds: input.duration_seconds,
              total_cost: formatCredits(input.amount),
            },
          },
          ctx,
        ),
        this.deps.ledger.transferEvent(hold, ctx, { agent_id: input.agent_id, aggregate, sequence: 2 }),
      ];
      bid.origin = {
        event_id: events[0]?.event_id ?? '',
        ...(ctx.scenario_id !== undefined && { scenario_id: ctx.scenario_id }),
        ...(ctx.trace !== undefined && { trace: ctx.trace }),
      };
      const t = this.tableName;
      const replay = async (): Promise<R> => {
        const again = await this.get(input.bid_id);
        const acc = await this.deps.ledger.getAccount(input.agent_id);
        if (!again) throw new Error('escrow exists without its bid');
        return { bid: again, balance: micros(acc?.balance ?? 0), replayed: true };
      };
      const actions: TxAction<R>[] = [
        this.deps.ledger.guardAction<R>(hold, replay),
        {
          label: 'debit payer',
          item: {
            Update: {
              TableName: t,
              Key: keys.account(input.agent_id),
              UpdateExpression: 'SET balance = balance - :amt, version = version + :one ADD open_bids :one',
              // Nothing changed since the read (so the balance suffices), and the open-bid cap holds.
              ConditionExpression:
                'version = :v AND balance >= :amt AND (attribute_not_exists(open_bids) OR open_bids < :max)',
              ExpressionAttributeValues: { ':amt': input.amount, ':one': 1, ':v': snap.version, ':max': max },
            },
          },
          onConditionFailed: (old) => {
            if (!old) return { kind: 'fail', error: notFound(`Agent ${input.agent_id}`) };
            if (Number(old.open_bids ?? 0) >= max) return { kind: 'fail', error: tooManyOpenBids(max) };
            return { kind: 'retry' };
          },
        },
        this.deps.ledger.accountChange<R>(hold.to, input.amount, undefined, hold.created_at),
        ...this.deps.ledger.entryActions<R>(hold),
        {
          label: 'bid',
          item: {
            Put: {
              TableName: t,
              Item: {
                ...keys.bid(input.bid_id),
                ...keys.agentBidsIndex(input.agent_id, input.bid_id),
                kind: 'bid',
                ...bid,
              },
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
              Item: { ...keys.roundBid(window.round, shard, input.bid_id), kind: 'round_bid', ...bid },
            },
          },
        },
        {
          label: 'round open',
          item: {
            Update: {
              TableName: t,
              Key: keys.round(window.round),
              UpdateExpression:
                'SET #state = if_not_exists(#state, :open), kind = :kind, round_id = :round, starts_at_ms = :s, closes_at_ms = :c, seq = if_not_exists(seq, :zero), GSI2PK = :gpk, GSI2SK = :round ADD bid_count :one',
              // The round accepts bids until clearing flips it: atomic, not a clock check.
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
        },
        ...(beneficiary !== input.agent_id
          ? [
              {
                label: 'beneficiary exists',
                item: {
                  ConditionCheck: {
                    TableName: t,
                    Key: keys.agent(beneficiary),
                    ConditionExpression: 'attribute_exists(PK)',
                  },
                },
                onConditionFailed: () => ({ kind: 'fail' as const, error: notFound(`Beneficiary ${beneficiary}`) }),
              },
            ]
          : []),
        outboxAction<R>(t, events, now),
      ];
      return { actions, result: () => ({ bid, balance: micros(snap.balance - input.amount), replayed: false }) };
    });
  }

  /** Cancels a pending bid of an open round: the escrow is voided back to the payer. */
  async cancel(bidId: string, agentId: string, ctx: EventContext): Promise<BidItem> {
    return this.deps.tx.run<BidItem>(`cancel bid ${bidId}`, async () => {
      const bid = await this.get(bidId);
      if (!bid || bid.agent_id !== agentId) throw notFound(`Bid ${bidId}`);
      if (bid.status === 'cancelled') return { done: bid };
      if (bid.status !== 'pending') {
        throw new DomainError('invalid_state', 409, `Bid ${bidId} is ${bid.status} and can no longer be cancelled.`);
      }
      const now = this.deps.runtime.clock.now();
      const refund: TransferRecord = {
        transfer_id: resolveTransferId(bidId),
        from: this.deps.ledger.escrowAccount(bidId),
        to: agentId,
        amount: micros(bid.amount),
        purpose: 'escrow_refund',
        reference: bidId,
        created_at: new Date(now).toISOString(),
      };
      const aggregate = bidAggregate(bidId);
      const events = [
        this.deps.ledger.transferEvent(refund, ctx, { agent_id: agentId, aggregate, sequence: bid.seq + 1 }),
        makeEvent(
          this.deps.runtime,
          {
            type: 'bid_cancelled',
            agent_id: agentId,
            aggregate,
            sequence: bid.seq + 2,
            data: { bid_id: bidId, agent_id: agentId },
          },
          ctx,
        ),
      ];
      const t = this.tableName;
      const cancelled: BidItem = { ...bid, status: 'cancelled', seq: bid.seq + 2 };
      const stillPending = (label: string, key: Record<string, string>): TxAction<BidItem> => ({
        label,
        item: {
          Update: {
            TableName: t,
            Key: key,
            UpdateExpression: 'SET #status = :cancelled, seq = :seq',
            ConditionExpression: '#status = :pending',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':cancelled': 'cancelled', ':pending': 'pending', ':seq': bid.seq + 2 },
          },
        },
        onConditionFailed: () => ({ kind: 'retry' }),
      });
      return {
        actions: [
          this.deps.ledger.guardAction<BidItem>(refund, () => cancelled),
          this.deps.ledger.accountChange<BidItem>(refund.from, -refund.amount, undefined, refund.created_at),
          {
            label: 'refund payer',
            item: {
              Update: {
                TableName: t,
                Key: keys.account(agentId),
                UpdateExpression: 'ADD balance :amt, version :one, open_bids :minus',
                ConditionExpression: 'attribute_exists(PK)',
                ExpressionAttributeValues: { ':amt': refund.amount, ':one': 1, ':minus': -1 },
              },
            },
          },
          ...this.deps.ledger.entryActions<BidItem>(refund),
          stillPending('bid pending', keys.bid(bidId)),
          stillPending('round membership pending', keys.roundBid(bid.round, bid.shard, bidId)),
          {
            label: 'round still open',
            item: {
              ConditionCheck: {
                TableName: t,
                Key: keys.round(bid.round),
                ConditionExpression: '#state = :open',
                ExpressionAttributeNames: { '#state': 'state' },
                ExpressionAttributeValues: { ':open': 'open' },
              },
            },
            onConditionFailed: () => ({ kind: 'fail', error: roundClosed(bid.round, 'cancelled') }),
          },
          outboxAction<BidItem>(t, events, now),
        ],
        result: () => cancelled,
      };
    });
  }

  /**
   * Records a refused placement: its own outbox write (the bid's transaction did not commit),
   * numbered in the agent's sequence.
   */
  /**
   * Records a refused placement: `bid_rejected` in the agent's sequence and, when the attempt is
   * given, the bid itself with status `rejected`, so `GET /v1/bids/{id}` answers for it.
   */
  async recordRejection(
    agentId: string,
    data: {
      reason: RejectionReason;
      required?: number;
      available?: number;
      bid_id?: string;
    },
    ctx: EventContext,
    attempt?: Omit<PlaceBid, 'bid_id' | 'agent_id'> & { round?: string },
  ): Promise<void> {
    await this.deps.tx.run<void>(`reject bid of ${agentId}`, async () => {
      const account = await this.deps.ledger.getAccount(agentId);
      if (!account) return { done: undefined };
      const snap = toSnapshot(account);
      const now = this.deps.runtime.clock.now();
      const refused: TxAction<void>[] = [];
      if (attempt && data.bid_id !== undefined) {
        const item: BidItem = {
          bid_id: data.bid_id,
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
          shard: this.shardOf(data.bid_id),
        };
        refused.push({
          label: 'refused bid',
          item: {
            Put: {
              TableName: this.tableName,
              Item: {
                ...keys.bid(data.bid_id),
                ...keys.agentBidsIndex(agentId, data.bid_id),
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
        });
      }
      const event = makeEvent(
        this.deps.runtime,
        {
          type: 'bid_rejected',
          agent_id: agentId,
          aggregate: agentAggregate(agentId),
          sequence: snap.seq + 1,
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
      return {
        actions: [
          ...refused,
          this.deps.ledger.lockAction<void>(snap, 1),
          outboxAction<void>(this.tableName, [event], now),
        ],
        result: () => undefined,
      };
    });
  }
}

/** A refused bid is kept a week (its Idempotency-Key record lives 24 h). */
const REFUSED_BID_TTL_SECONDS = 7 * 86_400;

export function roundClosed(round: string, what: 'placed' | 'cancelled' = 'placed'): DomainError {
  return new DomainError('round_closed', 409, `Round ${round} is clearing; bids can no longer be ${what} in it.`, {
    round,
  });
}

export function tooManyOpenBids(max: number): DomainError {
  return new DomainError('too_many_open_bids', 409, `An agent may hold at most ${max} pending bids.`, { max });
}

export const toBidItem = (item: Item) => item as unknown as BidItem;
