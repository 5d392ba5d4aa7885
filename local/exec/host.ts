/**
 * What "the host" is for an allocation's percentages: the memory and cores the runner itself
 * may use. Memory is the machine's (`os.totalmem()`), or the limit of the cgroup the runner
 * lives in when that is lower (a container, a systemd slice); cores are those the runner may
 * run on (`os.availableParallelism()`, which honours CPU affinity), or its own cgroup's cpu
 * quota when that is lower. So "10% of memory" is 10% of what this runner could use at most.
 * Every file is read under `root` (default `/`), so tests can stand a directory in for it.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';

export interface Host {
  memoryBytes: number;
  /** Where `memoryBytes` comes from. */
  memorySource: 'machine' | 'cgroup';
  /** Cores, possibly fractional (a cgroup quota of 1.5 cores). */
  cores: number;
  coresSource: 'machine' | 'cgroup';
}

export interface HostProbe {
  /** Stands in for `/`. */
  root?: string;
  totalMemoryBytes?: number;
  cores?: number;
}

export function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The runner's cgroup path per hierarchy: `''` for v2 (`0::/path`), controller names for v1. */
export function cgroupPaths(procSelfCgroup: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of procSelfCgroup.split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (!match) continue;
    for (const controller of (match[1] ?? '').split(',')) paths.set(controller, match[2] ?? '/');
  }
  return paths;
}

/** Where the cgroup v2 hierarchy is mounted (`/sys/fs/cgroup`, or `…/unified` on hybrid hosts). */
export function cgroup2Mount(mountInfo: string | undefined): string | undefined {
  for (const line of (mountInfo ?? '').split('\n')) {
    // `id parent major:minor root mountpoint options … - fstype source superoptions`
    const [before, after] = line.split(' - ');
    if (after?.split(' ')[0] === 'cgroup2') return before?.split(' ')[4];
  }
  return undefined;
}

/** A limit file's value in bytes or units; undefined for `max` or a v1 "unlimited" near 2^63. */
function limitOf(text: string | undefined): number | undefined {
  const value = Number(text?.trim());
  return Number.isFinite(value) && value > 0 && value < 2 ** 60 ? value : undefined;
}

/** The lowest `name` limit on the path from the runner's cgroup up to the hierarchy's root. */
function lowestOnPath(base: string, path: string, read: (dir: string) => number | undefined): number | undefined {
  let lowest: number | undefined;
  const parts = path.split('/').filter(Boolean);
  for (let depth = parts.length; depth >= 0; depth--) {
    const value = read(join(base, ...parts.slice(0, depth)));
    if (value !== undefined) lowest = lowest === undefined ? value : Math.min(lowest, value);
  }
  return lowest;
}

function cgroupMemoryLimit(root: string, paths: Map<string, string>, v2: string | undefined): number | undefined {
  const v2Path = paths.get('');
  const fromV2 =
    v2 && v2Path !== undefined
      ? lowestOnPath(join(root, v2), v2Path, (dir) => limitOf(readText(join(dir, 'memory.max'))))
      : undefined;
  const v1Path = paths.get('memory');
  const fromV1 =
    v1Path !== undefined
      ? lowestOnPath(join(root, 'sys/fs/cgroup/memory'), v1Path, (dir) =>
          limitOf(readText(join(dir, 'memory.limit_in_bytes'))),
        )
      : undefined;
  const found = [fromV2, fromV1].filter((v): v is number => v !== undefined);
  return found.length ? Math.min(...found) : undefined;
}

function cgroupCores(root: string, paths: Map<string, string>, v2: string | undefined): number | undefined {
  const v2Path = paths.get('');
  if (!v2 || v2Path === undefined) return undefined;
  return lowestOnPath(join(root, v2), v2Path, (dir) => {
    const [quota, period] = (readText(join(dir, 'cpu.max')) ?? '').trim().split(/\s+/);
    const q = limitOf(quota);
    const p = limitOf(period);
    return q !== undefined && p !== undefined ? q / p : undefined;
  });
}

export function readHost(probe: HostProbe = {}): Host {
  const root = probe.root ?? '/';
  const paths = cgroupPaths(readText(join(root, 'proc/self/cgroup')) ?? '');
  const v2 = cgroup2Mount(readText(join(root, 'proc/self/mountinfo')));
  const machineMemory = probe.totalMemoryBytes ?? totalmem();
  const machineCores = probe.cores ?? availableParallelism();
  const cgMemory = cgroupMemoryLimit(root, paths, v2);
  const cgCores = cgroupCores(root, paths, v2);
  const memoryFromCgroup = cgMemory !== undefined && cgMemory < machineMemory;
  const coresFromCgroup = cgCores !== undefined && cgCores < machineCores;
  return {
    memoryBytes: memoryFromCgroup ? cgMemory : machineMemory,
    memorySource: memoryFromCgroup ? 'cgroup' : 'machine',
    cores: coresFromCgroup ? cgCores : machineCores,
    coresSource: coresFromCgroup ? 'cgroup' : 'machine',
  };
}
