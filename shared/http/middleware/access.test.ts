import { describe, expect, it } from 'vitest';
import { DomainError } from '../../core/errors.ts';
import { accessMiddleware, admit } from './access.ts';
import { fixtureRequest } from './middleware.fixtures.ts';
import { stateOf } from './state.ts';

const AGENT = { role: 'agent', agent_id: 'a_01JD0000000000000000000001' } as const;

const status = (fn: () => unknown) => {
  try {
    fn();
    return 'admitted';
  } catch (err) {
    return err instanceof DomainError ? err.status : 'other';
  }
};

describe('admit', () => {
  it.each([
    ['public', undefined, 'admitted'],
    ['authenticated', undefined, 401],
    ['authenticated', { role: 'anonymous' }, 401],
    ['authenticated', { role: 'agent' }, 401],
    ['authenticated', AGENT, 'admitted'],
    ['authenticated', { role: 'operator' }, 'admitted'],
    ['agent', { role: 'operator' }, 403],
    ['agent', AGENT, 'admitted'],
    ['operator', AGENT, 403],
    ['operator', { role: 'operator' }, 'admitted'],
  ] as const)('%s route, caller %j → %s', (access, ctx, expected) => {
    expect(status(() => admit(access, ctx))).toBe(expected);
  });

  it('gives public routes an anonymous caller whatever the context says', () => {
    expect(admit('public', { role: 'operator' })).toEqual({ role: 'anonymous' });
  });
});

describe('accessMiddleware', () => {
  it('records the admitted caller in the request state', async () => {
    const request = fixtureRequest('POST /v1/transfers', { caller: AGENT });
    await accessMiddleware().before?.(request);
    expect(stateOf(request).caller).toEqual(AGENT);
  });

  it('refuses before anything else is recorded', async () => {
    const request = fixtureRequest('POST /v1/agents', { caller: AGENT });
    await expect(async () => accessMiddleware().before?.(request)).rejects.toMatchObject({ status: 403 });
    expect(stateOf(request).caller).toBeUndefined();
  });
});
