import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inexactNumber, numberTokens } from './json-numbers.ts';

describe('numbers a double cannot hold', () => {
  it('finds number tokens outside strings only', () => {
    expect(numberTokens('{"a":1.5,"b":"2.25 and -3","c":[-4e2,0],"d":"\\"5"}')).toEqual(['1.5', '-4e2', '0']);
  });

  it('accepts what JSON.stringify writes, for any finite double', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        expect(inexactNumber(JSON.stringify({ amount: x }))).toBeUndefined();
      }),
    );
  });

  it('accepts every amount of at most 6 decimals up to a billion credits, however written', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e15 }), fc.boolean(), (micros, padded) => {
        const whole = Math.floor(micros / 1e6);
        const frac = String(micros % 1e6).padStart(6, '0');
        const text = padded ? `${whole}.${frac}` : `${whole}.${frac.replace(/0+$/, '') || '0'}`;
        expect(inexactNumber(`{"amount":${text}}`)).toBeUndefined();
      }),
    );
  });

  it.each([
    ['1.0000000000000001', '1.0000000000000001'],
    ['12345678901234567890', '12345678901234567890'],
    ['0.30000000000000000001', '0.30000000000000000001'],
    ['1e400', '1e400'],
    ['-1e400', '-1e400'],
  ])('refuses %s', (token, found) => {
    expect(inexactNumber(`{"x":[1,${token}]}`)).toBe(found);
  });

  it('treats equal values written differently alike', () => {
    for (const token of ['1.50', '15e-1', '0.15E1', '-0', '100', '1e2', '1.0e+2']) {
      expect(inexactNumber(`[${token}]`), token).toBeUndefined();
    }
  });
});
