/**
 * The CLI as a user runs it: `start` brings the stack up, serves the API and stops cleanly on
 * Ctrl-C (no Java left behind); missing prerequisites end in one line; `audit` checks a table.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestTable, deleteTestTable, dynamoEndpoint, type TestTable } from '../test/harness/context.ts';
import { freePort } from './ports.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

interface Run {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Run {
  // Own process group, so a Ctrl-C can be sent to the whole tree as a terminal does.
  const child = spawn(command, args, { cwd: ROOT, env: { ...env, NO_COLOR: '1' }, detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exit };
}

/** The CLI under tsx without npx: quicker, and with a PATH of the test's choosing. */
const runCli = (args: string[], env?: NodeJS.ProcessEnv) =>
  run(process.execPath, ['--import', 'tsx', 'local/cli.ts', ...args], env);

async function waitFor(run: Run, pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(run.stdout());
    if (match) return match;
    if (run.child.exitCode !== null || run.child.signalCode !== null) {
      throw new Error(`exited before ${pattern}:\n${run.stdout()}\n${run.stderr()}`);
    }
    if (Date.now() > deadline)
      throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${run.stdout()}\n${run.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** PIDs of DynamoDB Local processes listening on `port` (Linux /proc). */
function dynamoDbLocalPids(port: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return (
          args.some((arg) => arg.endsWith('DynamoDBLocal.jar')) && args[args.indexOf('-port') + 1] === String(port)
        );
      } catch {
        return false; // exited meanwhile
      }
    })
    .map(Number);
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

const noStackTrace = (text: string) => expect(text).not.toMatch(/^\s+at /m);

describe('syntropism start', () => {
  const runs: Run[] = [];
  afterEach(() => {
    // A failed assertion must not leave a stack running.
    for (const r of runs.splice(0)) killGroup(r.child, 'SIGKILL');
  });

  /** Starts the stack, checks the API and Java, sends a Ctrl-C to the process group. */
  async function startServeAndInterrupt(stack: Run, port: number) {
    runs.push(stack);
    await waitFor(stack, /^ready: http:\/\/localhost:\d+/m, 90_000);
    const out = stack.stdout();
    expect(out).toContain(`http://localhost:${port}`);
    expect(out).toMatch(/operator key +[A-Za-z0-9_-]{43} \(generated/);
    const dynamoPort = Number(/DynamoDB +http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
    expect(dynamoDbLocalPids(dynamoPort)).toHaveLength(1);

    const api = `http://127.0.0.1:${port}`;
    const health = await fetch(`${api}/v1/health`);
    if (existsSync(`${ROOT}functions/http/health.ts`)) {
      expect(health.status).toBe(200);
    } else {
      expect(health.status).toBe(503);
      expect(stack.stderr()).toContain('functions/http/health.ts does not exist');
    }
    const unauthorized = await fetch(`${api}/v1/agents`);
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get('content-type')).toBe('application/problem+json');
    expect((await fetch(`${api}/v1/no-such-route`)).status).toBe(404);

    killGroup(stack.child, 'SIGINT');
    const exit = await stack.exit;
    expect(stack.stdout()).toMatch(/stopping.*\n(.*\n)*stopped\n$/);
    noStackTrace(stack.stderr());
    expect(dynamoDbLocalPids(dynamoPort)).toEqual([]);
    await expect(fetch(`${api}/v1/health`)).rejects.toThrow();
    return exit;
  }

  const withoutOperatorKey = () => {
    const env = { ...process.env };
    delete env.SYNTROPISM_OPERATOR_KEY;
    return env;
  };

  it('npx tsx local/cli.ts start: serves the API and stops everything on Ctrl-C', async () => {
    const port = await freePort();
    const args = ['tsx', 'local/cli.ts', 'start', '--in-memory', '--port', String(port)];
    const exit = await startServeAndInterrupt(run('npx', args, withoutOperatorKey()), port);
    // npm ends itself with the SIGINT it received once its child has exited (so a shell sees
    // an interrupted command); the stack below it exited 0, as `stopped` shows.
    expect([JSON.stringify({ code: 0, signal: null }), JSON.stringify({ code: null, signal: 'SIGINT' })]).toContain(
      JSON.stringify(exit),
    );
  });

  it('the bin shim: start, Ctrl-C, exit code 0', async () => {
    const port = await freePort();
    const args = ['bin/syntropism.mjs', 'start', '--in-memory', '--port', String(port)];
    const exit = await startServeAndInterrupt(run(process.execPath, args, withoutOperatorKey()), port);
    expect(exit).toEqual({ code: 0, signal: null });
  });

  describe('prerequisites', () => {
    let busy: Server;
    let busyPort: number;
    beforeAll(async () => {
      busy = createServer();
      busyPort = await new Promise<number>((resolve) => {
        busy.listen(0, '127.0.0.1', () => {
          const address = busy.address();
          resolve(typeof address === 'object' && address ? address.port : 0);
        });
      });
    });
    afterAll(() => new Promise<void>((resolve) => busy.close(() => resolve())));

    it('a busy port ends in one line and exit code 1', async () => {
      const r = runCli(['start', '--in-memory', '--port', String(busyPort)]);
      runs.push(r);
      expect((await r.exit).code).toBe(1);
      expect(r.stderr().trim()).toBe(`port ${busyPort} is already in use: stop what listens there or pass --port N`);
    });

    it('missing Java ends in one line and exit code 1', async () => {
      const r = runCli(['start', '--in-memory', '--port', String(await freePort())], {
        ...process.env,
        PATH: '/nonexistent',
      });
      runs.push(r);
      expect((await r.exit).code).toBe(1);
      expect(r.stderr().trim()).toBe(
        'Java 17+ is required for DynamoDB Local: install a JRE, e.g. `apt-get install openjdk-17-jre-headless`',
      );
    });

    it('a short operator key ends in one line and exit code 1', async () => {
      const r = runCli(['start', '--in-memory', '--port', String(await freePort())], {
        ...process.env,
        SYNTROPISM_OPERATOR_KEY: 'short',
      });
      runs.push(r);
      expect((await r.exit).code).toBe(1);
      expect(r.stderr().trim()).toBe(
        'SYNTROPISM_OPERATOR_KEY must be at least 16 characters (or unset it to generate one)',
      );
    });

    it('a bad flag ends in one line and exit code 1', async () => {
      const r = runCli(['start', '--round', 'soon']);
      runs.push(r);
      expect((await r.exit).code).toBe(1);
      expect(r.stderr().trim().split('\n')).toHaveLength(1);
      expect(r.stderr()).toContain('invalid duration "soon"');
    });
  });
});

describe('syntropism audit', () => {
  let table: TestTable;
  beforeAll(async () => {
    table = await createTestTable('cli-audit');
  });
  afterAll(() => deleteTestTable(table));

  it('audits an empty ledger as OK through the bin shim', async () => {
    const r = run(process.execPath, [
      'bin/syntropism.mjs',
      'audit',
      '--endpoint',
      dynamoEndpoint(),
      '--table',
      table.tableName,
    ]);
    expect((await r.exit).code, r.stderr()).toBe(0);
    expect(r.stdout()).toContain(`audit of table ${table.tableName} at ${dynamoEndpoint()}: OK`);
  });

  it('invoke runs one function on its sample event, as sam local invoke would', async () => {
    const r = runCli([
      'invoke',
      'market',
      'events/market.json',
      '--endpoint',
      dynamoEndpoint(),
      '--table',
      table.tableName,
    ]);
    expect((await r.exit).code, r.stderr()).toBe(0);
    const result = JSON.parse(r.stdout()) as { statusCode: number; body: string };
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body)).toHaveProperty('resources.cpu.price');
  });

  it('--version prints the package version', async () => {
    const r = runCli(['--version']);
    expect((await r.exit).code).toBe(0);
    expect(r.stdout().trim()).toMatch(/^syntropism \d+\.\d+\.\d+$/);
  });

  it('reports a missing table in one line with exit code 1', async () => {
    const r = runCli(['audit', '--endpoint', dynamoEndpoint(), '--table', 'no-such-table']);
    expect((await r.exit).code).toBe(1);
    expect(r.stderr().trim()).toBe(
      `audit of table no-such-table at ${dynamoEndpoint()} failed: the table does not exist`,
    );
  });
});
