import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ExecutionStarted, ExecutionsClient, TerminationReport } from './api.ts';
import { childEnv, classifyExit, type ExecOptions, exitCodeOf, runExec } from './runner.ts';

const GiB = 2 ** 30;

describe('classifyExit', () => {
  const base = { code: null, signal: null, endedByAllocation: false, oomKills: 0 };
  it.each([
    [{ code: 3 }, 'exited'],
    [{ code: 0 }, 'exited'],
    [{ signal: 'SIGSEGV' }, 'signal'],
    // Our SIGTERM at ends_at, whether the process died of it or caught it and exited.
    [{ signal: 'SIGTERM', endedByAllocation: true }, 'allocation_ended'],
    [{ code: 0, endedByAllocation: true }, 'allocation_ended'],
    // The kernel's OOM kill wins over everything, even when it came during our kill.
    [{ signal: 'SIGKILL', oomKills: 1 }, 'memory_limit'],
    [{ signal: 'SIGKILL', oomKills: 2, endedByAllocation: true }, 'memory_limit'],
  ] as const)('%j → %s', (patch, reason) => {
    expect(classifyExit({ ...base, ...patch })).toBe(reason);
  });

  it('the exit code mirrors the process: its code, or 128 + the signal number', () => {
    expect(exitCodeOf({ code: 3, signal: null })).toBe(3);
    expect(exitCodeOf({ code: null, signal: 'SIGTERM' })).toBe(143);
    expect(exitCodeOf({ code: null, signal: 'SIGKILL' })).toBe(137);
  });
});

const started = (endsInMs: number, bundle = { cpu: 10, memory: 50 }): ExecutionStarted => ({
  execution_id: 'ex_test',
  allocation_id: 'al_test',
  agent_id: 'a_test',
  bundle,
  starts_at: new Date().toISOString(),
  ends_at: new Date(Date.now() + endsInMs).toISOString(),
  started_at: new Date().toISOString(),
});

const options = (command: string[], env: Record<string, string> = {}): ExecOptions => ({
  allocationId: 'al_test',
  apiUrl: 'http://api.test:3000/',
  apiKey: 'syn.key',
  graceMs: 200,
  command,
  env,
});

describe('childEnv', () => {
  it('points the process at the API and its gateway with the agent’s key, over the caller’s variables', () => {
    const env = childEnv(
      { ...options([], { PATH: '/bin', OPENAI_API_KEY: 'theirs' }), scenarioId: 'er_1' },
      started(1),
    );
    expect(env).toMatchObject({
      PATH: '/bin',
      SYNTROPISM_API_URL: 'http://api.test:3000',
      SYNTROPISM_API_KEY: 'syn.key',
      SYNTROPISM_ALLOCATION_ID: 'al_test',
      SYNTROPISM_SCENARIO_ID: 'er_1',
      OPENAI_BASE_URL: 'http://api.test:3000/v1/llm',
      OPENAI_API_KEY: 'syn.key',
    });
    expect(childEnv(options([]), started(1))).not.toHaveProperty('SYNTROPISM_SCENARIO_ID');
  });
});

/** A client that answers the start with `execution` and keeps the termination. */
function fakeClient(execution: ExecutionStarted) {
  const reports: TerminationReport[] = [];
  const client = {
    start: async () => execution,
    terminate: async (_id: string, report: TerminationReport) => {
      reports.push(report);
      return {};
    },
  } as unknown as ExecutionsClient;
  return { client, reports };
}

/** A host without cgroups (the rlimit path), of known size. */
const deps = (client: ExecutionsClient, lines: string[], prlimit?: string | null) => ({
  client,
  log: (line: string) => lines.push(line),
  host: { root: mkdtempSync(join(tmpdir(), 'no-cgroup-')), totalMemoryBytes: 8 * GiB, cores: 2 },
  forwardSignals: false,
  ...(prlimit !== undefined && { prlimit }),
});

describe('runExec (real processes, a fake API)', () => {
  it('kills a process that never exits at ends_at and reports allocation_ended', async () => {
    const { client, reports } = fakeClient(started(300));
    const lines: string[] = [];
    const code = await runExec(options([process.execPath, '-e', 'setInterval(() => {}, 1000)']), deps(client, lines));
    expect(code).toBe(143);
    expect(reports).toEqual([
      { exit_code: null, reason: 'allocation_ended', signal: 'SIGTERM', duration_ms: expect.any(Number) },
    ]);
    expect(lines.join('\n')).toContain('cpu is not enforced on this host (no cgroup v2 hierarchy)');
  });

  it('SIGKILLs after the grace period a process that ignores SIGTERM', async () => {
    const { client, reports } = fakeClient(started(300));
    const ignore = "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)";
    const code = await runExec(options([process.execPath, '-e', ignore]), deps(client, []));
    expect(code).toBe(137);
    expect(reports[0]).toMatchObject({ reason: 'allocation_ended', signal: 'SIGKILL' });
  });

  it('reports its own exit code, or a signal that was not ours', async () => {
    const exits = fakeClient(started(60_000));
    expect(await runExec(options([process.execPath, '-e', 'process.exit(3)']), deps(exits.client, []))).toBe(3);
    expect(exits.reports[0]).toMatchObject({ exit_code: 3, reason: 'exited', signal: null });
    const killed = fakeClient(started(60_000));
    const self = "process.kill(process.pid, 'SIGSEGV')";
    expect(await runExec(options([process.execPath, '-e', self]), deps(killed.client, []))).toBe(139);
    expect(killed.reports[0]).toMatchObject({ exit_code: null, reason: 'signal', signal: 'SIGSEGV' });
  });

  it.each([
    ['prlimit', undefined],
    ['the shell', null],
  ] as const)('limits the address space to the memory share through %s', async (_via, prlimit) => {
    // 5% of 8 GiB, in whole pages; `ulimit -v` reports KiB.
    const { client } = fakeClient(started(60_000, { cpu: 10, memory: 5 }));
    const out = join(mkdtempSync(join(tmpdir(), 'rlimit-')), 'limit');
    const code = await runExec(options(['/bin/sh', '-c', 'ulimit -v > "$0"', out]), deps(client, [], prlimit));
    expect(code).toBe(0);
    expect(Number(readFileSync(out, 'utf8'))).toBe(Math.floor((8 * GiB * 0.05) / 4096) * 4);
  });

  it('gives the process its environment', async () => {
    const { client } = fakeClient(started(60_000));
    const out = join(mkdtempSync(join(tmpdir(), 'env-')), 'env.json');
    const dump = `require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.env))`;
    await runExec(options([process.execPath, '-e', dump], { PATH: process.env.PATH ?? '' }), deps(client, []));
    expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({
      SYNTROPISM_ALLOCATION_ID: 'al_test',
      SYNTROPISM_EXECUTION_ID: 'ex_test',
      OPENAI_BASE_URL: 'http://api.test:3000/v1/llm',
    });
  });
});
