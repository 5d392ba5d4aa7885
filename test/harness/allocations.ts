/**
 * An allocation won the way the market makes them, with the clock injected: the bid is placed
 * by a composition whose clock stands in a past round of its own (drawn at random, so no two
 * calls share a round and no real-clock round boundary matters), and that round is cleared by a
 * composition whose clock reads `clearAtMs` (default: now). The allocation's window is then
 * `[clearAtMs, clearAtMs + duration_seconds)`, real time for the API under test.
 */
import { randomInt } from 'node:crypto';
import { expect } from 'vitest';
import { createServices, type Services } from '#shared/adapters/services';
import type { AllocationRecord } from '#shared/core/allocations';
import { micros } from '#shared/core/money';
import { cryptoRandom, derivedId, ulidGenerator } from '#shared/core/ports';
import { type Bundle, bundleRates, floorCost } from '#shared/core/resources';
import { roundAt } from '#shared/core/rounds';

function at(services: Services, nowMs: number): Services {
  const clock = { now: () => nowMs };
  return createServices(services.config, {
    table: services.table,
    economy: services.economy,
    runtime: { clock, ids: ulidGenerator(clock, cryptoRandom), random: cryptoRandom },
  });
}

export async function winAllocation(
  services: Services,
  agentId: string,
  bundle: Bundle,
  durationSeconds: number,
  clearAtMs = Date.now(),
): Promise<AllocationRecord> {
  const len = services.economy.round_seconds * 1000;
  const placedAt = clearAtMs - len * (2 + randomInt(1_000_000)) + len / 2;
  const floor = floorCost(bundle, durationSeconds, services.economy);
  const placed = await at(services, placedAt).bids.place(
    {
      bid_id: derivedId('b', 'win-allocation', agentId, String(placedAt)),
      agent_id: agentId,
      bundle,
      duration_seconds: durationSeconds,
      // Well above the floor, so the bid wins whatever else is in the market.
      amount: micros(Math.max(2 * floor, 1_000_000)),
      rates: bundleRates(bundle, durationSeconds),
    },
    {},
  );
  await at(services, clearAtMs).clearing.clearRound(roundAt(placedAt, services.economy.round_seconds));
  const bid = await services.bids.get(placed.bid.bid_id);
  expect(bid?.status, JSON.stringify(bid)).toBe('won');
  const allocation = await services.allocations.get(bid?.allocation_id ?? '');
  if (!allocation) throw new Error(`no allocation for bid ${placed.bid.bid_id}`);
  return allocation;
}
