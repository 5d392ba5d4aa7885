/**
 * Child processes of the local stack (DynamoDB Local, nats-server): keeps a tail of their
 * output for error messages, stops them politely then firmly, and makes sure none outlives
 * this process even when it exits abruptly.
 */
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** A missing or unusable prerequisite. Its message is one line telling the user what to do. */
export class PrerequisiteError extends Error {
  override readonly name = 'PrerequisiteError';
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be spawned at all. */
  error?: Error;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number | undefined;
  /** Settles when the process has exited (or failed to spawn); never rejects. */
  readonly exited: Promise<ExitInfo>;
  hasExited(): boolean;
  /** The last lines the process wrote to stdout and stderr. */
  outputTail(maxLines?: number): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

const TAIL_CHARS = 16_384;

export function manageProcess(name: string, child: ChildProcess): ManagedProcess {
  let tail = '';
  const append = (chunk: Buffer | string) => {
    tail = (tail + chunk.toString()).slice(-TAIL_CHARS);
  };
  // The pipes must be drained for the whole life of the process: a full pipe blocks its writes.
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);

  let exitInfo: ExitInfo | undefined;
  // Synchronous and unconditional, because `exit` listeners cannot wait: if this process dies
  // (uncaught error, process.exit, a forced second Ctrl-C) its children must not linger.
  const killOnExit = () => {
    if (exitInfo === undefined) child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);

  const exited = new Promise<ExitInfo>((resolve) => {
    const settle = (info: ExitInfo) => {
      if (exitInfo !== undefined) return;
      exitInfo = info;
      process.off('exit', killOnExit);
      resolve(info);
    };
    child.on('error', (error) => {
      // `error` without a pid means the spawn itself failed; no `exit` will follow.
      if (child.pid === undefined) settle({ code: null, signal: null, error });
    });
    child.once('exit', (code, signal) => settle({ code, signal }));
  });

  return {
    name,
    pid: child.pid,
    exited,
    hasExited: () => exitInfo !== undefined,
    outputTail(maxLines = 20) {
      return tail.trimEnd().split('\n').slice(-maxLines).join('\n');
    },
    async stop(graceMs = 5_000) {
      if (exitInfo !== undefined) return;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), graceMs);
      });
      const outcome = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Describes how a process ended, for error messages. */
export function describeExit(info: ExitInfo): string {
  if (info.error) return info.error.message;
  return info.signal ? `killed by ${info.signal}` : `exit code ${info.code}`;
}

/**
 * The absolute path of `command` on PATH, or in `extraDirs` (Debian installs some servers,
 * such as nats-server, in sbin directories that are not on a regular user's PATH).
 */
export function findExecutable(command: string, extraDirs: readonly string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/** Sleeps `ms`; the poll loops below use it for their backoff. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
