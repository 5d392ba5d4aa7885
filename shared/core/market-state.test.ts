/**
 * The market state's entries: one per resource with the prices of the latest round, the round
 * open after it, and the never-backwards rule that makes redeliveries and late rounds harmless.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Envelope, makeEvent } from './events.ts';
import { parseEconomyConfig } from './market-config.ts';
import {
  MARKET_STATE_KEYS,
  type MarketStateEntry,
  marketStateEntries,
  type ResourceState,
  resourceStateSchema,
  roundOpenAfter,
  roundStateSchema,
  storedValue,
  supersedes,
} from './market-state.ts';
import { seededRandom, ulidGenerator } from './ports.ts';
import { capacityOf, RESOURCES, type Resource } from './resources.ts';

const economy = parseEconomyConfig({ round_seconds: 60 });
const R0 = 1_764_158_400; // a round start, in seconds
const round = (i: number) => `r_${R0 + 60 * i}`;

/** The price updates of round `i`, made `lagMs` after it closed, as one outbox item holds them. */
function outbox(i: number, lagMs = 150, price = (r: Resource) => 1 + i + RESOURCES.indexOf(r) / 10): Envelope[] {
  const clock = { now: () => (R0 + 60 * (i + 1)) * 1000 + lagMs };
  const runtime = { clock, ids: ulidGenerator(clock, seededRandom(i + 1)) };
  return RESOURCES.map((r) =>
    makeEvent(
      runtime,
      {
        type: 'price_update',
        aggregate: `market:${r}`,
        sequence: i + 1,
        data: { resource: r, round: round(i), old_price: 1, new_price: price(r), utilization: 0.5, reason: 'stable' },
      },
      { correlation_id: round(i) },
    ),
  );
}

describe('marketStateEntries', () => {
  it('maps one round: every resource with its bounds and capacity, then the round open after it', () => {
    const entries = marketStateEntries(outbox(3), economy);
    expect(entries.map((e) => e.key)).toEqual(MARKET_STATE_KEYS);
    const capacity = capacityOf(economy);
    for (const [index, r] of RESOURCES.entries()) {
      expect(entries[index]?.value).toEqual({
        price: 4 + index / 10,
        min_price: economy.prices[r].min_price,
        max_price: economy.prices[r].max_price,
        capacity: capacity[r],
        utilization: 0.5,
        round: round(3),
      });
      expect(resourceStateSchema.safeParse(entries[index]?.value).success).toBe(true);
    }
    const open = entries.at(-1)?.value;
    expect(open).toEqual({
      round: round(4),
      opens_at: new Date((R0 + 240) * 1000).toISOString(),
      closes_at: new Date((R0 + 300) * 1000).toISOString(),
    });
    expect(roundStateSchema.safeParse(open).success).toBe(true);
  });

  it('names the round open when the update ran, after a late clearing', () => {
    const late = marketStateEntries(outbox(3, 3 * 60_000 + 5), economy);
    expect(late.at(-1)?.value.round).toBe(round(7));
  });

  it('never names the cleared round as open, whatever the updater clock says', () => {
    expect(roundOpenAfter(round(3), (R0 + 60 * 3) * 1000, 60).round).toBe(round(4));
    expect(roundOpenAfter(round(3), 0, 60).round).toBe(round(4));
  });

  it('is empty without price updates, and skips events of other types', () => {
    const clock = { now: () => R0 * 1000 };
    const other = makeEvent({ clock, ids: ulidGenerator(clock) }, { type: 'bid_cancelled', data: { bid_id: 'b_1' } });
    expect(marketStateEntries([other], economy)).toEqual([]);
    expect(marketStateEntries([other, ...outbox(1)], economy)).toHaveLength(5);
  });

  it('takes the latest round per resource when an item mixes rounds', () => {
    const mixed = [...outbox(5), ...outbox(2)];
    const entries = marketStateEntries(mixed, economy);
    expect(entries.map((e) => e.value.round)).toEqual([...RESOURCES.map(() => round(5)), round(6)]);
  });

  it('falls back on the correlation id when the data names no round', () => {
    const events = outbox(2).map((e) => {
      const { round: _r, ...data } = e.data as Record<string, unknown>;
      return { ...e, data } as Envelope;
    });
    expect(marketStateEntries(events, economy)[0]?.value.round).toBe(round(2));
  });
});

describe('supersedes (never backwards)', () => {
  const cpu = (i: number) => marketStateEntries(outbox(i), economy)[0] as MarketStateEntry;
  const open = (i: number) => marketStateEntries(outbox(i), economy).at(-1) as MarketStateEntry;

  it('replaces nothing, an unreadable value, or an earlier round', () => {
    expect(supersedes(cpu(4), undefined)).toBe(true);
    expect(supersedes(cpu(4), { price: 'high' })).toBe(true);
    expect(supersedes(cpu(4), cpu(3).value)).toBe(true);
    expect(supersedes(open(4), open(3).value)).toBe(true);
  });

  it('keeps the same round (a redelivery) and a later one', () => {
    expect(supersedes(cpu(4), cpu(4).value)).toBe(false);
    expect(supersedes(cpu(4), cpu(5).value)).toBe(false);
    expect(supersedes(open(4), open(9).value)).toBe(false);
  });

  it('reads a stored value only with the schema of its key', () => {
    expect(storedValue(cpu(1), open(1).value)).toBeUndefined();
    expect(storedValue(open(1), cpu(1).value)).toBeUndefined();
    expect(storedValue(cpu(1), cpu(1).value)).toEqual(cpu(1).value);
  });

  it('property: any order of deliveries, duplicates included, ends at the latest round', () => {
    const item = fc.integer({ min: 0, max: 30 });
    fc.assert(
      fc.property(fc.array(item, { minLength: 1, maxLength: 25 }), (rounds) => {
        const bucket = new Map<string, unknown>();
        for (const i of rounds) {
          for (const entry of marketStateEntries(outbox(i), economy)) {
            if (supersedes(entry, bucket.get(entry.key))) bucket.set(entry.key, entry.value);
          }
        }
        const latest = Math.max(...rounds);
        expect(Object.fromEntries(bucket)).toEqual(
          Object.fromEntries(marketStateEntries(outbox(latest), economy).map((e) => [e.key, e.value])),
        );
        expect((bucket.get('resources.tokens') as ResourceState).round).toBe(round(latest));
      }),
    );
  });
});
