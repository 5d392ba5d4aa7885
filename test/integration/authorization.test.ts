/**
 * The authorization matrix: every route × {no key, bad key, agent A on B's resource, agent key
 * on operator routes, operator key} → the expected status, through the real authorizer.
 */
import { describe, expect, it } from 'vitest';
import { ROUTES, routeKey } from '#shared/http/routes';
import { useApi } from '../harness/api.ts';

// Short rounds: the matrix wins an allocation for its allocation routes without waiting long.
const api = useApi('authz', { env: { SYNTROPISM_ECONOMY: JSON.stringify({ round_seconds: 2 }) } });

type Who = 'none' | 'bad' | 'forged' | 'self' | 'other' | 'operator';

/**
 * Expected status per route and caller; 2xx means the call got through authorization. `{id}` is
 * the target agent (or its bid), `{round}` the round of that bid. Cancelling comes last.
 */
const MATRIX: Record<string, Record<Who, number>> = {
  'GET /v1/health': { none: 200, bad: 200, forged: 200, self: 200, other: 200, operator: 200 },
  'GET /v1/openapi.json': { none: 200, bad: 200, forged: 200, self: 200, other: 200, operator: 200 },
  'POST /v1/agents': { none: 401, bad: 401, forged: 401, self: 403, other: 403, operator: 201 },
  'GET /v1/agents': { none: 401, bad: 401, forged: 401, self: 403, other: 403, operator: 200 },
  'GET /v1/agents/{id}': { none: 401, bad: 401, forged: 401, self: 200, other: 403, operator: 200 },
  'GET /v1/agents/{id}/balance': { none: 401, bad: 401, forged: 401, self: 200, other: 403, operator: 200 },
  'GET /v1/agents/{id}/history': { none: 401, bad: 401, forged: 401, self: 200, other: 403, operator: 200 },
  'PUT /v1/agents/{id}/state': { none: 401, bad: 401, forged: 401, self: 200, other: 403, operator: 403 },
  'POST /v1/agents/{id}/children': { none: 401, bad: 401, forged: 401, self: 201, other: 403, operator: 403 },
  'GET /v1/agents/{id}/children': { none: 401, bad: 401, forged: 401, self: 200, other: 403, operator: 200 },
  'POST /v1/transfers': { none: 401, bad: 401, forged: 401, self: 201, other: 201, operator: 403 },
  'POST /v1/bids': { none: 401, bad: 401, forged: 401, self: 201, other: 201, operator: 403 },
  'GET /v1/bids': { none: 401, bad: 401, forged: 401, self: 200, other: 403, operator: 200 },
  'GET /v1/bids/{id}': { none: 401, bad: 401, forged: 401, self: 200, other: 404, operator: 200 },
  'GET /v1/rounds/{round}': { none: 401, bad: 401, forged: 401, self: 200, other: 200, operator: 200 },
  'POST /v1/rounds/clear': { none: 401, bad: 401, forged: 401, self: 403, other: 403, operator: 200 },
  'GET /v1/allocations': { none: 401, bad: 401, forged: 401, self: 200, other: 403, operator: 200 },
  'GET /v1/allocations/{id}': { none: 401, bad: 401, forged: 401, self: 200, other: 404, operator: 200 },
  'POST /v1/allocations/{id}/usage': { none: 401, bad: 401, forged: 401, self: 200, other: 404, operator: 403 },
  'GET /v1/market': { none: 401, bad: 401, forged: 401, self: 200, other: 200, operator: 200 },
  'GET /v1/market/history': { none: 401, bad: 401, forged: 401, self: 200, other: 200, operator: 200 },
  'POST /v1/market/quote': { none: 401, bad: 401, forged: 401, self: 200, other: 200, operator: 200 },
  'POST /v1/events': { none: 401, bad: 401, forged: 401, self: 201, other: 201, operator: 403 },
  'GET /v1/events': { none: 401, bad: 401, forged: 401, self: 200, other: 403, operator: 200 },
  'GET /v1/dead-letters': { none: 401, bad: 401, forged: 401, self: 403, other: 403, operator: 200 },
  // Charged to the target's allocation, named by X-Allocation-Id: another agent's is a 404.
  'POST /v1/llm/chat/completions': { none: 401, bad: 401, forged: 401, self: 200, other: 404, operator: 403 },
  'GET /v1/llm/models': { none: 401, bad: 401, forged: 401, self: 200, other: 200, operator: 403 },
  'POST /v1/allocations/{id}/executions': { none: 401, bad: 401, forged: 401, self: 201, other: 404, operator: 403 },
  'POST /v1/executions/{id}/termination': { none: 401, bad: 401, forged: 401, self: 200, other: 404, operator: 403 },
  'GET /v1/executions/{id}': { none: 401, bad: 401, forged: 401, self: 200, other: 404, operator: 200 },
  'DELETE /v1/bids/{id}': { none: 401, bad: 401, forged: 401, self: 200, other: 404, operator: 403 },
};

/** Query strings some routes need to be valid at all. */
const QUERY: Record<string, string> = {
  'GET /v1/bids': '?agent_id={agent}',
  'GET /v1/allocations': '?agent_id={agent}',
  'GET /v1/events': '?agent_id={agent}',
  'GET /v1/market/history': '?resource=cpu',
};

const BODY: Record<string, (who: Who, ids: { target: string; other: string }, n: number) => unknown> = {
  'POST /v1/agents': (_w, _ids, n) => ({ name: `m${n}`, initial_balance: 1 }),
  'PUT /v1/agents/{id}/state': () => ({ state: 'active' }),
  'POST /v1/agents/{id}/children': (_w, _ids, n) => ({ name: `kid${n}`, initial_balance: 0 }),
  'POST /v1/transfers': (who, ids) => ({ to_agent_id: who === 'self' ? ids.other : ids.target, amount: 0.01 }),
  'POST /v1/bids': () => ({ bundle: { memory: 1 }, duration_seconds: 10, amount: 1 }),
  'POST /v1/allocations/{id}/usage': () => ({ tokens: 1 }),
  'POST /v1/market/quote': () => ({ bundle: { cpu: 1 }, duration_seconds: 10 }),
  'POST /v1/events': () => ({ type: 'reflection', data: { trigger: 'matrix', outcome_assessment: 'fine' } }),
  'POST /v1/executions/{id}/termination': () => ({ exit_code: 0, reason: 'exited', duration_ms: 1 }),
  // No provider here: the offline model answers.
  'POST /v1/llm/chat/completions': () => ({
    model: 'syntropism-offline',
    messages: [{ role: 'user', content: 'hi' }],
    max_tokens: 8,
  }),
};

/** Headers some routes need: the allocation an LLM call is charged to. */
const HEADERS: Record<string, (allocation: string) => Record<string, string>> = {
  'POST /v1/llm/chat/completions': (allocation) => ({ 'x-allocation-id': allocation }),
};

describe('authorization matrix', () => {
  it('covers every route of the route table', () => {
    expect(Object.keys(MATRIX).sort()).toEqual(ROUTES.map(routeKey).sort());
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
    const placed = await api.call('POST', '/v1/bids', {
      key: target.key,
      idempotencyKey: 'matrix-bid',
      body: { bundle: { cpu: 1 }, duration_seconds: 10, amount: 1 },
    });
    expect(placed.status, placed.text).toBe(201);
    const allocation = await api.won(target, { bundle: { cpu: 0.1, tokens: 100 }, duration_seconds: 600, amount: 1 });
    // A running execution in the target's allocation, for the execution routes.
    const execution = await api.call('POST', `/v1/allocations/${allocation}/executions`, {
      key: target.key,
      idempotencyKey: 'matrix-execution',
    });
    expect(execution.status, execution.text).toBe(201);
    const idOf = (template: string) => {
      if (template.startsWith('/v1/bids/')) return placed.body.bid_id;
      if (template.startsWith('/v1/allocations/')) return allocation;
      if (template.startsWith('/v1/executions/')) return execution.body.execution_id;
      return target.id;
    };
    for (const [route, expected] of Object.entries(MATRIX)) {
      const [method = 'GET', template = ''] = route.split(' ');
      let id = idOf(template);
      if (route === 'DELETE /v1/bids/{id}') {
        // Rounds are wall-clock windows and the operator's `POST /v1/rounds/clear` row above
        // settles every due round, so the first bid may already be won; cancel a fresh one,
        // placed after that clear, whose round nothing settles before the test ends.
        const fresh = await api.call('POST', '/v1/bids', {
          key: target.key,
          idempotencyKey: 'matrix-bid-to-cancel',
          body: { bundle: { cpu: 1 }, duration_seconds: 10, amount: 1 },
        });
        expect(fresh.status, fresh.text).toBe(201);
        id = fresh.body.bid_id;
      }
      const path = (template + (QUERY[route] ?? ''))
        .replace('{id}', id)
        .replace('{round}', placed.body.round)
        .replace('{agent}', target.id);
      for (const who of Object.keys(expected) as Who[]) {
        n += 1;
        const body = BODY[route]?.(who, { target: target.id, other: other.id }, n);
        const res = await api.call(method, path, {
          key: keyOf[who],
          ...(body !== undefined && { body }),
          ...(HEADERS[route] && { headers: HEADERS[route](allocation) }),
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
