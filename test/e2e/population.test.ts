/**
 * `npm start` runs a living economy: the stack started as a user starts it, with ten simulated
 * agents and one-second rounds, watched for ten rounds through the API (operator key) and its
 * own NATS. Bids come from several strategies (agent names carry them), rounds clear, prices
 * move and stay off their floors, the simulated human rewards a prompt, the spawner spawns a
 * child (when the spawning route exists), and the audit the stack prints is clean. Then Ctrl-C
 * to the process group, and nothing of the stack is left: no DynamoDB Local, no nats-server it
 * started, no process of its group.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '#local/ports';
import { STRATEGY_NAMES, strategyOfName } from '#shared/agents/strategies';
import { RESOURCES } from '#shared/core/resources';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ROUNDS = 10;

interface Envelope {
  type: string;
  agent_id?: string;
  data: Record<string, unknown>;
}

/** Processes whose command line matches, or that belong to process group `pgid` (Linux /proc). */
function processes(match: (args: string[], pgid: number) => boolean): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        // Fields after the command name (which may hold spaces) start after its closing ')'.
        const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
        return match(args, pgid);
      } catch {
        return false; // exited meanwhile
      }
    })
    .map(Number);
}

async function until(what: string, check: () => boolean, timeoutMs: number, log: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms:\n${log()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('npm start runs a living economy', () => {
  let stack: ChildProcess | undefined;
  let nc: NatsConnection | undefined;
  afterAll(async () => {
    await nc?.close().catch(() => {});
    // A failed assertion must not leave a stack running.
    try {
      if (stack?.pid !== undefined) process.kill(-stack.pid, 'SIGKILL');
    } catch {
      // the group is gone, as it should be
    }
  });

  it('agents bid, rounds clear, prices move off their floors, the human rewards, a child is spawned', async () => {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    // Its own nats-server, which it must end on Ctrl-C; its own operator key, which it prints.
    delete env.NATS_URL;
    delete env.SYNTROPISM_OPERATOR_KEY;
    const args = ['start', '--', '--in-memory', '--agents', '10', '--round', '1s', '--port', String(port)];
    stack = spawn('npm', args, { cwd: ROOT, env, detached: true });
    const group = stack.pid ?? 0;
    let exit = 'running';
    stack.once('exit', (code, signal) => {
      exit = `npm exited with ${code ?? signal}`;
    });
    let output = '';
    stack.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    stack.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const log = () => output;
    await until('ready line', () => /^ready: /m.test(output) || stack?.exitCode !== null, 120_000, log);
    expect(output, output).toMatch(/^ready: /m);
    expect(output).toMatch(/^population: 10 agents \(seed 42\): .*prompt_writer/m);
    const operatorKey = /operator key +(\S+)/.exec(output)?.[1] ?? '';
    const natsUrl = /NATS +(nats:\/\/\S+) \(started here\)/.exec(output)?.[1] ?? '';
    const dynamoPort = /DynamoDB +http:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1] ?? '';
    const natsPort = new URL(natsUrl).port;
    const auditCommand = /audit +(npx syntropism audit.*)$/m.exec(output)?.[1] ?? 'false';

    const events: Envelope[] = [];
    nc = await connect({ servers: natsUrl });
    const sub = nc.subscribe('syntropism.>');
    void (async () => {
      for await (const msg of sub) events.push(msg.json<Envelope>());
    })();
    const ofType = (type: string) => events.filter((e) => e.type === type);
    await until(
      `${ROUNDS} cleared rounds and a reward on NATS`,
      () => ofType('auction_cleared').length >= ROUNDS && ofType('human_reward_issued').length > 0,
      120_000,
      log,
    );

    const api = async <T>(path: string): Promise<T> => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, {
        headers: { authorization: `Bearer ${operatorKey}` },
      });
      expect(res.status, path).toBe(200);
      return (await res.json()) as T;
    };
    const { agents } = await api<{ agents: Array<{ agent_id: string; name: string; parent_id: string | null }> }>(
      '/v1/agents?limit=100',
    );
    const strategyOf = new Map(agents.map((a) => [a.agent_id, strategyOfName(a.name)]));
    expect(agents.filter((a) => a.parent_id === null).map((a) => strategyOfName(a.name))).toEqual(
      expect.arrayContaining([...STRATEGY_NAMES]),
    );

    // Bids by several strategies, on NATS.
    const bidders = new Set(ofType('bid_placed').map((e) => strategyOf.get(String(e.agent_id ?? e.data.agent_id))));
    bidders.delete(undefined);
    expect([...bidders].length, [...bidders].join(', ')).toBeGreaterThanOrEqual(4);

    // Rounds cleared, some with winners.
    const cleared = ofType('auction_cleared');
    expect(cleared.length).toBeGreaterThanOrEqual(ROUNDS);
    const round = await api<{ state: string }>(`/v1/rounds/${String(cleared[0]?.data.round)}`);
    expect(round.state).toBe('cleared');
    expect(ofType('resources_allocated').length).toBeGreaterThan(0);
    // Winners use their tokens through the gateway; prompt writers show the human prompts.
    expect(ofType('llm_call_completed').length).toBeGreaterThan(0);
    expect(ofType('prompt_submitted').length).toBeGreaterThan(0);

    // Prices moved, and every one stayed above its floor.
    const market = await api<{ resources: Record<string, { min_price: number }> }>('/v1/market');
    for (const r of RESOURCES) {
      const { prices } = await api<{ prices: Array<{ price: number }> }>(`/v1/market/history?resource=${r}&limit=500`);
      const series = prices.map((p) => p.price);
      expect(series.length, r).toBeGreaterThanOrEqual(ROUNDS);
      expect(new Set(series).size, `${r} moved`).toBeGreaterThan(1);
      const floor = market.resources[r]?.min_price ?? 0;
      expect(Math.min(...series), `${r} above its floor`).toBeGreaterThan(floor);
    }

    // A prompt was rewarded by the simulated human.
    const rewarded = await api<{ prompts: Array<{ reward: { rated_by: string } | null }> }>(
      '/v1/prompts?status=rewarded&limit=5',
    );
    expect(rewarded.prompts.length).toBeGreaterThan(0);
    expect(rewarded.prompts[0]?.reward?.rated_by).toMatch(/^rater:/);

    // A child, once the spawning route exists.
    const openapi = await api<{ paths: Record<string, Record<string, unknown>> }>('/v1/openapi.json');
    if (openapi.paths['/v1/agents/{id}/children']?.post) {
      expect(ofType('agent_spawned').length).toBeGreaterThan(0);
      expect(agents.some((a) => a.parent_id !== null)).toBe(true);
    }

    // The audit as printed. It scans the table while agents write to it, so one scan may catch a
    // transaction half-read; a broken ledger is broken on every scan.
    let audit = spawnSync('bash', ['-c', auditCommand], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    for (let attempt = 0; attempt < 4 && audit.status !== 0; attempt++) {
      audit = spawnSync('bash', ['-c', auditCommand], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    }
    expect(audit.status, `${audit.stdout}\n${audit.stderr}`).toBe(0);
    expect(audit.stdout).toMatch(/: OK/);

    // Ctrl-C to the whole group, as a terminal sends it.
    // `close`: every process of the tree holding its output has ended, not only npm.
    const exited = new Promise((resolve) => stack?.once('close', resolve));
    process.kill(-group, 'SIGINT');
    await exited;
    await until('the group to empty', () => processes((_, pgid) => pgid === group).length === 0, 15_000, log);
    // Not asserted: the closing `stopped` line. npm, sh and tsx each get the signal too, and on a
    // loaded machine the pipe's other end may see them go before the stack's last lines; what
    // matters is that everything ends, checked here.
    expect(exit).toMatch(/^npm exited with (0|SIGINT)$/);
    expect(output).not.toMatch(/^\s+at /m);
    expect(processes((a) => a.some((x) => x.endsWith('DynamoDBLocal.jar')) && a.includes(dynamoPort))).toEqual([]);
    expect(processes((a) => a.some((x) => x.endsWith('nats-server')) && a.includes(natsPort))).toEqual([]);
  }, 300_000);
});
