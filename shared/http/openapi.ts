/**
 * The OpenAPI 3.1 document, generated from the route table: the very schemas that validate
 * requests and type the handlers' answers, the headers the stack reads and sets, and the
 * problem codes. Served at GET /v1/openapi.json and committed as docs/openapi.json (a test
 * keeps the two equal). It names no server: on AWS the document is served from the API itself.
 */
import { z } from 'zod';
import { MAX_BODY_BYTES } from './limits.ts';
import { PROBLEM_CODES } from './problem.ts';
import { ROUTES, type RouteSpec } from './routes.ts';
import { noQuery } from './schemas.ts';

const problemContent = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } };
const header = (name: string) => ({ $ref: `#/components/headers/${name}` });
const problem = (description: string, headers: Record<string, unknown> = {}) => ({
  description,
  headers: { 'X-Trace-Id': header('X-Trace-Id'), ...headers },
  content: problemContent,
});

const HEADERS = {
  'X-Trace-Id': {
    description: 'The trace of the request (quote it when reporting a problem).',
    schema: { type: 'string' },
  },
  'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 1 } },
  'Idempotent-Replayed': {
    description: '`true` when this is the stored answer to an earlier request with the same Idempotency-Key.',
    schema: { type: 'string', enum: ['true'] },
  },
  RateLimit: {
    description: 'The caller\'s quota now (IETF ratelimit-headers): `"default";r=<remaining>;t=<seconds to full>`.',
    schema: { type: 'string' },
  },
  'RateLimit-Policy': {
    description: 'The quota policy: `"default";q=<requests>;w=<window seconds>`.',
    schema: { type: 'string' },
  },
};

function parameters(r: RouteSpec): unknown[] {
  const params: unknown[] = [];
  for (const m of r.path.matchAll(/\{(\w+)\}/g)) {
    params.push({ name: m[1], in: 'path', required: true, schema: { type: 'string' } });
  }
  const qs = z.toJSONSchema((r.query ?? noQuery) as z.ZodObject, { io: 'input' }) as {
    properties?: Record<string, unknown>;
    required?: string[];
  };
  for (const [name, schema] of Object.entries(qs.properties ?? {})) {
    params.push({ name, in: 'query', required: qs.required?.includes(name) ?? false, schema });
  }
  if (r.idempotency !== 'none') {
    params.push({
      name: 'Idempotency-Key',
      in: 'header',
      required: r.idempotency === 'required',
      description: 'Given once; 1 to 255 printable ASCII characters, no comma.',
      schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[!-+\\--~]+$' },
    });
  }
  params.push({
    name: 'X-Scenario-Id',
    in: 'header',
    required: false,
    description: 'Given once; tags every event the request causes.',
    schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
  });
  return params;
}

function responses(r: RouteSpec): Record<string, unknown> {
  const throttled = r.access !== 'public';
  const common = {
    'X-Trace-Id': header('X-Trace-Id'),
    ...(throttled && { RateLimit: header('RateLimit'), 'RateLimit-Policy': header('RateLimit-Policy') }),
  };
  const out: Record<string, unknown> = {};
  for (const [status, schema] of Object.entries(r.responses)) {
    out[status] = {
      description: 'Success',
      headers: {
        ...common,
        ...(r.idempotency !== 'none' && { 'Idempotent-Replayed': header('Idempotent-Replayed') }),
        ...r.headers,
      },
      content: {
        'application/json': { schema: z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) },
        ...(r.stream && {
          'text/event-stream': {
            schema: { type: 'string', description: 'With `stream: true`: SSE `data:` chunks, then `data: [DONE]`.' },
          },
        }),
      },
    };
  }
  const retry = { 'Retry-After': header('Retry-After') };
  if (r.idempotency !== 'none')
    out['409'] = problem('A conflict, or the same Idempotency-Key still in progress', retry);
  if (throttled) out['429'] = problem('Too many requests', { ...common, ...retry });
  out['4XX'] = problem('The request was refused; nothing changed', common);
  out['503'] = problem('Busy; retry after the given delay', retry);
  out['5XX'] = problem('Internal error', common);
  return out;
}

const operationId = (r: RouteSpec) =>
  `${r.method.toLowerCase()}${r.path.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ? c.toUpperCase() : ''))}`;

const PROBLEM_SCHEMA = {
  type: 'object',
  required: ['type', 'title', 'status', 'detail', 'code'],
  properties: {
    type: { type: 'string', format: 'uri', description: 'https://syntropism.dev/problems/<code with dashes>' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string', enum: PROBLEM_CODES },
    trace_id: { type: 'string' },
    errors: {
      type: 'array',
      items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } },
    },
    required: { type: 'number' },
    available: { type: 'number' },
  },
};

export function openApiDocument(version: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES as readonly RouteSpec[]) {
    const op = {
      operationId: operationId(r),
      summary: r.summary,
      security: r.access === 'public' ? [] : [{ bearer: [] }],
      'x-access': r.access,
      parameters: parameters(r),
      ...(r.body && {
        requestBody: {
          required: r.bodyOptional !== true,
          description: `JSON, at most ${MAX_BODY_BYTES} bytes.${r.bodyOptional ? ' May be omitted.' : ''}`,
          content: { 'application/json': { schema: z.toJSONSchema(r.body, { io: 'input' }) } },
        },
      }),
      responses: responses(r),
    };
    paths[r.path] ??= {};
    (paths[r.path] as Record<string, unknown>)[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Syntropism API', version },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      headers: HEADERS,
      schemas: { Problem: PROBLEM_SCHEMA },
    },
    paths,
  };
}
