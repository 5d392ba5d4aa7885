import fc from 'fast-check';
import { decodeTime, isValid } from 'ulidx';
import { describe, expect, it } from 'vitest';
import { parseApiKey } from './api-keys.ts';
import { derivedId, derivedUlid } from './ports.ts';

describe('derivedUlid', () => {
  it('is stable, spelled as a ULID, and an agent id wherever agent ids are checked', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { minLength: 1, maxLength: 4 }), (parts) => {
        const id = derivedUlid('a', ...parts);
        expect(derivedUlid('a', ...parts)).toBe(id);
        expect(id).toMatch(/^a_[0-7][0-9A-HJKMNP-TV-Z]{25}$/);
        const ulid = id.slice(2);
        expect(isValid(ulid)).toBe(true);
        expect(() => decodeTime(ulid)).not.toThrow();
        expect(parseApiKey(`syn.${id}.${'s'.repeat(43)}`)).toEqual({ agentId: id, secret: 's'.repeat(43) });
      }),
    );
  });

  it('differs with its parts and their split, like derivedId', () => {
    expect(derivedUlid('a', 'p', 'k1')).not.toBe(derivedUlid('a', 'p', 'k2'));
    expect(derivedUlid('a', 'ab', 'c')).not.toBe(derivedUlid('a', 'a', 'bc'));
    expect(derivedUlid('a', 'x')).not.toBe(derivedId('a', 'x'));
  });
});
