/**
 * The allocation's cpu and memory made real on this host. The amounts: `memory` percent of the
 * host's memory in bytes, `cpu` percent of its cores as a cgroup v2 `cpu.max` quota. The means:
 * a child cgroup v2 under the runner's own cgroup when that cgroup is writable and delegates
 * the `memory` and `cpu` controllers (`memory.max`, `memory.swap.max`, `cpu.max`); otherwise an
 * address-space rlimit for memory and no cpu limit at all, which the runner says plainly.
 *
 * A resource the bundle does not hold gets its quantum, the least amount one can buy (0.001% of
 * the host): the operator runs untrusted agents, and what was not paid for is not given. A
 * process in an allocation without memory therefore cannot start; buy some.
 */

import { constants } from 'node:fs';
import { access, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cgroup2Mount, cgroupPaths, type Host, readText } from './host.ts';

/** The least cpu and memory percent a bundle can hold (the market's quanta, shared/core/quantities.ts). */
export const PERCENT_QUANTUM = 0.001;
/** The cgroup v2 default period; the quota is a share of it. */
export const CPU_PERIOD_US = 100_000;
/** The kernel refuses a `cpu.max` quota below 1 ms. */
export const MIN_CPU_QUOTA_US = 1_000;

export interface Bundle {
  cpu?: number;
  memory?: number;
}

export interface Limits {
  memoryBytes: number;
  /** Percent actually applied (the bundle's, or the quantum when it holds none). */
  memoryPercent: number;
  cpuQuotaUs: number;
  cpuPeriodUs: number;
  cpuPercent: number;
  /** `cpu` percent of the host's cores, in cores. */
  cores: number;
}

const PAGE_BYTES = 4096;

export function limitsFor(bundle: Bundle, host: Host): Limits {
  const memoryPercent = bundle.memory ?? PERCENT_QUANTUM;
  const cpuPercent = bundle.cpu ?? PERCENT_QUANTUM;
  // Whole pages: the kernel rounds memory.max down to a page anyway; never below one.
  const memoryBytes = Math.max(
    PAGE_BYTES,
    Math.floor((host.memoryBytes * memoryPercent) / 100 / PAGE_BYTES) * PAGE_BYTES,
  );
  const cores = (host.cores * cpuPercent) / 100;
  const cpuQuotaUs = Math.max(MIN_CPU_QUOTA_US, Math.floor(cores * CPU_PERIOD_US));
  return { memoryBytes, memoryPercent, cpuQuotaUs, cpuPeriodUs: CPU_PERIOD_US, cpuPercent, cores };
}

export type CgroupProbe = { kind: 'usable'; dir: string; enable: string[] } | { kind: 'unusable'; reason: string };

const NEEDED = ['memory', 'cpu'];

const words = (text: string | undefined) => new Set((text ?? '').trim().split(/\s+/).filter(Boolean));

/**
 * Whether the runner can limit a child through cgroup v2 here: its own cgroup (from
 * `/proc/self/cgroup` and the cgroup2 mount, both read under `root`) must offer `memory` and
 * `cpu` and be writable. `enable` lists the controllers still to switch on for children.
 */
export async function probeCgroup(root = '/'): Promise<CgroupProbe> {
  const mount = cgroup2Mount(readText(join(root, 'proc/self/mountinfo')));
  const path = cgroupPaths(readText(join(root, 'proc/self/cgroup')) ?? '').get('');
  if (!mount || path === undefined) return { kind: 'unusable', reason: 'no cgroup v2 hierarchy' };
  const dir = join(root, mount, path);
  const controllers = words(readText(join(dir, 'cgroup.controllers')));
  const missing = NEEDED.filter((c) => !controllers.has(c));
  if (missing.length) return { kind: 'unusable', reason: `cgroup v2 ${dir} has no ${missing.join(', ')} controller` };
  try {
    await access(dir, constants.W_OK);
    await access(join(dir, 'cgroup.subtree_control'), constants.W_OK);
  } catch {
    return { kind: 'unusable', reason: `cgroup v2 ${dir} is not writable by this user` };
  }
  const delegated = words(readText(join(dir, 'cgroup.subtree_control')));
  return { kind: 'usable', dir, enable: NEEDED.filter((c) => !delegated.has(c)) };
}

/**
 * Hands `memory` and `cpu` to the children of the runner's cgroup. cgroup v2 refuses it (EBUSY)
 * while that cgroup holds processes itself ("no internal processes"), so the runner then moves
 * itself into a leaf of its own and tries again; when other processes share its cgroup that
 * still fails, the runner moves back, and the caller falls back to rlimits.
 */
async function enableControllers(dir: string, enable: string[]): Promise<void> {
  const subtree = join(dir, 'cgroup.subtree_control');
  const line = enable.map((c) => `+${c}`).join(' ');
  try {
    await writeFile(subtree, line);
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EBUSY') throw error;
  }
  const leaf = join(dir, 'syntropism-runner');
  await mkdir(leaf).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  await writeFile(join(leaf, 'cgroup.procs'), String(process.pid));
  try {
    await writeFile(subtree, line);
  } catch (error) {
    await writeFile(join(dir, 'cgroup.procs'), String(process.pid)).catch(() => {});
    await rmdir(leaf).catch(() => {});
    throw error;
  }
}

/** A child cgroup holding one execution, with its limits written; `procs` is where its pid goes. */
export interface ExecutionCgroup {
  dir: string;
  procs: string;
  /** `oom_kill` of `memory.events`: how often the kernel killed inside it for memory. */
  oomKills(): Promise<number>;
  /** Removes the cgroup (after its processes are gone). */
  remove(): Promise<void>;
}

export async function createExecutionCgroup(
  probe: Extract<CgroupProbe, { kind: 'usable' }>,
  name: string,
  limits: Limits,
): Promise<ExecutionCgroup> {
  if (probe.enable.length) await enableControllers(probe.dir, probe.enable);
  const dir = join(probe.dir, name);
  await mkdir(dir);
  try {
    await writeFile(join(dir, 'memory.max'), String(limits.memoryBytes));
    // Without it the limit would only push the process's memory out to swap.
    await writeFile(join(dir, 'memory.swap.max'), '0').catch(() => {});
    await writeFile(join(dir, 'cpu.max'), `${limits.cpuQuotaUs} ${limits.cpuPeriodUs}`);
  } catch (error) {
    await rmdir(dir).catch(() => {});
    throw error;
  }
  return {
    dir,
    procs: join(dir, 'cgroup.procs'),
    oomKills: async () => {
      const events = await readFile(join(dir, 'memory.events'), 'utf8').catch(() => '');
      return Number(/^oom_kill (\d+)$/m.exec(events)?.[1] ?? 0);
    },
    remove: async () => {
      // Stragglers the process left behind (daemons) go with it; `cgroup.kill` needs Linux 5.14.
      await writeFile(join(dir, 'cgroup.kill'), '1').catch(() => {});
      for (let attempt = 0; attempt < 50; attempt++) {
        try {
          await rmdir(dir);
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    },
  };
}

/**
 * The command line that starts `command` under `enforcement`: in the cgroup (a shell moves
 * itself into it, then execs, so no instruction runs outside the limits), or under an
 * address-space rlimit (`prlimit` from util-linux, on every Debian; else the shell's `ulimit -v`).
 */
export function wrappedCommand(
  command: string[],
  enforcement: { kind: 'cgroup'; procs: string } | { kind: 'rlimit'; memoryBytes: number; prlimit: string | undefined },
): string[] {
  if (enforcement.kind === 'cgroup') {
    return ['/bin/sh', '-c', 'echo $$ > "$0" && exec "$@"', enforcement.procs, ...command];
  }
  if (enforcement.prlimit) return [enforcement.prlimit, `--as=${enforcement.memoryBytes}`, '--', ...command];
  const kib = Math.max(1, Math.floor(enforcement.memoryBytes / 1024));
  return ['/bin/sh', '-c', `ulimit -v ${kib} && exec "$@"`, 'sh', ...command];
}
