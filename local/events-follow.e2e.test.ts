/**
 * `syntropism events --follow` as an operator runs it, against a stream of this test's own on
 * the test NATS: it prints each new event in one line, filtered by type and by agent, escapes
 * what an agent wrote, and stops on Ctrl-C leaving no consumer on the server.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishEvents } from '#shared/adapters/nats/publish';
import { DEFAULT_STREAM, ensureStream } from '#shared/adapters/nats/stream';
import { makeEvent } from '#shared/core/events';
import { seededRandom, ulidGenerator } from '#shared/core/ports';
import { natsUrl } from '../test/harness/context.ts';

const SHIM = fileURLToPath(new URL('../bin/syntropism.mjs', import.meta.url));
const suffix = randomBytes(4).toString('hex');
const STREAM = `FOLLOW_${suffix}`;
const ROOT = `follow${suffix}`;
let nc: NatsConnection;

beforeAll(async () => {
  nc = await connect({ servers: natsUrl() });
  await ensureStream(await jetstreamManager(nc), { ...DEFAULT_STREAM, name: STREAM, subjectRoot: ROOT });
});
afterAll(async () => {
  await (await jetstreamManager(nc)).streams.delete(STREAM).catch(() => false);
  await nc.close();
});

const clock = { now: () => Date.now() };
const rt = { clock, ids: ulidGenerator(clock, seededRandom(5)) };
const balance = (agent: string, n: number) =>
  makeEvent(rt, { type: 'balance_queried', agent_id: agent, data: { agent_id: agent, balance: n } }, {});
const reflection = (agent: string, text: string) =>
  makeEvent(
    rt,
    { type: 'reflection', agent_id: agent, data: { trigger: text, outcome_assessment: 'ok' } },
    { scenario_id: 'demo' },
  );

describe('syntropism events --follow', () => {
  it('prints new events of the type and agent asked for, one line each, and stops on Ctrl-C', async () => {
    const args = ['events', '--follow', '--nats', natsUrl(), '--stream', STREAM, '--agent', 'a_1'];
    const child = spawn(process.execPath, [SHIM, ...args], { env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    // The consumer starts at "now": publish until the first line shows it is listening.
    const js = jetstream(nc);
    const deadline = Date.now() + 30_000;
    while (!out.includes('balance_queried') && Date.now() < deadline) {
      await publishEvents(js, [balance('a_1', 1)], { subjectRoot: ROOT });
      await new Promise((r) => setTimeout(r, 300));
    }
    await publishEvents(js, [balance('a_2', 2), reflection('a_1', 'bell\u0007\u001b[31m')], { subjectRoot: ROOT });
    const until = Date.now() + 10_000;
    while (!out.includes('reflection') && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const lines = out.trim().split('\n');
    expect(lines.every((l) => l.includes('agent=a_1'))).toBe(true);
    expect(out).not.toContain('a_2');
    const reflected = lines.find((l) => l.includes(' reflection '));
    expect(reflected).toMatch(/^\S+Z reflection agent=a_1 scenario="demo" \{"trigger":"bell\\u0007\\u001b\[31m"/);
    expect(out).not.toContain('\u001b');
    const consumers = await (await jetstreamManager(nc)).consumers.list(STREAM).next();
    expect(consumers.filter((c) => c.config.durable_name)).toEqual([]);
  });

  it('refuses an unknown type in one line', async () => {
    const child = spawn(process.execPath, [SHIM, 'events', '--follow', '--type', 'nope', '--nats', natsUrl()]);
    let err = '';
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(1);
    expect(err.trim()).toBe('syntropism: unknown event type "nope" (see syntropism --help)');
  });
});
