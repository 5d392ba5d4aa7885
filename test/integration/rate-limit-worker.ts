/**
 * One "server process" of `rate-limit-processes.test.ts`: a limiter of its own (its own client
 * and its own view of the buckets, as a Lambda container has) on the shared DynamoDB Local
 * table. From `startAt` for `durationMs` it hammers the hot caller with `concurrency` requests
 * in flight and, when given, asks for the cold caller every `coldEveryMs`. Prints one JSON line:
 * per caller, the decisions and the clock window of the allowed ones.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { dynamoClients } from '#shared/adapters/dynamodb/client';
import { TableRateLimiter } from '#shared/adapters/dynamodb/rate-limiter';
import { systemClock } from '#shared/core/ports';

export interface WorkerConfig {
  endpoint: string;
  tableName: string;
  ratePerSecond: number;
  burst: number;
  startAt: number;
  durationMs: number;
  concurrency: number;
  hot: string;
  cold?: string;
  coldEveryMs?: number;
}

export interface CallerStats {
  allowed: number;
  refused: number;
  /** Clock (ms) just before the earliest allowed request, and just after the latest. */
  firstAllowedAt: number | null;
  lastAllowedAt: number | null;
}

export interface WorkerReport {
  pid: number;
  callers: Record<string, CallerStats>;
  errors: string[];
}

async function main(config: WorkerConfig): Promise<WorkerReport> {
  const { doc, destroy } = dynamoClients({ endpoint: config.endpoint, region: 'us-east-1' });
  const errors: string[] = [];
  const limiter = new TableRateLimiter({
    table: { doc, tableName: config.tableName },
    clock: systemClock,
    ratePerSecond: config.ratePerSecond,
    burst: config.burst,
    onError: (e) => errors.push(String(e)),
  });
  const callers: Record<string, CallerStats> = {};
  const once = async (caller: string) => {
    const stats = callers[caller] ?? { allowed: 0, refused: 0, firstAllowedAt: null, lastAllowedAt: null };
    callers[caller] = stats;
    const before = Date.now();
    const decision = await limiter.take(caller);
    const after = Date.now();
    if (!decision.allowed) {
      stats.refused++;
      return false;
    }
    stats.allowed++;
    stats.firstAllowedAt = Math.min(stats.firstAllowedAt ?? before, before);
    stats.lastAllowedAt = Math.max(stats.lastAllowedAt ?? after, after);
    return true;
  };
  await sleep(Math.max(0, config.startAt - Date.now()));
  const end = config.startAt + config.durationMs;
  const hot = async () => {
    while (Date.now() < end) {
      // A refusal known locally resolves at once: pause a millisecond, so this stays thousands of
      // requests a second without starving the process's other requests of their I/O.
      if (!(await once(config.hot))) await sleep(1);
    }
  };
  const cold = async (caller: string, every: number) => {
    while (Date.now() < end) {
      await once(caller);
      await sleep(every);
    }
  };
  await Promise.all([
    ...Array.from({ length: config.concurrency }, hot),
    ...(config.cold ? [cold(config.cold, config.coldEveryMs ?? 100)] : []),
  ]);
  destroy();
  return { pid: process.pid, callers, errors };
}

// The configuration is the one argument (JSON), so the test decides everything per process.
const config = JSON.parse(process.argv[2] ?? 'null') as WorkerConfig | null;
if (!config) throw new Error('usage: rate-limit-worker.ts <config JSON>');
main(config).then(
  (report) => process.stdout.write(`${JSON.stringify(report)}\n`),
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
