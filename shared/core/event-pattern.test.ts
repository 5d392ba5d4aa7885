import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ALL_EVENTS_PATTERN, ARCHIVE, RULES } from '../rules.ts';
import { compilePattern, matchesPattern, UnsupportedPatternError, valuesAt } from './event-pattern.ts';

/** A bus event as the Pipe puts it on the bus: one per outbox item. */
const busEvent = (component: string, types: string[]) => ({
  version: '0',
  id: 'b1',
  source: `syntropism.${component}`,
  'detail-type': types[0],
  time: '2026-01-01T00:00:00Z',
  region: 'us-east-1',
  resources: [],
  detail: { outbox_id: 'ev_1', events: types.map((type, i) => ({ event_id: `ev_${i}`, type, sequence: i + 1 })) },
});

describe('event patterns: the rules of shared/rules.ts', () => {
  const targetsOf = (event: unknown) => RULES.filter((r) => matchesPattern(r.pattern, event)).map((r) => r.target);

  it('sends every system event to the NATS bridge and only auction_cleared to the price update', () => {
    expect(targetsOf(busEvent('economy', ['credits_transferred']))).not.toContain('price-update');
    expect(targetsOf(busEvent('economy', ['credits_transferred']))).toContain('nats-bridge');
    expect(targetsOf(busEvent('scheduler', ['auction_cleared']))).toEqual(
      expect.arrayContaining(['nats-bridge', 'price-update']),
    );
  });

  it('matches a type anywhere in the ordered list of a transaction (arrays are matched element-wise)', () => {
    const clearing = busEvent('scheduler', ['credits_transferred', 'resources_allocated', 'auction_cleared']);
    expect(targetsOf(clearing)).toContain('price-update');
  });

  it('ignores events of other sources', () => {
    expect(targetsOf({ ...busEvent('economy', ['x']), source: 'aws.events' })).toEqual([]);
    expect(matchesPattern(ARCHIVE.pattern, { source: 'other.syntropism' })).toBe(false);
    expect(matchesPattern(ALL_EVENTS_PATTERN, { source: 'syntropism.market' })).toBe(true);
  });
});

describe('event patterns: semantics', () => {
  it('exact values: strings, numbers, booleans and null, OR within a list, AND across fields', () => {
    const p = { a: ['x', 'y'], b: [1], c: [true], d: [null] };
    expect(matchesPattern(p, { a: 'y', b: 1, c: true, d: null })).toBe(true);
    expect(matchesPattern(p, { a: 'z', b: 1, c: true, d: null })).toBe(false);
    expect(matchesPattern(p, { a: 'x', b: '1', c: true, d: null })).toBe(false);
    expect(matchesPattern(p, { a: 'x', b: 1, c: true })).toBe(false);
  });

  it('ignores fields the pattern does not name and requires the ones it names', () => {
    expect(matchesPattern({ a: ['x'] }, { a: 'x', extra: 1 })).toBe(true);
    expect(matchesPattern({ a: ['x'] }, { b: 'x' })).toBe(false);
    expect(matchesPattern({ a: { b: ['x'] } }, { a: 'x' })).toBe(false);
    expect(matchesPattern({ a: ['x'] }, { a: { b: 'x' } })).toBe(false);
  });

  it('prefix, suffix and equals-ignore-case', () => {
    expect(matchesPattern({ s: [{ prefix: 'syntropism.' }] }, { s: 'syntropism.market' })).toBe(true);
    expect(matchesPattern({ s: [{ prefix: 'syntropism.' }] }, { s: 'syntropism' })).toBe(false);
    expect(matchesPattern({ s: [{ prefix: 'syntropism.' }] }, { s: 3 })).toBe(false);
    expect(matchesPattern({ s: [{ suffix: '.png' }] }, { s: 'a.png' })).toBe(true);
    expect(matchesPattern({ s: [{ 'equals-ignore-case': 'AbC' }] }, { s: 'aBc' })).toBe(true);
    expect(matchesPattern({ s: [{ prefix: { 'equals-ignore-case': 'SYN' } }] }, { s: 'synx' })).toBe(true);
  });

  it('nested objects and arrays of objects (flattened, like EventBridge)', () => {
    const p = { detail: { events: { type: ['auction_cleared'] } } };
    expect(matchesPattern(p, { detail: { events: [{ type: 'a' }, { type: 'auction_cleared' }] } })).toBe(true);
    expect(matchesPattern(p, { detail: { events: [{ type: 'a' }] } })).toBe(false);
    expect(matchesPattern(p, { detail: { events: [] } })).toBe(false);
    expect(matchesPattern({ tags: ['b'] }, { tags: ['a', 'b'] })).toBe(true);
    expect(matchesPattern({ tags: ['c'] }, { tags: [['a'], ['c']] })).toBe(true);
    expect(valuesAt({ a: [{ b: 1 }, { b: [2, 3] }, { c: 4 }] }, ['a', 'b'])).toEqual([1, 2, 3]);
  });

  it('anything-but: a value, a list, a prefix; never matches an absent field', () => {
    expect(matchesPattern({ t: [{ 'anything-but': 'x' }] }, { t: 'y' })).toBe(true);
    expect(matchesPattern({ t: [{ 'anything-but': 'x' }] }, { t: 'x' })).toBe(false);
    expect(matchesPattern({ t: [{ 'anything-but': 'x' }] }, {})).toBe(false);
    expect(matchesPattern({ t: [{ 'anything-but': ['x', 'y'] }] }, { t: 'y' })).toBe(false);
    expect(matchesPattern({ t: [{ 'anything-but': ['x', 'y'] }] }, { t: 'z' })).toBe(true);
    expect(matchesPattern({ t: [{ 'anything-but': { prefix: 'sys' } }] }, { t: 'system' })).toBe(false);
    expect(matchesPattern({ t: [{ 'anything-but': { prefix: 'sys' } }] }, { t: 'agent' })).toBe(true);
  });

  it('exists and numeric', () => {
    expect(matchesPattern({ a: [{ exists: true }] }, { a: 0 })).toBe(true);
    expect(matchesPattern({ a: [{ exists: true }] }, {})).toBe(false);
    expect(matchesPattern({ a: [{ exists: false }] }, {})).toBe(true);
    expect(matchesPattern({ a: [{ exists: false }] }, { a: null })).toBe(false);
    expect(matchesPattern({ n: [{ numeric: ['>', 0, '<=', 5] }] }, { n: 5 })).toBe(true);
    expect(matchesPattern({ n: [{ numeric: ['>', 0, '<=', 5] }] }, { n: 0 })).toBe(false);
    expect(matchesPattern({ n: [{ numeric: ['=', 3] }] }, { n: '3' })).toBe(false);
  });

  it('refuses what it does not implement rather than routing differently from AWS', () => {
    const bad: Record<string, unknown>[] = [
      { a: 'x' },
      { a: [] },
      { a: {} },
      { a: [{ wildcard: '*x' }] },
      { $or: [{ a: ['x'] }] },
      { a: [{ prefix: 'x', suffix: 'y' }] },
      { a: [{ exists: true }, 'x'] },
      { a: [{ numeric: ['~', 1] }] },
      { a: [{ 'anything-but': [] }] },
    ];
    for (const p of bad) expect(() => compilePattern(p), JSON.stringify(p)).toThrow(UnsupportedPatternError);
  });

  it('property: a pattern built from an event matches it; changing the value breaks the match', () => {
    const scalar = fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean());
    fc.assert(
      fc.property(fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9_]{0,5}$/), scalar, { minKeys: 1 }), (event) => {
        const pattern = Object.fromEntries(Object.entries(event).map(([k, v]) => [k, [v]]));
        expect(matchesPattern(pattern, event)).toBe(true);
        const [key] = Object.keys(event);
        if (key === undefined) return;
        expect(matchesPattern(pattern, { ...event, [key]: { changed: true } })).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
