/**
 * A NATS server with JetStream: `ensureNats` (the tests) uses the one at NATS_URL when it
 * answers, otherwise spawns one; `spawnNats` (the local stack when NATS_URL is unset) always
 * starts its own `nats-server -js` on a free port, its store in the given directory (kept) or
 * a temporary one (removed). `stop()` only ever stops a server this module started.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { freePort } from './ports.ts';
import { describeExit, type ExitInfo, findExecutable, manageProcess, PrerequisiteError, sleep } from './processes.ts';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

export interface EnsureNatsOptions {
  /** Server to try first (callers pass NATS_URL). Default nats://127.0.0.1:4222. */
  url?: string;
  /** How long a spawned server may take to accept connections. Default 15 s. */
  timeoutMs?: number;
}

export interface LocalNats {
  url: string;
  /** Whether `url` is a server this call spawned (and `stop()` will stop). */
  spawned: boolean;
  pid?: number;
  /** For a spawned server: settles if it ends, whether through `stop()` or not. */
  exited?: Promise<ExitInfo>;
  stop(): Promise<void>;
}

const NATS_MISSING =
  'nats-server is required unless NATS_URL names a running server: install it, e.g. `apt-get install nats-server`';

/** True when a NATS server accepts a connection at `url` within `timeoutMs`. */
export async function natsAnswers(url: string, timeoutMs = 1_000): Promise<boolean> {
  try {
    const nc = await connect({ servers: url, timeout: timeoutMs, reconnect: false, maxReconnectAttempts: 0 });
    await nc.close();
    return true;
  } catch {
    return false;
  }
}

export async function ensureNats(options: EnsureNatsOptions = {}): Promise<LocalNats> {
  const url = options.url ?? DEFAULT_NATS_URL;
  if (await natsAnswers(url)) {
    return { url, spawned: false, stop: async () => {} };
  }
  return spawnNats(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
}

/** The server at `url`, which must answer (NATS_URL was set: use it, never another). */
export async function connectNats(url: string): Promise<LocalNats> {
  if (!(await natsAnswers(url, 3_000))) {
    throw new PrerequisiteError(
      `nothing answers at NATS_URL=${url}: start that server, or unset NATS_URL to run one here`,
    );
  }
  return { url, spawned: false, stop: async () => {} };
}

export interface SpawnNatsOptions {
  /** The JetStream store, kept after stop; default a temporary directory, removed. */
  storeDir?: string;
  timeoutMs?: number;
}

export async function spawnNats(options: SpawnNatsOptions = {}): Promise<LocalNats> {
  const executable = findExecutable('nats-server', ['/usr/sbin', '/usr/local/sbin']);
  if (!executable) throw new PrerequisiteError(NATS_MISSING);

  const port = await freePort();
  const temporary = options.storeDir === undefined;
  const storeDir = options.storeDir ?? (await mkdtemp(join(tmpdir(), 'syntropism-nats-')));
  await mkdir(storeDir, { recursive: true });
  // Detached for the same reason as DynamoDB Local: Ctrl-C must not kill it before the
  // handlers that publish to it have stopped.
  const child = spawn(executable, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const managed = manageProcess('nats-server', child);
  const spawnedUrl = `nats://127.0.0.1:${port}`;
  const stop = async () => {
    await managed.stop();
    if (temporary) await rm(storeDir, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + (options.timeoutMs ?? 15_000);
    let delay = 25;
    for (;;) {
      if (managed.hasExited()) {
        const info = await managed.exited;
        throw new Error(`nats-server exited before it was ready (${describeExit(info)}):\n${managed.outputTail()}`);
      }
      if (await natsAnswers(spawnedUrl, 500)) break;
      if (Date.now() >= deadline) throw new Error(`nats-server did not answer in time:\n${managed.outputTail()}`);
      await sleep(delay);
      delay = Math.min(delay * 2, 500);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: spawnedUrl, spawned: true, pid: managed.pid, exited: managed.exited, stop };
}
