/**
 * The README's market state example ("Market state on NATS", its `ts` block) as a user would run
 * it: type-checked strictly as a Node ESM script, then run with tsx, against a bucket the caller
 * names. Written under node_modules/.cache so that its imports resolve to the project's packages.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

const HEADING = '### Market state on NATS';
const BUCKET_IN_README = "open('syntropism-market')";

/** The `ts` block of the section. */
export function marketStateExample(readme: string): string {
  const start = readme.indexOf(`\n${HEADING}\n`);
  if (start < 0) throw new Error(`README has no section "${HEADING}"`);
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(start));
  if (!block?.[1]) throw new Error(`README section "${HEADING}" has no ts block`);
  return block[1];
}

/** Type errors of `file` as an ES module for Node, with the project's types. */
function typeErrors(file: string, root: string): string[] {
  const program = ts.createProgram([file], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
    typeRoots: [join(root, 'node_modules/@types')],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

/** Type-checks and runs the example against `bucket` on `natsUrl`; resolves with its output. */
export function runMarketStateExample(opts: { root: string; readme: string; bucket: string; natsUrl: string }) {
  const source = marketStateExample(opts.readme);
  if (!source.includes(BUCKET_IN_README)) throw new Error(`the example no longer reads ${BUCKET_IN_README}`);
  const dir = join(opts.root, 'node_modules/.cache/readme-examples');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `market-state-${process.pid}.mts`);
  writeFileSync(file, source.replace(BUCKET_IN_README, `open('${opts.bucket}')`));
  try {
    const errors = typeErrors(file, opts.root);
    const ran = spawnSync(process.execPath, ['--import', 'tsx', file], {
      cwd: opts.root,
      env: { ...process.env, NATS_URL: opts.natsUrl, NO_COLOR: '1' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { errors, status: ran.status, stdout: ran.stdout, stderr: ran.stderr };
  } finally {
    rmSync(file, { force: true });
  }
}
