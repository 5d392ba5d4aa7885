import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Host } from './host.ts';
import { createExecutionCgroup, limitsFor, probeCgroup, wrappedCommand } from './limits.ts';

const GiB = 2 ** 30;
const host: Host = { memoryBytes: 8 * GiB, memorySource: 'machine', cores: 4, coresSource: 'machine' };

function fakeRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'cgroup-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const v2 = (controllers: string, subtree = '') =>
  fakeRoot({
    'proc/self/cgroup': '0::/runner\n',
    'proc/self/mountinfo': '30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n',
    'sys/fs/cgroup/runner/cgroup.controllers': `${controllers}\n`,
    'sys/fs/cgroup/runner/cgroup.subtree_control': `${subtree}\n`,
  });

describe('limitsFor', () => {
  it('memory is its percent of the host in whole pages; cpu its percent of the cores as a quota', () => {
    const limits = limitsFor({ cpu: 50, memory: 10 }, host);
    expect(limits.memoryBytes).toBe(Math.floor((8 * GiB * 0.1) / 4096) * 4096);
    expect(limits.memoryBytes % 4096).toBe(0);
    // 50% of 4 cores = 2 cores = 200 ms of every 100 ms period.
    expect(limits).toMatchObject({ cores: 2, cpuQuotaUs: 200_000, cpuPeriodUs: 100_000 });
    expect(limitsFor({ cpu: 100, memory: 100 }, host)).toMatchObject({ memoryBytes: 8 * GiB, cpuQuotaUs: 400_000 });
  });

  it('a resource the bundle does not hold gets the quantum; the kernel minimums hold', () => {
    const limits = limitsFor({}, host);
    expect(limits).toMatchObject({ memoryPercent: 0.001, cpuPercent: 0.001, cpuQuotaUs: 1_000 });
    expect(limits.memoryBytes).toBe(Math.floor((8 * GiB * 0.00001) / 4096) * 4096);
    expect(limitsFor({ memory: 0.001 }, { ...host, memoryBytes: 1_000 }).memoryBytes).toBe(4096);
  });
});

describe('probeCgroup', () => {
  it('is usable with memory and cpu offered and writable; lists what still needs enabling', async () => {
    const root = v2('cpuset cpu io memory pids', 'memory');
    expect(await probeCgroup(root)).toEqual({
      kind: 'usable',
      dir: join(root, 'sys/fs/cgroup/runner'),
      enable: ['cpu'],
    });
  });

  it('says why not: no v2 hierarchy, or a controller missing', async () => {
    const v1 = fakeRoot({ 'proc/self/cgroup': '4:memory:/x\n', 'proc/self/mountinfo': '' });
    expect(await probeCgroup(v1)).toEqual({ kind: 'unusable', reason: 'no cgroup v2 hierarchy' });
    const probe = await probeCgroup(v2('hugetlb pids'));
    expect(probe).toMatchObject({ kind: 'unusable', reason: expect.stringContaining('no memory, cpu controller') });
  });
});

describe('createExecutionCgroup', () => {
  it('enables the controllers, writes memory.max, memory.swap.max and cpu.max, and counts OOM kills', async () => {
    const root = v2('cpu memory');
    const probe = await probeCgroup(root);
    if (probe.kind !== 'usable') throw new Error(probe.reason);
    const cgroup = await createExecutionCgroup(probe, 'syntropism-ex_1', limitsFor({ cpu: 25, memory: 50 }, host));
    const read = (f: string) => readFileSync(join(probe.dir, f), 'utf8');
    expect(read('cgroup.subtree_control')).toBe('+memory +cpu');
    expect(read('syntropism-ex_1/memory.max')).toBe(String(4 * GiB));
    expect(read('syntropism-ex_1/memory.swap.max')).toBe('0');
    expect(read('syntropism-ex_1/cpu.max')).toBe('100000 100000');
    expect(cgroup.procs).toBe(join(probe.dir, 'syntropism-ex_1/cgroup.procs'));
    expect(await cgroup.oomKills()).toBe(0);
    writeFileSync(join(cgroup.dir, 'memory.events'), 'low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n');
    expect(await cgroup.oomKills()).toBe(1);
  });
});

describe('wrappedCommand', () => {
  const command = ['node', 'agent.js', '--flag'];

  it('moves itself into the cgroup before exec, so nothing runs unlimited', () => {
    const argv = wrappedCommand(command, { kind: 'cgroup', procs: '/cg/x/cgroup.procs' });
    expect(argv).toEqual(['/bin/sh', '-c', 'echo $$ > "$0" && exec "$@"', '/cg/x/cgroup.procs', ...command]);
  });

  it('uses prlimit --as when there is one, else the shell’s ulimit -v in KiB', () => {
    expect(wrappedCommand(command, { kind: 'rlimit', memoryBytes: 2 * GiB, prlimit: '/usr/bin/prlimit' })).toEqual([
      '/usr/bin/prlimit',
      `--as=${2 * GiB}`,
      '--',
      ...command,
    ]);
    expect(wrappedCommand(command, { kind: 'rlimit', memoryBytes: 2 * GiB, prlimit: undefined })).toEqual([
      '/bin/sh',
      '-c',
      `ulimit -v ${2 * 1024 * 1024} && exec "$@"`,
      'sh',
      ...command,
    ]);
  });
});
