/**
 * The human's loop through the HTTP API, on DynamoDB Local and NATS: an agent wins attention,
 * prompts, a rater reads the queue (ordered by attention bid) and rewards; the reward mints to
 * the agent, once, within the rater's hourly ceiling, and wakes it if it was dormant. Every
 * refusal writes nothing; the audit (minted by source included) is clean after each test.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { auditLedger } from '#shared/adapters/dynamodb/audit';
import { useApi } from '../harness/api.ts';
import { useNatsEvents } from '../harness/nats-events.ts';

// Before the stack: the consumer attaches before the bridge's first publish.
const nats = useNatsEvents('attn');
const quiet = { info: () => {}, warn: () => {}, error: () => {} };
// Ceiling of 500 credits per rater per hour: a full-marks reward is 300 at the default weights.
const economy = { round_seconds: 1, money: { max_minted_per_rater_per_hour: 500 } };
const api = useApi('attention', {
  env: { SYNTROPISM_ECONOMY: JSON.stringify(economy) },
  pipeline: { stream: nats.pipeline, logger: quiet },
});

const events = () => nats.envelopes();
const until = nats.until;

const key = () => `k-${randomBytes(6).toString('hex')}`;
const attention = (share: number, amount: number) => ({ bundle: { attention: share }, duration_seconds: 60, amount });

async function prompt(agent: { key: string }, allocationId: string, content: string) {
  const res = await api.call('POST', '/v1/prompts', { key: agent.key, body: { allocation_id: allocationId, content } });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

async function rater(name: string) {
  const res = await api.call('POST', '/v1/raters', { body: { name } });
  expect(res.status, res.text).toBe(201);
  return { id: res.body.rater_id as string, key: res.body.api_key as string };
}

async function balanceOf(agentId: string): Promise<number> {
  return (await api.call('GET', `/v1/agents/${agentId}`)).body.balance;
}

describe('prompts, the queue and rewards', () => {
  it('attention won → prompt → the rater reads the queue → reward mints, once, and shows on NATS', async () => {
    const ada = await api.agent('ada', 100);
    const cy = await api.agent('cy', 100);
    const adaAllocation = await api.won(ada, attention(0.5, 5));
    const cyAllocation = await api.won(cy, attention(0.25, 8));
    const adaPrompt = await prompt(ada, adaAllocation, 'Prices of **cpu** fell 20% — <b>buy</b>?');
    const cyPrompt = await prompt(cy, cyAllocation, 'A second opinion.');
    expect(adaPrompt).toMatchObject({ status: 'pending', agent_id: ada.id, reward: null, format: 'text' });
    expect(adaPrompt.attention).toMatchObject({ share: 0.5, seconds: 60, paid: 5 });

    const human = await rater('human-1');
    const queue = await api.call('GET', '/v1/prompts?status=pending', { key: human.key });
    expect(queue.status, queue.text).toBe(200);
    // Cy paid 8 for 15 attention-seconds, Ada 5 for 30: Cy's bid per attention-second is higher.
    const ids = queue.body.prompts.map((p: { prompt_id: string }) => p.prompt_id);
    expect(ids.indexOf(cyPrompt.prompt_id)).toBeLessThan(ids.indexOf(adaPrompt.prompt_id));
    // Stored exactly as given: the API never renders or strips it.
    expect(queue.body.prompts.find((p: { prompt_id: string }) => p.prompt_id === adaPrompt.prompt_id).content).toBe(
      'Prices of **cpu** fell 20% — <b>buy</b>?',
    );

    const before = await balanceOf(ada.id);
    const economyBefore = (await api.call('GET', '/v1/economy', { key: ada.key })).body;
    const rewardKey = key();
    const scores = { interesting: 7, useful: 5, understandable: 9, reason: 'clear and actionable' };
    const reward = await api.call('POST', `/v1/prompts/${adaPrompt.prompt_id}/reward`, {
      key: human.key,
      idempotencyKey: rewardKey,
      body: scores,
    });
    expect(reward.status, reward.text).toBe(201);
    expect(reward.body).toMatchObject({ prompt_id: adaPrompt.prompt_id, agent_id: ada.id, credits_awarded: 210 });
    expect(reward.body.balance).toBe(before + 210);
    expect(await balanceOf(ada.id)).toBe(before + 210);

    // A replay answers the same; a second reward under another key is refused.
    const replay = await api.call('POST', `/v1/prompts/${adaPrompt.prompt_id}/reward`, {
      key: human.key,
      idempotencyKey: rewardKey,
      body: scores,
    });
    expect(replay.status).toBe(201);
    expect(replay.body).toEqual(reward.body);
    const again = await api.call('POST', `/v1/prompts/${adaPrompt.prompt_id}/reward`, {
      key: human.key,
      idempotencyKey: key(),
      body: scores,
    });
    expect(again.status, again.text).toBe(409);
    expect(again.body.code).toBe('prompt_already_rewarded');
    expect(await balanceOf(ada.id)).toBe(before + 210);

    const economyAfter = (await api.call('GET', '/v1/economy', { key: ada.key })).body;
    expect(economyAfter.minted.rewards).toBe(economyBefore.minted.rewards + 210);
    expect(economyAfter.minted.total).toBe(economyBefore.minted.total + 210);
    expect(economyAfter.minted.grants).toBe(economyBefore.minted.grants);

    const rewarded = await api.call('GET', '/v1/prompts?status=rewarded', { key: human.key });
    expect(rewarded.body.prompts[0]).toMatchObject({
      prompt_id: adaPrompt.prompt_id,
      status: 'rewarded',
      reward: { credits_awarded: 210, rated_by: `rater:${human.id}`, scores: { interesting: 7 } },
    });

    const issued = await until(
      () => events().find((e) => e.type === 'human_reward_issued' && e.data.prompt_id === adaPrompt.prompt_id),
      'human_reward_issued on NATS',
    );
    expect(issued.data).toMatchObject({ agent_id: ada.id, credits_awarded: 210, scores: { useful: 5 } });
    expect(issued.aggregate).toBe(`prompt:${adaPrompt.prompt_id}`);
    expect(issued.sequence).toBe(2);
    const submitted = events().find((e) => e.type === 'prompt_submitted' && e.data.prompt_id === adaPrompt.prompt_id);
    expect(submitted?.sequence).toBe(1);
    await api.expectAuditClean();
  });

  it('wakes an agent that went dormant for lack of credits', async () => {
    const dee = await api.agent('dee', 6);
    // Everything it has goes to the attention: after the clearing it holds nothing and sleeps.
    const allocation = await api.won(dee, attention(0.05, 6));
    const asleep = await api.call('GET', `/v1/agents/${dee.id}`);
    expect(asleep.body).toMatchObject({ state: 'dormant', balance: 0 });
    const p = await prompt(dee, allocation, 'Still here.');
    const human = await rater('human-2');
    const reward = await api.call('POST', `/v1/prompts/${p.prompt_id}/reward`, {
      key: human.key,
      idempotencyKey: key(),
      body: { interesting: 1, useful: 1, understandable: 1, reason: 'a sign of life' },
    });
    expect(reward.status, reward.text).toBe(201);
    expect(reward.body).toMatchObject({ credits_awarded: 30, balance: 30 });
    expect((await api.call('GET', `/v1/agents/${dee.id}`)).body).toMatchObject({ state: 'active', balance: 30 });
    const awake = await until(
      () => events().find((e) => e.type === 'agent_awake' && e.agent_id === dee.id),
      'agent_awake on NATS',
    );
    expect(awake.data).toMatchObject({ awakened_by: `rater:${human.id}`, current_balance: 30 });
    await api.expectAuditClean();
  });

  it("holds a rater to its hourly ceiling, the operator to its own, and refuses a revoked rater's key", async () => {
    const eve = await api.agent('eve', 100);
    const human = await rater('human-3');
    const full = { interesting: 10, useful: 10, understandable: 10, reason: 'superb' };
    const first = await prompt(eve, await api.won(eve, attention(0.02, 2)), 'one');
    const second = await prompt(eve, await api.won(eve, attention(0.02, 2)), 'two');
    const third = await prompt(eve, await api.won(eve, attention(0.02, 2)), 'three');
    const reward = (id: string, by: string, body = full) =>
      api.call('POST', `/v1/prompts/${id}/reward`, { key: by, idempotencyKey: key(), body });
    expect((await reward(first.prompt_id, human.key)).status).toBe(201);
    const before = await api.snapshot(['account', 'entry', 'transfer', 'prompt', 'outbox', 'mint_window']);
    const over = await reward(second.prompt_id, human.key);
    expect(over.status, over.text).toBe(429);
    expect(over.body).toMatchObject({
      code: 'mint_ceiling_exceeded',
      ceiling: 500,
      requested: 300,
      minted_this_hour: 300,
    });
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await api.snapshot(['account', 'entry', 'transfer', 'prompt', 'outbox', 'mint_window'])).toBe(before);
    // What is left under the ceiling still mints; the operator counts apart.
    expect((await reward(second.prompt_id, human.key, { ...full, interesting: 0, useful: 0 })).status).toBe(201);
    expect((await reward(third.prompt_id, api.operatorKey)).status).toBe(201);

    const revoked = await api.call('DELETE', `/v1/raters/${human.id}`);
    expect(revoked.body).toMatchObject({ rater_id: human.id, status: 'revoked' });
    expect((await api.call('GET', '/v1/prompts', { key: human.key })).status).toBe(401);
    await api.expectAuditClean();
  });

  it('GET /v1/economy agrees with the audit to the micro-credit: grants apart from rewards, burns, escrow', async () => {
    const fin = await api.agent('fin', 40);
    // An open bid keeps credits in escrow while the summary is read.
    const open = await api.call('POST', '/v1/bids', {
      key: fin.key,
      idempotencyKey: key(),
      body: { bundle: { cpu: 1 }, duration_seconds: 10, amount: 3 },
    });
    expect(open.status, open.text).toBe(201);
    const summary = await api.call('GET', '/v1/economy', { key: fin.key });
    expect(summary.status, summary.text).toBe(200);
    const report = await auditLedger({ client: api.table.client, tableName: api.table.tableName });
    const credits = (n: number) => n / 1_000_000;
    expect(summary.body.minted).toEqual({
      grants: credits(report.supply.minted.agent_grant),
      rewards: credits(report.supply.minted.human_reward),
      total: credits(report.totals.minted),
    });
    expect(summary.body.burned).toEqual({
      resource_burn: credits(report.supply.burned.resource_burn),
      spawn_fee: credits(report.supply.burned.spawn_fee),
      total: credits(report.totals.burned),
    });
    expect(summary.body.escrowed).toBe(credits(report.totals.escrowed));
    expect(summary.body.escrowed).toBeGreaterThanOrEqual(3);
    expect(summary.body.circulating).toBe(credits(report.totals.agents));
    expect(summary.body.minted.rewards).toBeGreaterThan(0);
    expect(summary.body.ceilings).toMatchObject({ max_minted_per_rater_per_hour: 500, max_grant: 1_000_000 });
    expect(summary.body.ceilings.remaining).toBe(summary.body.ceilings.max_minted - summary.body.minted.total);
    await api.expectAuditClean();
  });
});
