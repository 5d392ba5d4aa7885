/**
 * The README's API walk-through, run verbatim against `npm start -- --in-memory` as a user
 * would paste it: every `sh` block from "Call the API" up to "Deploy", with only the base URL,
 * the operator key and the scratch directory filled in. Every curl must reach the API, none
 * may answer 5xx, the statuses must be what the text says, and the audit line the stack prints
 * must report a clean ledger afterwards. Then the README's market state example (TypeScript),
 * type-checked and run against the stack's key-value bucket: it must print the prices the
 * stack's price history holds. Keeps the README true.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '#local/ports';
import { natsUrl } from '../harness/context.ts';
import { runMarketStateExample } from './readme-market-state.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The shell blocks of the README between two headings, in order. */
function shellBlocks(markdown: string, from: string, to: string): string[] {
  const start = markdown.indexOf(`\n${from}\n`);
  const end = markdown.indexOf(`\n${to}\n`, start);
  if (start < 0 || end < 0) throw new Error(`README has no section "${from}" followed by "${to}"`);
  return [...markdown.slice(start, end).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

interface Call {
  status: number;
  method: string;
  url: string;
}

describe('README walk-through against npm start', () => {
  let stack: ChildProcess | undefined;
  const scratch = mkdtempSync(join(tmpdir(), 'syntropism-readme-'));
  // A bucket of this run's own: the shared NATS may serve other stacks at the same time.
  const bucket = `readme-market-${process.pid}-${Date.now().toString(36)}`;
  afterAll(async () => {
    const nc = await connect({ servers: natsUrl() });
    await (await new Kvm(nc).open(bucket)).destroy().catch(() => false);
    await nc.close();
    if (stack?.pid !== undefined && stack.exitCode === null) {
      const exited = new Promise((resolve) => stack?.once('exit', resolve));
      process.kill(-stack.pid, 'SIGINT');
      await exited;
    }
    rmSync(scratch, { recursive: true, force: true });
  });

  it('runs every command of "Call the API" with the statuses the text promises', async () => {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', NATS_MARKET_BUCKET: bucket };
    delete env.SYNTROPISM_OPERATOR_KEY; // the README reads the key npm start prints
    // A quiet stack, as the README says: the walk-through's bids must not meet the population's.
    stack = spawn('npm', ['start', '--', '--in-memory', '--no-agents', '--no-human', '--port', String(port)], {
      cwd: ROOT,
      env,
      detached: true, // its own process group, so Ctrl-C reaches the whole tree
    });
    let stdout = '';
    stack.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    stack.stderr?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const deadline = Date.now() + 120_000;
    while (!/^ready: /m.test(stdout)) {
      if (stack.exitCode !== null) throw new Error(`npm start exited:\n${stdout}`);
      if (Date.now() > deadline) throw new Error(`npm start not ready:\n${stdout}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const operatorKey = /operator key +(\S+)/.exec(stdout)?.[1];
    const auditCommand = /audit +(npx syntropism audit .*)$/m.exec(stdout)?.[1];
    expect(operatorKey).toBeDefined();
    expect(auditCommand).toBeDefined();

    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const walkThrough = shellBlocks(readme, '## Call the API', '## Deploy').join('\n');
    expect(walkThrough).toContain('API=http://localhost:3000\n');
    expect(walkThrough).toContain('OP=<operator key printed by npm start>\n');
    const script = walkThrough
      .replace('API=http://localhost:3000\n', `API=http://localhost:${port}\n`)
      .replace('OP=<operator key printed by npm start>\n', `OP=${operatorKey}\n`)
      .replaceAll('/tmp/', `${scratch}/`);
    const executed = script.split('\n').filter((line) => /^\s*curl\b/.test(line)).length;
    // Each curl also reports its status on stderr, leaving its output (piped to tee, read by
    // node) untouched.
    const prelude = `curl() { command curl -w '%{stderr}@@ %{http_code} %{method} %{url_effective}\\n' "$@"; }\n`;
    // From the checkout, as a user runs it (`npx syntropism` is this package's own bin).
    const ran = spawnSync('bash', ['-e', '-c', prelude + script], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(ran.status, `${ran.stdout}\n${ran.stderr}`).toBe(0);
    const calls: Call[] = [...ran.stderr.matchAll(/^@@ (\d{3}) (\S+) (\S+)$/gm)].map((m) => ({
      status: Number(m[1]),
      method: String(m[2]),
      url: String(m[3]),
    }));
    expect(calls).toHaveLength(executed);
    const described = calls.map((c) => `${c.status} ${c.method} ${new URL(c.url).pathname}`);
    // What the text promises: creations 201; reads, state changes, quotes, usage reports and
    // chat completions 200; and the second transfer (the overdraft) 409.
    let transfers = 0;
    const expected = calls.map((c) => {
      const path = new URL(c.url).pathname;
      const answers = ['/v1/market/quote', '/v1/llm/chat/completions'];
      if (c.method !== 'POST' || answers.includes(path) || path.endsWith('/usage')) return 200;
      if (path === '/v1/transfers' && ++transfers === 2) return 409;
      return 201;
    });
    expect(described).toEqual(described.map((d, i) => d.replace(/^\d{3}/, String(expected[i]))));
    expect(ran.stdout).toContain('"code":"insufficient_balance"');

    // The bid the walk-through placed is settled by the clearing timer: won or lost, never kept.
    const bid = JSON.parse(readFileSync(join(scratch, 'bid.json'), 'utf8')) as { bid_id: string };
    const alice = JSON.parse(readFileSync(join(scratch, 'alice.json'), 'utf8')) as { api_key: string };
    let status = 'pending';
    for (let tries = 0; tries < 60 && status === 'pending'; tries++) {
      const res = await fetch(`http://localhost:${port}/v1/bids/${bid.bid_id}`, {
        headers: { authorization: `Bearer ${alice.api_key}` },
      });
      status = ((await res.json()) as { status: string }).status;
      if (status === 'pending') await new Promise((r) => setTimeout(r, 500));
    }
    expect(['won', 'lost']).toContain(status);

    // The audit command the stack printed, as printed.
    const audit = spawnSync('bash', ['-c', auditCommand ?? 'false'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(audit.status, audit.stderr).toBe(0);
    expect(audit.stdout).toMatch(/: OK/);

    await expectMarketStateExample(port, alice.api_key);
  }, 300_000);

  /** The README's KV example prints a cleared round's cpu price as the price history has it. */
  async function expectMarketStateExample(port: number, key: string) {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const example = runMarketStateExample({ root: ROOT, readme, bucket, natsUrl: natsUrl() });
    expect(example.errors).toEqual([]);
    expect(example.status, `${example.stdout}\n${example.stderr}`).toBe(0);
    const watched = [...example.stdout.matchAll(/^(resources\.\w+) \{/gm)].map((m) => m[1]);
    expect(watched).toEqual(['resources.cpu', 'resources.memory', 'resources.tokens', 'resources.attention']);
    // The first value printed is `get('resources.cpu')`.
    const round = /round: '(r_\d+)'/.exec(example.stdout)?.[1];
    const price = Number(/price: ([-\d.e+]+)/.exec(example.stdout)?.[1]);
    const res = await fetch(`http://localhost:${port}/v1/market/history?resource=cpu&limit=100`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const points = ((await res.json()) as { prices: Array<{ round: string; price: number }> }).prices;
    expect(points.find((p) => p.round === round)?.price).toBe(price);
  }
});
