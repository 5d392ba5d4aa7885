/**
 * Market state on NATS (09-execution.md): what the JetStream key-value bucket
 * `syntropism-market` holds after a price update, so that agents can `get` or `watch` it instead
 * of polling `GET /v1/market`. Pure: shared/adapters/nats/market-state.ts writes the entries.
 *
 * - `resources.<resource>` → `{price, min_price, max_price, capacity, utilization, round}`: the
 *   price set by the price update of `round` (the round just cleared), with the same bounds,
 *   capacity and utilization `GET /v1/market` shows for it.
 * - `round` → `{round, opens_at, closes_at}`: the round open after the update, the one whose
 *   bids these prices apply to.
 *
 * Entries never go backwards: each value names its round, and an entry replaces a stored one
 * only for a strictly later round (`supersedes`). A redelivered or late outbox item (retries,
 * catch-up rounds, archive replays) therefore changes nothing, and the same round written twice
 * is no new revision for watchers to see.
 */

import { z } from 'zod';
import type { Envelope } from './events.ts';
import type { EconomyConfig } from './market-config.ts';
import { shownPrice } from './pricing.ts';
import { capacityOf, type PerResource, RESOURCES, type Resource } from './resources.ts';
import { isRoundId, roundAt, roundStartMs } from './rounds.ts';

/** The bucket's name (configurable as NATS_MARKET_BUCKET, so tests keep theirs apart). */
export const MARKET_STATE_BUCKET = 'syntropism-market';

export const ROUND_KEY = 'round';
export type ResourceKey = `resources.${Resource}`;
export const resourceKey = (r: Resource): ResourceKey => `resources.${r}`;
/** Every key of the bucket, in the order a price update writes them (the round last). */
export const MARKET_STATE_KEYS: readonly string[] = [...RESOURCES.map(resourceKey), ROUND_KEY];

const roundId = z.string().refine(isRoundId, 'a round id like r_1764158400');
const number = z.number().finite();

export const resourceStateSchema = z
  .object({
    /** Credits per unit-second (tokens: per token), as in `GET /v1/market`. */
    price: number.nonnegative(),
    min_price: number.nonnegative(),
    max_price: number.nonnegative(),
    /** In rate units (tokens: tokens per second). */
    capacity: number.positive(),
    /** Share of capacity in use after the round (0..1). */
    utilization: number.nonnegative(),
    /** The cleared round whose price update set `price`. */
    round: roundId,
  })
  .strict();

export const roundStateSchema = z
  .object({ round: roundId, opens_at: z.iso.datetime(), closes_at: z.iso.datetime() })
  .strict();

export type ResourceState = z.infer<typeof resourceStateSchema>;
export type RoundState = z.infer<typeof roundStateSchema>;

export type MarketStateEntry =
  | { key: ResourceKey; resource: Resource; value: ResourceState }
  | { key: typeof ROUND_KEY; value: RoundState };

/** One resource as `GET /v1/market` shows it: its price with the economy's bounds and capacity. */
export function resourceQuote(
  economy: EconomyConfig,
  capacity: PerResource,
  resource: Resource,
  at: { price: number; utilization: number },
): Omit<ResourceState, 'round'> {
  return {
    price: shownPrice(at.price),
    min_price: economy.prices[resource].min_price,
    max_price: economy.prices[resource].max_price,
    capacity: capacity[resource],
    utilization: at.utilization,
  };
}

/**
 * The round open after a price update made at `atMs` for the cleared round `cleared`: the
 * window of `atMs`, but never the cleared round itself or an earlier one (a price updater whose
 * clock lags the clearer's still names the next round).
 */
export function roundOpenAfter(cleared: string, atMs: number, roundSeconds: number): RoundState {
  const afterCleared = roundStartMs(cleared) + roundSeconds * 1000;
  const w = roundAt(Math.max(atMs, afterCleared), roundSeconds);
  return {
    round: w.round,
    opens_at: new Date(w.starts_at_ms).toISOString(),
    closes_at: new Date(w.closes_at_ms).toISOString(),
  };
}

/** The cleared round a `price_update` belongs to (its data, else its correlation id), if it names one. */
function roundOf(e: Envelope<'price_update'>): string | undefined {
  const round = e.data.round ?? e.correlation_id;
  return round !== undefined && isRoundId(round) ? round : undefined;
}

/**
 * The entries the `price_update` events among `events` (one outbox item: one round's updates)
 * call for: per resource the update of the latest round, then the round open after the latest
 * update. Nothing when there is no price update.
 */
export function marketStateEntries(events: readonly Envelope[], economy: EconomyConfig): MarketStateEntry[] {
  const latest = new Map<Resource, { event: Envelope<'price_update'>; round: string }>();
  let last: { round: string; atMs: number } | undefined;
  for (const e of events) {
    if (e.type !== 'price_update') continue;
    const event = e as Envelope<'price_update'>;
    const round = roundOf(event);
    if (round === undefined) continue;
    const start = roundStartMs(round);
    const seen = latest.get(event.data.resource);
    if (!seen || roundStartMs(seen.round) <= start) latest.set(event.data.resource, { event, round });
    const atMs = Date.parse(event.timestamp);
    if (!last || start > roundStartMs(last.round) || (start === roundStartMs(last.round) && atMs > last.atMs)) {
      last = { round, atMs };
    }
  }
  if (!last) return [];
  const capacity = capacityOf(economy);
  const entries: MarketStateEntry[] = [];
  for (const r of RESOURCES) {
    const u = latest.get(r);
    if (!u) continue;
    const at = { price: u.event.data.new_price, utilization: u.event.data.utilization };
    const value = { ...resourceQuote(economy, capacity, r, at), round: u.round };
    entries.push({ key: resourceKey(r), resource: r, value });
  }
  entries.push({ key: ROUND_KEY, value: roundOpenAfter(last.round, last.atMs, economy.round_seconds) });
  return entries;
}

/** The value stored under an entry's key, when it is one this module wrote (else undefined). */
export function storedValue(entry: MarketStateEntry, stored: unknown): ResourceState | RoundState | undefined {
  const schema = entry.key === ROUND_KEY ? roundStateSchema : resourceStateSchema;
  const parsed = schema.safeParse(stored);
  return parsed.success ? parsed.data : undefined;
}

/**
 * Whether `entry` may replace what the bucket holds under its key: when nothing (or nothing
 * readable) is there, or the stored value is of an earlier round. The same round again is a
 * redelivery and changes nothing; an earlier one would move the state backwards.
 */
export function supersedes(entry: MarketStateEntry, stored: unknown): boolean {
  const current = storedValue(entry, stored);
  if (current === undefined) return true;
  return roundStartMs(entry.value.round) > roundStartMs(current.round);
}
