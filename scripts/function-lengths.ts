/**
 * Lists the longest functions of the tree (`npx tsx scripts/function-lengths.ts [dirs…]`): every
 * function, method, arrow function and accessor of the TypeScript sources under the given folders
 * (default: the runtime code), by the number of lines from its first to its last, longest first.
 * `shared/function-length.test.ts` holds the runtime folders to a bound with it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

export interface FunctionLength {
  file: string;
  name: string;
  line: number;
  lines: number;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [path] : [];
  });
}

function nameOf(node: ts.Node, file: ts.SourceFile): string {
  const named = node as { name?: ts.Node };
  if (named.name) return named.name.getText(file);
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent)) return parent.name.getText(file);
  if (parent && ts.isPropertyAssignment(parent)) return parent.name.getText(file);
  return '(anonymous)';
}

/** Every function-like node of one file with its length in lines. */
export function functionLengths(path: string, root = process.cwd()): FunctionLength[] {
  const file = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: FunctionLength[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && (node as { body?: ts.Node }).body) {
      const start = file.getLineAndCharacterOfPosition(node.getStart(file)).line;
      const end = file.getLineAndCharacterOfPosition(node.getEnd()).line;
      out.push({ file: relative(root, path), name: nameOf(node, file), line: start + 1, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return out;
}

export function longestFunctions(dirs: readonly string[], root = process.cwd()): FunctionLength[] {
  return dirs
    .flatMap((d) => sources(join(root, d)))
    .flatMap((p) => functionLengths(p, root))
    .sort((a, b) => b.lines - a.lines);
}

export const RUNTIME_DIRS = ['shared/adapters', 'shared/http', 'functions', 'local'] as const;

const entry = process.argv[1] ?? '';
if (entry.endsWith('function-lengths.ts')) {
  const dirs = process.argv.slice(2);
  for (const dir of dirs.length ? dirs : RUNTIME_DIRS) {
    const top = longestFunctions([dir]).slice(0, 3);
    console.log(`${dir}: ${top.map((f) => `${f.name} ${f.lines} (${f.file}:${f.line})`).join(', ')}`);
  }
}
