/**
 * One local stack per data folder, and no process of a dead stack left behind.
 *
 * `<root>/stack.json` records the running stack: its pid, its servers' pids (each with a marker
 * its command line must contain, so a recycled pid is never taken for one of ours) and its
 * endpoints. It is created exclusively: a second stack on the same folder finds a live owner
 * and refuses in one line. A record whose owner is dead was left by a stack that was killed
 * (`kill -9`): its servers, if still running, are ended and the folder is taken over.
 *
 * The servers of every stack (in memory too) are also watched by a small detached process
 * (`watchdog.mjs`) that ends them as soon as the stack's own process is gone, so that even
 * before the next start nothing of a killed stack keeps running.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrerequisiteError } from './processes.ts';

export interface StackServer {
  name: string;
  pid: number;
  /** A substring of the server's command line (its jar, its data path). */
  marker: string;
}

export interface StackRecord {
  pid: number;
  started_at: string;
  servers: StackServer[];
  api_url?: string;
  dynamo_endpoint?: string;
  table?: string;
  nats_url?: string;
}

export interface StackLock {
  readonly path: string;
  /** Adds to the record: servers and endpoints once known. */
  update(patch: Partial<Omit<StackRecord, 'pid' | 'started_at'>>): void;
  /** Removes the record, if it is still ours. */
  release(): void;
}

export const STACK_FILE = 'stack.json';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The command line of a process, or undefined when it cannot be read. */
export function commandLineOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    const ps = spawnSync('ps', ['-p', String(pid), '-o', 'command='], { encoding: 'utf8' });
    return ps.status === 0 ? ps.stdout.trim() : undefined;
  }
}

export function readStackRecord(root: string): StackRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(root, STACK_FILE), 'utf8')) as StackRecord;
  } catch {
    return undefined;
  }
}

/** The running stack of `root`, if one is running (its record's owner is alive). */
export function runningStack(root: string): StackRecord | undefined {
  const record = readStackRecord(root);
  return record && isAlive(record.pid) && isStack(record.pid) ? record : undefined;
}

/** Whether `pid` is a Node process (a stack), not some process that got a recycled pid. */
function isStack(pid: number): boolean {
  const cmd = commandLineOf(pid);
  return cmd === undefined || /node|tsx|syntropism/.test(cmd);
}

/** Ends the servers a dead stack left running; returns a line for each one ended. */
export function endStaleServers(record: StackRecord): string[] {
  const ended: string[] = [];
  for (const server of record.servers ?? []) {
    if (!isAlive(server.pid) || !commandLineOf(server.pid)?.includes(server.marker)) continue;
    try {
      process.kill(server.pid, 'SIGKILL');
      ended.push(`ended ${server.name} (pid ${server.pid}) left running by a stack that did not stop`);
    } catch {
      // gone meanwhile
    }
  }
  return ended;
}

/**
 * Takes the data folder `root` for this process, or throws a one-line PrerequisiteError naming
 * the stack that holds it. `log` hears about stale servers it ended.
 */
export function acquireStackLock(root: string, log: (line: string) => void): StackLock {
  mkdirSync(root, { recursive: true });
  const path = join(root, STACK_FILE);
  const record: StackRecord = { pid: process.pid, started_at: new Date().toISOString(), servers: [] };
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(path, JSON.stringify(record, null, 2), { flag: 'wx', mode: 0o600 });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
      takeOverIfStale(root, path, log);
    }
  }
  return {
    path,
    update(patch) {
      Object.assign(record, patch);
      writeFileSync(path, JSON.stringify(record, null, 2), { mode: 0o600 });
    },
    release() {
      if (readStackRecord(root)?.pid === process.pid) rmSync(path, { force: true });
    },
  };
}

function takeOverIfStale(root: string, path: string, log: (line: string) => void): void {
  const held = readStackRecord(root);
  if (held && isAlive(held.pid) && isStack(held.pid) && held.pid !== process.pid) {
    const where = relative(process.cwd(), root) || '.';
    const api = held.api_url ? ` at ${held.api_url}` : '';
    throw new PrerequisiteError(
      `another local stack (pid ${held.pid}${api}) is running on ${where}: use it, stop it (Ctrl-C there), or pass --in-memory`,
    );
  }
  if (held) for (const line of endStaleServers(held)) log(line);
  rmSync(path, { force: true });
}

const WATCHDOG = fileURLToPath(new URL('./watchdog.mjs', import.meta.url));

/**
 * A detached process that ends `servers` once this process is gone (see watchdog.mjs); it
 * exits by itself once they are all gone, and `stop()` ends it at once.
 */
export function startWatchdog(servers: readonly StackServer[]): { stop(): void } {
  const args = [WATCHDOG, String(process.pid), ...servers.map((s) => String(s.pid))];
  const child = spawn(process.execPath, args, { detached: true, stdio: 'ignore' });
  child.unref();
  return { stop: () => void child.kill() };
}
