/**
 * `checkedBundle`, the check every route taking a bundle goes through (placing a bid, a
 * quote): an invalid bundle is a 400 `invalid_bundle` with one field error per problem.
 */
import { describe, expect, it } from 'vitest';
import { DomainError } from '../core/errors.ts';
import { ECONOMY_DEFAULTS } from '../core/market-config.ts';
import { checkedBundle } from './market-input.ts';

function refusal(bundle: Record<string, number | undefined>, duration = 1): DomainError {
  try {
    checkedBundle(bundle, duration, ECONOMY_DEFAULTS);
  } catch (err) {
    if (err instanceof DomainError) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe('checkedBundle', () => {
  it.each([
    [{ cpu: 1e-300 }, '/bundle/cpu', '0.001'],
    [{ cpu: 5e-324 }, '/bundle/cpu', '0.001'],
    [{ memory: 1e-131 }, '/bundle/memory', '0.001'],
    [{ attention: 0.00001 }, '/bundle/attention', '0.0001'],
  ])('refuses %j below its quantum as a 400 naming the field and the quantum', (bundle, path, quantum) => {
    const err = refusal(bundle);
    expect(err).toMatchObject({ code: 'invalid_bundle', status: 400 });
    expect(err.errors).toEqual([{ path, message: expect.stringContaining(quantum) }]);
  });

  it('refuses absurd magnitudes', () => {
    expect(refusal({ cpu: 1e308 }).errors?.map((e) => e.path)).toEqual(['/bundle/cpu']);
    expect(refusal({ tokens: 1e308 }).errors?.map((e) => e.path)).toEqual(['/bundle/tokens']);
  });

  it('returns only the resources asked for', () => {
    expect(checkedBundle({ cpu: 0.001, memory: undefined, tokens: 12_500 }, 9, ECONOMY_DEFAULTS)).toEqual({
      cpu: 0.001,
      tokens: 12_500,
    });
  });
});
