/**
 * Bytes of every function's Lambda bundle, built the way `SyntropismFunction`
 * (infra/constructs/syntropism-function.ts) has the CDK build it: esbuild, ESM for node22,
 * minified, names kept, the AWS SDK bundled, the createRequire banner. Source maps are left out
 * of the numbers: they are not loaded at cold start.
 *
 * Usage: npx tsx scripts/bundle-sizes.ts [--json]
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../', import.meta.url));

/** Same banner as the construct: bundled CommonJS dependencies may still `require` built-ins. */
const BANNER =
  "import { createRequire as __syntropismCreateRequire } from 'node:module'; const require = __syntropismCreateRequire(import.meta.url);";

/** Every Lambda entry: the `.ts` files under `functions/`, tests excluded. */
export function functionEntries(dir = join(root, 'functions')): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** Minified bundle size in bytes of one entry. */
export async function bundleSize(entry: string): Promise<number> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    mainFields: ['module', 'main'],
    banner: { js: BANNER },
    minify: true,
    keepNames: true,
    outfile: 'index.mjs',
    logLevel: 'warning',
  });
  const file = result.outputFiles.find((f) => f.path.endsWith('index.mjs'));
  if (!file) throw new Error(`esbuild produced no bundle for ${entry}`);
  return file.contents.byteLength;
}

async function main(): Promise<void> {
  const rows: Array<{ function: string; bytes: number }> = [];
  // One at a time: the machine is shared, and esbuild already uses every core per build.
  for (const entry of functionEntries()) {
    const name = relative(join(root, 'functions'), entry).replace(/\.ts$/, '');
    rows.push({ function: name, bytes: await bundleSize(entry) });
  }
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  const width = Math.max(...rows.map((r) => r.function.length));
  for (const r of rows) {
    const mb = (r.bytes / 1_000_000).toFixed(2);
    process.stdout.write(`${r.function.padEnd(width)}  ${String(r.bytes).padStart(9)} B  ${mb} MB\n`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
