/**
 * The authorization matrix: every route × {no key, bad key, agent A on B's resource, agent key
 * on operator routes, operator key, a rater's key, a revoked rater's key} → the expected status,
 * through the real authorizer. A rater reaches only the human's routes (403 elsewhere), a
 * revoked rater nothing (401); rows name them only where that differs.
 */
import { describe, expect, it } from 'vitest';
import { promptIdOf } from '#shared/core/prompts';
import { ROUTES, routeKey } from '#shared/http/routes';
import { useApi } from '../harness/api.ts';

// Short rounds: the matrix wins an allocation for its allocation routes without waiting long.
const api = useApi('authz', { env: { SYNTROPISM_ECONOMY: JSON.stringify({ round_seconds: 2 }) } });

type Who = 'none' | 'bad' | 'forged' | 'self' | 'other' | 'operator';
type Human = 'rater' | 'revoked';
type Row = Record<Who, number> & Partial<Record<Human, number>>;

/**
 * Expected status per route and caller; 2xx means the call got through authorization. `{id}` is
 * the target agent (or its bid), `{round}` the round of that bid. Cancelling comes last.
 */
const MATRIX: Record<string, Row> = {
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
  // The target's allocation holds attention: its own prompt is accepted once.
  'POST /v1/prompts': { none: 401, bad: 401, forged: 401, self: 201, other: 404, operator: 403 },
  'GET /v1/prompts': { none: 401, bad: 401, forged: 401, self: 403, other: 403, rater: 200, operator: 200 },
  // The rater rewards first; the operator's reward then finds the prompt rewarded.
  'POST /v1/prompts/{id}/reward': {
    none: 401,
    bad: 401,
    forged: 401,
    self: 403,
    other: 403,
    rater: 201,
    revoked: 401,
    operator: 409,
  },
  'POST /v1/raters': { none: 401, bad: 401, forged: 401, self: 403, other: 403, operator: 201 },
  'GET /v1/raters': { none: 401, bad: 401, forged: 401, self: 403, other: 403, operator: 200 },
  'DELETE /v1/raters/{id}': { none: 401, bad: 401, forged: 401, self: 403, other: 403, operator: 200 },
  'GET /v1/economy': { none: 401, bad: 401, forged: 401, self: 200, other: 200, operator: 200 },
};

/** A rater's status where its row does not name it: public routes answer, the rest refuse. */
function withHumans(route: string, row: Row): Record<Who | Human, number> {
  const open = route === 'GET /v1/health' || route === 'GET /v1/openapi.json';
  return { ...row, rater: row.rater ?? (open ? 200 : 403), revoked: row.revoked ?? (open ? 200 : 401) };
}

/** Query strings some routes need to be valid at all. */
const QUERY: Record<string, string> = {
  'GET /v1/bids': '?agent_id={agent}',
  'GET /v1/allocations': '?agent_id={agent}',
  'GET /v1/events': '?agent_id={agent}',
  'GET /v1/market/history': '?resource=cpu',
};

const BODY: Record<
  string,
  (who: Who | Human, ids: { target: string; other: string; allocation: string }, n: number) => unknown
> = {
  'POST /v1/agents': (_w, _ids, n) => ({ name: `m${n}`, initial_balance: 1 }),
  'PUT /v1/agents/{id}/state': () => ({ state: 'active' }),
  'POST /v1/agents/{id}/children': (_w, _ids, n) => ({ name: `kid${n}`, initial_balance: 0 }),
  'POST /v1/transfers': (who, ids) => ({ to_agent_id: who === 'self' ? ids.other : ids.target, amount: 0.01 }),
  'POST /v1/bids': () => ({ bundle: { memory: 1 }, duration_seconds: 10, amount: 1 }),
  'POST /v1/allocations/{id}/usage': () => ({ tokens: 1 }),
  'POST /v1/market/quote': () => ({ bundle: { cpu: 1 }, duration_seconds: 10 }),
  'POST /v1/events': () => ({ type: 'reflection', data: { trigger: 'matrix', outcome_assessment: 'fine' } }),
  'POST /v1/executions/{id}/termination': () => ({ exit_code: 0, reason: 'exited', duration_ms: 1 }),
  'POST /v1/prompts': (_w, ids) => ({ allocation_id: ids.allocation, content: 'matrix' }),
  'POST /v1/prompts/{id}/reward': () => ({ interesting: 1, useful: 1, understandable: 1, reason: 'matrix' }),
  'POST /v1/raters': (_w, _ids, n) => ({ name: `rater-${n}` }),
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

interface Rater {
  id: string;
  key: string;
}

async function createRater(name: string): Promise<Rater> {
  const res = await api.call('POST', '/v1/raters', { body: { name } });
  expect(res.status, res.text).toBe(201);
  return { id: res.body.rater_id, key: res.body.api_key };
}

describe('authorization matrix', () => {
  it('covers every route of the route table', () => {
    expect(Object.keys(MATRIX).sort()).toEqual(ROUTES.map(routeKey).sort());
  });

  it('gives every caller exactly the expected status on every route', async () => {
    const target = await api.agent('target', 50);
    const other = await api.agent('other', 50);
    const forged = `syn.${target.id}.${'A'.repeat(43)}`;
    const raters = await Promise.all(['matrix-rater', 'matrix-revoked', 'matrix-spare'].map(createRater));
    const [rater, revoked, spare] = raters as [Rater, Rater, Rater];
    expect((await api.call('DELETE', `/v1/raters/${revoked.id}`)).status).toBe(200);
    const keyOf: Record<Who | Human, string | null> = {
      none: null,
      bad: 'not-a-key',
      forged,
      self: target.key,
      other: other.key,
      operator: api.operatorKey,
      rater: rater.key,
      revoked: revoked.key,
    };
    const failures: string[] = [];
    let n = 0;
    const placed = await api.call('POST', '/v1/bids', {
      key: target.key,
      idempotencyKey: 'matrix-bid',
      body: { bundle: { cpu: 1 }, duration_seconds: 10, amount: 1 },
    });
    expect(placed.status, placed.text).toBe(201);
    const allocation = await api.won(target, {
      bundle: { cpu: 0.1, tokens: 100, attention: 0.01 },
      duration_seconds: 600,
      amount: 1,
    });
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
      if (template.startsWith('/v1/prompts/')) return promptIdOf(allocation);
      if (template.startsWith('/v1/raters/')) return spare.id;
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
      const row = withHumans(route, expected);
      for (const who of Object.keys(row) as (Who | Human)[]) {
        n += 1;
        const body = BODY[route]?.(who, { target: target.id, other: other.id, allocation }, n);
        const res = await api.call(method, path, {
          key: keyOf[who],
          ...(body !== undefined && { body }),
          ...(HEADERS[route] && { headers: HEADERS[route](allocation) }),
          ...(method !== 'GET' && { idempotencyKey: `m-${n}` }),
        });
        if (res.status !== row[who]) failures.push(`${route} as ${who}: ${res.status} (want ${row[who]}) ${res.text}`);
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
    const rater = await createRater('secretive-rater');
    const raters = await api.call('GET', '/v1/raters?limit=100');
    expect(raters.text).toContain(rater.id);
    expect(raters.text).not.toContain('key_hash');
    expect(raters.text).not.toContain(rater.key.split('.')[2]);
  });
});
