/**
 * SyntropismFunction with real bundling: the local esbuild (no Docker) must produce an ESM
 * bundle that Node 22 can load, in which a bundled CommonJS dependency can still `require` a
 * built-in, with a source map that points back at the TypeScript source.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSourceTree, type SourceTree } from '../test-fixtures/source-tree.ts';
import { SyntropismFunction } from './syntropism-function.ts';

const PROBE = `
import legacy from './legacy.cjs';

export const handler = async (event: { fail?: boolean }) => {
  if (event.fail) throw new Error('probe failure');
  return { platform: legacy.platform, url: import.meta.url };
};
`;
// A CommonJS dependency that requires a built-in: the case esbuild's ESM output breaks without
// a real \`require\` in scope.
const LEGACY = `module.exports = { platform: require('node:os').platform() };\n`;

describe('SyntropismFunction bundling', () => {
  let tree: SourceTree;
  let outdir: string;
  let bundleDir: string;

  beforeAll(() => {
    tree = createSourceTree({ 'probe.ts': PROBE, 'legacy.cjs': LEGACY }, { linkNodeModules: true });
    outdir = mkdtempSync(join(tmpdir(), 'syntropism-cdk-out-'));
    const app = new App({ outdir, context: { 'aws:cdk:enable-asset-metadata': true } });
    const stack = new Stack(app, 'Probe');
    new SyntropismFunction(stack, 'Probe', {
      entry: 'probe.ts',
      logRetention: RetentionDays.ONE_WEEK,
      sourceRoot: tree.root,
    });
    const fn = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function'))[0];
    bundleDir = join(outdir, fn?.Metadata?.['aws:asset:path'] ?? 'missing');
  }, 120_000);

  afterAll(() => {
    tree?.remove();
    if (outdir) rmSync(outdir, { recursive: true, force: true });
  });

  it('emits an ESM entry and its source map, with the SAM asset metadata pointing at them', () => {
    expect(existsSync(join(bundleDir, 'index.mjs'))).toBe(true);
    expect(existsSync(join(bundleDir, 'index.mjs.map'))).toBe(true);
    expect(readFileSync(join(bundleDir, 'index.mjs'), 'utf8')).toMatch(/^import \{ createRequire as /);
  });

  /** Invokes the bundle's handler in a plain Node process, the way the Lambda runtime loads it. */
  const invoke = (event: object) => {
    const url = pathToFileURL(join(bundleDir, 'index.mjs')).href;
    const script = `import(${JSON.stringify(url)}).then((m) => m.handler(${JSON.stringify(event)})).then((r) => console.log(JSON.stringify(r)), (e) => console.log(e.stack))`;
    // `--input-type=module`: a CommonJS `-e` script would leak a global `require` into the bundle.
    return execFileSync(process.execPath, ['--enable-source-maps', '--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
  };

  it('loads as an ES module and lets bundled CommonJS require built-ins', () => {
    const url = pathToFileURL(join(bundleDir, 'index.mjs')).href;
    expect(JSON.parse(invoke({}))).toEqual({ platform: process.platform, url });
  });

  it('maps stack traces back to the TypeScript source', () => {
    const stack = invoke({ fail: true });
    expect(stack).toContain('probe failure');
    expect(stack).toMatch(/functions\/probe\.ts:\d+/);
  });
});
