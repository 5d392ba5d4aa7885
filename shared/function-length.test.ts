/**
 * Keeps the runtime code readable: no function in the adapters, the HTTP layer, the functions or
 * the local stack grows past about 80 lines (the pure core's kernels are exempt: a tight loop
 * reads best whole). `npx tsx scripts/function-lengths.ts` lists the longest ones.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { longestFunctions, RUNTIME_DIRS } from '../scripts/function-lengths.ts';

const MAX_LINES = 80;

describe('function length', () => {
  it(`no runtime function is longer than ${MAX_LINES} lines`, () => {
    const long = longestFunctions(RUNTIME_DIRS, join(import.meta.dirname, '..')).filter((f) => f.lines > MAX_LINES);
    expect(long.map((f) => `${f.file}:${f.line} ${f.name} (${f.lines} lines)`)).toEqual([]);
  });
});
