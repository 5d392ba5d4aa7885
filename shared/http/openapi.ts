/**
 * The OpenAPI 3.1 document, generated from the route table and the very schemas that validate
 * requests. Served at GET /v1/openapi.json and committed as docs/openapi.json (a test keeps
 * the two equal).
 */
import { z } from 'zod';
import { AGENT_EVENT_TYPES, EVENT_TYPES, type EventType } from '../core/events.ts';
import { RULES } from '../rules.ts';
import { ROUTES, routeKey } from './routes.ts';
import {
  agentId,
  agentStateBody,
  listBidsQuery,
  noQuery,
  pageQuery,
  placeBidBody,
  priceHistoryQuery,
  quoteBody,
  registerAgentBody,
  transferBody,
} from './schemas.ts';

// ---------------------------------------------------------------------------------------------
// Event log and dead-letter routes (POST/GET /v1/events, GET /v1/dead-letters)

const eventOptions = AGENT_EVENT_TYPES.map((type) =>
  z.object({ type: z.literal(type), data: EVENT_TYPES[type].data }).strict(),
);

/** Body of POST /v1/events: an agent event type and its data; `source` and `agent_id` come from the caller. */
export const agentEventBody = z.discriminatedUnion(
  'type',
  eventOptions as [(typeof eventOptions)[number], ...(typeof eventOptions)[number][]],
);

/** An event id as the system makes them: `ev_` and a ULID. */
const eventId = z.string().regex(/^ev_[0-9A-HJKMNP-TV-Z]{26}$/, 'must be an event id (ev_ followed by a ULID)');

export const eventsQuery = z
  .object({
    /** Exclusive: only events with a greater (later) id. */
    after: eventId.optional(),
    type: z.enum(Object.keys(EVENT_TYPES) as [EventType, ...EventType[]]).optional(),
    agent_id: agentId.optional(),
    scenario_id: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,128}$/)
      .optional(),
    limit: z.coerce.number().int().min(1).max(100).default(25),
    cursor: z.string().min(1).max(2048).optional(),
  })
  .strict();

const ruleTargets = [...new Set(RULES.map((r) => r.target))] as [string, ...string[]];

export const deadLettersQuery = z
  .object({
    target: z.enum(ruleTargets).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(25),
    cursor: z.string().min(1).max(2048).optional(),
  })
  .strict();

interface Operation {
  summary: string;
  body?: z.ZodType;
  query?: z.ZodType;
  /** Status of success. */
  success: number;
  idempotency?: 'required' | 'optional';
}

export const OPERATIONS: Record<string, Operation> = {
  'GET /v1/health': { summary: 'Liveness and version', success: 200 },
  'GET /v1/openapi.json': { summary: 'This document', success: 200 },
  'POST /v1/agents': {
    summary: 'Register an agent with an initial grant (minted); returns its API key once',
    body: registerAgentBody,
    success: 201,
    idempotency: 'optional',
  },
  'GET /v1/agents': { summary: 'List agents', query: pageQuery, success: 200 },
  'GET /v1/agents/{id}': { summary: 'Profile: state, balance, totals, lineage', success: 200 },
  'GET /v1/agents/{id}/balance': { summary: 'Balance (emits balance_queried)', success: 200 },
  'GET /v1/agents/{id}/history': { summary: 'Ledger entries, newest first', query: pageQuery, success: 200 },
  'PUT /v1/agents/{id}/state': {
    summary: 'Go dormant or wake up (voluntary)',
    body: agentStateBody,
    success: 200,
    idempotency: 'optional',
  },
  'POST /v1/transfers': {
    summary: 'Transfer credits to another agent',
    body: transferBody,
    success: 201,
    idempotency: 'required',
  },
  'POST /v1/events': {
    summary: 'Publish an agent event (reasoning, tool calls, reflection, code changes)',
    body: agentEventBody,
    success: 201,
    idempotency: 'optional',
  },
  'GET /v1/events': {
    summary: 'The event log in id order: own events for agents, all for the operator',
    query: eventsQuery,
    success: 200,
  },
  'GET /v1/dead-letters': {
    summary: 'Bus events a pipeline target gave up on, newest first',
    query: deadLettersQuery,
    success: 200,
  },
  'POST /v1/bids': {
    summary: 'Place an all-or-nothing bundle bid in the open round; its amount is escrowed',
    body: placeBidBody,
    success: 201,
    idempotency: 'required',
  },
  'GET /v1/bids': { summary: "The caller's bids (operator: ?agent_id=)", query: listBidsQuery, success: 200 },
  'GET /v1/bids/{id}': { summary: 'A bid and its status', success: 200 },
  'DELETE /v1/bids/{id}': { summary: 'Cancel a pending bid (escrow refunded)', success: 200, idempotency: 'optional' },
  'GET /v1/rounds/{round}': { summary: "A round's state and statistics", success: 200 },
  'POST /v1/rounds/clear': { summary: 'Clear every due round now', success: 200, idempotency: 'optional' },
  'GET /v1/market': { summary: 'Prices, bounds, capacity, utilization, open round', success: 200 },
  'GET /v1/market/history': { summary: 'Price series of a resource', query: priceHistoryQuery, success: 200 },
  'POST /v1/market/quote': { summary: 'Reference and floor cost of a bundle', body: quoteBody, success: 200 },
};

const problem = { $ref: '#/components/schemas/Problem' };

export function openApiDocument(version: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const op = OPERATIONS[routeKey(r)];
    if (!op) throw new Error(`no OpenAPI operation for ${routeKey(r)}`);
    const params: unknown[] = [];
    for (const m of r.path.matchAll(/\{(\w+)\}/g)) {
      params.push({ name: m[1], in: 'path', required: true, schema: { type: 'string' } });
    }
    const query = (op.query ?? noQuery) as z.ZodObject;
    const qs = z.toJSONSchema(query, { io: 'input' }) as { properties?: Record<string, unknown> };
    for (const [name, schema] of Object.entries(qs.properties ?? {})) {
      params.push({ name, in: 'query', required: false, schema });
    }
    if (op.idempotency) {
      params.push({
        name: 'Idempotency-Key',
        in: 'header',
        required: op.idempotency === 'required',
        schema: { type: 'string', maxLength: 255 },
      });
    }
    params.push({ name: 'X-Scenario-Id', in: 'header', required: false, schema: { type: 'string', maxLength: 128 } });
    const method = r.method.toLowerCase();
    paths[r.path] ??= {};
    (paths[r.path] as Record<string, unknown>)[method] = {
      operationId: `${method}${r.path.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      summary: op.summary,
      ...(r.access !== 'public' && { security: [{ bearer: [] }] }),
      'x-access': r.access,
      parameters: params,
      ...(op.body && {
        requestBody: {
          required: true,
          content: { 'application/json': { schema: z.toJSONSchema(op.body, { io: 'input' }) } },
        },
      }),
      responses: {
        [String(op.success)]: {
          description: 'Success',
          content: { 'application/json': { schema: { type: 'object' } } },
        },
        '4XX': { description: 'Problem', content: { 'application/problem+json': { schema: problem } } },
        '5XX': { description: 'Problem', content: { 'application/problem+json': { schema: problem } } },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Syntropism API', version },
    servers: [{ url: 'http://localhost:3000' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Problem: {
          type: 'object',
          required: ['type', 'title', 'status', 'detail', 'code'],
          properties: {
            type: { type: 'string' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
            code: { type: 'string' },
            trace_id: { type: 'string' },
            errors: {
              type: 'array',
              items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } },
            },
            required: { type: 'number' },
            available: { type: 'number' },
          },
        },
      },
    },
    paths,
  };
}
