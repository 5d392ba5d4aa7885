import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cgroup2Mount, cgroupPaths, readHost } from './host.ts';

/** A directory standing in for `/`, with the given files. */
function fakeRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'host-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const GiB = 2 ** 30;
const MOUNTS = '30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n';

describe('cgroupPaths and cgroup2Mount', () => {
  it('read v2 and v1 lines, and the cgroup2 mount (pure v2 or hybrid)', () => {
    const paths = cgroupPaths('0::/user.slice/run\n4:memory:/docker/abc\n2:cpu,cpuacct:/x\n');
    expect([...paths]).toEqual([
      ['', '/user.slice/run'],
      ['memory', '/docker/abc'],
      ['cpu', '/x'],
      ['cpuacct', '/x'],
    ]);
    expect(cgroup2Mount(MOUNTS)).toBe('/sys/fs/cgroup');
    expect(cgroup2Mount('40 30 0:35 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n')).toBe(
      '/sys/fs/cgroup/unified',
    );
    expect(cgroup2Mount('40 30 0:35 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n')).toBeUndefined();
  });
});

describe('readHost', () => {
  it('is the machine when no cgroup limits the runner', () => {
    const root = fakeRoot({ 'proc/self/cgroup': '0::/a\n', 'proc/self/mountinfo': MOUNTS });
    expect(readHost({ root, totalMemoryBytes: 8 * GiB, cores: 4 })).toEqual({
      memoryBytes: 8 * GiB,
      memorySource: 'machine',
      cores: 4,
      coresSource: 'machine',
    });
  });

  it('is the lowest limit of the runner’s cgroup and its ancestors, when below the machine', () => {
    const root = fakeRoot({
      'proc/self/cgroup': '0::/a/b\n',
      'proc/self/mountinfo': MOUNTS,
      'sys/fs/cgroup/a/memory.max': String(2 * GiB),
      'sys/fs/cgroup/a/b/memory.max': 'max\n',
      'sys/fs/cgroup/a/b/cpu.max': '150000 100000\n',
    });
    expect(readHost({ root, totalMemoryBytes: 8 * GiB, cores: 4 })).toEqual({
      memoryBytes: 2 * GiB,
      memorySource: 'cgroup',
      cores: 1.5,
      coresSource: 'cgroup',
    });
  });

  it('reads a cgroup v1 memory limit, and ignores its "unlimited" value', () => {
    const limited = fakeRoot({
      'proc/self/cgroup': '4:memory:/docker/c\n',
      'sys/fs/cgroup/memory/docker/c/memory.limit_in_bytes': String(GiB),
    });
    expect(readHost({ root: limited, totalMemoryBytes: 8 * GiB, cores: 2 }).memoryBytes).toBe(GiB);
    const unlimited = fakeRoot({
      'proc/self/cgroup': '4:memory:/docker/c\n',
      'sys/fs/cgroup/memory/docker/c/memory.limit_in_bytes': '9223372036854771712',
    });
    expect(readHost({ root: unlimited, totalMemoryBytes: 8 * GiB, cores: 2 }).memorySource).toBe('machine');
  });
});
