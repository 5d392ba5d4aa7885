/**
 * Property-based bad input through real HTTP, the real authorizer and handlers, against
 * DynamoDB Local: ≥ 1 000 malformed requests per state-changing route (wrong types, huge
 * numbers, 7-decimal amounts, unknown fields, bad JSON, oversized bodies, wrong content type)
 * always answer 4xx problem+json, never 5xx, and the ledger shows nothing changed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '#shared/http/limits';
import { useApi } from '../harness/api.ts';

// Short rounds: the usage route's fuzz first wins an allocation to draw from.
const api = useApi('bad-input', { env: { SYNTROPISM_ECONOMY: JSON.stringify({ round_seconds: 2 }) } });
const RUNS = 1_000;

/** A valid body of each route, mutated into an invalid one by the arbitraries below. */
type Route = {
  method: string;
  path: (ids: Ids) => string;
  valid: (ids: Ids) => Record<string, unknown>;
  operator?: boolean;
  /**
   * The route draws on an allocation of `self`. Over-budget draws are refused with a recorded
   * `quota_exceeded` by design, so for it "nothing written" is the allocation's budget unchanged.
   */
  allocation?: boolean;
  /**
   * Runs before the fuzz (after the allocation is won): the prompt routes use up their target
   * first — a prompt already submitted, a prompt already rewarded — so that every otherwise
   * valid body is refused too, and the fuzz can demand that nothing at all is written.
   */
  prepare?: (ids: Ids, self: { key: string }) => Promise<Partial<Ids>>;
};
type Ids = { self: string; other: string; allocation: string; prompt?: string };

async function submitted(ids: Ids, self: { key: string }) {
  const res = await api.call('POST', '/v1/prompts', {
    key: self.key,
    body: { allocation_id: ids.allocation, content: 'already here' },
  });
  expect(res.status, res.text).toBe(201);
  return { prompt: res.body.prompt_id as string };
}

async function rewarded(ids: Ids, self: { key: string }) {
  const { prompt } = await submitted(ids, self);
  const res = await api.call('POST', `/v1/prompts/${prompt}/reward`, {
    idempotencyKey: `prepare-${prompt}`,
    body: { interesting: 1, useful: 1, understandable: 1, reason: 'first' },
  });
  expect(res.status, res.text).toBe(201);
  return { prompt };
}

const ROUTES: Record<string, Route> = {
  'POST /v1/agents': {
    method: 'POST',
    path: () => '/v1/agents',
    valid: () => ({ name: 'fuzz', initial_balance: 5 }),
    operator: true,
  },
  'POST /v1/transfers': {
    method: 'POST',
    path: () => '/v1/transfers',
    valid: (ids) => ({ to_agent_id: ids.other, amount: 1 }),
  },
  'POST /v1/bids': {
    method: 'POST',
    path: () => '/v1/bids',
    valid: () => ({ bundle: { cpu: 1 }, duration_seconds: 10, amount: 1 }),
  },
  'PUT /v1/agents/{id}/state': {
    method: 'PUT',
    path: (ids) => `/v1/agents/${ids.self}/state`,
    valid: () => ({ state: 'dormant' }),
  },
  'POST /v1/agents/{id}/children': {
    method: 'POST',
    path: (ids) => `/v1/agents/${ids.self}/children`,
    valid: () => ({ name: 'fuzz-kid', initial_balance: 1, metadata: { role: 'fuzz' } }),
  },
  'POST /v1/allocations/{id}/usage': {
    method: 'POST',
    path: (ids) => `/v1/allocations/${ids.allocation}/usage`,
    valid: () => ({ tokens: 5 }),
    allocation: true,
  },
  'POST /v1/events': {
    method: 'POST',
    path: () => '/v1/events',
    valid: () => ({ type: 'reflection', data: { trigger: 't', outcome_assessment: 'o' } }),
  },
  'POST /v1/prompts': {
    method: 'POST',
    path: () => '/v1/prompts',
    valid: (ids) => ({ allocation_id: ids.allocation, content: 'hello, human' }),
    allocation: true,
    prepare: submitted,
  },
  'POST /v1/prompts/{id}/reward': {
    method: 'POST',
    path: (ids) => `/v1/prompts/${ids.prompt}/reward`,
    valid: () => ({ interesting: 5, useful: 5, understandable: 5, reason: 'good' }),
    operator: true,
    allocation: true,
    prepare: rewarded,
  },
};

const badNumber = fc.oneof(
  fc.constantFrom(1.0000001, 0.1234567, -1, 0, 1e9 + 1, 1e300, -0.000001),
  fc.double({ min: 1e9 + 1, max: 1e15, noNaN: true }),
  fc.integer({ min: 1, max: 1_000_000 }).map((n) => n + 0.0000001 * (1 + (n % 9))),
);
const wrongType = fc.oneof(
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.object(),
);

/** A raw request that must be refused: [body text, content type]. */
function malformed(route: Route, ids: Ids) {
  const valid = route.valid(ids);
  const fields = Object.keys(valid);
  const numeric = fields.filter((k) => typeof valid[k] === 'number');
  // A bad number where a number is (amounts: 7 decimals, huge, negative, zero).
  const badNumbers = numeric.length
    ? [
        fc
          .tuple(fc.constantFrom(...numeric), badNumber)
          .map(([k, v]) => [JSON.stringify({ ...valid, [k]: v }), 'application/json'] as const),
      ]
    : [];
  return fc.oneof(
    ...badNumbers,
    // Unknown field.
    fc
      .string({ minLength: 1, maxLength: 12 })
      .filter((k) => !fields.includes(k) && k !== '__proto__')
      .map((k) => [JSON.stringify({ ...valid, [k]: 1 }), 'application/json'] as const),
    // Wrong type of a known field.
    fc
      .tuple(fc.constantFrom(...fields), wrongType)
      .map(([k, v]) => [JSON.stringify({ ...valid, [k]: v }), 'application/json'] as const),
    // Not JSON at all, or truncated JSON.
    fc
      .string({ maxLength: 40 })
      .filter((t) => {
        try {
          JSON.parse(t);
          return false;
        } catch {
          return true;
        }
      })
      .map((t) => [t, 'application/json'] as const),
    fc.nat({ max: 20 }).map((n) => [JSON.stringify(valid).slice(0, n), 'application/json'] as const),
    // JSON that is not an object.
    fc
      .oneof(fc.integer(), fc.string(), fc.array(fc.integer()))
      .map((v) => [JSON.stringify(v), 'application/json'] as const),
    // Wrong content type with a valid body.
    fc
      .constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data')
      .map((ct) => [JSON.stringify(valid), ct] as const),
    // Oversized.
    fc
      .integer({ min: 65_537, max: 200_000 })
      .map((n) => [JSON.stringify({ ...valid, pad: 'x'.repeat(n) }), 'application/json'] as const),
  );
}

describe('malformed requests change nothing', () => {
  it.each(Object.keys(ROUTES))(`%s: ${RUNS} malformed requests → 4xx problem+json, nothing written`, async (name) => {
    const route = ROUTES[name] as Route;
    const self = await api.agent('fuzzed', 50);
    const other = await api.agent('bystander', 50);
    const bundle = { cpu: 0.1, tokens: 1_000, ...(route.prepare && { attention: 0.01 }) };
    const allocation = route.allocation ? await api.won(self, { bundle, duration_seconds: 600, amount: 1 }) : 'al_none';
    const base: Ids = { self: self.id, other: other.id, allocation };
    const ids = { ...base, ...(await route.prepare?.(base, self)) };
    const kinds = ['account', 'entry', 'transfer', 'agent', 'bid', 'round_bid', 'token_usage', 'prompt', 'mint_window'];
    if (!route.allocation || route.prepare) kinds.push('outbox');
    const budget = () => api.call('GET', `/v1/allocations/${allocation}`, { key: self.key }).then((r) => r.text);
    const before = await api.snapshot(kinds);
    const budgetBefore = route.allocation ? await budget() : '';
    let n = 0;
    await fc.assert(
      fc.asyncProperty(malformed(route, ids), async ([body, contentType]) => {
        n += 1;
        const res = await api.call(route.method, route.path(ids), {
          key: route.operator ? api.operatorKey : self.key,
          raw: body,
          headers: { 'content-type': contentType },
          idempotencyKey: `fuzz-${name}-${n}`,
        });
        expect(
          res.status,
          `${res.status} for ${body.slice(0, 200)} (${contentType}): ${res.text.slice(0, 300)}`,
        ).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(res.headers.get('content-type')).toBe('application/problem+json');
        expect(typeof res.body?.code).toBe('string');
      }),
      { numRuns: RUNS, seed: 20261126 },
    );
    expect(await api.snapshot(kinds)).toBe(before);
    if (route.allocation) expect(JSON.parse(await budget()).tokens).toEqual(JSON.parse(budgetBefore).tokens);
    await api.expectAuditClean();
  });
});

/**
 * The LLM gateway passes unknown fields on (OpenAI adds them often), so its fuzz aims at the
 * fields it reads: each given a value the schema refuses, plus the body-level faults of every route.
 */
const LLM_VALID = { model: 'syntropism-offline', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 };
const LLM_BAD_FIELDS: [string, unknown[]][] = [
  ['model', [1, true, null, '', 'x'.repeat(129), {}, 'gpt-not-allowed']],
  [
    'messages',
    [
      [],
      [{}],
      [{ role: 'robot', content: 'x' }],
      [{ role: 'user', content: 5 }],
      [{ role: 'user', content: [{ type: 5 }] }],
      [{ role: 'user', content: 'x', name: 'n'.repeat(257) }],
      'hi',
      null,
      {},
    ],
  ],
  ['max_tokens', [0, -1, 1.5, 1e7, '5', true, []]],
  ['max_completion_tokens', [0, -3, 2.5, 'ten']],
  ['temperature', [-0.1, 2.5, 'hot', {}]],
  ['top_p', [1.5, -1]],
  ['n', [2, 0, '1']],
  ['stream', ['yes', 1, {}]],
  ['stream_options', ['x', 3, { include_usage: 'y' }]],
];

function malformedLlm() {
  const valid = JSON.stringify(LLM_VALID);
  return fc.oneof(
    fc
      .constantFrom(...LLM_BAD_FIELDS.flatMap(([k, values]) => values.map((v) => [k, v] as const)))
      .map(([k, v]) => [JSON.stringify({ ...LLM_VALID, [k]: v }), 'application/json'] as const),
    fc
      .string({ maxLength: 40 })
      .filter((t) => {
        try {
          JSON.parse(t);
          return false;
        } catch {
          return true;
        }
      })
      .map((t) => [t, 'application/json'] as const),
    fc.nat({ max: 40 }).map((n) => [valid.slice(0, n), 'application/json'] as const),
    fc
      .oneof(fc.integer(), fc.string(), fc.array(fc.integer()))
      .map((v) => [JSON.stringify(v), 'application/json'] as const),
    fc.constantFrom('text/plain', 'application/xml', 'multipart/form-data').map((ct) => [valid, ct] as const),
    fc
      .integer({ min: 65_537, max: 200_000 })
      .map((n) => [JSON.stringify({ ...LLM_VALID, pad: 'x'.repeat(n) }), 'application/json'] as const),
  );
}

describe('malformed LLM gateway calls change nothing', () => {
  it(`POST /v1/llm/chat/completions: ${RUNS} malformed requests → 4xx problem+json, nothing reserved`, async () => {
    const self = await api.agent('llm-fuzzed', 50);
    const allocation = await api.won(self, { bundle: { cpu: 0.1, tokens: 1000 }, duration_seconds: 600, amount: 1 });
    const kinds = ['allocation', 'reservation', 'outbox'];
    const before = await api.snapshot(kinds);
    await fc.assert(
      fc.asyncProperty(malformedLlm(), async ([body, contentType]) => {
        const res = await api.call('POST', '/v1/llm/chat/completions', {
          key: self.key,
          raw: body,
          headers: { 'content-type': contentType, 'x-allocation-id': allocation },
        });
        expect(
          res.status,
          `${res.status} for ${body.slice(0, 200)} (${contentType}): ${res.text.slice(0, 300)}`,
        ).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(res.headers.get('content-type')).toBe('application/problem+json');
      }),
      { numRuns: RUNS, seed: 20261126 },
    );
    expect(await api.snapshot(kinds)).toBe(before);
    // The valid body itself is accepted: the refusals above were the fuzzed fields'.
    const ok = await api.call('POST', '/v1/llm/chat/completions', {
      key: self.key,
      body: LLM_VALID,
      headers: { 'x-allocation-id': allocation },
    });
    expect(ok.status, ok.text).toBe(200);
  });
});

describe('deeply nested JSON', () => {
  const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
  const reflection = (depth: number) =>
    `{"type":"reflection","data":{"trigger":"t","outcome_assessment":"o","metrics":${nested(depth)}}}`;

  // 4 100 nested arrays (9 KB) passed validation and overflowed the stack in the outbox
  // serializer: a 500 where the request is simply invalid.
  it('an agent event nesting 4 100 arrays is a 400 naming the path, and writes nothing', async () => {
    const self = await api.agent('nester', 1);
    const before = await api.snapshot(['account', 'agent', 'outbox']);
    const res = await api.call('POST', '/v1/events', { key: self.key, raw: reflection(4_100) });
    expect(res.status, res.text).toBe(400);
    expect(res.body).toMatchObject({
      code: 'validation_failed',
      errors: [{ path: expect.stringMatching(/^\/data\/metrics(\/0)+$/) }],
    });
    expect(await api.snapshot(['account', 'agent', 'outbox'])).toBe(before);
  });

  it('the deepest body the bound admits is stored (DynamoDB nests at most 32 levels)', async () => {
    const self = await api.agent('nester-max', 1);
    const res = await api.call('POST', '/v1/events', { key: self.key, raw: reflection(MAX_JSON_DEPTH - 2) });
    expect(res.status, res.text).toBe(201);
    const over = await api.call('POST', '/v1/events', { key: self.key, raw: reflection(MAX_JSON_DEPTH - 1) });
    expect(over.status, over.text).toBe(400);
  });
});
