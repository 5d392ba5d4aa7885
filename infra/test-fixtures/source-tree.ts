/**
 * Throwaway source trees for the infra tests: a temporary folder shaped like the repository
 * (`functions/…`, `package-lock.json`, optionally `node_modules/`) so constructs can be built
 * and bundled without depending on the real handlers, which have their own tests.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPOSITORY_ROOT } from '../constructs/syntropism-function.ts';

export interface SourceTree {
  readonly root: string;
  remove(): void;
}

/** A handler that does nothing: enough for NodejsFunction to accept the entry. */
export const STUB_HANDLER = 'export const handler = async () => ({});\n';

/**
 * @param files contents by path relative to `functions/`
 * @param options.linkNodeModules link the repository's `node_modules/`, which real bundling needs
 *   (the local esbuild is run from the source root)
 */
export function createSourceTree(
  files: Readonly<Record<string, string>>,
  options: { linkNodeModules?: boolean } = {},
): SourceTree {
  const root = mkdtempSync(join(tmpdir(), 'syntropism-infra-'));
  // Only the file name matters to the bundler's choice of package manager (npm).
  writeFileSync(join(root, 'package-lock.json'), '{"lockfileVersion": 3}\n');
  writeFileSync(join(root, 'package.json'), '{"type": "module"}\n');
  if (options.linkNodeModules) symlinkSync(join(REPOSITORY_ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
  for (const [path, content] of Object.entries(files)) {
    const file = join(root, 'functions', path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) };
}
