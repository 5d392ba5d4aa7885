/**
 * Prices on DynamoDB: the current prices of all resources in one item (updated atomically once
 * per round), their history per resource, and the price update applied when a round's
 * `auction_cleared` is delivered — idempotent per round: a replayed or out-of-date round
 * changes nothing.
 */
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Envelope, EventContext } from '../../core/events.ts';
import { makeEvent } from '../../core/events.ts';
import type { EconomyConfig } from '../../core/market-config.ts';
import type { Runtime } from '../../core/ports.ts';
import { type PriceUpdate, pricesAfter, updatePrices } from '../../core/pricing.ts';
import { initialPrices, type PerResource, RESOURCES, type Resource } from '../../core/resources.ts';
import { roundAt, roundStartMs } from '../../core/rounds.ts';
import { keys } from '../../table.ts';
import { MAX_CATCH_UP_WINDOWS } from './clearing.ts';
import { getAll, type TableRef } from './client.ts';
import { outboxAction } from './outbox.ts';
import type { TxAction, TxRunner } from './transaction.ts';

export interface MarketState {
  prices: PerResource;
  /** Utilization after the last cleared round. */
  utilization: PerResource;
  last_round: string | null;
  updated_at: string | null;
}

export interface PricePoint {
  resource: Resource;
  round: string;
  price: number;
  old_price: number;
  utilization: number;
  reason: PriceUpdate['reason'];
  timestamp: string;
}

interface PricesItem {
  prices: PerResource;
  utilization: PerResource;
  last_round: string;
  last_round_start_ms: number;
  /** Event sequence per resource aggregate (`market:<resource>`). */
  seqs: PerResource;
  updated_at: string;
}

export class Market {
  constructor(private readonly deps: { table: TableRef; tx: TxRunner; runtime: Runtime; economy: EconomyConfig }) {}

  private get tableName() {
    return this.deps.table.tableName;
  }

  private async item(): Promise<PricesItem | undefined> {
    const out = await this.deps.table.doc.send(
      new GetCommand({ TableName: this.tableName, Key: keys.prices(), ConsistentRead: true }),
    );
    return out.Item as PricesItem | undefined;
  }

  async state(): Promise<MarketState> {
    const item = await this.item();
    const zero = Object.fromEntries(RESOURCES.map((r) => [r, 0])) as PerResource;
    return {
      prices: item?.prices ?? initialPrices(this.deps.economy),
      utilization: item?.utilization ?? zero,
      last_round: item?.last_round ?? null,
      updated_at: item?.updated_at ?? null,
    };
  }

  async prices(): Promise<PerResource> {
    return (await this.state()).prices;
  }

  /**
   * Applies the price update of a cleared round; returns its updates, or [] when already applied.
   * Rounds move prices in round order: `auction_cleared` events may be delivered out of order
   * (and retried) on AWS, so earlier cleared rounds not applied yet are applied first, from the
   * statistics their round items keep. A round older than the last applied one changes nothing.
   */
  async applyRound(cleared: Envelope<'auction_cleared'>, ctx: EventContext = {}): Promise<PriceUpdate[]> {
    for (const earlier of await this.unappliedBefore(roundStartMs(cleared.data.round))) {
      await this.applyOne(earlier, ctx);
    }
    return this.applyOne(cleared, ctx);
  }

  /**
   * Cleared rounds between the last applied one and `start`, oldest first (at most
   * `MAX_CATCH_UP_WINDOWS`, the most recent), as the `auction_cleared` they emitted.
   */
  private async unappliedBefore(start: number): Promise<Array<Pick<Envelope<'auction_cleared'>, 'event_id' | 'data'>>> {
    const item = await this.item();
    if (!item || item.last_round_start_ms >= start) return [];
    const len = this.deps.economy.round_seconds * 1000;
    const from = Math.max(item.last_round_start_ms + len, start - MAX_CATCH_UP_WINDOWS * len);
    const rounds = new Set<string>();
    for (let s = from; s < start; s += len) rounds.add(roundAt(s, this.deps.economy.round_seconds).round);
    rounds.delete(roundAt(start, this.deps.economy.round_seconds).round);
    if (rounds.size === 0) return [];
    const found = await getAll(
      this.deps.table,
      [...rounds].map((r) => keys.round(r)),
    );
    return found
      .filter((r) => r.state === 'cleared' && r.stats && typeof r.cleared_event_id === 'string')
      .map((r) => {
        const { price_basis: _basis, ...data } = r.stats as Record<string, unknown>;
        return { event_id: String(r.cleared_event_id), data: data as Envelope<'auction_cleared'>['data'] };
      })
      .filter((e) => roundStartMs(e.data.round) > item.last_round_start_ms)
      .sort((a, b) => roundStartMs(a.data.round) - roundStartMs(b.data.round));
  }

  private async applyOne(
    cleared: Pick<Envelope<'auction_cleared'>, 'event_id' | 'data' | 'trace' | 'scenario_id'>,
    ctx: EventContext,
  ): Promise<PriceUpdate[]> {
    const d = cleared.data;
    const start = roundStartMs(d.round);
    if (!d.requested || !d.capacity) throw new Error(`auction_cleared of ${d.round} lacks requested/capacity`);
    const stats = {
      requested: d.requested as PerResource,
      capacity: d.capacity as PerResource,
      utilization: d.utilization as PerResource,
      clearing_prices: d.clearing_prices as PerResource<number | null>,
      ...(d.insufficient && { insufficient: d.insufficient as PerResource }),
    };
    return this.deps.tx.run<PriceUpdate[]>(`price update ${d.round}`, async () => {
      const item = await this.item();
      if (item && item.last_round_start_ms >= start) return { done: [] };
      const current = item?.prices ?? initialPrices(this.deps.economy);
      const updates = updatePrices(current, stats, this.deps.economy);
      const next = pricesAfter(updates, current);
      const now = this.deps.runtime.clock.now();
      const at = new Date(now).toISOString();
      const seqs = item?.seqs ?? (Object.fromEntries(RESOURCES.map((r) => [r, 0])) as PerResource);
      const events = this.priceEvents(updates, seqs, cleared, ctx);
      const newItem: PricesItem = {
        prices: next,
        utilization: stats.utilization,
        last_round: d.round,
        last_round_start_ms: start,
        seqs: Object.fromEntries(RESOURCES.map((r) => [r, seqs[r] + 1])) as PerResource,
        updated_at: at,
      };
      const actions: TxAction<PriceUpdate[]>[] = [
        {
          label: 'prices',
          item: {
            Put: {
              TableName: this.tableName,
              Item: { ...keys.prices(), kind: 'prices', ...newItem },
              // Idempotent per round, and never moves backwards to an older round.
              ConditionExpression: 'attribute_not_exists(PK) OR last_round_start_ms < :start',
              ExpressionAttributeValues: { ':start': start },
            },
          },
          onConditionFailed: () => ({ kind: 'done', result: [] }),
        },
        ...updates.map((u) => this.historyAction(u, d.round, start, at)),
        outboxAction<PriceUpdate[]>(this.tableName, events, now),
      ];
      return { actions, result: () => updates };
    });
  }

  /** One `price_update` per resource, in its `market:<resource>` sequence, caused by the round. */
  private priceEvents(
    updates: PriceUpdate[],
    seqs: PerResource,
    cleared: Pick<Envelope<'auction_cleared'>, 'event_id' | 'data' | 'trace' | 'scenario_id'>,
    ctx: EventContext,
  ): Envelope[] {
    const round = cleared.data.round;
    return updates.map((u) =>
      makeEvent(
        this.deps.runtime,
        {
          type: 'price_update',
          aggregate: `market:${u.resource}`,
          sequence: seqs[u.resource] + 1,
          causation_id: cleared.event_id,
          data: { ...u, round },
        },
        {
          ...ctx,
          correlation_id: round,
          ...(cleared.trace && { trace: cleared.trace }),
          ...(cleared.scenario_id && { scenario_id: cleared.scenario_id }),
        },
      ),
    );
  }

  /** The price series' point of one resource for one round. */
  private historyAction(u: PriceUpdate, round: string, start: number, at: string): TxAction<PriceUpdate[]> {
    return {
      label: `history ${u.resource}`,
      item: {
        Put: {
          TableName: this.tableName,
          Item: {
            ...keys.priceHistory(u.resource, start),
            kind: 'price_history',
            resource: u.resource,
            round,
            price: u.new_price,
            old_price: u.old_price,
            utilization: u.utilization,
            reason: u.reason,
            timestamp: at,
          },
        },
      },
    };
  }

  async history(resource: Resource, opts: { sinceMs?: number; limit: number }): Promise<PricePoint[]> {
    const out = await this.deps.table.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'PK = :p AND SK >= :since',
        ExpressionAttributeValues: {
          ':p': keys.priceHistory(resource, 0).PK,
          ':since': keys.priceHistory(resource, opts.sinceMs ?? 0).SK,
        },
        ScanIndexForward: false,
        Limit: opts.limit,
      }),
    );
    return (out.Items ?? []).map((i) => ({
      resource,
      round: String(i.round),
      price: Number(i.price),
      old_price: Number(i.old_price),
      utilization: Number(i.utilization),
      reason: i.reason as PriceUpdate['reason'],
      timestamp: String(i.timestamp),
    }));
  }
}
