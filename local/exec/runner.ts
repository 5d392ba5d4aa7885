/**
 * `syntropism exec`: runs an agent's process inside one of its allocations. It records the
 * start through the API (refused outside the allocation's window; the answer gives `ends_at`
 * and the bundle), limits memory and cpu to the bundle's share of this host (limits.ts), gives
 * the process the API and the LLM gateway in its environment, kills its process group at
 * `ends_at` (SIGTERM, a grace period, SIGKILL) and reports how it ended. stdout and stderr pass
 * through; the runner's exit code is the process's (128 + n for signal n).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, join } from 'node:path';
import { type ExecutionStarted, ExecutionsClient, type TerminationReport } from './api.ts';
import { type Host, type HostProbe, readHost } from './host.ts';
import {
  createExecutionCgroup,
  type ExecutionCgroup,
  type Limits,
  limitsFor,
  probeCgroup,
  wrappedCommand,
} from './limits.ts';

export interface ExecOptions {
  allocationId: string;
  apiUrl: string;
  /** The agent's own key (`SYNTROPISM_API_KEY` of the caller). */
  apiKey: string;
  scenarioId?: string;
  /** Between SIGTERM and SIGKILL at `ends_at`. */
  graceMs: number;
  command: string[];
  /** The caller's environment, passed to the process under the runner's variables. */
  env: Readonly<Record<string, string | undefined>>;
}

export interface ExecDeps {
  clock?: { now(): number };
  /** The runner's own messages (stderr by default); the process's output is not here. */
  log?: (line: string) => void;
  /** Stands in for `/` when looking at cgroups and the host. */
  host?: HostProbe;
  /** Where `prlimit` is; default: looked up in PATH. `null`: use the shell's `ulimit`. */
  prlimit?: string | null;
  client?: ExecutionsClient;
  /** Forward SIGINT, SIGTERM and SIGHUP of the runner to the process group (default true). */
  forwardSignals?: boolean;
}

/** How the process ended, as the runner saw it. */
export interface ExitObservation {
  code: number | null;
  signal: string | null;
  /** The runner began the kill at `ends_at`. */
  endedByAllocation: boolean;
  /** The kernel's OOM killer acted inside the execution's cgroup (cgroup v2 only). */
  oomKills: number;
}

/**
 * The termination's reason. The memory limit first (its SIGKILL is the kernel's, whatever else
 * happened), then the allocation's end (the process may have caught our SIGTERM and exited 0),
 * then any other signal, else the process exited by itself.
 */
export function classifyExit(o: ExitObservation): TerminationReport['reason'] {
  if (o.oomKills > 0) return 'memory_limit';
  if (o.endedByAllocation) return 'allocation_ended';
  if (o.signal !== null) return 'signal';
  return 'exited';
}

/** The runner's exit code: the process's, or 128 + the signal's number as a shell reports it. */
export function exitCodeOf(o: Pick<ExitObservation, 'code' | 'signal'>): number {
  if (o.code !== null) return o.code;
  const number = o.signal ? osConstants.signals[o.signal as NodeJS.Signals] : undefined;
  return 128 + (number ?? 0);
}

/** The variables the process gets: the API, its allocation, and an OpenAI SDK's two settings. */
export function childEnv(options: ExecOptions, started: ExecutionStarted): Record<string, string> {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.env)) if (v !== undefined) base[k] = v;
  const api = options.apiUrl.replace(/\/+$/, '');
  return {
    ...base,
    SYNTROPISM_API_URL: api,
    SYNTROPISM_API_KEY: options.apiKey,
    SYNTROPISM_ALLOCATION_ID: started.allocation_id,
    SYNTROPISM_EXECUTION_ID: started.execution_id,
    SYNTROPISM_ENDS_AT: started.ends_at,
    ...(options.scenarioId !== undefined && { SYNTROPISM_SCENARIO_ID: options.scenarioId }),
    OPENAI_BASE_URL: `${api}/v1/llm`,
    OPENAI_API_KEY: options.apiKey,
  };
}

export function findInPath(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(delimiter).filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

interface Enforcement {
  argv: string[];
  cgroup?: ExecutionCgroup;
  lines: string[];
}

/** The cgroup when this host lets the runner make one, else the rlimit; says which, and why. */
async function enforce(limits: Limits, host: Host, started: ExecutionStarted, deps: ExecDeps, command: string[]) {
  const memory = `memory ${mib(limits.memoryBytes)} (${limits.memoryPercent}% of ${mib(host.memoryBytes)}, ${host.memorySource})`;
  const cpu = `cpu ${limits.cores.toFixed(3)} cores (${limits.cpuPercent}% of ${host.cores}, ${host.coresSource})`;
  const probe = await probeCgroup(deps.host?.root);
  let reason = probe.kind === 'unusable' ? probe.reason : '';
  if (probe.kind === 'usable') {
    try {
      const cgroup = await createExecutionCgroup(probe, `syntropism-${started.execution_id}`, limits);
      const argv = wrappedCommand(command, { kind: 'cgroup', procs: cgroup.procs });
      return { argv, cgroup, lines: [`${memory}: cgroup v2 memory.max`, `${cpu}: cgroup v2 cpu.max`] } as Enforcement;
    } catch (error) {
      reason = `cgroup v2 ${probe.dir} refused a child cgroup (${(error as NodeJS.ErrnoException).code ?? error})`;
    }
  }
  const prlimit = deps.prlimit === null ? undefined : (deps.prlimit ?? findInPath('prlimit', process.env.PATH));
  const argv = wrappedCommand(command, { kind: 'rlimit', memoryBytes: limits.memoryBytes, prlimit });
  return {
    argv,
    lines: [
      `${memory}: address-space rlimit (${prlimit ? 'prlimit --as' : 'ulimit -v'}); ${reason}`,
      `cpu is not enforced on this host (${reason})`,
    ],
  } as Enforcement;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

/** Runs the process to its end; kills it at `endsAtMs`. */
function supervise(argv: string[], env: Record<string, string>, endsAtMs: number, graceMs: number, deps: ExecDeps) {
  const clock = deps.clock ?? { now: () => Date.now() };
  const [file = '', ...args] = argv;
  // Its own process group, so the kill reaches whatever the process started.
  const child = spawn(file, args, { env, stdio: 'inherit', detached: true });
  let endedByAllocation = false;
  const timers: NodeJS.Timeout[] = [];
  timers.push(
    setTimeout(
      () => {
        endedByAllocation = true;
        killGroup(child, 'SIGTERM');
        timers.push(setTimeout(() => killGroup(child, 'SIGKILL'), graceMs));
      },
      Math.max(0, endsAtMs - clock.now()),
    ),
  );
  const forward = (signal: NodeJS.Signals) => killGroup(child, signal);
  const forwarded: NodeJS.Signals[] = deps.forwardSignals === false ? [] : ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of forwarded) process.on(s, forward);
  return new Promise<{ code: number | null; signal: string | null; endedByAllocation: boolean }>((resolve) => {
    const done = (code: number | null, signal: string | null) => {
      for (const t of timers) clearTimeout(t);
      for (const s of forwarded) process.off(s, forward);
      // What the process left running would outlive the allocation: it goes too.
      killGroup(child, 'SIGKILL');
      resolve({ code, signal, endedByAllocation });
    };
    child.once('exit', (code, signal) => done(code, signal));
    child.once('error', (error) => {
      deps.log?.(`syntropism exec: could not start ${file}: ${error.message}`);
      done(127, null);
    });
  });
}

/** The whole run: start, limit, supervise, report. Resolves with the runner's exit code. */
export async function runExec(options: ExecOptions, deps: ExecDeps = {}): Promise<number> {
  const log = deps.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const clock = deps.clock ?? { now: () => Date.now() };
  const client =
    deps.client ??
    new ExecutionsClient({
      apiUrl: options.apiUrl,
      apiKey: options.apiKey,
      ...(options.scenarioId !== undefined && { scenarioId: options.scenarioId }),
    });
  const started = await client.start(options.allocationId, `exec-${randomUUID()}`);
  const host = readHost(deps.host);
  const limits = limitsFor(started.bundle, host);
  const enforcement = await enforce(limits, host, started, deps, options.command);
  log(
    `syntropism exec: execution ${started.execution_id} in allocation ${started.allocation_id} until ${started.ends_at}`,
  );
  for (const line of enforcement.lines) log(`syntropism exec: ${line}`);
  const startedAt = clock.now();
  const env = childEnv(options, started);
  const exit = await supervise(enforcement.argv, env, Date.parse(started.ends_at), options.graceMs, deps);
  const observation = { ...exit, oomKills: (await enforcement.cgroup?.oomKills()) ?? 0 };
  await enforcement.cgroup?.remove();
  const report: TerminationReport = {
    exit_code: exit.code,
    reason: classifyExit(observation),
    signal: exit.signal,
    duration_ms: Math.max(0, Math.round(clock.now() - startedAt)),
  };
  if (report.reason === 'exited' && report.exit_code === null) report.exit_code = 0;
  try {
    await client.terminate(started.execution_id, report, `exec-end-${started.execution_id}`);
  } catch (error) {
    // The process's own outcome still decides the exit code; the record stays `running`.
    log(`syntropism exec: could not report the termination: ${(error as Error).message}`);
  }
  log(
    `syntropism exec: ${report.reason}${report.exit_code !== null ? ` with code ${report.exit_code}` : ''}${report.signal ? ` by ${report.signal}` : ''} after ${report.duration_ms} ms`,
  );
  return exitCodeOf(exit);
}
