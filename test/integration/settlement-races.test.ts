/**
 * The two-phase escrow through the paths that use it, against DynamoDB Local: a placement's
 * hold, a cancellation's void and a settlement's post or void, each resolving a bid's escrow
 * exactly once — and a cancellation that loses its race to clearing answering with what really
 * happened to the bid (the cancel refund and the loser refund are the same resolution).
 */
import { TransactWriteCommand, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createServices, type Services } from '#shared/adapters/services';
import { parseEconomyConfig } from '#shared/core/market-config';
import { micros } from '#shared/core/money';
import { derivedId, seededRandom, ulidGenerator } from '#shared/core/ports';
import type { Bundle } from '#shared/core/resources';
import { bundleRates } from '#shared/core/resources';
import { roundAt } from '#shared/core/rounds';
import { useApi } from '../harness/api.ts';

const api = useApi('races');
const ECONOMY = parseEconomyConfig({ round_seconds: 60 });
/**
 * Clocks stand still at a time in the middle of a round (each services' clock is this plus its
 * offset), so bids placed one after another always share their round however slow the machine.
 */
const ANCHOR = (Math.floor(Date.now() / (ECONOMY.round_seconds * 1000)) + 0.5) * ECONOMY.round_seconds * 1000;
/** Each composition draws its ids from its own seed: with clocks standing still, ids must still differ. */
let compositions = 0;

/** Services whose clock runs `offsetMs` ahead, optionally with a hook before each transaction. */
function services(offsetMs = 0, beforeWrite?: (input: TransactWriteCommandInput) => Promise<void>): Services {
  const clock = { now: () => ANCHOR + offsetMs };
  const table = { doc: api.table.client, tableName: api.table.tableName };
  return createServices(api.config, {
    table,
    economy: ECONOMY,
    runtime: { clock, ids: ulidGenerator(clock, seededRandom(++compositions)), random: seededRandom(5) },
    sleep: async () => {},
    writer: async (input) => {
      await beforeWrite?.(input);
      await api.table.client.send(new TransactWriteCommand(input));
    },
  });
}

/**
 * Each test lives in rounds of its own: its clocks run `base` ahead, a fresh hour per test, so
 * one test's cleared round never refuses another's bids.
 */
let hour = 0;
const ROUND_MS = ECONOMY.round_seconds * 1000;
function timeline() {
  const base = ++hour * 3_600_000;
  return { now: (ms = 0) => services(base + ms), later: (ms = 0) => services(base + ROUND_MS + ms), base };
}

let n = 0;
async function place(s: Services, agentId: string, bundle: Bundle, amount: number) {
  const bidId = derivedId('b', 'race', String(++n));
  const out = await s.bids.place(
    {
      bid_id: bidId,
      agent_id: agentId,
      bundle,
      duration_seconds: 10,
      amount: micros(Math.round(amount * 1e6)),
      rates: bundleRates(bundle, 10),
    },
    {},
  );
  return out.bid;
}

/** The round of `bid`, as a clearer running a round later sees it (closed). */
const windowOf = (round: string) => roundAt(Number(round.slice(2)) * 1000, ECONOMY.round_seconds);

/** A canceller whose transaction is sent only after a clearer has settled the round. */
function cancellerLosingTo(round: string, t: ReturnType<typeof timeline>): Services {
  let raced = false;
  const clearer = t.later();
  return services(t.base, async () => {
    if (raced) return;
    raced = true;
    await clearer.clearing.clearRound(windowOf(round));
  });
}

describe('a cancellation racing clearing', () => {
  it('answers that the bid lost, refunded once, when clearing settled it first', async () => {
    const [loser, winner] = await Promise.all([api.agent('race-loser', 100), api.agent('race-winner', 100)]);
    const t = timeline();
    const s = t.now();
    const lost = await place(s, loser.id, { cpu: 60 }, 10);
    await place(s, winner.id, { cpu: 60 }, 20);
    await expect(cancellerLosingTo(lost.round, t).bids.cancel(lost.bid_id, loser.id, {})).rejects.toMatchObject({
      code: 'invalid_state',
      status: 409,
      extensions: { status: 'lost' },
    });
    expect((await s.bids.get(lost.bid_id))?.status).toBe('lost');
    expect((await s.ledger.getAccount(loser.id))?.balance).toBe(100_000_000);
    await api.expectAuditClean();
  });

  it('answers that the bid won, its credits burned, when clearing settled it first', async () => {
    const a = await api.agent('race-won', 100);
    const t = timeline();
    const s = t.now();
    const won = await place(s, a.id, { memory: 5 }, 7);
    await expect(cancellerLosingTo(won.round, t).bids.cancel(won.bid_id, a.id, {})).rejects.toMatchObject({
      code: 'invalid_state',
      extensions: { status: 'won' },
    });
    expect((await s.ledger.getAccount(a.id))?.balance).toBe(93_000_000);
    await api.expectAuditClean();
  });

  it('through DELETE /v1/bids/{id}: a bid already settled is a 409 naming its status', async () => {
    const a = await api.agent('race-http', 50);
    const t = timeline();
    const bid = await place(t.now(), a.id, { attention: 0.1 }, 3);
    await t.later().clearing.clearRound(windowOf(bid.round));
    const res = await api.call('DELETE', `/v1/bids/${bid.bid_id}`, { key: a.key });
    expect(res.status, res.text).toBe(409);
    expect(res.body).toMatchObject({ code: 'invalid_state', status: 409 });
    expect(res.body.detail).toContain('won');
  });
});

describe('escrow resolves exactly once through placement, cancellation and settlement', () => {
  it('two cancellations at once void the hold once; both answer cancelled', async () => {
    const a = await api.agent('double-cancel', 20);
    const t = timeline();
    const s = t.now();
    const bid = await place(s, a.id, { cpu: 1 }, 5);
    expect((await s.ledger.getAccount(a.id))?.balance).toBe(15_000_000);
    const [c1, c2] = await Promise.all([
      s.bids.cancel(bid.bid_id, a.id, {}),
      t.now(1).bids.cancel(bid.bid_id, a.id, {}),
    ]);
    expect([c1.status, c2.status]).toEqual(['cancelled', 'cancelled']);
    const account = await s.ledger.getAccount(a.id);
    expect(account).toMatchObject({ balance: 20_000_000, open_bids: 0 });
    await api.expectAuditClean();
  });

  it('two clearers settling the same round post a winner once', async () => {
    const a = await api.agent('double-clear', 20);
    const t = timeline();
    const s = t.now();
    const bid = await place(s, a.id, { memory: 2 }, 4);
    await Promise.all([
      t.later().clearing.clearRound(windowOf(bid.round)),
      t.later(1).clearing.clearRound(windowOf(bid.round)),
    ]);
    expect((await s.bids.get(bid.bid_id))?.status).toBe('won');
    expect(await s.ledger.systemBalance('burn')).toBeGreaterThanOrEqual(4_000_000);
    expect(await s.ledger.getAccount(a.id)).toMatchObject({ balance: 16_000_000, open_bids: 0, total_out: 4_000_000 });
    await api.expectAuditClean();
  });

  it('refuses a placement beyond the balance with insufficient_balance, writing nothing', async () => {
    const a = await api.agent('over', 1);
    const before = await api.snapshot();
    await expect(place(timeline().now(), a.id, { cpu: 1 }, 1.000001)).rejects.toMatchObject({
      code: 'insufficient_balance',
    });
    expect(await api.snapshot()).toBe(before);
  });
});
