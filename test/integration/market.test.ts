/**
 * The auction end to end through the HTTP API against DynamoDB Local: bids with escrow,
 * clearing with exactly-once settlement (also under crashes and competing clearers), bids
 * racing the round's close, prices moving after a round, and bad bids writing nothing.
 */
import { TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { makeHandler } from '#functions/price-update';
import { auditLedger, scanKinds } from '#shared/adapters/dynamodb/audit';
import { CLEARING_LEASE_MS } from '#shared/adapters/dynamodb/clearing';
import { eventsOfOutbox } from '#shared/adapters/dynamodb/outbox';
import type { ServiceOverrides, Services } from '#shared/adapters/services';
import type { Envelope } from '#shared/core/events';
import { parseEconomyConfig } from '#shared/core/market-config';
import { seededRandom, ulidGenerator } from '#shared/core/ports';
import { shownPrice } from '#shared/core/pricing';
import { roundStartMs } from '#shared/core/rounds';
import { type ApiHarness, useApi } from '../harness/api.ts';
import { testServices } from '../harness/context.ts';

const ECONOMY = { round_seconds: 1, bids: { max_open_bids_per_agent: 50 } };
const api = useApi('market', { env: { SYNTROPISM_ECONOMY: JSON.stringify(ECONOMY) } });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Waits until the current 1-second round has closed. */
const nextRound = () => sleep(1_050 - (Date.now() % 1_000));
/** The 1-second window of a round id, as clearing takes it. */
const windowOf = (round: string) => ({
  round,
  starts_at_ms: roundStartMs(round),
  closes_at_ms: roundStartMs(round) + 1000,
});

function services(overrides: ServiceOverrides = {}): Services {
  return testServices(api.table, api.config, { economy: parseEconomyConfig(ECONOMY), ...overrides });
}

/** Events with their data loosely typed: the tests assert fields of several types. */
// biome-ignore lint/suspicious/noExplicitAny: asserted field by field
type LooseEvent = Omit<Envelope, 'data'> & { data: Record<string, any> };

async function events(): Promise<LooseEvent[]> {
  const items = await scanKinds(api.table.client, api.table.tableName, ['outbox']);
  return items.flatMap((i) => eventsOfOutbox(i)) as LooseEvent[];
}

let n = 0;
const bid = (h: ApiHarness, key: string, body: Record<string, unknown>) =>
  h.call('POST', '/v1/bids', { key, idempotencyKey: `bid-${++n}`, body });

/** Every escrow resolved exactly once: one hold and at most one resolution per bid. */
async function expectEscrowsResolved() {
  const transfers = await scanKinds(api.table.client, api.table.tableName, ['transfer']);
  const bids = await scanKinds(api.table.client, api.table.tableName, ['bid']);
  for (const b of bids) {
    const id = String(b.bid_id);
    const holds = transfers.filter((t) => t.transfer_id === `bid#${id}#escrow`);
    const resolutions = transfers.filter((t) => t.transfer_id === `bid#${id}#resolve`);
    if (b.status === 'rejected') {
      // A refused placement never held anything.
      expect([...holds, ...resolutions]).toEqual([]);
      continue;
    }
    expect(holds).toHaveLength(1);
    if (b.status === 'pending') expect(resolutions).toHaveLength(0);
    else {
      expect(resolutions).toHaveLength(1);
      const purpose = resolutions[0]?.purpose;
      expect(purpose).toBe(b.status === 'won' ? 'resource_burn' : 'escrow_refund');
    }
  }
}

describe('bids and clearing', () => {
  it('a winner burns, gets an allocation, and the events follow the seed order; a loser is refunded', async () => {
    const rich = await api.agent('rich', 100);
    const poor = await api.agent('poor', 100);
    // Rounds last one second here: place both bids in the same round (retry if they straddle).
    let win: Awaited<ReturnType<typeof bid>> | undefined;
    let lose: Awaited<ReturnType<typeof bid>> | undefined;
    let attempts = 0;
    for (; attempts < 5; ) {
      attempts++;
      await nextRound();
      // One second: the allocation must not hold cpu supply away from later tests.
      [win, lose] = await Promise.all([
        bid(api, rich.key, { bundle: { cpu: 80, tokens: 1000 }, duration_seconds: 1, amount: 20 }),
        bid(api, poor.key, { bundle: { cpu: 50 }, duration_seconds: 1, amount: 5 }),
      ]);
      expect(win.status, win.text).toBe(201);
      expect(lose.status, lose.text).toBe(201);
      if (win.body.round === lose.body.round) break;
      await nextRound();
      await api.call('POST', '/v1/rounds/clear');
    }
    if (!win || !lose) throw new Error('no bids placed');
    expect(win.body).toMatchObject({ status: 'pending', amount: 20 });
    await nextRound();
    const cleared = await api.call('POST', '/v1/rounds/clear');
    expect(cleared.status, cleared.text).toBe(200);
    const mine = cleared.body.cleared.find((r: { round: string }) => r.round === win.body.round);
    expect(mine).toMatchObject({ bids: 2, winners: 1, losers: 1, revenue: 20 });

    const w = await api.call('GET', `/v1/bids/${win.body.bid_id}`, { key: rich.key });
    expect(w.body).toMatchObject({ status: 'won' });
    expect(w.body.allocation_id).toMatch(/^al_/);
    const l = await api.call('GET', `/v1/bids/${lose.body.bid_id}`, { key: poor.key });
    expect(l.body).toMatchObject({ status: 'lost', reason: 'outbid' });
    expect((await api.call('GET', `/v1/agents/${poor.id}/balance`, { key: poor.key })).body.balance).toBe(100); // refunded
    expect((await api.call('GET', `/v1/agents/${rich.id}/balance`, { key: rich.key })).body.balance).toBeCloseTo(
      100 - 20 * attempts,
      6,
    );
    // What a winner burns is spent; a loser's refunded escrow is neither spent nor earned.
    const richProfile = (await api.call('GET', `/v1/agents/${rich.id}`, { key: rich.key })).body;
    expect(richProfile.total_spent).toBeCloseTo(20 * attempts, 6);
    const poorProfile = (await api.call('GET', `/v1/agents/${poor.id}`, { key: poor.key })).body;
    expect(poorProfile).toMatchObject({ total_earned: 100, total_spent: 0 });

    // Price update, as the bus would trigger it from the delivered auction_cleared.
    const all = await events();
    const auction = all.find((e) => e.type === 'auction_cleared' && e.data.round === win.body.round);
    expect(auction).toBeDefined();
    const priceUpdate = makeHandler(api.services);
    const busEvent = { detail: { outbox_id: 'x', events: [auction] } } as Parameters<typeof priceUpdate>[0];
    expect(await priceUpdate(busEvent)).toEqual({ applied: 1 });
    expect(await priceUpdate(busEvent)).toEqual({ applied: 0 }); // idempotent per round

    const after = await events();
    const ofBid = after
      .filter((e) => e.aggregate === `bid:${win.body.bid_id}`)
      .sort((a, b) => (a.sequence ?? 0) - (b.sequence ?? 0));
    expect(ofBid.map((e) => [e.type, e.data.purpose ?? null])).toEqual([
      ['bid_placed', null],
      ['credits_transferred', 'bid_escrow'],
      ['credits_transferred', 'resource_burn'],
      ['resources_allocated', null],
    ]);
    const prices = after.filter((e) => e.type === 'price_update' && e.data.round === win.body.round);
    expect(prices.map((e) => e.data.resource).sort()).toEqual(['attention', 'cpu', 'memory', 'tokens']);
    const cpu = prices.find((e) => e.data.resource === 'cpu');
    expect(cpu?.data.new_price).toBeGreaterThan(cpu?.data.old_price as number); // 130% of cpu requested
    expect(cpu?.causation_id).toBe(auction?.event_id);
    const ofLoser = after
      .filter((e) => e.aggregate === `bid:${lose.body.bid_id}`)
      .sort((a, b) => (a.sequence ?? 0) - (b.sequence ?? 0))
      .map((e) => e.type);
    expect(ofLoser).toEqual(['bid_placed', 'credits_transferred', 'credits_transferred', 'bid_rejected']);

    const market = await api.call('GET', '/v1/market', { key: rich.key });
    // Shown to 12 significant digits (shownPrice); the event carries the price as stored.
    expect(market.body.resources.cpu.price).toBe(shownPrice(cpu?.data.new_price as number));
    expect(market.body.resources.cpu.utilization).toBeCloseTo(0.8, 6);
    const history = await api.call('GET', '/v1/market/history?resource=cpu', { key: rich.key });
    expect(history.body.prices[0]).toMatchObject({
      round: win.body.round,
      price: shownPrice(cpu?.data.new_price as number),
    });
    const round = await api.call('GET', `/v1/rounds/${win.body.round}`, { key: rich.key });
    expect(round.body).toMatchObject({ state: 'cleared', bid_count: 2 });
    await api.expectAuditClean();
    await expectEscrowsResolved();
  });

  it('moves prices in round order when auction_cleared events arrive out of order', async () => {
    const a = await api.agent('late-news', 30);
    const s = services();
    const clearOne = async (amount: number) => {
      await nextRound();
      const p = await bid(api, a.key, { bundle: { memory: 20 }, duration_seconds: 1, amount });
      expect(p.status, p.text).toBe(201);
      await nextRound();
      expect(await s.clearing.clearRound(windowOf(p.body.round))).toBeDefined();
      const cleared = (await events()).find((e) => e.type === 'auction_cleared' && e.data.round === p.body.round);
      expect(cleared).toBeDefined();
      return cleared as Envelope<'auction_cleared'>;
    };
    // A round the market has already applied, then two more whose events come in reverse.
    const base = await clearOne(1);
    await s.market.applyRound(base);
    const first = await clearOne(2);
    const second = await clearOne(3);
    const applied = await s.market.applyRound(second);
    expect(applied.map((u) => u.resource).sort()).toEqual(['attention', 'cpu', 'memory', 'tokens']);
    expect(await s.market.applyRound(first)).toEqual([]); // applied already, before the second
    const memory = (await events())
      .filter((e) => e.type === 'price_update' && e.data.resource === 'memory')
      .filter((e) => [first.data.round, second.data.round].includes(e.data.round))
      .sort((x, y) => (x.sequence ?? 0) - (y.sequence ?? 0));
    expect(memory.map((e) => e.data.round)).toEqual([first.data.round, second.data.round]);
    expect(memory[0]?.causation_id).toBe(first.event_id);
    expect(memory[1]?.data.old_price).toBe(memory[0]?.data.new_price); // one chain, no round skipped
  });

  it("a bid's outcome carries the scenario, the trace and the cause of the request that placed it", async () => {
    const a = await api.agent('traced', 10);
    await nextRound();
    const placed = await api.call('POST', '/v1/bids', {
      key: a.key,
      idempotencyKey: 'traced-bid',
      headers: { 'x-scenario-id': 'sc-origin' },
      body: { bundle: { memory: 5 }, duration_seconds: 1, amount: 1 },
    });
    expect(placed.status, placed.text).toBe(201);
    await nextRound();
    await services().clearing.clearRound(windowOf(placed.body.round));
    const story = (await events())
      .filter((e) => e.aggregate === `bid:${placed.body.bid_id}`)
      .sort((x, y) => (x.sequence ?? 0) - (y.sequence ?? 0));
    expect(story.map((e) => e.type)).toEqual([
      'bid_placed',
      'credits_transferred',
      'credits_transferred',
      'resources_allocated',
    ]);
    const [placedEvent] = story;
    const traceId = (e: LooseEvent) => e.trace?.traceparent.split('-')[1];
    expect(traceId(placedEvent as LooseEvent)).toMatch(/^[0-9a-f]{32}$/);
    for (const e of story) {
      expect(e.scenario_id).toBe('sc-origin');
      expect(traceId(e)).toBe(traceId(placedEvent as LooseEvent));
    }
    for (const e of story.slice(2)) expect(e.causation_id).toBe(placedEvent?.event_id);
    expect(story[2]?.agent_id).toBe(a.id); // the burn names its payer
  });

  it('a win paid by another wakes the dormant beneficiary; a payer left with nothing goes dormant', async () => {
    const patron = await api.agent('patron', 3);
    const sleeper = await api.agent('beneficiary', 0);
    const nap = await api.call('PUT', `/v1/agents/${sleeper.id}/state`, {
      key: sleeper.key,
      body: { state: 'dormant' },
    });
    expect(nap.body.state).toBe('dormant');
    await nextRound();
    // All the patron has, for the sleeper's allocation.
    const placed = await bid(api, patron.key, {
      bundle: { memory: 5 },
      duration_seconds: 1,
      amount: 3,
      beneficiary_id: sleeper.id,
    });
    expect(placed.status, placed.text).toBe(201);
    await nextRound();
    await services().clearing.clearRound(windowOf(placed.body.round));
    expect((await api.call('GET', `/v1/bids/${placed.body.bid_id}`, { key: patron.key })).body.status).toBe('won');
    const state = async (a: { id: string; key: string }) =>
      (await api.call('GET', `/v1/agents/${a.id}`, { key: a.key })).body.state;
    expect(await state(sleeper)).toBe('active');
    expect(await state(patron)).toBe('dormant');
    const all = await events();
    const awake = all.find((e) => e.type === 'agent_awake' && e.agent_id === sleeper.id);
    expect(awake).toMatchObject({
      aggregate: `agent:${sleeper.id}`,
      data: { agent_id: sleeper.id, awakened_by: patron.id, current_balance: 0 },
    });
    const asleep = all.find((e) => e.type === 'agent_dormant' && e.agent_id === patron.id);
    expect(asleep).toMatchObject({
      aggregate: `agent:${patron.id}`,
      data: { agent_id: patron.id, final_balance: 0, reason: 'insufficient_credits' },
    });
    // A rerun of the round changes no state twice.
    await services().clearing.clearRound(windowOf(placed.body.round));
    const again = await events();
    expect(again.filter((e) => e.type === 'agent_dormant' && e.agent_id === patron.id)).toHaveLength(1);
  });

  it('quotes a bundle at current and floor prices, exactly', async () => {
    const a = await api.agent('quoter', 1);
    const q = await api.call('POST', '/v1/market/quote', {
      key: a.key,
      body: { bundle: { cpu: 10, memory: 5, tokens: 20000 }, duration_seconds: 600 },
    });
    expect(q.status, q.text).toBe(200);
    expect(q.body.reference_cost).toBeGreaterThan(0);
    expect(q.body.floor_cost).toBeLessThanOrEqual(q.body.reference_cost);
  });

  it('cancels a pending bid with a refund, and refuses to cancel twice differently', async () => {
    const a = await api.agent('canceller', 10);
    await nextRound(); // the most time a 1-second round allows between placing and cancelling
    const placed = await bid(api, a.key, { bundle: { memory: 1 }, duration_seconds: 10, amount: 3 });
    expect(placed.status, placed.text).toBe(201);
    const del = await api.call('DELETE', `/v1/bids/${placed.body.bid_id}`, { key: a.key });
    if (del.status === 409) {
      // The 1-second round closed between the two calls: the cancel is correctly refused.
      expect(del.body.code).toBe('round_closed');
      return;
    }
    expect(del.status, del.text).toBe(200);
    expect(del.body.status).toBe('cancelled');
    expect((await api.call('GET', `/v1/agents/${a.id}/balance`, { key: a.key })).body.balance).toBe(10);
    // Escrow held and returned: nothing earned, nothing spent.
    const profile = (await api.call('GET', `/v1/agents/${a.id}`, { key: a.key })).body;
    expect(profile).toMatchObject({ total_earned: 10, total_spent: 0 });
    const again = await api.call('DELETE', `/v1/bids/${placed.body.bid_id}`, { key: a.key });
    expect(again.status).toBe(200);
    const other = await api.agent('intruder', 1);
    expect((await api.call('DELETE', `/v1/bids/${placed.body.bid_id}`, { key: other.key })).status).toBe(404);
    expect((await api.call('GET', `/v1/bids/${placed.body.bid_id}`, { key: other.key })).status).toBe(404);
    await api.expectAuditClean();
  });

  it('rejects insufficient balance and below-reserve bids with problems and bid_rejected events', async () => {
    const a = await api.agent('short', 1);
    // The rejections are recorded as events (numbered in the agent's sequence) and as bids with
    // status `rejected`; no money moves and no round holds them.
    const before = await api.snapshot(['entry', 'transfer', 'round_bid']);
    const over = await bid(api, a.key, { bundle: { cpu: 1 }, duration_seconds: 10, amount: 2 });
    expect(over.status).toBe(409);
    expect(over.body).toMatchObject({ code: 'insufficient_balance', required: 2, available: 1 });
    const cheap = await bid(api, a.key, { bundle: { cpu: 100 }, duration_seconds: 3600, amount: 0.000001 });
    expect(cheap.status).toBe(422);
    expect(cheap.body.code).toBe('below_reserve');
    expect(await api.snapshot(['entry', 'transfer', 'round_bid'])).toBe(before);
    expect((await api.call('GET', `/v1/agents/${a.id}`, { key: a.key })).body.balance).toBe(1);
    const rejected = (await events()).filter((e) => e.type === 'bid_rejected' && e.agent_id === a.id);
    expect(rejected.map((e) => e.data.reason).sort()).toEqual(['below_reserve', 'insufficient_balance']);
    const listed = await api.call('GET', '/v1/bids?status=rejected', { key: a.key });
    expect(listed.status).toBe(200);
    expect(listed.body.bids.map((b: { reason: string }) => b.reason).sort()).toEqual([
      'below_reserve',
      'insufficient_balance',
    ]);
    for (const b of listed.body.bids as Array<{ bid_id: string }>) {
      const one = await api.call('GET', `/v1/bids/${b.bid_id}`, { key: a.key });
      expect(one.body).toMatchObject({ status: 'rejected', agent_id: a.id, allocation_id: null });
      const cancel = await api.call('DELETE', `/v1/bids/${b.bid_id}`, { key: a.key });
      expect(cancel.status).toBe(409);
    }
    const refused = listed.body.bids.find((b: { reason: string }) => b.reason === 'insufficient_balance');
    expect(refused).toMatchObject({ amount: 2, bundle: { cpu: 1 }, duration_seconds: 10 });
  });

  it.each([
    ['zero cpu', { bundle: { cpu: 0 }, duration_seconds: 10, amount: 1 }, 'invalid_bundle'],
    ['negative memory', { bundle: { memory: -1 }, duration_seconds: 10, amount: 1 }, 'invalid_bundle'],
    ['over capacity', { bundle: { cpu: 101 }, duration_seconds: 10, amount: 1 }, 'invalid_bundle'],
    ['attention above 1', { bundle: { attention: 1.5 }, duration_seconds: 10, amount: 1 }, 'invalid_bundle'],
    ['fractional tokens', { bundle: { tokens: 1.5 }, duration_seconds: 10, amount: 1 }, 'invalid_bundle'],
    ['empty bundle', { bundle: {}, duration_seconds: 10, amount: 1 }, 'invalid_bundle'],
    ['duration 0', { bundle: { cpu: 1 }, duration_seconds: 0, amount: 1 }, 'invalid_bundle'],
    ['duration too long', { bundle: { cpu: 1 }, duration_seconds: 3601, amount: 1 }, 'invalid_bundle'],
    ['unknown resource', { bundle: { gpu: 1 }, duration_seconds: 10, amount: 1 }, 'validation_failed'],
    ['7 decimals', { bundle: { cpu: 1 }, duration_seconds: 10, amount: 1.0000001 }, 'validation_failed'],
    ['string amount', { bundle: { cpu: 1 }, duration_seconds: 10, amount: '1' }, 'validation_failed'],
  ])('refuses %s with 400 and writes nothing', async (_name, body, code) => {
    const a = await api.agent('badbidder', 10);
    const before = await api.snapshot(['account', 'entry', 'transfer', 'bid', 'round_bid', 'outbox']);
    const res = await bid(api, a.key, body);
    expect(res.status, res.text).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.body.code).toBe(code);
    expect(await api.snapshot(['account', 'entry', 'transfer', 'bid', 'round_bid', 'outbox'])).toBe(before);
  });
});

describe('clearing under faults', () => {
  it.each([0, 1, 3, 5])('a clearing killed after %i of 6 settlements finishes on rerun, exactly once', async (k) => {
    const agents = await Promise.all(Array.from({ length: 6 }, (_, i) => api.agent(`crash${k}-${i}`, 50)));
    await nextRound();
    const placed = await Promise.all(
      agents.map((a, i) => bid(api, a.key, { bundle: { cpu: 30 }, duration_seconds: 1, amount: 10 + i })),
    );
    for (const p of placed) expect(p.status, p.text).toBe(201);
    const round = placed[0]?.body.round as string;
    expect(new Set(placed.map((p) => p.body.round)).size).toBe(1);
    await nextRound();
    const crashing = services({
      maxBidsPerTransaction: 1,
      clearingFaults: {
        afterSettlement: (settled) => {
          if (settled === k) throw new Error(`crash after ${k}`);
        },
      },
    });
    const window = windowOf(round);
    if (k > 0) await expect(crashing.clearing.clearRound(window)).rejects.toThrow(`crash after ${k}`);
    // The crashed clearer's lease blocks others until it expires: take over as its successor would.
    await api.table.client
      .send(
        new (await import('@aws-sdk/lib-dynamodb')).UpdateCommand({
          TableName: api.table.tableName,
          Key: { PK: `ROUND#${round}`, SK: 'ROUND' },
          UpdateExpression: 'SET lease_until = :past',
          ConditionExpression: 'attribute_exists(PK)',
          ExpressionAttributeValues: { ':past': 0 },
        }),
      )
      .catch(() => undefined);
    const summary = await services().clearing.clearRound(window);
    expect(summary).toMatchObject({ round, bids: 6, winners: 3, losers: 3 });
    const statuses = await Promise.all(
      placed.map((p, i) => api.call('GET', `/v1/bids/${p.body.bid_id}`, { key: agents[i]?.key ?? '' })),
    );
    // The three highest amounts win (cpu 30 each, capacity 100).
    expect(statuses.map((s) => s.body.status)).toEqual(['lost', 'lost', 'lost', 'won', 'won', 'won']);
    await api.expectAuditClean();
    await expectEscrowsResolved();
    // A further rerun changes nothing.
    expect(await services().clearing.clearRound(window)).toBeUndefined();
  });

  it('dispatched settlement: orders delivered twice and out of order settle each bid once', async () => {
    const agents = await Promise.all(Array.from({ length: 5 }, (_, i) => api.agent(`fanout-${i}`, 50)));
    await nextRound();
    const placed = await Promise.all(
      agents.map((a, i) => bid(api, a.key, { bundle: { memory: 30 }, duration_seconds: 1, amount: 1 + i })),
    );
    for (const p of placed) expect(p.status, p.text).toBe(201);
    const round = placed[0]?.body.round as string;
    await nextRound();
    const worker = services({});
    let delivered = 0;
    const clearer = services({
      maxBidsPerTransaction: 1,
      // The queue: at-least-once and unordered, here every order twice, last first.
      dispatch: async (orders) => {
        for (const order of [...orders].reverse()) delivered += await worker.clearing.settleOrder(order);
        for (const order of orders) delivered += await worker.clearing.settleOrder(order);
      },
    });
    expect(await clearer.clearing.clearRound(windowOf(round))).toMatchObject({ round, bids: 5, winners: 3 });
    expect(delivered).toBe(5);
    const statuses = await Promise.all(
      placed.map((p, i) => api.call('GET', `/v1/bids/${p.body.bid_id}`, { key: agents[i]?.key ?? '' })),
    );
    expect(statuses.map((r) => r.body.status).sort()).toEqual(['lost', 'lost', 'won', 'won', 'won']);
    const settledEvents = (await events()).filter(
      (e) =>
        ['resources_allocated', 'bid_rejected'].includes(e.type) && placed.some((p) => p.body.bid_id === e.data.bid_id),
    );
    expect(settledEvents).toHaveLength(5);
  });

  it('a clearer whose lease ran out is stopped at its next batch; the successor settles the rest once', async () => {
    const agents = await Promise.all(Array.from({ length: 6 }, (_, i) => api.agent(`lease-${i}`, 50)));
    await nextRound();
    const placed = await Promise.all(
      agents.map((a, i) => bid(api, a.key, { bundle: { memory: 10 }, duration_seconds: 1, amount: 1 + i })),
    );
    for (const p of placed) expect(p.status, p.text).toBe(201);
    const round = placed[0]?.body.round as string;
    expect(new Set(placed.map((p) => p.body.round)).size).toBe(1);
    await nextRound();
    const window = windowOf(round);
    // One clock for both clearers; the first one stalls after two settlements for longer than
    // its lease (a frozen container), and the successor takes the round over meanwhile.
    let offset = 0;
    const clock = { now: () => Date.now() + offset };
    const runtime = (seed: number) => ({
      clock,
      ids: ulidGenerator(clock, seededRandom(seed)),
      random: seededRandom(seed),
    });
    let successor: Awaited<ReturnType<Services['clearing']['clearRound']>>;
    let lateWrites = 0;
    // One batch at a time: with several in flight, those already past their lease check when
    // the stall began may still commit (safe, each is conditioned on its bids being pending),
    // and this test counts writes after the takeover.
    const stalled = services({
      runtime: runtime(1),
      maxBidsPerTransaction: 1,
      settlementConcurrency: 1,
      writer: async (input) => {
        if (offset > 0) lateWrites++;
        await api.table.client.send(new TransactWriteCommand(input));
      },
      clearingFaults: {
        afterSettlement: async (settled) => {
          if (settled !== 2) return;
          offset += CLEARING_LEASE_MS + 1_000;
          successor = await services({ runtime: runtime(2) }).clearing.clearRound(window);
        },
      },
    });
    await expect(stalled.clearing.clearRound(window)).rejects.toThrow('taken over');
    expect(lateWrites).toBe(0); // it stopped before sending anything more
    expect(successor).toMatchObject({ round, bids: 6, resumed: true });
    const statuses = await Promise.all(
      placed.map((p, i) => api.call('GET', `/v1/bids/${p.body.bid_id}`, { key: agents[i]?.key ?? '' })),
    );
    expect(statuses.every((r) => ['won', 'lost'].includes(r.body.status))).toBe(true);
    const cleared = (await events()).filter((e) => e.type === 'auction_cleared' && e.data.round === round);
    expect(cleared).toHaveLength(1);
    await api.expectAuditClean();
    await expectEscrowsResolved();
  });

  it('rounds clear strictly in order: a round held by another clearer holds back the later ones', async () => {
    const a = await api.agent('ordered', 20);
    await nextRound();
    const first = await bid(api, a.key, { bundle: { cpu: 60 }, duration_seconds: 30, amount: 2 });
    await nextRound();
    const second = await bid(api, a.key, { bundle: { cpu: 60 }, duration_seconds: 30, amount: 3 });
    expect([first.status, second.status]).toEqual([201, 201]);
    await nextRound();
    const setLease = async (round: string, state: string, until: number) =>
      api.table.client.send(
        new UpdateCommand({
          TableName: api.table.tableName,
          Key: { PK: `ROUND#${round}`, SK: 'ROUND' },
          UpdateExpression: 'SET #state = :state, clearer = :who, lease_until = :until',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':state': state, ':who': 'clr_elsewhere', ':until': until },
        }),
      );
    // The first round is being cleared elsewhere (its winner not allocated yet).
    await setLease(first.body.round, 'clearing', Date.now() + 60_000);
    const held = await services().clearing.clearDue();
    expect(held.map((r) => r.round)).not.toContain(second.body.round);
    const roundOf = (r: string) => api.call('GET', `/v1/rounds/${r}`, { key: a.key });
    expect((await roundOf(second.body.round)).body.state).toBe('open');
    // Its clearer vanished; once the lease has run out, the next run resumes it, then goes on.
    await setLease(first.body.round, 'clearing', 0);
    const resumed = await services().clearing.clearDue();
    const order = resumed.map((r) => r.round);
    expect(order.indexOf(first.body.round)).toBeGreaterThanOrEqual(0);
    expect(order.indexOf(first.body.round)).toBeLessThan(order.indexOf(second.body.round));
    // 60% cpu each for 30 s: the first round's winner holds its cpu, so the second bid loses.
    const outcome = async (p: typeof first) =>
      (await api.call('GET', `/v1/bids/${p.body.bid_id}`, { key: a.key })).body;
    expect((await outcome(first)).status).toBe('won');
    expect(await outcome(second)).toMatchObject({ status: 'lost', reason: 'insufficient_supply' });
    await api.expectAuditClean();
    await expectEscrowsResolved();
  });

  it('two clearers started at once on the same round: exactly one clears it', async () => {
    await nextRound();
    const a = await api.agent('duel', 10);
    const p = await bid(api, a.key, { bundle: { memory: 10 }, duration_seconds: 5, amount: 1 });
    expect(p.status).toBe(201);
    await nextRound();
    const round = p.body.round as string;
    const window = windowOf(round);
    const results = await Promise.all([services().clearing.clearRound(window), services().clearing.clearRound(window)]);
    expect(results.filter((r) => r !== undefined)).toHaveLength(1);
    const cleared = (await events()).filter((e) => e.type === 'auction_cleared' && e.data.round === round);
    expect(cleared).toHaveLength(1);
    await expectEscrowsResolved();
  });

  it('bids racing the round close are either in the round or rejected round_closed, never lost', async () => {
    await nextRound();
    const agents = await Promise.all(Array.from({ length: 8 }, (_, i) => api.agent(`racer${i}`, 100)));
    const results: { status: number; code?: string; bid_id?: string }[] = [];
    const until = Date.now() + 2_500;
    const s = services();
    const clearer = (async () => {
      while (Date.now() < until) {
        await s.clearing.clearDue();
        await sleep(50);
      }
    })();
    await Promise.all(
      agents.map(async (a) => {
        while (Date.now() < until) {
          const r = await bid(api, a.key, { bundle: { memory: 1 }, duration_seconds: 2, amount: 0.5 });
          results.push({ status: r.status, code: r.body?.code, bid_id: r.body?.bid_id });
        }
      }),
    );
    await clearer;
    await nextRound();
    await s.clearing.clearDue();
    expect(
      results.every(
        (r) =>
          r.status === 201 ||
          (r.status === 409 && ['round_closed', 'too_many_open_bids', 'insufficient_balance'].includes(r.code ?? '')),
      ),
      JSON.stringify(results.filter((r) => r.status !== 201)),
    ).toBe(true);
    const placedIds = results.filter((r) => r.status === 201).map((r) => r.bid_id);
    expect(placedIds.length).toBeGreaterThan(10);
    const bids = await scanKinds(api.table.client, api.table.tableName, ['bid']);
    const byId = new Map(bids.map((b) => [String(b.bid_id), String(b.status)]));
    for (const id of placedIds) expect(['won', 'lost']).toContain(byId.get(String(id)));
    const report = await auditLedger({ client: api.table.client, tableName: api.table.tableName });
    expect(report.problems).toEqual([]);
    await expectEscrowsResolved();
  });
});
