/**
 * A local stack that survives its user, tried as a user would break it: two stacks on one data
 * folder, `kill -9` of the stack (nothing of it may keep running; the next start takes its data
 * over with the same operator key), a damaged or empty database file (one line, nothing
 * changed), NATS_URL unset (a server of the stack's own), and `syntropism audit` with no flags
 * (the local stack's own table, running or stopped).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { dynamoClients } from '#shared/adapters/dynamodb/client';
import { keys } from '#shared/table';
import { startDynamoDbLocal } from './dynamodb-local.ts';
import { freePort } from './ports.ts';

const SHIM = fileURLToPath(new URL('../bin/syntropism.mjs', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'syntropism-restart-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Run {
  child: ChildProcess;
  out(): string;
  err(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The CLI in `cwd`, in its own process group; `env` over the test's (`undefined` removes a variable). */
function cli(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const full: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...env };
  // As in a user's shell: no operator key, and no table or endpoint of the test run's own.
  for (const name of ['SYNTROPISM_OPERATOR_KEY', 'DYNAMODB_ENDPOINT', 'TABLE_NAME']) delete full[name];
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete full[k];
  // These stacks are about their data and processes: no simulated population writes beside them.
  const quiet = args[0] === 'start' ? [...args, '--no-agents', '--no-human'] : args;
  const child = spawn(process.execPath, [SHIM, ...quiet], { cwd, env: full, detached: true });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, out: () => out, err: () => err, exit };
}

const started: Run[] = [];
afterEach(() => {
  for (const r of started.splice(0)) {
    try {
      if (r.child.pid) process.kill(-r.child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

async function ready(r: Run): Promise<{ api: string; key: string }> {
  started.push(r);
  const deadline = Date.now() + 90_000;
  while (!/^ready: /m.test(r.out())) {
    if (r.child.exitCode !== null) throw new Error(`exited:\n${r.out()}\n${r.err()}`);
    if (Date.now() > deadline) throw new Error(`not ready:\n${r.out()}\n${r.err()}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  const api = /^ready: (\S+)/m.exec(r.out())?.[1] ?? '';
  const key = /operator key +(\S+)/.exec(r.out())?.[1] ?? '';
  return { api, key };
}

/** Processes whose command line contains `marker` (Linux /proc). */
function processesWith(marker: string): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function gone(marker: string, timeoutMs = 15_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = processesWith(marker);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((res) => setTimeout(res, 200));
  }
}

const folder = (name: string) => {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  return dir;
};

describe('one stack per data folder, and nothing of a killed stack left', () => {
  it('refuses a second stack on the folder in one line; after kill -9 the next start takes the data over', async () => {
    const cwd = folder('kill');
    const data = join(cwd, '.syntropism', 'dynamodb');
    const first = cli(cwd, ['start', '--port', String(await freePort())]);
    const { api, key } = await ready(first);
    const agent = await fetch(`${api}/v1/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'survivor', initial_balance: 7 }),
    });
    expect(agent.status).toBe(201);

    const second = cli(cwd, ['start', '--port', String(await freePort())]);
    expect((await second.exit).code).toBe(1);
    expect(second.err().trim().split('\n')).toHaveLength(1);
    expect(second.err()).toMatch(
      /^another local stack \(pid \d+ at http:\/\/localhost:\d+\) is running on \.syntropism/,
    );
    expect((await fetch(`${api}/v1/health`)).status).toBe(200);

    process.kill(first.child.pid as number, 'SIGKILL');
    expect(await gone(data)).toEqual([]);

    const again = cli(cwd, ['start', '--port', String(await freePort())]);
    const restarted = await ready(again);
    expect(restarted.key).toBe(key);
    const list = await fetch(`${restarted.api}/v1/agents`, { headers: { authorization: `Bearer ${key}` } });
    expect(((await list.json()) as { agents: { name: string }[] }).agents.map((a) => a.name)).toContain('survivor');

    const running = cli(cwd, ['audit']);
    expect((await running.exit).code, running.err()).toBe(0);
    expect(running.out()).toMatch(/: OK/);
    process.kill(-(again.child.pid as number), 'SIGINT');
    await again.exit;
    expect(await gone(data)).toEqual([]);

    // Stopped: the audit starts a DynamoDB Local of its own on the data, and stops it.
    const stopped = cli(cwd, ['audit']);
    expect((await stopped.exit).code, stopped.err()).toBe(0);
    expect(stopped.out()).toMatch(/: OK/);
    // The agent registered before the kill is there: its account and mint's at least.
    expect(Number(/(\d+) accounts/.exec(stopped.out())?.[1])).toBeGreaterThanOrEqual(2);
    expect(await gone(data)).toEqual([]);
  });

  it('with NATS_URL unset runs a nats-server of its own, which a kill -9 does not leave behind', async () => {
    const cwd = folder('nats');
    const stack = cli(cwd, ['start', '--in-memory', '--port', String(await freePort())], { NATS_URL: undefined });
    await ready(stack);
    const nats = /NATS +nats:\/\/127\.0\.0\.1:(\d+) \(started here\)/.exec(stack.out());
    expect(nats, stack.out()).not.toBeNull();
    const marker = `-p\0${nats?.[1]}\0`;
    const natsPids = () =>
      processesWith('nats-server').filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker));
    expect(natsPids()).toHaveLength(1);
    const dynamoPort = /DynamoDB +http:\/\/127\.0\.0\.1:(\d+)/.exec(stack.out())?.[1];
    process.kill(stack.child.pid as number, 'SIGKILL');
    expect(await gone(`-port\0${dynamoPort}\0`)).toEqual([]);
    const deadline = Date.now() + 15_000;
    while (natsPids().length > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 200));
    expect(natsPids()).toEqual([]);
  });

  it('audit with no flags and no local data says what to do, in one line', async () => {
    const r = cli(folder('empty'), ['audit']);
    expect((await r.exit).code).toBe(1);
    expect(r.err().trim()).toMatch(/^no local stack data in \.syntropism: start one with `npm start`/);
  });
});

/** What a clearer that crashed right after claiming `round` leaves: the round held under a live lease. */
async function leaveCrashedClaim(dataDir: string, round: string, leaseUntil: number, roundMs: number) {
  const dynamo = await startDynamoDbLocal({ dataDir });
  const clients = dynamoClients({ endpoint: dynamo.endpoint, region: 'us-east-1' });
  const startsAt = Number(round.slice(2)) * 1000;
  try {
    await clients.doc.send(
      new UpdateCommand({
        TableName: 'syntropism',
        Key: keys.round(round),
        UpdateExpression:
          'SET #state = :clearing, clearer = :who, lease_until = :lease, clearing_at_ms = :at, kind = :kind, round_id = :round, starts_at_ms = :s, closes_at_ms = :c, GSI2PK = :gpk, GSI2SK = :round',
        ConditionExpression: '#state = :open',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: {
          ':clearing': 'clearing',
          ':open': 'open',
          ':who': 'c_crashed',
          ':lease': leaseUntil,
          ':at': startsAt + roundMs,
          ':kind': 'round',
          ':round': round,
          ':s': startsAt,
          ':c': startsAt + roundMs,
          ':gpk': keys.unclearedRoundsIndex(round).GSI2PK,
        },
      }),
    );
  } finally {
    clients.destroy();
    await dynamo.stop();
  }
}

describe('a stack killed while clearing', () => {
  it('is succeeded by one that takes the round over at once instead of waiting out the lease', async () => {
    const cwd = folder('lease');
    const data = join(cwd, '.syntropism', 'dynamodb');
    const first = cli(cwd, ['start', '--port', String(await freePort()), '--round', '5s']);
    const { api, key } = await ready(first);
    const post = (path: string, body: unknown, auth: string, idem?: string) =>
      fetch(`${api}${path}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${auth}`,
          'content-type': 'application/json',
          ...(idem && { 'idempotency-key': idem }),
        },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, string> }));
    const agent = (await post('/v1/agents', { name: 'bidder', initial_balance: 10 }, key)).body;
    let bid = (
      await post('/v1/bids', { bundle: { cpu: 1 }, duration_seconds: 10, amount: 1 }, agent.api_key as string, 'b1')
    ).body;
    // Well inside a round, so the stack is killed before its clearing timer gets to it.
    if (Date.parse(bid.round_closes_at as string) - Date.now() < 2_000) {
      await new Promise((res) => setTimeout(res, Date.parse(bid.round_closes_at as string) - Date.now() + 100));
      bid = (
        await post('/v1/bids', { bundle: { cpu: 1 }, duration_seconds: 10, amount: 1 }, agent.api_key as string, 'b2')
      ).body;
    }
    process.kill(first.child.pid as number, 'SIGKILL');
    expect(await gone(data)).toEqual([]);
    await new Promise((res) =>
      setTimeout(res, Math.max(0, Date.parse(bid.round_closes_at as string) - Date.now() + 50)),
    );
    const leaseUntil = Date.now() + 60_000;
    await leaveCrashedClaim(data, bid.round as string, leaseUntil, 5_000);

    const second = cli(cwd, ['start', '--port', String(await freePort()), '--round', '5s']);
    const restarted = await ready(second);
    expect(second.out()).toContain(`took over round ${bid.round} from a stack that stopped while clearing it`);
    let status = 'pending';
    while (status === 'pending' && Date.now() < leaseUntil) {
      const res = await fetch(`${restarted.api}/v1/bids/${bid.bid_id}`, {
        headers: { authorization: `Bearer ${agent.api_key}` },
      });
      status = ((await res.json()) as { status: string }).status;
      if (status === 'pending') await new Promise((res) => setTimeout(res, 250));
    }
    expect(['won', 'lost']).toContain(status);
    // Settled while the dead clearer's lease would still have held the round.
    expect(Date.now()).toBeLessThan(leaseUntil);
    const audit = cli(cwd, ['audit']);
    expect((await audit.exit).code, audit.err()).toBe(0);
  });
});

describe('a damaged database file', () => {
  it.each([
    ['garbage', 'is not a DynamoDB Local database (damaged?)'],
    ['', 'is empty, not a DynamoDB Local database'],
  ])('%j: one line naming the file and what to do; the file is kept', async (content, what) => {
    const cwd = folder(`damaged-${content.length}`);
    const dir = join(cwd, '.syntropism', 'dynamodb');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'shared-local-instance.db');
    writeFileSync(file, content);
    const r = cli(cwd, ['start', '--port', String(await freePort())]);
    started.push(r);
    expect((await r.exit).code).toBe(1);
    expect(r.err().trim()).toBe(
      `${file} ${what}: move it away to start a fresh economy there, or restore it from a backup (nothing was changed)`,
    );
    expect(readFileSync(file, 'utf8')).toBe(content);
  });
});
