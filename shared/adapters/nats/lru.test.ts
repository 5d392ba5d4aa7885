import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LruSet } from './lru.ts';

describe('LruSet', () => {
  it('remembers up to its capacity and evicts the least recently used', () => {
    const s = new LruSet(2);
    s.add('a');
    s.add('b');
    expect(s.has('a')).toBe(true); // a is now the most recent
    s.add('c');
    expect(s.has('b')).toBe(false);
    expect(s.has('a')).toBe(true);
    expect(s.has('c')).toBe(true);
    expect(s.size).toBe(2);
  });

  it('refuses a useless capacity', () => {
    expect(() => new LruSet(0)).toThrow();
  });

  it('property: never exceeds its capacity and always holds the last `capacity` distinct keys', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.integer({ min: 0, max: 20 }).map(String)),
        (cap, keys) => {
          const s = new LruSet(cap);
          for (const k of keys) s.add(k);
          expect(s.size).toBeLessThanOrEqual(cap);
          const recent = [...new Set([...keys].reverse())].slice(0, cap);
          for (const k of recent) expect(s.has(k)).toBe(true);
        },
      ),
    );
  });
});
