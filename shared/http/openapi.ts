/**
 * The OpenAPI 3.1 document, generated from the route table and the very schemas that validate
 * requests. Served at GET /v1/openapi.json and committed as docs/openapi.json (a test keeps
 * the two equal).
 */
import { z } from 'zod';
import { ROUTES, routeKey } from './routes.ts';
import { agentStateBody, noQuery, pageQuery, registerAgentBody, transferBody } from './schemas.ts';

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
