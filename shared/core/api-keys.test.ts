/**
 * Agent API keys: shown once, stored as a hash, compared in constant time. The parser is the
 * first thing an attacker's input meets in the authorizer, so it is fuzzed.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bearerToken, hashSecret, newApiKey, parseApiKey, SECRET_BYTES, sameKey, verifySecret } from './api-keys.ts';
import { cryptoRandom, seededRandom } from './ports.ts';

const AGENT = 'a_01JD0000000000000000000000';

describe('newApiKey', () => {
  it('is syn.<agent id>.<base64url secret of at least 128 bits> and parses back', () => {
    const { apiKey, keyHash } = newApiKey(AGENT, cryptoRandom);
    const match = /^syn\.([^.]+)\.([A-Za-z0-9_-]+)$/.exec(apiKey);
    expect(match?.[1]).toBe(AGENT);
    const secret = match?.[2] ?? '';
    expect(Buffer.from(secret, 'base64url').length).toBe(SECRET_BYTES);
    expect(SECRET_BYTES * 8).toBeGreaterThanOrEqual(128);
    expect(parseApiKey(apiKey)).toEqual({ agentId: AGENT, secret });
    expect(keyHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('stores only a hash: the key hash is not the secret and does not contain it', () => {
    const { apiKey, keyHash } = newApiKey(AGENT, cryptoRandom);
    const secret = parseApiKey(apiKey)?.secret ?? '';
    expect(keyHash).toBe(createHash('sha256').update(secret).digest('hex'));
    expect(keyHash).not.toContain(secret);
    expect(verifySecret(secret, keyHash)).toBe(true);
  });

  it('draws the secret from the random port, so two keys never share a secret', () => {
    const secrets = new Set(
      Array.from({ length: 200 }, () => parseApiKey(newApiKey(AGENT, cryptoRandom).apiKey)?.secret),
    );
    expect(secrets.size).toBe(200);
    // A seeded port reproduces the same key (deterministic simulation), a different seed does not.
    expect(newApiKey(AGENT, seededRandom(7))).toEqual(newApiKey(AGENT, seededRandom(7)));
    expect(newApiKey(AGENT, seededRandom(7)).apiKey).not.toBe(newApiKey(AGENT, seededRandom(8)).apiKey);
  });
});

describe('parseApiKey', () => {
  const secret = 'A'.repeat(43);

  it.each([
    '',
    'syn',
    `syn.${AGENT}`,
    `key.${AGENT}.${secret}`,
    `SYN.${AGENT}.${secret}`,
    `syn..${secret}`,
    `syn.${AGENT}.`,
    `syn.${AGENT}.${secret}.extra`,
    `syn.${AGENT}.${'A'.repeat(39)}`,
    `syn.${AGENT}.${'A'.repeat(65)}`,
    `syn.${'a'.repeat(65)}.${secret}`,
    `syn.${AGENT}.${'A'.repeat(42)}=`,
    `syn.${AGENT}.${'A'.repeat(42)}+`,
    `syn.${AGENT}.${'A'.repeat(42)}/`,
    `syn.a b.${secret}`,
    ` syn.${AGENT}.${secret}`,
    `syn.${AGENT}.${secret}\n`,
  ])('rejects %j', (key) => {
    expect(parseApiKey(key)).toBeUndefined();
  });

  it('accepts only keys it can rebuild exactly from their parts', () => {
    const keyish = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc
        .tuple(fc.constantFrom('syn', 'sym', ''), fc.string(), fc.string({ minLength: 30, maxLength: 70 }))
        .map((parts) => parts.join('.')),
    );
    fc.assert(
      fc.property(keyish, (key) => {
        const parsed = parseApiKey(key);
        if (parsed === undefined) return;
        expect(`syn.${parsed.agentId}.${parsed.secret}`).toBe(key);
        expect(parsed.agentId).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
        expect(parsed.secret).toMatch(/^[A-Za-z0-9_-]{40,64}$/);
      }),
      { numRuns: 5_000 },
    );
  });

  it('accepts every well-formed key', () => {
    const idChar = fc.constantFrom(...'abcXYZ019_-');
    const wellFormed = fc.record({
      agentId: fc.string({ unit: idChar, minLength: 1, maxLength: 64 }),
      secret: fc.string({ unit: idChar, minLength: 40, maxLength: 64 }),
    });
    fc.assert(
      fc.property(wellFormed, ({ agentId, secret }) => {
        expect(parseApiKey(`syn.${agentId}.${secret}`)).toEqual({ agentId, secret });
      }),
    );
  });
});

describe('verifySecret', () => {
  const secret = 'x'.repeat(43);
  const stored = hashSecret(secret);

  it('is true for the secret and false for anything else', () => {
    expect(verifySecret(secret, stored)).toBe(true);
    expect(verifySecret(`${secret}y`, stored)).toBe(false);
    expect(verifySecret('', stored)).toBe(false);
    fc.assert(
      fc.property(
        fc.string().filter((s) => s !== secret),
        (other) => {
          expect(verifySecret(other, stored)).toBe(false);
        },
      ),
    );
  });

  it('answers false, without throwing, for a stored hash that is malformed or truncated', () => {
    expect(verifySecret(secret, '')).toBe(false);
    expect(verifySecret(secret, stored.slice(0, 62))).toBe(false);
    expect(verifySecret(secret, `${stored}00`)).toBe(false);
    expect(verifySecret(secret, 'not hex at all')).toBe(false);
  });
});

describe('sameKey', () => {
  it('compares keys of any length', () => {
    expect(sameKey('operator-key', 'operator-key')).toBe(true);
    expect(sameKey('operator-key', 'operator-kez')).toBe(false);
    expect(sameKey('operator-key', 'operator-key-longer')).toBe(false);
    expect(sameKey('', 'operator-key')).toBe(false);
    expect(sameKey('', '')).toBe(true);
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        expect(sameKey(a, b)).toBe(a === b);
      }),
    );
  });
});

describe('bearerToken', () => {
  it.each<[string | undefined, string | undefined]>([
    ['Bearer abc.def', 'abc.def'],
    ['bearer abc', 'abc'],
    ['BEARER abc', 'abc'],
    ['Bearer   abc  ', 'abc'],
    ['Bearer\tabc', 'abc'],
    [undefined, undefined],
    ['', undefined],
    ['Bearer', undefined],
    ['Bearer ', undefined],
    ['Basic abc', undefined],
    ['abc', undefined],
    ['Bearer abc def', undefined],
    [' Bearer abc', undefined],
    ['Bearerabc', undefined],
  ])('%j → %j', (header, token) => {
    expect(bearerToken(header)).toBe(token);
  });

  it('returns a token without whitespace, or nothing', () => {
    fc.assert(
      fc.property(fc.string(), (header) => {
        const token = bearerToken(header);
        if (token !== undefined) {
          expect(token).toMatch(/^\S+$/);
          expect(header.toLowerCase().startsWith('bearer')).toBe(true);
        }
      }),
    );
  });
});
