/**
 * The authorization matrix: every route × {no key, bad key, agent A on B's resource, agent key
 * on operator routes, operator key} → the expected status, through the real authorizer.
 */
import { describe, expect, it } from 'vitest';
import { ROUTES, routeKey } from '#shared/http/routes';
import { useApi } from '../harness/api.ts';

const api = useApi('authz');

type Who = 'none' | 'bad' | 'forged' | 'self' | 'other' | 'operator';

/** Expected status per route and caller; 2xx means the call got through authorization. */
const MATRIX: Record<string, Record<Who, number>> = {
  'GET /v1/health': { none: 200, bad: 200, forged: 200, self: 200, other: 200, operator: 200 },
  'GET /v1/openapi.json': { none: 200, bad: 200, forged: 200, self: 200, other: 200, operator: 200 },
  'POST /v1/agents': { none: 401, bad: 401, forged: 401, self: 403, other: 403, operator: 201 },
  'GET /v1/agents': { none: 401, bad: 401, forged: 401, self: 403, other: 403, operator: 200 },
  'GET /v1/agents/{id}': { none: 401, bad: 401, forged: 401, self: 200, other: 403, operator: 200 },
  'GET /v1/agents/{id}/balance': { none: 401, bad: 401, forged: 401, self: 200, other: 403, operator: 200 },
  'GET /v1/agents/{id}/history': { none: 401, bad: 401, forged: 401, self: 200, other: 403, operator: 200 },
  'PUT /v1/agents/{id}/state': { none: 401, bad: 401, forged: 401, self: 200, other: 403, operator: 403 },
  'POST /v1/transfers': { none: 401, bad: 401, forged: 401, self: 201, other: 201, operator: 403 },
};

describe('authorization matrix', () => {
  it('covers every route of the route table', () => {
    expect(Object.keys(MATRIX).sort()).toEqual(
      ROUTES.map(routeKey)
        .filter((k) => k in MATRIX)
        .sort(),
    );
    for (const r of ROUTES) {
      if (['events', 'dead-letters'].some((p) => r.path.includes(p))) continue;
      expect(MATRIX, `missing ${routeKey(r)}`).toHaveProperty([routeKey(r)]);
    }
  });

  it('gives every caller exactly the expected status on every route', async () => {
    const target = await api.agent('target', 50);
    const other = await api.agent('other', 50);
    const forged = `syn.${target.id}.${'A'.repeat(43)}`;
    const keyOf: Record<Who, string | null> = {
      none: null,
      bad: 'not-a-key',
      forged,
      self: target.key,
      other: other.key,
      operator: api.operatorKey,
    };
    const failures: string[] = [];
    let n = 0;
    for (const [route, expected] of Object.entries(MATRIX)) {
      const [method = 'GET', template = ''] = route.split(' ');
      const path = template.replace('{id}', target.id);
      for (const who of Object.keys(expected) as Who[]) {
        n += 1;
        const body =
          route === 'POST /v1/agents'
            ? { name: `m${n}`, initial_balance: 1 }
            : route === 'PUT /v1/agents/{id}/state'
              ? { state: 'active' }
              : route === 'POST /v1/transfers'
                ? { to_agent_id: who === 'self' ? other.id : target.id, amount: 0.01 }
                : undefined;
        const res = await api.call(method, path, {
          key: keyOf[who],
          ...(body !== undefined && { body }),
          ...(method !== 'GET' && { idempotencyKey: `m-${n}` }),
        });
        if (res.status !== expected[who])
          failures.push(`${route} as ${who}: ${res.status} (want ${expected[who]}) ${res.text}`);
        if (res.status >= 400) expect(res.headers.get('content-type')).toBe('application/problem+json');
      }
    }
    expect(failures).toEqual([]);
    await api.expectAuditClean();
  });

  it('never puts keys or hashes in responses', async () => {
    const a = await api.agent('secretive', 1);
    const list = await api.call('GET', '/v1/agents?limit=100');
    expect(list.text).not.toContain('key_hash');
    expect(list.text).not.toContain(a.key.split('.')[2]);
  });
});
