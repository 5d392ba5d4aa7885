/**
 * Prompts and rewards under bad input, wrong callers, races and crashes, through the HTTP API on
 * DynamoDB Local: every refusal is a clear 4xx that writes nothing, a reward mints exactly once
 * whoever races for it, and a crash between commit and answer is healed by the retry.
 */
import { randomBytes } from 'node:crypto';
import { TransactWriteCommand, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createServices } from '#shared/adapters/services';
import { seededRandom, ulidGenerator } from '#shared/core/ports';
import { useApi } from '../harness/api.ts';

let offsetMs = 0;
const clock = { now: () => Date.now() + offsetMs };
const economy = {
  round_seconds: 1,
  rewards: { max_prompt_chars: 50, prompt_ttl_seconds: 600 },
  money: { max_grant: 1_000 },
};
const api = useApi('attention-refusals', {
  env: { SYNTROPISM_ECONOMY: JSON.stringify(economy) },
  services: { runtime: { clock, ids: ulidGenerator(clock, seededRandom(91)), random: seededRandom(92) } },
});

const KINDS = ['account', 'entry', 'transfer', 'agent', 'outbox', 'prompt', 'mint_window', 'rater'];
const key = () => `k-${randomBytes(6).toString('hex')}`;
const attention = (share: number, amount: number, duration_seconds = 60) => ({
  bundle: { attention: share },
  duration_seconds,
  amount,
});
const ok = { interesting: 4, useful: 5, understandable: 6, reason: 'fine' };

async function submit(agent: { key: string }, body: Record<string, unknown>) {
  return api.call('POST', '/v1/prompts', { key: agent.key, body });
}

async function rater(name: string) {
  const res = await api.call('POST', '/v1/raters', { body: { name } });
  expect(res.status, res.text).toBe(201);
  return { id: res.body.rater_id as string, key: res.body.api_key as string };
}

/** The call is refused with `status` and `code`, and the table is exactly as it was. */
async function refused(
  call: () => Promise<{ status: number; body: { code?: string }; text: string }>,
  status: number,
  code: string,
) {
  const before = await api.snapshot(KINDS);
  const res = await call();
  expect(res.status, res.text).toBe(status);
  expect(res.body.code).toBe(code);
  expect(await api.snapshot(KINDS)).toBe(before);
}

describe('submitting a prompt', () => {
  it('is refused without attention, on another agent’s allocation, twice, or once the allocation ended', async () => {
    const ann = await api.agent('ann', 100);
    const bob = await api.agent('bob', 100);
    const cpuOnly = await api.won(ann, { bundle: { cpu: 1 }, duration_seconds: 60, amount: 1 });
    await refused(() => submit(ann, { allocation_id: cpuOnly, content: 'hi' }), 403, 'attention_required');
    const allocation = await api.won(ann, attention(0.05, 2));
    await refused(() => submit(bob, { allocation_id: allocation, content: 'hi' }), 404, 'not_found');
    await refused(
      () => submit(ann, { allocation_id: 'al_AAAAAAAAAAAAAAAAAAAAAAAAAA', content: 'x' }),
      404,
      'not_found',
    );
    expect((await submit(ann, { allocation_id: allocation, content: 'first' })).status).toBe(201);
    await refused(() => submit(ann, { allocation_id: allocation, content: 'second' }), 409, 'prompt_exists');
    const short = await api.won(ann, attention(0.05, 2, 1));
    await new Promise((r) => setTimeout(r, 1_100));
    await refused(() => submit(ann, { allocation_id: short, content: 'late' }), 409, 'allocation_not_active');
    await api.expectAuditClean();
  });

  it('refuses bad bodies with 400 and the field: too long, control characters, lone surrogates, unknown keys', async () => {
    const cy = await api.agent('cy', 100);
    const allocation = await api.won(cy, attention(0.05, 2));
    const bad: Record<string, unknown>[] = [
      { allocation_id: allocation, content: 'x'.repeat(51) },
      { allocation_id: allocation, content: '' },
      { allocation_id: allocation, content: 'bell\u0007' },
      { allocation_id: allocation, content: 'ansi \u001b[31mred' },
      { allocation_id: allocation, content: 'spoof \u202e' },
      { allocation_id: allocation, content: 42 },
      { allocation_id: allocation, content: 'ok', format: 'html' },
      { allocation_id: allocation, content: 'ok', extra: true },
      { allocation_id: 'nope', content: 'ok' },
      { content: 'ok' },
    ];
    for (const body of bad) await refused(() => submit(cy, body), 400, 'validation_failed');
    await refused(
      () =>
        api.call('POST', '/v1/prompts', { key: cy.key, raw: `{"allocation_id":"${allocation}","content":"\\ud800"}` }),
      400,
      'validation_failed',
    );
    // Tabs, newlines, markdown, HTML and any script are fine: stored as given, never run.
    const fine = await submit(cy, {
      allocation_id: allocation,
      content: '# Hi\n\t<script>x</script> 😀',
      format: 'markdown',
    });
    expect(fine.status, fine.text).toBe(201);
    expect(fine.body.content).toBe('# Hi\n\t<script>x</script> 😀');
    await api.expectAuditClean();
  });

  it("replies only to the agent's own prompts", async () => {
    const dan = await api.agent('dan', 100);
    const eve = await api.agent('eve', 100);
    const first = await submit(dan, { allocation_id: await api.won(dan, attention(0.05, 2)), content: 'one' });
    const eveAllocation = await api.won(eve, attention(0.05, 2));
    await refused(
      () => submit(eve, { allocation_id: eveAllocation, content: 're', reply_to: first.body.prompt_id }),
      404,
      'not_found',
    );
    const danAllocation = await api.won(dan, attention(0.05, 2));
    const reply = await submit(dan, { allocation_id: danAllocation, content: 're', reply_to: first.body.prompt_id });
    expect(reply.body.reply_to).toBe(first.body.prompt_id);
  });
});

describe('rewarding', () => {
  it('is for raters and the operator only; scores are integers 0–10; a key is required', async () => {
    const fay = await api.agent('fay', 100);
    const p = (await submit(fay, { allocation_id: await api.won(fay, attention(0.05, 2)), content: 'rate me' })).body;
    const human = await rater('refusals-1');
    const reward = (by: string, body: unknown, idem: string | undefined = key()) =>
      api.call('POST', `/v1/prompts/${p.prompt_id}/reward`, { key: by, body, ...(idem && { idempotencyKey: idem }) });
    await refused(() => reward(fay.key, ok), 403, 'forbidden');
    await refused(() => api.call('GET', '/v1/prompts', { key: fay.key }), 403, 'forbidden');
    for (const body of [
      { ...ok, interesting: 11 },
      { ...ok, useful: 3.5 },
      { ...ok, understandable: -1 },
      { ...ok, interesting: '7' },
      { useful: 5, understandable: 6, reason: 'missing one' },
      { ...ok, reason: '' },
      { ...ok, extra: 1 },
    ]) {
      await refused(() => reward(human.key, body), 400, 'validation_failed');
    }
    await refused(() => reward(human.key, ok, ''), 400, 'idempotency_key_required');
    await refused(
      () =>
        api.call('POST', '/v1/prompts/pr_AAAAAAAAAAAAAAAAAAAAAAAAAA/reward', {
          key: human.key,
          idempotencyKey: key(),
          body: ok,
        }),
      404,
      'not_found',
    );
    await refused(
      () => api.call('POST', '/v1/prompts/not-a-prompt/reward', { key: human.key, idempotencyKey: key(), body: ok }),
      400,
      'validation_failed',
    );
    // A rater reaches nothing else of the API.
    for (const [method, path] of [
      ['GET', '/v1/market'],
      ['GET', '/v1/economy'],
      ['GET', `/v1/agents/${fay.id}`],
      ['GET', '/v1/raters'],
    ] as const) {
      expect((await api.call(method, path, { key: human.key })).status).toBe(403);
    }
    await api.call('DELETE', `/v1/raters/${human.id}`);
    await refused(() => reward(human.key, ok), 401, 'unauthorized');
    expect((await reward(api.operatorKey, ok)).status).toBe(201);
    await api.expectAuditClean();
  });

  it('mints exactly once when many race for the same prompt, and exactly for many prompts of one agent', async () => {
    const gus = await api.agent('gus', 100);
    const humans = await Promise.all(Array.from({ length: 4 }, (_, i) => rater(`racer-${i}`)));
    const prompts: { prompt_id: string }[] = [];
    for (let i = 0; i < 4; i++) {
      prompts.push(
        (await submit(gus, { allocation_id: await api.won(gus, attention(0.02, 1)), content: `p${i}` })).body,
      );
    }
    const before = (await api.call('GET', `/v1/agents/${gus.id}`)).body.balance;
    // Four raters at once on the first prompt: one reward, three 409s.
    const racing = await Promise.all(
      humans.map((h) =>
        api.call('POST', `/v1/prompts/${prompts[0]?.prompt_id}/reward`, {
          key: h.key,
          idempotencyKey: key(),
          body: ok,
        }),
      ),
    );
    expect(racing.map((r) => r.status).sort()).toEqual([201, 409, 409, 409]);
    // The same request twice at once: one reward, the other its replay or "in progress".
    const idem = key();
    const twice = await Promise.all(
      [0, 1].map(() =>
        api.call('POST', `/v1/prompts/${prompts[1]?.prompt_id}/reward`, {
          key: humans[0]?.key,
          idempotencyKey: idem,
          body: ok,
        }),
      ),
    );
    expect(twice.some((r) => r.status === 201)).toBe(true);
    for (const r of twice) expect([201, 409]).toContain(r.status);
    // The last two, rewarded at once by two raters: both credit the one account, exactly.
    const both = await Promise.all(
      [2, 3].map((i) =>
        api.call('POST', `/v1/prompts/${prompts[i]?.prompt_id}/reward`, {
          key: humans[i]?.key,
          idempotencyKey: key(),
          body: ok,
        }),
      ),
    );
    expect(both.map((r) => r.status)).toEqual([201, 201]);
    expect((await api.call('GET', `/v1/agents/${gus.id}`)).body.balance).toBe(before + 4 * 150);
    await api.expectAuditClean();
  });

  it('heals a crash between commit and answer: the retry answers the reward, minted once', async () => {
    const hal = await api.agent('hal', 100);
    const p = (await submit(hal, { allocation_id: await api.won(hal, attention(0.02, 1)), content: 'crash' })).body;
    const send = (input: TransactWriteCommandInput) => api.table.client.send(new TransactWriteCommand(input));
    const crashing = createServices(api.config, {
      table: { doc: api.table.client, tableName: api.table.tableName },
      sleep: async () => {},
      writer: async (input) => {
        await send(input);
        throw new Error('connection reset after commit');
      },
    });
    const request = { scores: { interesting: 1, useful: 2, understandable: 3 }, reason: 'r', request_id: 'rw_crash' };
    await expect(crashing.rewards.reward(p.prompt_id, { role: 'operator' }, request, {})).rejects.toThrow(
      'connection reset',
    );
    const retried = await api.services.rewards.reward(p.prompt_id, { role: 'operator' }, request, {});
    expect(retried.reward.credits_awarded).toBe(60_000_000);
    expect(retried.balance).toBe((100 - 1 + 60) * 1_000_000);
    // Another request for the same prompt is a second reward: refused.
    await expect(
      api.services.rewards.reward(p.prompt_id, { role: 'operator' }, { ...request, request_id: 'rw_other' }, {}),
    ).rejects.toMatchObject({ code: 'prompt_already_rewarded' });
    await api.expectAuditClean();
  });
});

describe('the grant at registration', () => {
  it('is bounded by money.max_grant: above it a 400 at /initial_balance, writing nothing', async () => {
    const before = await api.snapshot(KINDS);
    const res = await api.call('POST', '/v1/agents', { body: { name: 'whale', initial_balance: 1_000.000001 } });
    expect(res.status, res.text).toBe(400);
    expect(res.body.errors).toEqual([{ path: '/initial_balance', message: 'must be at most 1000 (money.max_grant)' }]);
    expect(await api.snapshot(KINDS)).toBe(before);
    expect((await api.call('POST', '/v1/agents', { body: { name: 'max', initial_balance: 1_000 } })).status).toBe(201);
    await api.expectAuditClean();
  });
});

describe('expiry', () => {
  it('a prompt left unrewarded expires: the reward is refused, the sweeper records prompt_expired once', async () => {
    const ivy = await api.agent('ivy', 100);
    const p = (await submit(ivy, { allocation_id: await api.won(ivy, attention(0.02, 1)), content: 'late' })).body;
    const human = await rater('expiry');
    offsetMs = 601_000;
    await refused(
      () => api.call('POST', `/v1/prompts/${p.prompt_id}/reward`, { key: human.key, idempotencyKey: key(), body: ok }),
      409,
      'prompt_expired',
    );
    const pending = await api.call('GET', '/v1/prompts?status=pending&limit=100', { key: human.key });
    expect(pending.body.prompts.map((x: { prompt_id: string }) => x.prompt_id)).not.toContain(p.prompt_id);
    const [first, second] = [await api.services.prompts.expireDue(100), await api.services.prompts.expireDue(100)];
    expect(first.expired).toBeGreaterThanOrEqual(1);
    expect(second.expired).toBe(0);
    const expired = await api.call('GET', '/v1/prompts?status=expired&limit=100', { key: human.key });
    expect(expired.body.prompts.find((x: { prompt_id: string }) => x.prompt_id === p.prompt_id)).toMatchObject({
      status: 'expired',
      reward: null,
    });
    await api.expectAuditClean();
  });
});
