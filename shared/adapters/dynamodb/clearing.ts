/**
 * Clearing (the allocation scheduler) on DynamoDB. For one round:
 *   1. claim it: `open → clearing` with a lease (conditional: exactly one clearer wins; a
 *      crashed clearer's round is taken over once its lease has expired), fixing the clearing
 *      time and the price basis in the round item;
 *   2. read every bid of the round (consistent query of the round's partitions) and the
 *      allocations still active at the clearing time, minus this round's own;
 *   3. decide with the pure kernel (deterministic: a rerun computes the same decision);
 *   4. settle every still-pending bid exactly once, in transactions of at most 100 actions:
 *      winners' escrow posted to burn + allocation + bid `won`; losers' escrow voided + bid
 *      `lost`; each conditioned on the bid being `pending`;
 *   5. mark the round `cleared` with its statistics and emit `auction_cleared`.
 * A crash anywhere leaves a state from which running the clearing again finishes the job.
 */

import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { BidRecord, RoundBid } from '../../core/bids.ts';
import {
  type ActiveHold,
  type BookDecision,
  bookOfRound,
  type ClearingStats,
  clearBook,
  remainingSupply,
} from '../../core/clearing.ts';
import type { EventContext } from '../../core/events.ts';
import { makeEvent } from '../../core/events.ts';
import type { EconomyConfig } from '../../core/market-config.ts';
import { formatCredits } from '../../core/money.ts';
import type { Runtime } from '../../core/ports.ts';
import { capacityOf, type PerResource, RESOURCES } from '../../core/resources.ts';
import { closedWindowsSince, type RoundWindow } from '../../core/rounds.ts';
import {
  actionsOfSettlement,
  type Outcome,
  originContext,
  outcomesOf,
  type SettlementItem,
  type SettlementOrder,
  type SettlementSetting,
  settlementEvents,
  settlementOrderOf,
  settlementPlan,
  settlementWrites,
} from '../../core/settlement.ts';
import { keys } from '../../table.ts';
import type { Agents } from './agents.ts';
import type { Bids } from './bids.ts';
import { getAll, queryAll, type TableRef } from './client.ts';
import type { Ledger } from './ledger.ts';
import type { LedgerWriter } from './ledger-writer.ts';
import { outboxAction } from './outbox.ts';
import { MAX_TRANSACTION_ACTIONS, type TxAction, type TxRunner } from './transaction.ts';

/** A clearer holds a round this long; a crashed clearer's round is resumed after it. */
export const CLEARING_LEASE_MS = 60_000;
/** Catch-up bound: after downtime, at most this many past windows are cleared. */
export const MAX_CATCH_UP_WINDOWS = 100;

export interface RoundSummary {
  round: string;
  bids: number;
  winners: number;
  losers: number;
  revenue: number;
  resumed: boolean;
}

export interface ClearingFaults {
  /** Called after each committed settlement transaction with the number of bids settled so far. */
  afterSettlement?: (settled: number) => void | Promise<void>;
}

export interface ClearingDeps {
  table: TableRef;
  tx: TxRunner;
  ledger: Ledger;
  writer: LedgerWriter;
  bids: Bids;
  runtime: Runtime;
  economy: EconomyConfig;
  /** Current posted prices (the price basis of a round's statistics). */
  prices: () => Promise<PerResource>;
  faults?: ClearingFaults;
  /** Upper bound of bids per settlement transaction (actions also stay ≤ 100). */
  maxBidsPerTransaction?: number;
  /** Agents' states after settlement (wake a dormant beneficiary, put a broke payer to sleep). */
  agents?: Agents;
  /** Settlement transactions in flight at once within this process (default 1). */
  settlementConcurrency?: number;
  /**
   * Hands a round's settlement orders to workers elsewhere (on AWS: a queue feeding the
   * settlement function) instead of settling them here; clearing then waits until no bid of the
   * round is pending, and a later run resumes it if this one stops first.
   */
  dispatch?: (orders: SettlementOrder[]) => Promise<void>;
  /** How clearing waits between looks at a dispatched round (default: a timer). */
  sleep?: (ms: number) => Promise<void>;
}

/** How often clearing looks whether a dispatched round's settlement is done. */
export const SETTLEMENT_POLL_MS = 500;

/**
 * Runs `work` over `items` with at most `concurrency` in flight. After a failure no new item
 * starts; the ones in flight finish, then the first error is thrown (a rerun resumes the rest).
 */
export async function inParallel<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (next < items.length && !failure) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, lane));
  if (failure) throw failure.error;
}

interface RoundItem {
  round_id: string;
  state: 'open' | 'clearing' | 'cleared';
  starts_at_ms: number;
  closes_at_ms: number;
  bid_count?: number;
  clearing_at_ms?: number;
  clearer?: string;
  price_basis?: PerResource;
  seq?: number;
}

export class Clearing {
  constructor(private readonly deps: ClearingDeps) {}

  private get tableName() {
    return this.deps.table.tableName;
  }

  /** Clears every round whose window has closed and that is not cleared yet (catch-up included). */
  async clearDue(ctx: EventContext = {}): Promise<RoundSummary[]> {
    const now = this.deps.runtime.clock.now();
    const R = this.deps.economy.round_seconds;
    const cursor = await this.readCursor();
    const windows = new Map<string, RoundWindow>();
    for (const w of closedWindowsSince(cursor, now, R, MAX_CATCH_UP_WINDOWS)) windows.set(w.round, w);
    for (const w of await this.unclearedRounds(now)) windows.set(w.round, w);
    const due = [...windows.values()].sort((a, b) => a.starts_at_ms - b.starts_at_ms);
    const out: RoundSummary[] = [];
    let last: RoundWindow | undefined;
    for (const w of due) {
      const outcome = await this.clearWindow(w, ctx);
      // Rounds clear strictly in order: a round still held by another clearer (or by a crashed
      // one, until its lease runs out) has winners not allocated yet, and a later round cleared
      // now would be given supply they are about to take. Its holder, or the next run after the
      // lease, goes on from here.
      if (outcome === 'held') break;
      if (outcome !== 'cleared') out.push(outcome);
      last = w;
    }
    if (last) await this.advanceCursor(last.starts_at_ms);
    return out;
  }

  /** Clears one round; undefined when another clearer holds it or it is already cleared. */
  async clearRound(window: RoundWindow, ctx: EventContext = {}): Promise<RoundSummary | undefined> {
    const outcome = await this.clearWindow(window, ctx);
    return typeof outcome === 'string' ? undefined : outcome;
  }

  /** Clears one round, or says why not: already `cleared`, or `held` by another clearer. */
  private async clearWindow(window: RoundWindow, ctx: EventContext): Promise<RoundSummary | 'cleared' | 'held'> {
    const now = this.deps.runtime.clock.now();
    if (window.closes_at_ms > now) throw new RangeError(`round ${window.round} is still open`);
    const clearer = this.deps.runtime.ids.next('clr');
    const claimed = await this.claim(window, clearer, now);
    if ('refused' in claimed) return claimed.refused;
    const round = claimed.item;
    const clearingAt = round.clearing_at_ms ?? now;
    const roundCtx: EventContext = { ...ctx, correlation_id: window.round };

    const all = await this.deps.bids.ofRound(window.round);
    if (all.length !== (round.bid_count ?? 0)) {
      // Every placement increments the count in the same transaction as its membership item,
      // and the count no longer moves once the round is clearing: a mismatch is a bug.
      throw new Error(`round ${window.round}: ${all.length} bids read, ${round.bid_count ?? 0} placed`);
    }
    const bids = all.filter((b) => b.status !== 'cancelled');
    const capacity = capacityOf(this.deps.economy);
    const supply = remainingSupply(capacity, await this.activeRates(clearingAt, window.round));
    const prices = round.price_basis ?? (await this.deps.prices());
    // Straight from the items read into the kernel's columns: row k of the book is bids[k].
    const decision = clearBook(bookOfRound(bids), { capacity, supply, prices }, this.deps.economy.clearing.policy);
    const outcomes = outcomesOf(bids, decision);
    const lease = { clearer, until: now + CLEARING_LEASE_MS }; // as the claim set it
    await this.settle(window, outcomes, clearingAt, roundCtx, lease);
    await this.agentStates(bids, decision, roundCtx);
    // Defence in depth: the round is marked cleared only when no bid of it is left pending.
    const left = await this.deps.bids.ofRound(window.round, { pendingOnly: true });
    if (left.length > 0) {
      throw new Error(`round ${window.round}: ${left.length} bids still pending after settlement; a rerun resumes it`);
    }
    await this.finish(window, clearer, decision, prices, roundCtx);
    return {
      round: window.round,
      bids: decision.bids,
      winners: decision.winner_count,
      losers: decision.loser_count,
      revenue: formatCredits(decision.revenue),
      resumed: claimed.resumed,
    };
  }

  // ------------------------------------------------------------------ steps

  private async claim(
    w: RoundWindow,
    clearer: string,
    now: number,
  ): Promise<{ item: RoundItem; resumed: boolean } | { refused: 'cleared' | 'held' }> {
    const basis = await this.deps.prices();
    try {
      const out = await this.deps.table.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.round(w.round),
          UpdateExpression:
            'SET #state = :clearing, clearer = :me, lease_until = :lease, clearing_at_ms = if_not_exists(clearing_at_ms, :now), price_basis = if_not_exists(price_basis, :basis), kind = :kind, round_id = :round, starts_at_ms = :s, closes_at_ms = :c, bid_count = if_not_exists(bid_count, :zero), seq = if_not_exists(seq, :zero), GSI2PK = :gpk, GSI2SK = :round',
          // Exactly one clearer: the round is open (or has no item yet), or its clearer's lease expired.
          ConditionExpression:
            'attribute_not_exists(#state) OR #state = :open OR (#state = :clearing AND lease_until < :now)',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':clearing': 'clearing',
            ':open': 'open',
            ':me': clearer,
            ':lease': now + CLEARING_LEASE_MS,
            ':now': now,
            ':basis': basis,
            ':kind': 'round',
            ':round': w.round,
            ':s': w.starts_at_ms,
            ':c': w.closes_at_ms,
            ':zero': 0,
            ':gpk': keys.unclearedRoundsIndex(w.round).GSI2PK,
          },
          ReturnValues: 'ALL_OLD',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      const old = out.Attributes as RoundItem | undefined;
      const item: RoundItem = {
        round_id: w.round,
        state: 'clearing',
        starts_at_ms: w.starts_at_ms,
        closes_at_ms: w.closes_at_ms,
        bid_count: old?.bid_count ?? 0,
        clearing_at_ms: old?.clearing_at_ms ?? now,
        clearer,
        price_basis: old?.price_basis ?? basis,
        seq: old?.seq ?? 0,
      };
      return { item, resumed: old?.state === 'clearing' };
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) {
        // The condition failure carries the round as it was (ALL_OLD).
        const state = err.Item ? unmarshall(err.Item).state : undefined;
        return { refused: state === 'cleared' ? 'cleared' : 'held' };
      }
      throw err;
    }
  }

  /** Rates of allocations active at `at`, excluding the round's own (a resumed clearing). */
  private async activeRates(at: number, round: string): Promise<ActiveHold[]> {
    const items = await queryAll(this.deps.table, {
      KeyConditionExpression: 'PK = :p AND SK > :from',
      ExpressionAttributeValues: { ':p': keys.activeAllocationsPartition, ':from': keys.activeAllocationsFrom(at) },
      ConsistentRead: true,
    });
    return items
      .filter((item) => item.round !== round && Number(item.starts_at_ms) <= at)
      .map((item) => ({
        rates: item.rates as Partial<PerResource>,
        // With its duration, an allocation's token need is counted exactly as it was at placement.
        duration_seconds: (Number(item.ends_at_ms) - Number(item.starts_at_ms)) / 1000,
      }));
  }

  /**
   * Extends this clearer's lease once half of it has passed, so a long settlement is never taken
   * over while it runs; fails when another clearer took the round meanwhile, which stops this one
   * before it writes anything more.
   */
  private async keepLease(w: RoundWindow, lease: { clearer: string; until: number }): Promise<void> {
    const now = this.deps.runtime.clock.now();
    if (now < lease.until - CLEARING_LEASE_MS / 2) return;
    const until = now + CLEARING_LEASE_MS;
    try {
      await this.deps.table.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.round(w.round),
          UpdateExpression: 'SET lease_until = :until',
          ConditionExpression: '#state = :clearing AND clearer = :me',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':until': until, ':clearing': 'clearing', ':me': lease.clearer },
        }),
      );
      lease.until = until;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) {
        throw new Error(`round ${w.round} was taken over by another clearer`);
      }
      throw err;
    }
  }

  /**
   * After settlement, before the round is marked cleared (so a rerun repeats it; each step is
   * conditioned on the agent's state and is idempotent): an allocation paid by another agent
   * wakes a dormant beneficiary, and a payer left with no credits and no open bid goes dormant.
   */
  private async agentStates(bids: RoundBid[], decision: BookDecision, ctx: EventContext): Promise<void> {
    const agents = this.deps.agents;
    if (!agents) return;
    for (const i of decision.winners) {
      const bid = bids[i] as RoundBid;
      if (bid.beneficiary_id === bid.agent_id) continue;
      await agents.wake(bid.beneficiary_id, bid.agent_id, originContext(bid, ctx), bid.origin?.event_id);
    }
    const payers = [...new Set(bids.map((b) => b.agent_id))];
    const accounts = await getAll(
      this.deps.table,
      payers.map((id) => keys.account(id)),
    );
    for (const a of accounts) {
      if (a.balance === 0 && Number(a.open_bids ?? 0) === 0) await agents.sleepIfBroke(String(a.account_id), ctx);
    }
  }

  private async settle(
    w: RoundWindow,
    outcomes: Outcome[],
    clearingAt: number,
    ctx: EventContext,
    lease: { clearer: string; until: number },
  ): Promise<void> {
    const at = this.settlementSetting(w, clearingAt);
    const limits = {
      maxActions: MAX_TRANSACTION_ACTIONS,
      maxBids: this.deps.maxBidsPerTransaction ?? Number.POSITIVE_INFINITY,
    };
    const plan = settlementPlan(outcomes, at, limits);
    const { dispatch } = this.deps;
    if (dispatch) {
      await dispatch(plan.map((batch) => settlementOrderOf(w.round, clearingAt, batch, ctx)));
      await this.awaitSettled(w, lease);
      return;
    }
    let settled = 0;
    // Each batch is conditioned on its bids being pending, so batches are independent: in
    // parallel, a crash or a rerun still settles each bid exactly once.
    await inParallel(plan, this.deps.settlementConcurrency ?? 1, async (batch) => {
      await this.keepLease(w, lease);
      await this.settleBatch(batch, at, ctx);
      settled += batch.length;
      await this.deps.faults?.afterSettlement?.(settled);
    });
  }

  /** Waits, keeping the lease, until workers have settled every bid of a dispatched round. */
  private async awaitSettled(w: RoundWindow, lease: { clearer: string; until: number }): Promise<void> {
    const sleep = this.deps.sleep ?? ((ms: number) => new Promise<void>((ok) => setTimeout(ok, ms)));
    for (;;) {
      await this.keepLease(w, lease);
      const pending = await this.deps.bids.ofRound(w.round, { pendingOnly: true });
      if (pending.length === 0) return;
      await sleep(SETTLEMENT_POLL_MS);
    }
  }

  /**
   * Settles one order handed out by a clearing (the settlement worker's whole job): reads its
   * bids, keeps those still pending and settles them in one transaction. A redelivered or
   * stale order settles nothing twice. Returns the number of bids it settled.
   */
  async settleOrder(order: SettlementOrder): Promise<number> {
    const bids = (await getAll(
      this.deps.table,
      order.outcomes.map((o) => keys.bid(o.bid_id)),
    )) as unknown as BidRecord[];
    const byId = new Map(bids.map((b) => [b.bid_id, b]));
    const outcomes: Outcome[] = [];
    for (const o of order.outcomes) {
      const bid = byId.get(o.bid_id);
      if (bid?.status !== 'pending' || bid.round !== order.round) continue;
      outcomes.push({ bid, won: o.won, ...(o.reason && { reason: o.reason }) });
    }
    if (outcomes.length === 0) return 0;
    const window = { round: order.round, starts_at_ms: 0, closes_at_ms: 0 };
    const ctx = { ...order.ctx, correlation_id: order.round };
    await this.settleBatch(outcomes, this.settlementSetting(window, order.clearing_at_ms), ctx);
    return outcomes.length;
  }

  private settlementSetting(w: RoundWindow, clearingAt: number): SettlementSetting {
    const { ledger, runtime } = this.deps;
    return {
      round: w.round,
      clearingAt,
      settledAt: runtime.clock.now(),
      escrowOf: (id) => ledger.escrowAccount(id),
      burnOf: (id) => ledger.burnAccount(id),
    };
  }

  /** One settlement transaction: the plan's writes translated, and its events in the outbox. */
  private async settleBatch(batch: Outcome[], at: SettlementSetting, ctx: EventContext): Promise<void> {
    const { runtime, writer } = this.deps;
    // Payers, and the escrow and burn shards: batches in flight at once wait for each other on
    // an account they share rather than conflict in DynamoDB.
    const payers = [
      ...new Set(batch.flatMap((o) => [o.bid.agent_id, at.escrowOf(o.bid.bid_id), at.burnOf(o.bid.bid_id)])),
    ];
    await this.deps.tx.run<void>(
      `settle ${at.round}`,
      async (attempt) => {
        // After a failed attempt, drop the bids someone else settled meanwhile.
        const current = attempt === 0 ? batch : await this.stillPending(batch);
        if (current.length === 0) return { done: undefined };
        const writes = settlementWrites(current, { ...at, settledAt: runtime.clock.now() });
        const events = settlementEvents(runtime, current, writes, ctx);
        const actions: TxAction<void>[] = [
          // An existing settlement transfer means someone settled a bid meanwhile: replan with
          // the bids still pending rather than take the whole batch as done.
          ...writer.actions<void>(writes.change, () => ({ kind: 'retry' })),
          ...writes.items.map((item) => this.itemAction(item, writes.settled_at)),
          outboxAction<void>(this.tableName, events, runtime.clock.now()),
        ];
        if (actions.length !== actionsOfSettlement(writes))
          throw new Error('settlement actions do not match their plan');
        return { actions, result: () => undefined };
      },
      { serialize: payers },
    );
  }

  /** One item write of a settlement plan as one transaction action. */
  private itemAction(item: SettlementItem, settledAt: string): TxAction<void> {
    const t = this.tableName;
    if (item.kind === 'allocation') {
      const a = item.allocation;
      return {
        label: 'allocation',
        item: {
          Put: {
            TableName: t,
            Item: {
              ...keys.allocation(a.allocation_id),
              ...keys.agentAllocationsIndex(a.agent_id, a.starts_at_ms, a.allocation_id),
              ...keys.unexpiredAllocationsIndex(a.ends_at_ms, a.allocation_id),
              kind: 'allocation',
              ...a,
            },
          },
        },
      };
    }
    if (item.kind === 'active_allocation') {
      const a = item.allocation;
      return {
        label: 'active allocation',
        item: {
          Put: {
            TableName: t,
            Item: {
              ...keys.activeAllocation(a.ends_at_ms, a.allocation_id),
              kind: 'active_allocation',
              allocation_id: a.allocation_id,
              round: a.round,
              rates: a.rates,
              starts_at_ms: a.starts_at_ms,
              ends_at_ms: a.ends_at_ms,
              // Only range queries from "now" read it; it can go a day after it ended.
              expires_at: Math.floor(a.ends_at_ms / 1000) + 86_400,
            },
          },
        },
      };
    }
    return this.bidStatusAction(item, settledAt);
  }

  /** A bid (or its round membership) settles exactly once: conditioned on being pending. */
  private bidStatusAction(item: Extract<SettlementItem, { kind: 'bid_status' }>, settledAt: string): TxAction<void> {
    const { bid } = item;
    const key = item.target === 'bid' ? keys.bid(bid.bid_id) : keys.roundBid(bid.round, bid.shard, bid.bid_id);
    const won = item.status === 'won';
    return {
      label: item.target === 'bid' ? 'bid pending' : 'membership pending',
      item: {
        Update: {
          TableName: this.tableName,
          Key: key,
          UpdateExpression: `SET #status = :status, seq = :seq, settled_at = :at${won ? ', allocation_id = :al' : ', reason = :reason'}`,
          ConditionExpression: '#status = :pending',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':status': item.status,
            ':pending': 'pending',
            ':seq': item.seq,
            ':at': settledAt,
            ...(won ? { ':al': item.allocation_id } : { ':reason': item.reason ?? 'outbid' }),
          },
        },
      },
      onConditionFailed: () => ({ kind: 'retry' }),
    };
  }

  private async stillPending<T extends { bid: RoundBid }>(batch: T[]): Promise<T[]> {
    const items = (await getAll(
      this.deps.table,
      batch.map((b) => keys.bid(b.bid.bid_id)),
    )) as unknown as BidRecord[];
    const pending = new Set(items.filter((b) => b.status === 'pending').map((b) => b.bid_id));
    return batch.filter((b) => pending.has(b.bid.bid_id));
  }

  private async finish(
    w: RoundWindow,
    clearer: string,
    decision: ClearingStats,
    prices: PerResource,
    ctx: EventContext,
  ): Promise<void> {
    const { runtime } = this.deps;
    const t = this.tableName;
    const round = (v: PerResource) => Object.fromEntries(RESOURCES.map((r) => [r, v[r]])) as PerResource;
    await this.deps.tx.run<void>(`finish ${w.round}`, async () => {
      const seq = await this.roundSeq(w.round);
      const event = makeEvent(
        runtime,
        {
          type: 'auction_cleared',
          aggregate: `round:${w.round}`,
          sequence: seq + 1,
          data: {
            round: w.round,
            bids: decision.bids,
            winners: decision.winner_count,
            losers: decision.loser_count,
            revenue: formatCredits(decision.revenue),
            utilization: round(decision.utilization),
            clearing_prices: decision.clearing_prices,
            requested: round(decision.requested),
            capacity: round(decision.capacity),
            insufficient: round(decision.insufficient),
          },
        },
        ctx,
      );
      return {
        actions: [
          {
            label: 'round cleared',
            item: {
              Update: {
                TableName: t,
                Key: keys.round(w.round),
                UpdateExpression:
                  'SET #state = :cleared, seq = :seq, stats = :stats, cleared_event_id = :event, cleared_at_ms = :now REMOVE GSI2PK, GSI2SK, lease_until',
                ConditionExpression: '#state = :clearing AND clearer = :me',
                ExpressionAttributeNames: { '#state': 'state' },
                ExpressionAttributeValues: {
                  ':cleared': 'cleared',
                  ':clearing': 'clearing',
                  ':me': clearer,
                  ':seq': seq + 1,
                  ':now': runtime.clock.now(),
                  ':stats': { ...event.data, price_basis: prices },
                  // The price update catches up on a round from here when its event comes late.
                  ':event': event.event_id,
                },
              },
            },
            onConditionFailed: () => ({
              kind: 'fail',
              error: new Error(`round ${w.round} was taken over by another clearer`),
            }),
          },
          outboxAction<void>(t, [event], runtime.clock.now()),
        ],
        result: () => undefined,
      };
    });
  }

  private async roundSeq(round: string): Promise<number> {
    const out = await this.deps.table.doc.send(
      new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: [keys.round(round)], ConsistentRead: true } } }),
    );
    return Number(out.Responses?.[this.tableName]?.[0]?.seq ?? 0);
  }

  private async readCursor(): Promise<number | undefined> {
    const out = await this.deps.table.doc.send(
      new BatchGetCommand({
        RequestItems: { [this.tableName]: { Keys: [keys.clearingCursor()], ConsistentRead: true } },
      }),
    );
    const v = out.Responses?.[this.tableName]?.[0]?.last_start_ms;
    return typeof v === 'number' ? v : undefined;
  }

  private async advanceCursor(startMs: number): Promise<void> {
    await this.deps.table.doc
      .send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.clearingCursor(),
          UpdateExpression: 'SET last_start_ms = :s, kind = :kind',
          ConditionExpression: 'attribute_not_exists(last_start_ms) OR last_start_ms < :s',
          ExpressionAttributeValues: { ':s': startMs, ':kind': 'clearing_cursor' },
        }),
      )
      .catch((err: unknown) => {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      });
  }

  /** Rounds with bids not yet cleared whose window has closed (sparse index; catch-up). */
  private async unclearedRounds(now: number): Promise<RoundWindow[]> {
    const items = await queryAll(this.deps.table, {
      IndexName: 'GSI2',
      KeyConditionExpression: 'GSI2PK = :p',
      ExpressionAttributeValues: { ':p': 'ROUNDS#UNCLEARED' },
    });
    return items
      .filter((item) => Number(item.closes_at_ms) <= now)
      .map((item) => ({
        round: String(item.round_id),
        starts_at_ms: Number(item.starts_at_ms),
        closes_at_ms: Number(item.closes_at_ms),
      }));
  }
}
