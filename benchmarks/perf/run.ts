/**
 * Benchmark runner (`npm run bench`): imports every `*.bench.ts` in this folder in turn, calls
 * its exported `run()`, prints one summary table and writes `benchmarks/results/summary.json`
 * and `benchmarks/results/latest.json` (every bench's figures, baselines and checks, and the
 * machine they ran on).
 *
 *   npm run bench                  every bench
 *   npm run bench -- clearing sim  only benches whose file name contains one of the words
 *   npm run bench -- --strict      exit 1 when a bench misses a bar (default: report only)
 *
 * A bench is a plain script: `run()` measures, prints its own table, writes its own JSON
 * (`writeResult`) and returns a `BenchResult`. It also runs alone: `tsx <file>.bench.ts`.
 * Speed is measured as a ratio against a baseline run in the same process, never as an
 * absolute time (the machines are shared and noisy), except where a bar is absolute.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** One bar a bench is held to. */
export interface BenchCheck {
  name: string;
  value: number;
  /** The bar, in words: `≤ 3`, `≥ 0.95`. */
  bar: string;
  ok: boolean;
}

export interface BenchResult {
  name: string;
  /** Headline numbers for the summary table. */
  summary: Record<string, number | string | boolean>;
  checks?: BenchCheck[];
  [detail: string]: unknown;
}

const HERE = dirname(fileURLToPath(import.meta.url));
export const RESULTS_DIR = resolve(HERE, '..', 'results');

/** Whether the module at `url` is the script node was started with. */
export function isMain(url: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && pathToFileURL(resolve(entry)).href === url;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Writes `benchmarks/results/<name>.json` with the run's environment; returns the path. */
export function writeResult(name: string, result: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${name}.json`);
  const doc = { name, at: new Date().toISOString(), env: environment(), result };
  writeFileSync(path, `${JSON.stringify(doc, null, 2)}\n`);
  return path;
}

export function check(name: string, value: number, op: '<=' | '>=' | '<', limit: number): BenchCheck {
  const ok = op === '<=' ? value <= limit : op === '<' ? value < limit : value >= limit;
  return { name, value, bar: `${op === '<=' ? '≤' : op === '<' ? '<' : '≥'} ${limit}`, ok };
}

function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memory_gb: Math.round(os.totalmem() / 2 ** 30),
    load_average: os.loadavg(),
  };
}

function environment() {
  return { node: process.version, platform: process.platform, arch: process.arch, pid: process.pid };
}

function cell(v: unknown): string {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v)) return v.toLocaleString('en-US');
    return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
  }
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return v === undefined || v === null ? '' : String(v);
}

/** Prints rows as an aligned text table (columns: the union of the rows' keys). */
export function printTable(rows: readonly Record<string, unknown>[], title?: string): void {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cells = rows.map((r) => columns.map((c) => cell(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => (row[i] as string).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i] as number)).join('  ');
  if (title) console.log(`\n${title}`);
  console.log(line(columns));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of cells) console.log(line(row));
}

interface SummaryRow {
  bench: string;
  ok: boolean;
  seconds: number;
  result?: BenchResult;
  error?: string;
}

/** Runs the benches matching `filters` (all when empty), in file-name order. */
export async function runAll(filters: readonly string[] = []): Promise<SummaryRow[]> {
  const files = readdirSync(HERE)
    .filter((f) => f.endsWith('.bench.ts'))
    .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
    .sort();
  const rows: SummaryRow[] = [];
  for (const file of files) {
    const bench = file.replace(/\.bench\.ts$/, '');
    console.log(`\n=== ${bench} ===`);
    const started = performance.now();
    try {
      const mod: { run?: () => unknown } = await import(pathToFileURL(join(HERE, file)).href);
      if (typeof mod.run !== 'function') throw new Error(`${file} does not export run()`);
      const result = (await mod.run()) as BenchResult;
      const ok = (result?.checks ?? []).every((c) => c.ok);
      rows.push({ bench, ok, seconds: (performance.now() - started) / 1000, result });
    } catch (err) {
      console.error(err);
      rows.push({ bench, ok: false, seconds: (performance.now() - started) / 1000, error: (err as Error).message });
    }
  }
  printTable(
    rows.map((r) => ({
      bench: r.bench,
      ok: r.error ? 'ERROR' : r.ok ? 'ok' : 'MISSED',
      seconds: r.seconds,
      headline: r.error
        ? r.error
        : Object.entries(r.result?.summary ?? {})
            .map(([k, v]) => `${k} ${cell(v)}`)
            .join(', '),
    })),
    'Summary',
  );
  const misses = rows.flatMap((r) => (r.result?.checks ?? []).filter((c) => !c.ok).map((c) => `${r.bench}: ${c.name}`));
  for (const m of misses) console.log(`missed bar: ${m}`);
  const path = writeResult('summary', rows);
  // The latest figures of every bench run, with their baselines, checks and the machine.
  const latest = writeResult('latest', {
    machine: machine(),
    benches: Object.fromEntries(rows.map((r) => [r.bench, r.result ?? { error: r.error }])),
  });
  console.log(`\nwrote ${path} and ${latest}`);
  return rows;
}

// No top-level await here: the benches import this module, and a dynamic import of a bench
// from a module still awaiting at top level would wait on itself forever.
if (isMain(import.meta.url)) {
  const args = process.argv.slice(2);
  const strict = args.includes('--strict');
  runAll(args.filter((a) => !a.startsWith('--'))).then(
    (rows) => {
      process.exitCode = rows.some((r) => r.error !== undefined || (strict && !r.ok)) ? 1 : 0;
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
