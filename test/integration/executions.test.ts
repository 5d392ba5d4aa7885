/**
 * Executions end to end against DynamoDB Local, through real HTTP and the real handlers: the
 * runner (`syntropism exec`) runs real processes in a won allocation, one killed at `ends_at`
 * (`allocation_ended`), one exiting 3 (`exited`, and the CLI exits 3), both events in the event
 * log; and the routes themselves: owner only (404 otherwise), the allocation's window, idempotent
 * replays, a race of two terminations, and bad bodies that write nothing.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { runExec } from '#local/exec/runner';
import { scanKinds } from '#shared/adapters/dynamodb/audit';
import { eventsOfOutbox } from '#shared/adapters/dynamodb/outbox';
import { winAllocation } from '../harness/allocations.ts';
import { useApi } from '../harness/api.ts';
import { natsUrl } from '../harness/context.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const suffix = randomBytes(4).toString('hex');
const STREAM = `EXEC_${suffix}`;

// Registered first so that it runs last: once the pipeline has stopped.
afterAll(async () => {
  const nc = await connect({ servers: natsUrl() });
  await (await jetstreamManager(nc)).streams.delete(STREAM).catch(() => false);
  await nc.close();
});

const api = useApi('executions', {
  logError: () => {},
  pipeline: { stream: { name: STREAM, subjectRoot: `exec${suffix}` } },
});

const BUNDLE = { cpu: 10, memory: 10 };
let n = 0;
const key = () => `k-${++n}`;

async function eventually<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The execution events of the log about `executionId`, once both are there. */
async function executionEvents(agentKey: string, executionId: string) {
  return eventually(async () => {
    const res = await api.call('GET', '/v1/events?limit=100', { key: agentKey });
    // biome-ignore lint/suspicious/noExplicitAny: envelopes asserted field by field
    const mine = (res.body?.events ?? []).filter((e: any) => e.data.execution_id === executionId);
    return mine.length === 2 ? mine : undefined;
  }, `the events of ${executionId}`);
}

/** The CLI as a user runs it, through bin/syntropism.mjs. */
function cli(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ['bin/syntropism.mjs', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('syntropism exec', () => {
  it('runs a process that exits 3 (exited), kills one that never exits at ends_at (allocation_ended)', async () => {
    const agent = await api.agent('runner', 100);
    // Long enough for the CLI (tsx) to start and finish the first run inside the window.
    const allocation = await winAllocation(api.services, agent.id, BUNDLE, 12);

    const exited = await cli(
      [
        'exec',
        '--allocation',
        allocation.allocation_id,
        '--api',
        api.url,
        '--',
        process.execPath,
        '-e',
        'console.log(process.env.SYNTROPISM_ALLOCATION_ID, process.env.OPENAI_BASE_URL); process.exit(3)',
      ],
      { SYNTROPISM_API_KEY: agent.key },
    );
    expect(exited.code, exited.stderr).toBe(3);
    expect(exited.stdout.trim()).toBe(`${allocation.allocation_id} ${api.url}/v1/llm`);
    expect(exited.stderr).toMatch(/cpu is not enforced on this host|cgroup v2 cpu\.max/);
    const firstId = /execution (ex_\S+)/.exec(exited.stderr)?.[1] ?? '';

    const lines: string[] = [];
    const code = await runExec(
      {
        allocationId: allocation.allocation_id,
        apiUrl: api.url,
        apiKey: agent.key,
        graceMs: 1_000,
        command: [process.execPath, '-e', 'setInterval(() => {}, 1000)'],
        env: {},
      },
      { log: (line) => lines.push(line), forwardSignals: false },
    );
    // Node ends on SIGTERM by default: the runner mirrors it as 128 + 15.
    expect(code).toBe(143);
    const secondId = /execution (ex_\S+)/.exec(lines.join('\n'))?.[1] ?? '';

    const first = await api.call('GET', `/v1/executions/${firstId}`, { key: agent.key });
    expect(first.body).toMatchObject({ status: 'terminated', reason: 'exited', exit_code: 3, signal: null });
    const second = await api.call('GET', `/v1/executions/${secondId}`);
    expect(second.body).toMatchObject({ status: 'terminated', reason: 'allocation_ended', signal: 'SIGTERM' });
    expect(Date.parse(second.body.terminated_at)).toBeGreaterThanOrEqual(allocation.ends_at_ms);

    for (const [id, termination] of [
      [firstId, { reason: 'exited', exit_code: 3 }],
      [secondId, { reason: 'allocation_ended', exit_code: null, signal: 'SIGTERM' }],
    ] as const) {
      const events = await executionEvents(agent.key, id);
      expect(events.map((e: { type: string }) => e.type)).toEqual(['execution_started', 'execution_terminated']);
      expect(events[1]).toMatchObject({
        agent_id: agent.id,
        causation_id: events[0].event_id,
        sequence: 2,
        data: { execution_id: id, allocation_id: allocation.allocation_id, agent_id: agent.id, ...termination },
      });
    }

    // After ends_at the allocation runs nothing more: the CLI says why, in one line.
    const late = await cli(['exec', '--allocation', allocation.allocation_id, '--api', api.url, '--', 'true'], {
      SYNTROPISM_API_KEY: agent.key,
    });
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/ended at .*\(allocation_not_active\)/);
  });
});

describe('executions API', () => {
  it('starts only in the caller’s own allocation, inside its window; replays answer the same execution', async () => {
    const owner = await api.agent('owner', 100);
    const other = await api.agent('other', 100);
    const allocation = await winAllocation(api.services, owner.id, BUNDLE, 600);
    const path = `/v1/allocations/${allocation.allocation_id}/executions`;

    const foreign = await api.call('POST', path, { key: other.key, idempotencyKey: key() });
    expect(foreign.status).toBe(404);
    const missing = await api.call('POST', `/v1/allocations/al_${'A'.repeat(26)}/executions`, {
      key: owner.key,
      idempotencyKey: key(),
    });
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toBe(foreign.body.detail.replace(allocation.allocation_id, `al_${'A'.repeat(26)}`));
    expect((await api.call('POST', path, { key: owner.key })).body.code).toBe('idempotency_key_required');

    const k = key();
    const started = await api.call('POST', path, { key: owner.key, idempotencyKey: k });
    expect(started.status, started.text).toBe(201);
    expect(started.body).toMatchObject({
      allocation_id: allocation.allocation_id,
      agent_id: owner.id,
      bundle: BUNDLE,
      ends_at: allocation.ends_at,
      status: 'running',
    });
    const replay = await api.call('POST', path, { key: owner.key, idempotencyKey: k });
    expect(replay.body).toEqual(started.body);
    // `{}` is the same as no body, and another key is another execution.
    const withBody = await api.call('POST', path, { key: owner.key, idempotencyKey: key(), body: {} });
    expect(withBody.status).toBe(201);
    expect(withBody.body.execution_id).not.toBe(started.body.execution_id);

    expect((await api.call('GET', `/v1/executions/${started.body.execution_id}`, { key: other.key })).status).toBe(404);
    expect((await api.call('GET', `/v1/executions/${started.body.execution_id}`)).body).toEqual(started.body);
  });

  it('refuses a start before or after the window with 409 allocation_not_active, writing nothing', async () => {
    const agent = await api.agent('late', 100);
    const ended = await winAllocation(api.services, agent.id, BUNDLE, 1, Date.now() - 10_000);
    const pending = await winAllocation(api.services, agent.id, BUNDLE, 1, Date.now() + 600_000);
    const before = await api.snapshot(['execution', 'outbox']);
    for (const [a, detail] of [
      [ended, /ended at/],
      [pending, /starts at/],
    ] as const) {
      const res = await api.call('POST', `/v1/allocations/${a.allocation_id}/executions`, {
        key: agent.key,
        idempotencyKey: key(),
      });
      expect(res.status, res.text).toBe(409);
      expect(res.body).toMatchObject({ code: 'allocation_not_active', detail: expect.stringMatching(detail) });
    }
    expect(await api.snapshot(['execution', 'outbox'])).toBe(before);
  });

  it('records one termination: the same again is a replay, a different one 409, racing ones one winner', async () => {
    const agent = await api.agent('ender', 100);
    const other = await api.agent('meddler', 100);
    const allocation = await winAllocation(api.services, agent.id, BUNDLE, 600);
    const start = async () =>
      (
        await api.call('POST', `/v1/allocations/${allocation.allocation_id}/executions`, {
          key: agent.key,
          idempotencyKey: key(),
        })
      ).body.execution_id as string;
    const end = (id: string, body: unknown, who = agent.key) =>
      api.call('POST', `/v1/executions/${id}/termination`, { key: who, idempotencyKey: key(), body });

    const id = await start();
    const exited = { exit_code: 0, reason: 'exited', signal: null, duration_ms: 42 };
    expect((await end(id, exited, other.key)).status).toBe(404);
    const first = await end(id, exited);
    expect(first.status, first.text).toBe(200);
    expect(first.body).toMatchObject({ status: 'terminated', reason: 'exited', exit_code: 0, duration_ms: 42 });
    // A retry under another key (its first answer lost) answers the recorded termination.
    expect((await end(id, exited)).body).toEqual(first.body);
    const different = await end(id, { ...exited, exit_code: 1 });
    expect(different.status).toBe(409);
    expect(different.body.code).toBe('invalid_state');

    const raced = await start();
    const outcomes = await Promise.all([
      end(raced, { exit_code: 0, reason: 'exited', duration_ms: 5 }),
      end(raced, { exit_code: null, reason: 'signal', signal: 'SIGKILL', duration_ms: 5 }),
    ]);
    expect(outcomes.map((o) => o.status).sort()).toEqual([200, 409]);
    const winner = outcomes.find((o) => o.status === 200)?.body;
    expect((await api.call('GET', `/v1/executions/${raced}`)).body).toEqual(winner);
    const outbox = await scanKinds(api.table.client, api.table.tableName, ['outbox']);
    const ends = outbox
      .flatMap((item) => eventsOfOutbox(item))
      .filter((e) => e.type === 'execution_terminated' && (e.data as { execution_id?: string }).execution_id === raced);
    expect(ends).toHaveLength(1);
  });

  it('malformed terminations are 4xx problem+json and write nothing', async () => {
    const agent = await api.agent('fuzzed-exec', 100);
    const allocation = await winAllocation(api.services, agent.id, BUNDLE, 600);
    const started = await api.call('POST', `/v1/allocations/${allocation.allocation_id}/executions`, {
      key: agent.key,
      idempotencyKey: key(),
    });
    const path = `/v1/executions/${started.body.execution_id}/termination`;
    const valid = { exit_code: 0, reason: 'exited', signal: null, duration_ms: 10 };
    const bad = fc.oneof(
      fc.record({ exit_code: fc.oneof(fc.double(), fc.string(), fc.constant(2 ** 40)) }),
      fc.record({
        reason: fc.string().filter((s) => !['exited', 'allocation_ended', 'memory_limit', 'signal'].includes(s)),
      }),
      fc.record({ signal: fc.oneof(fc.string({ maxLength: 3 }), fc.integer(), fc.constant('SIG'.padEnd(40, 'X'))) }),
      fc.record({
        duration_ms: fc.oneof(fc.integer({ max: -1 }), fc.constant(1e12), fc.double({ min: 0.1, max: 0.9 })),
      }),
      fc.record({ extra: fc.anything().filter((v) => v !== undefined) }),
      // Consistent fields only: an exit without a code, a signal reason without a signal.
      fc.constant({ exit_code: null, reason: 'exited' }),
      fc.constant({ reason: 'signal', signal: null, exit_code: null }),
    );
    const before = await api.snapshot(['execution', 'outbox']);
    await fc.assert(
      fc.asyncProperty(bad, async (patch) => {
        const res = await api.call('POST', path, {
          key: agent.key,
          idempotencyKey: key(),
          body: { ...valid, ...patch },
        });
        expect(res.status, res.text).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(res.headers.get('content-type')).toBe('application/problem+json');
      }),
      { numRuns: 200, seed: 20261126 },
    );
    const startBodies = ['{"x":1}', '[]', 'null', '{', '"{}"'];
    for (const raw of startBodies) {
      const res = await api.call('POST', `/v1/allocations/${allocation.allocation_id}/executions`, {
        key: agent.key,
        idempotencyKey: key(),
        raw,
      });
      expect(res.status, raw).toBeGreaterThanOrEqual(400);
      expect(res.status, raw).toBeLessThan(500);
    }
    for (const id of ['nope', `ex_${'A'.repeat(25)}`, `ex_${'!'.repeat(26)}`]) {
      expect((await api.call('GET', `/v1/executions/${encodeURIComponent(id)}`, { key: agent.key })).status).toBe(400);
    }
    expect(await api.snapshot(['execution', 'outbox'])).toBe(before);
  });
});
