/**
 * The execution context end to end, through the HTTP API on DynamoDB Local and NATS: a won bid
 * becomes an allocation, 100 concurrent gateway calls against a fake provider (a real HTTP
 * server) draw at most its tokens and exactly what the provider reported, and the sweeper
 * expires it with `allocation_expired` — every event of the story delivered to JetStream by
 * the event pipeline.
 */
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHandler as makeSweeper } from '#functions/sweeper';
import { Allocations } from '#shared/adapters/dynamodb/allocations';
import { type Delivery, EventConsumer } from '#shared/adapters/nats/consumer';
import { DEFAULT_STREAM, ensureStream } from '#shared/adapters/nats/stream';
import { promptsOf, txRunnerOf } from '#shared/adapters/services';
import type { Envelope } from '#shared/core/events';
import { ECONOMY_DEFAULTS } from '#shared/core/market-config';
import { type Clock, seededRandom, ulidGenerator } from '#shared/core/ports';
import { useApi } from '../harness/api.ts';
import { natsUrl } from '../harness/context.ts';
import { FAKE_COMPLETION_TOKENS, FAKE_PROMPT_TOKENS, type FakeLlm, startFakeLlm } from '../harness/fake-llm.ts';

const suffix = randomBytes(4).toString('hex');
const STREAM = `EXEC_${suffix}`;
const ROOT = `exec${suffix}`;
const received: Delivery[] = [];
let nc: NatsConnection;
let consumer: EventConsumer;
let consuming: Promise<void>;
let fake: FakeLlm;

const env: Record<string, string> = {
  SYNTROPISM_ECONOMY: JSON.stringify({
    round_seconds: 1,
    llm: { models: { 'fake-small': { weight: 1 } }, default_max_tokens: 40 },
  }),
  SYNTROPISM_LLM_API_KEY: 'sk-fake-0123456789abcdef',
};

// Before the stack's hooks: the consumer attaches before the bridge's first publish, and the
// stack's configuration reads the provider's URL.
beforeAll(async () => {
  fake = await startFakeLlm();
  env.SYNTROPISM_LLM_BASE_URL = fake.url;
  nc = await connect({ servers: natsUrl() });
  await ensureStream(await jetstreamManager(nc), { ...DEFAULT_STREAM, name: STREAM, subjectRoot: ROOT });
  consumer = await EventConsumer.create({
    connection: nc,
    stream: STREAM,
    durable: 'exec',
    filterSubject: `${ROOT}.>`,
  });
  consuming = consumer.run((d) => void received.push(d));
});

afterAll(async () => {
  await consumer?.close();
  await consuming;
  if (nc) {
    await (await jetstreamManager(nc)).streams.delete(STREAM).catch(() => false);
    await nc.close();
  }
  await fake?.close();
});

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const api = useApi('exec-context', { env, pipeline: { stream: { name: STREAM, subjectRoot: ROOT }, logger: quiet } });

type Loose = Envelope & { data: Record<string, unknown> };
const ofAllocation = (id: string) =>
  received.map((d) => d.envelope as Loose).filter((e) => e.data.allocation_id === id);

async function until<T>(probe: () => T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('execution context', () => {
  it('win → allocation → 100 concurrent gateway calls within its tokens → expiry, all on NATS', async () => {
    const agent = await api.agent('runner', 100);
    const granted = 1_000;
    const id = await api.won(agent, { bundle: { cpu: 0.1, tokens: granted }, duration_seconds: 120, amount: 1 });

    const calls = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        api.call('POST', '/v1/llm/chat/completions', {
          key: agent.key,
          headers: { 'x-allocation-id': id },
          body: { model: 'fake-small', max_tokens: 5, messages: [{ role: 'user', content: `question ${i}` }] },
        }),
      ),
    );
    expect(calls.every((c) => c.status === 200 || c.status === 429)).toBe(true);
    const answered = calls.filter((c) => c.status === 200);
    expect(answered.length).toBeGreaterThan(0);
    const providerUsage = answered.reduce((s, c) => s + c.body.usage.total_tokens, 0);
    expect(providerUsage).toBe(answered.length * (FAKE_PROMPT_TOKENS + FAKE_COMPLETION_TOKENS));
    const tokens = (await api.call('GET', `/v1/allocations/${id}`, { key: agent.key })).body.tokens;
    expect(tokens.used).toBe(providerUsage);
    expect(tokens.used).toBeLessThanOrEqual(granted);
    expect(tokens).toMatchObject({ granted, reserved: 0, remaining: granted - providerUsage });

    // The sweeper, with its clock past the end: the allocation expires once, with what was used.
    const clock: Clock = { now: () => Date.now() + 121_000 };
    const runtime = { clock, ids: ulidGenerator(clock, seededRandom(81)), random: seededRandom(82) };
    const table = { doc: api.table.client, tableName: api.table.tableName };
    const allocations = new Allocations({ table, tx: txRunnerOf(table, api.config, runtime), runtime });
    const prompts = promptsOf(
      { table, tx: txRunnerOf(table, api.config, runtime), runtime },
      allocations,
      ECONOMY_DEFAULTS,
    );
    const sweep = makeSweeper({ allocations, prompts, clock, logger: quiet });
    expect((await sweep()).expired).toBeGreaterThanOrEqual(1);
    expect((await sweep()).expired).toBe(0);

    const expired = await until(
      () => ofAllocation(id).find((e) => e.type === 'allocation_expired'),
      'allocation_expired on NATS',
    );
    expect(expired.data).toEqual({ allocation_id: id, agent_id: agent.id, tokens_used: providerUsage });
    const okCalls = () => ofAllocation(id).filter((e) => e.type === 'llm_call_completed' && e.data.status === 'ok');
    await until(() => (okCalls().length >= answered.length ? true : undefined), 'every settled call on NATS');
    expect(okCalls()).toHaveLength(answered.length);
    // Counts only: no prompt text travels with the events.
    expect(okCalls().every((e) => !JSON.stringify(e.data).includes('question'))).toBe(true);
    const story = ofAllocation(id);
    expect(story.find((e) => e.type === 'resources_allocated')?.data).toMatchObject({ allocation_id: id });
    await api.expectAuditClean();
  });
});
