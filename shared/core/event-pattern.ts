/**
 * A matcher for EventBridge event patterns: the subset the rules in `shared/rules.ts` use, so
 * the local bus routes exactly as the AWS bus does.
 *
 * EventBridge semantics, as documented ("Event patterns" and "Content filtering"):
 * - a pattern is an object; every field it names must match (AND); fields it does not name
 *   are ignored;
 * - a leaf is an array of alternatives (OR): literal values, or one-key objects such as
 *   `{prefix}`, `{suffix}`, `{anything-but}`, `{exists}`, `{numeric}`, `{equals-ignore-case}`;
 * - arrays in the event are flattened: a path through an array of objects yields the values
 *   of every element, and a leaf matches when any of those values matches (so
 *   `detail.events.type: ['auction_cleared']` matches when any event of the list has that
 *   type). Two fields of one pattern may be satisfied by different elements, as on AWS.
 *
 * Anything outside the subset (`wildcard`, `$or`, `cidr`, …) throws instead of silently
 * routing differently from AWS. Pure: no I/O, no SDK.
 */

export class UnsupportedPatternError extends Error {
  override readonly name = 'UnsupportedPatternError';
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Condition = (value: Json | undefined) => boolean;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isScalar = (v: unknown): v is string | number | boolean | null =>
  v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/** A compiled pattern: validated once, then applied to many events. */
export interface CompiledPattern {
  matches(event: unknown): boolean;
}

/** Validates `pattern` and returns a reusable matcher; throws UnsupportedPatternError. */
export function compilePattern(pattern: Readonly<Record<string, unknown>>): CompiledPattern {
  const leaves = compileObject(pattern, []);
  return {
    matches: (event) => leaves.every((leaf) => leaf.test(valuesAt(event, leaf.path))),
  };
}

/** One-shot form of `compilePattern(pattern).matches(event)`. */
export function matchesPattern(pattern: Readonly<Record<string, unknown>>, event: unknown): boolean {
  return compilePattern(pattern).matches(event);
}

interface Leaf {
  path: string[];
  /** Receives every value found at `path` (an empty list when the field is absent). */
  test(values: Json[]): boolean;
}

function compileObject(pattern: Readonly<Record<string, unknown>>, path: string[]): Leaf[] {
  if (!isObject(pattern)) throw new UnsupportedPatternError(`pattern at ${where(path)} must be an object`);
  const entries = Object.entries(pattern);
  if (entries.length === 0 && path.length > 0) {
    throw new UnsupportedPatternError(`empty object at ${where(path)}`);
  }
  return entries.flatMap(([key, value]): Leaf[] => {
    if (key.startsWith('$')) throw new UnsupportedPatternError(`operator ${key} is not supported (${where(path)})`);
    const here = [...path, key];
    if (Array.isArray(value)) return [compileLeaf(value, here)];
    if (isObject(value)) return compileObject(value, here);
    throw new UnsupportedPatternError(`value at ${where(here)} must be an array or an object`);
  });
}

function compileLeaf(alternatives: unknown[], path: string[]): Leaf {
  if (alternatives.length === 0) throw new UnsupportedPatternError(`empty list at ${where(path)}`);
  let existence: boolean | undefined;
  const conditions: Condition[] = [];
  for (const alt of alternatives) {
    if (isScalar(alt)) {
      conditions.push((v) => v === alt);
      continue;
    }
    if (!isObject(alt)) throw new UnsupportedPatternError(`unsupported matcher at ${where(path)}`);
    const keys = Object.keys(alt);
    const [op] = keys;
    if (keys.length !== 1 || op === undefined) {
      throw new UnsupportedPatternError(`a matcher has exactly one operator (${where(path)})`);
    }
    const arg = alt[op];
    switch (op) {
      case 'exists':
        if (typeof arg !== 'boolean') throw new UnsupportedPatternError(`exists takes a boolean (${where(path)})`);
        // `exists` is about the field, not one of its values: it cannot be OR-ed with values.
        if (alternatives.length !== 1) {
          throw new UnsupportedPatternError(`exists must be the only matcher of ${where(path)}`);
        }
        existence = arg;
        break;
      case 'prefix':
        conditions.push(stringMatcher(arg, path, 'prefix', (v, s) => v.startsWith(s)));
        break;
      case 'suffix':
        conditions.push(stringMatcher(arg, path, 'suffix', (v, s) => v.endsWith(s)));
        break;
      case 'equals-ignore-case': {
        if (typeof arg !== 'string') throw new UnsupportedPatternError(`${op} takes a string (${where(path)})`);
        const lower = arg.toLowerCase();
        conditions.push((v) => typeof v === 'string' && v.toLowerCase() === lower);
        break;
      }
      case 'anything-but':
        conditions.push(anythingBut(arg, path));
        break;
      case 'numeric':
        conditions.push(numeric(arg, path));
        break;
      default:
        throw new UnsupportedPatternError(`operator ${op} is not supported (${where(path)})`);
    }
  }
  if (existence !== undefined) {
    const want = existence;
    // A field holding only an empty array does not "exist" for EventBridge either.
    return { path, test: (values) => values.length > 0 === want };
  }
  return { path, test: (values) => values.some((v) => conditions.some((c) => c(v))) };
}

function stringMatcher(
  arg: unknown,
  path: string[],
  op: 'prefix' | 'suffix',
  test: (value: string, operand: string) => boolean,
): Condition {
  // `{prefix: {equals-ignore-case: "x"}}` is part of the same family on AWS.
  if (isObject(arg) && typeof arg['equals-ignore-case'] === 'string' && Object.keys(arg).length === 1) {
    const operand = arg['equals-ignore-case'].toLowerCase();
    return (v) => typeof v === 'string' && test(v.toLowerCase(), operand);
  }
  if (typeof arg !== 'string') throw new UnsupportedPatternError(`${op} takes a string (${where(path)})`);
  return (v) => typeof v === 'string' && test(v, arg);
}

function anythingBut(arg: unknown, path: string[]): Condition {
  if (isScalar(arg)) return (v) => v !== undefined && !isObjectOrArray(v) && v !== arg;
  if (Array.isArray(arg) && arg.length > 0 && arg.every(isScalar)) {
    const excluded = new Set<unknown>(arg);
    return (v) => v !== undefined && !isObjectOrArray(v) && !excluded.has(v);
  }
  if (isObject(arg) && Object.keys(arg).length === 1 && typeof arg.prefix === 'string') {
    const prefix = arg.prefix;
    return (v) => typeof v === 'string' && !v.startsWith(prefix);
  }
  if (isObject(arg) && Object.keys(arg).length === 1 && typeof arg.suffix === 'string') {
    const suffix = arg.suffix;
    return (v) => typeof v === 'string' && !v.endsWith(suffix);
  }
  throw new UnsupportedPatternError(`unsupported anything-but at ${where(path)}`);
}

const NUMERIC_OPS: Record<string, (a: number, b: number) => boolean> = {
  '=': (a, b) => a === b,
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
};

function numeric(arg: unknown, path: string[]): Condition {
  if (!Array.isArray(arg) || arg.length === 0 || arg.length % 2 !== 0) {
    throw new UnsupportedPatternError(`numeric takes operator/number pairs (${where(path)})`);
  }
  const tests: Array<(v: number) => boolean> = [];
  for (let i = 0; i < arg.length; i += 2) {
    const op = arg[i];
    const operand = arg[i + 1];
    const compare = typeof op === 'string' ? NUMERIC_OPS[op] : undefined;
    if (!compare || typeof operand !== 'number' || !Number.isFinite(operand)) {
      throw new UnsupportedPatternError(`numeric takes operator/number pairs (${where(path)})`);
    }
    tests.push((v) => compare(v, operand));
  }
  return (v) => typeof v === 'number' && tests.every((t) => t(v));
}

const isObjectOrArray = (v: Json): boolean => typeof v === 'object' && v !== null;

/** Every value at `path`, flattening arrays on the way and at the end, as EventBridge does. */
export function valuesAt(root: unknown, path: readonly string[]): Json[] {
  let current: unknown[] = [root];
  for (const key of path) {
    const next: unknown[] = [];
    for (const node of current.flatMap(flatten)) {
      if (isObject(node) && Object.hasOwn(node, key)) next.push(node[key]);
    }
    current = next;
  }
  return current.flatMap(flatten) as Json[];
}

function flatten(value: unknown): unknown[] {
  return Array.isArray(value) ? value.flatMap(flatten) : [value];
}

const where = (path: string[]) => (path.length ? path.join('.') : '(root)');
