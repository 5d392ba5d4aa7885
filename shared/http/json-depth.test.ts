import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tooDeep } from './json-depth.ts';

const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('tooDeep', () => {
  it('accepts nesting up to the bound and names where it is exceeded', () => {
    expect(tooDeep(nested(3), 3)).toBeUndefined();
    expect(tooDeep(nested(4), 3)).toBe('/0/0/0');
    expect(tooDeep('{"data":{"a":[1,{"b":[[]]}]}}', 4)).toBe('/data/a/1/b');
    expect(tooDeep('{"data":{"a":[1,{"b":[[]]}]}}', 5)).toBe('/data/a/1/b/0');
    expect(tooDeep('{"data":{"a":[1,{"b":[[]]}]}}', 6)).toBeUndefined();
  });

  it('ignores brackets inside strings, escaped quotes included', () => {
    expect(tooDeep('{"a":"[[[[[[\\"{{{{"}', 2)).toBeUndefined();
    expect(tooDeep('["]]]]", [[["x"]]]]', 3)).toBe('/1/0/0');
  });

  it('escapes keys as JSON pointer tokens', () => {
    expect(tooDeep('{"a/b":{"~":[[]]}}', 3)).toBe('/a~1b/~0/0');
  });

  it('scans the 9 KB body of 4 100 nested arrays without recursing', () => {
    const body = `{"type":"reflection","data":{"metrics":${nested(4100)}}}`;
    expect(tooDeep(body, 24)).toMatch(/^\/data\/metrics(\/0){22}$/);
  });

  it('agrees with the depth of any JSON value (property)', () => {
    const depth = (v: unknown): number =>
      v !== null && typeof v === 'object' ? 1 + Math.max(0, ...Object.values(v).map(depth)) : 0;
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 0, max: 10 }), (value, max) => {
        const text = JSON.stringify(value);
        expect(tooDeep(text, max) === undefined).toBe(depth(value) <= max);
      }),
    );
  });
});
