/**
 * The HTTP stack every API function is built with: one middy chain for all routes of a
 * function, selected by API Gateway's `routeKey`.
 *
 *   tracing (outer wrapper: a span per request, flushed before returning)
 *   → access     caller from the authorizer, checked against the route table (401/403)
 *   → throttle   per-caller token bucket (429)
 *   → idempotency  `Idempotency-Key`: replay, 409 in progress, 422 reused, stored response
 *                  (success or 4xx, the input's refusals included)
 *   → input      content type, 64 KB limit, JSON parse, zod validation of body and query (4xx)
 *   → the route's handler
 *
 * Every error becomes RFC 9457 problem+json in one place (`problem.ts`).
 */
import { createHash } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import middy, { type MiddlewareObj, type Request } from '@middy/core';
import { SpanKind, trace } from '@opentelemetry/api';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import type { IdempotencyStore, StoredResponse } from '../adapters/dynamodb/idempotency.ts';
import {
  contextFrom,
  currentTraceContext,
  currentTraceId,
  flushTelemetry,
  recordError,
  tracer,
} from '../adapters/telemetry/tracing.ts';
import { DomainError, forbidden, unauthorized, validationFailed } from '../core/errors.ts';
import type { EventContext } from '../core/events.ts';
import type { TokenBuckets } from '../core/token-bucket.ts';
import type { CallerContext, HttpEvent, HttpHandler, HttpResult } from './contract.ts';
import { inexactNumber } from './json-numbers.ts';
import { problemResponse } from './problem.ts';
import { type Access, ROUTES, routeKey } from './routes.ts';

export const MAX_BODY_BYTES = 64 * 1024;

/** `anonymous` only reaches public routes. */
export type Caller = { role: 'agent'; agent_id: string } | { role: 'operator' } | { role: 'anonymous' };

export interface ApiRequest<B, Q> {
  caller: Caller;
  params: Record<string, string>;
  query: Q;
  body: B;
  /** Carried by every event the request causes. */
  events: EventContext;
  requestId: string;
  event: HttpEvent;
}

export interface ApiResponse {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface RouteDefinition<B = unknown, Q = unknown> {
  body?: z.ZodType<B>;
  query?: z.ZodType<Q>;
  /** `required`: requests without `Idempotency-Key` are refused. Default: `optional` for writes. */
  idempotency?: 'required' | 'optional' | 'none';
  /**
   * Top-level body fields never stored with the idempotent response (secrets shown once, such
   * as a new agent's `api_key`): a replay answers without them.
   */
  notStored?: readonly string[];
  handle(req: ApiRequest<B, Q>): Promise<ApiResponse>;
}

/** Keeps `B` and `Q` inferred from the schemas at the definition site. */
export function defineRoute<B = undefined, Q = Record<string, never>>(def: RouteDefinition<B, Q>): RouteDefinition {
  return def as RouteDefinition;
}

export interface HttpDeps {
  idempotency: IdempotencyStore;
  throttle?: TokenBuckets;
  logger: Logger;
}

interface State {
  route: RouteDefinition;
  access: Access;
  caller?: Caller;
  body?: unknown;
  query?: unknown;
  idempotency?: { scope: string; key: string; claimed: boolean };
}

const states = new WeakMap<object, State>();
const stateOf = (request: Request<HttpEvent>): State => {
  const s = states.get(request.event);
  if (!s) throw new Error('request state missing');
  return s;
};

const SCENARIO_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const JSON_CONTENT_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;.*)?$/i;

function rawBody(event: HttpEvent): string | undefined {
  if (event.body === undefined || event.body === null) return undefined;
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
}

function zodErrors(error: z.ZodError, prefix: string) {
  return error.issues.map((i) => ({
    path: `${prefix}${i.path.length ? `/${i.path.map(String).join('/')}` : ''}`,
    message: i.message,
  }));
}

const accessMiddleware = (): MiddlewareObj<HttpEvent, HttpResult> => ({
  before: (request) => {
    const state = stateOf(request);
    if (state.access === 'public') return;
    const ctx = request.event.requestContext.authorizer?.lambda as CallerContext | undefined;
    let caller: Caller | undefined;
    if (ctx?.role === 'operator') caller = { role: 'operator' };
    else if (ctx?.role === 'agent' && ctx.agent_id) caller = { role: 'agent', agent_id: ctx.agent_id };
    if (!caller) throw unauthorized();
    if (state.access === 'operator' && caller.role !== 'operator') throw forbidden('This route is for the operator.');
    if (state.access === 'agent' && caller.role !== 'agent') throw forbidden('This route is for agents.');
    state.caller = caller;
  },
});

const throttleMiddleware = (buckets: TokenBuckets | undefined): MiddlewareObj<HttpEvent, HttpResult> => ({
  before: (request) => {
    const caller = stateOf(request).caller;
    if (!buckets || !caller) return;
    const wait = buckets.take(caller.role === 'agent' ? caller.agent_id : 'operator');
    if (wait > 0) {
      throw new DomainError('too_many_requests', 429, 'Request rate limit exceeded.', {}, undefined, wait);
    }
  },
});

const inputMiddleware = (): MiddlewareObj<HttpEvent, HttpResult> => ({
  before: (request) => {
    const state = stateOf(request);
    const { event } = request;
    const scenario = event.headers['x-scenario-id'];
    if (scenario !== undefined && !SCENARIO_ID.test(scenario)) {
      throw validationFailed([{ path: '/headers/x-scenario-id', message: 'must match [A-Za-z0-9._:-]{1,128}' }]);
    }
    const query = (state.route.query ?? z.object({}).strict()).safeParse(event.queryStringParameters ?? {});
    if (!query.success) throw validationFailed(zodErrors(query.error, '/query'), 'The query string is not valid.');
    state.query = query.data;
    if (!state.route.body) return;
    const text = rawBody(event);
    if (text !== undefined && Buffer.byteLength(text, 'utf8') > MAX_BODY_BYTES) {
      throw new DomainError('payload_too_large', 413, `The body exceeds ${MAX_BODY_BYTES} bytes.`);
    }
    if (text === undefined || text.length === 0) {
      throw validationFailed([{ path: '', message: 'a JSON body is required' }], 'The request needs a JSON body.');
    }
    const contentType = event.headers['content-type'] ?? '';
    if (!JSON_CONTENT_TYPE.test(contentType)) {
      throw new DomainError('unsupported_media_type', 415, 'The body must be application/json.');
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new DomainError('malformed_json', 400, 'The body is not valid JSON.');
    }
    // JSON.parse rounds to the nearest double: refuse what it would silently change.
    const inexact = inexactNumber(text);
    if (inexact !== undefined) {
      throw validationFailed(
        [{ path: '', message: `the number ${inexact.slice(0, 40)} has more digits than a JSON number holds exactly` }],
        'The body has a number that cannot be read exactly.',
      );
    }
    const body = state.route.body.safeParse(json);
    if (!body.success) throw validationFailed(zodErrors(body.error, ''));
    state.body = body.data;
  },
});

/** Stored responses keep only what a replay needs, and never the route's `notStored` fields. */
function storable(res: HttpResult, notStored: readonly string[] = []): StoredResponse {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers ?? {})) headers[k] = String(v);
  let body = typeof res.body === 'string' ? res.body : '';
  if (notStored.length > 0 && body) {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    for (const field of notStored) delete parsed[field];
    body = JSON.stringify(parsed);
    delete headers['content-length'];
  }
  return { statusCode: res.statusCode ?? 200, headers, body };
}

const idempotencyMiddleware = (store: IdempotencyStore, logger: Logger): MiddlewareObj<HttpEvent, HttpResult> => {
  const finish = async (state: State, res: HttpResult) => {
    const idem = state.idempotency;
    if (!idem?.claimed) return;
    const status = res.statusCode ?? 200;
    try {
      if (status >= 500) await store.release(idem.scope, idem.key);
      else await store.complete(idem.scope, idem.key, storable(res, state.route.notStored));
    } catch (err) {
      // The operation itself committed; a lost record only means a retry re-runs it, and the
      // business guards (transfer ids) keep that retry from applying twice.
      logger.warn('could not store idempotent response', { error: String(err) });
    }
  };
  return {
    before: async (request) => {
      const state = stateOf(request);
      const mode = state.route.idempotency ?? 'none';
      if (mode === 'none' || !state.caller) return;
      const key = request.event.headers['idempotency-key'];
      if (key === undefined) {
        if (mode === 'required') {
          throw new DomainError('idempotency_key_required', 400, 'This route requires an Idempotency-Key header.');
        }
        return;
      }
      if (!IDEMPOTENCY_KEY.test(key)) {
        throw validationFailed([{ path: '/headers/idempotency-key', message: '1 to 255 printable ASCII characters' }]);
      }
      const scope = state.caller.role === 'agent' ? state.caller.agent_id : 'operator';
      const fingerprint = createHash('sha256')
        .update(`${request.event.routeKey}\n${JSON.stringify(request.event.pathParameters ?? {})}\n`)
        .update(rawBody(request.event) ?? '')
        .digest('hex');
      const claim = await store.begin(scope, key, fingerprint);
      switch (claim.kind) {
        case 'claimed':
          state.idempotency = { scope, key, claimed: true };
          return;
        case 'replay':
          return {
            ...claim.response,
            headers: { ...claim.response.headers, 'idempotent-replayed': 'true' },
          };
        case 'in_progress':
          throw new DomainError(
            'request_in_progress',
            409,
            'A request with this Idempotency-Key is still in progress.',
            {},
            undefined,
            1,
          );
        case 'mismatch':
          throw new DomainError(
            'idempotency_key_reused',
            422,
            'This Idempotency-Key was used with a different request.',
          );
      }
    },
    after: async (request) => {
      if (request.response) await finish(stateOf(request), request.response as HttpResult);
    },
    onError: async (request) => {
      // This handler answers (the chain stops here), so it also logs what the last resort would.
      logUnexpected(request.error, logger);
      const response = problemResponse(request.error, currentTraceId());
      const state = states.get(request.event);
      if (state) await finish(state, response);
      return response;
    },
  };
};

/** Errors that are not domain errors are bugs or outages: log them and mark the span. */
function logUnexpected(err: unknown, logger: Logger): void {
  if (err instanceof DomainError) return;
  logger.error('unhandled error', { error: err as Error });
  const span = trace.getActiveSpan();
  if (span) recordError(span, err);
}

/** The last resort for errors raised before the idempotency layer (access, input…). */
const problemMiddleware = (logger: Logger): MiddlewareObj<HttpEvent, HttpResult> => ({
  onError: (request) => {
    logUnexpected(request.error, logger);
    return problemResponse(request.error, currentTraceId());
  },
});

/** Builds the Lambda handler of an HTTP function serving the given routes. */
export function httpFunction(name: string, routes: Record<string, RouteDefinition>, deps: HttpDeps): HttpHandler {
  const access = new Map(ROUTES.map((r) => [routeKey(r), r.access]));
  for (const key of Object.keys(routes)) {
    if (!access.has(key)) throw new Error(`${name}: route ${key} is not in the route table`);
  }

  const core = middy<HttpEvent, HttpResult, Error, Context>()
    .use(problemMiddleware(deps.logger))
    .use(accessMiddleware())
    .use(throttleMiddleware(deps.throttle))
    // The key is claimed before the input is checked, so a 4xx for a bad body is the stored
    // first response too: the same key with a corrected body is then a 422, never a second try.
    .use(idempotencyMiddleware(deps.idempotency, deps.logger))
    .use(inputMiddleware())
    .handler(async (event) => {
      const state = states.get(event);
      if (!state?.caller && state?.access !== 'public') throw unauthorized();
      const scenario = event.headers['x-scenario-id'];
      const trace = currentTraceContext();
      const res = await state.route.handle({
        caller: state.caller ?? { role: 'anonymous' },
        params: (event.pathParameters ?? {}) as Record<string, string>,
        query: state.query,
        body: state.body,
        events: {
          correlation_id: event.requestContext.requestId,
          ...(scenario !== undefined && { scenario_id: scenario }),
          ...(trace && { trace }),
        },
        requestId: event.requestContext.requestId,
        event,
      });
      return {
        statusCode: res.status,
        headers: { 'content-type': 'application/json', ...res.headers },
        body: JSON.stringify(res.body),
      };
    });

  return async (event, context) => {
    const headers = event.headers ?? {};
    const parent = contextFrom({ traceparent: headers.traceparent, tracestate: headers.tracestate });
    return tracer().startActiveSpan(
      `${event.routeKey}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': event.requestContext?.http?.method,
          'http.route': event.routeKey,
          'faas.name': name,
        },
      },
      parent,
      async (span) => {
        try {
          const route = routes[event.routeKey];
          const routeAccess = access.get(event.routeKey);
          if (!route || !routeAccess) {
            return problemResponse(new DomainError('not_found', 404, `No route ${event.routeKey}.`), currentTraceId());
          }
          states.set(event, { route, access: routeAccess });
          const result = (await core(event, context)) as HttpResult;
          span.setAttribute('http.response.status_code', result.statusCode ?? 200);
          const traceId = currentTraceId();
          return traceId ? { ...result, headers: { ...result.headers, 'x-trace-id': traceId } } : result;
        } catch (err) {
          recordError(span, err);
          deps.logger.error('request failed', { error: err as Error });
          return problemResponse(err, currentTraceId());
        } finally {
          span.end();
          await flushTelemetry();
        }
      },
    );
  };
}
