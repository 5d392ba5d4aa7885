/**
 * The rate limit holds per caller across processes: two server processes (child processes,
 * each with its own limiter, client and view of the buckets, as two Lambda containers have)
 * share one DynamoDB Local table and hammer one caller at once. Together they let through at
 * most `burst + rate × elapsed` requests of it — where one bucket per process would let each
 * process have that many — while another caller, asking within its limit, is never refused.
 *
 * `elapsed` runs from just before the earliest allowed request to just after the latest, on
 * the clock both processes share (one host): the limiter's own readings lie inside that window,
 * so the bound needs no clock slack here. Between hosts it would need the clocks' skew δ
 * (a bucket can run ahead by at most rate × δ; NTP keeps δ in milliseconds on Lambda).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dynamoEndpoint, useTestTable } from '../harness/context.ts';
import type { CallerStats, WorkerConfig, WorkerReport } from './rate-limit-worker.ts';

const table = useTestTable('rate-processes');
const WORKER = fileURLToPath(new URL('./rate-limit-worker.ts', import.meta.url));

function runWorker(config: WorkerConfig): Promise<WorkerReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER, JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`worker exited with ${code}: ${err}`));
      else resolve(JSON.parse(out.trim()) as WorkerReport);
    });
  });
}

function merge(stats: (CallerStats | undefined)[]): CallerStats {
  const present = stats.filter((s): s is CallerStats => s !== undefined);
  const times = (pick: (s: CallerStats) => number | null) => present.map(pick).filter((t): t is number => t !== null);
  return {
    allowed: present.reduce((n, s) => n + s.allowed, 0),
    refused: present.reduce((n, s) => n + s.refused, 0),
    firstAllowedAt: Math.min(...times((s) => s.firstAllowedAt)),
    lastAllowedAt: Math.max(...times((s) => s.lastAllowedAt)),
  };
}

describe('rate limit across processes', () => {
  it('holds per caller when two processes share the table', async () => {
    const rate = 20;
    const burst = 10;
    const base = {
      endpoint: dynamoEndpoint(),
      tableName: table.tableName,
      ratePerSecond: rate,
      burst,
      // Both start together, once both have loaded (tsx compiles on start).
      startAt: Date.now() + 6_000,
      durationMs: 3_000,
      concurrency: 4,
      hot: 'a_HOT',
    };
    const reports = await Promise.all([runWorker({ ...base, cold: 'a_COLD', coldEveryMs: 100 }), runWorker(base)]);
    expect(reports.flatMap((r) => r.errors)).toEqual([]);

    const hot = merge(reports.map((r) => r.callers.a_HOT));
    const elapsed = ((hot.lastAllowedAt as number) - (hot.firstAllowedAt as number)) / 1000;
    const bound = burst + rate * elapsed;
    console.log(
      `hot caller: ${hot.allowed} allowed, ${hot.refused} refused in ${elapsed.toFixed(3)} s ` +
        `(bound ${bound.toFixed(1)}; per-process buckets would allow up to ${(2 * bound).toFixed(1)}); ` +
        `per process: ${reports.map((r) => r.callers.a_HOT?.allowed).join(' + ')}`,
    );
    expect(hot.allowed).toBeLessThanOrEqual(bound);
    // Both processes got some of the caller's tokens, and the limiter holds the limit rather
    // than merely refusing: at least the burst went through. (How close to the bound the
    // total comes depends on how fast a busy machine sends, so it is logged, not asserted.)
    for (const r of reports) expect(r.callers.a_HOT?.allowed).toBeGreaterThan(0);
    expect(hot.allowed).toBeGreaterThanOrEqual(burst);
    expect(hot.refused).toBeGreaterThan(0);

    // The other caller, at 10 requests per second against a limit of 20: never refused.
    const cold = merge([reports[0]?.callers.a_COLD]);
    expect(cold.allowed).toBeGreaterThan(0);
    expect(cold.refused).toBe(0);
  });
});
