/**
 * The HTTP stack every API function is built with: one middy chain for all routes of a
 * function, selected by API Gateway's `routeKey`, each route as the route table describes it.
 *
 *   tracing (outer wrapper: a span per request, flushed before returning)
 *   → problem      last resort: any error → problem+json (its onError runs last)
 *   → access       caller from the authorizer, checked against the route's access (401/403)
 *   → throttle     per-caller `RateLimiter` (429), `RateLimit` headers on every answer
 *   → idempotency  `Idempotency-Key`: replay, 409 in progress, 422 reused, stored response
 *                  (success or 4xx, the input's refusals included)
 *   → input        content type, size, depth, JSON parse, zod validation of body and query (4xx)
 *   → the route's handler
 *
 * Every error becomes RFC 9457 problem+json through one function (`problemResponse`).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import middy from '@middy/core';
import { type Span, SpanKind } from '@opentelemetry/api';
import type { Context } from 'aws-lambda';
import type { IdempotencyStore } from '../adapters/dynamodb/idempotency.ts';
import {
  contextFrom,
  currentTraceContext,
  currentTraceId,
  flushTelemetry,
  recordError,
  tracer,
} from '../adapters/telemetry/tracing.ts';
import { DomainError } from '../core/errors.ts';
import type { AnyRouteHandler, ApiRequest, RouteHandlers } from './api.ts';
import type { HttpEvent, HttpHandler, HttpResult, StreamingResult } from './contract.ts';
import { accessMiddleware } from './middleware/access.ts';
import { idempotencyMiddleware } from './middleware/idempotency.ts';
import { inputMiddleware } from './middleware/input.ts';
import { problemMiddleware } from './middleware/problem.ts';
import { attachState, peekState, type RequestState } from './middleware/state.ts';
import { type ThrottleOptions, throttleMiddleware } from './middleware/throttle.ts';
import { problemResponse } from './problem.ts';
import { type HttpFunction, type RouteSpec, routeKeysOf, routeSpec } from './routes.ts';

export interface HttpDeps {
  idempotency: IdempotencyStore;
  /** Without it, nothing is throttled (tests; AWS still throttles per stage). */
  throttle?: ThrottleOptions;
  logger: Logger;
}

/** What the stack hands the handler, from the state the middlewares filled. */
function apiRequest(event: HttpEvent, state: RequestState): ApiRequest {
  const scenario = event.headers['x-scenario-id'];
  const trace = currentTraceContext();
  return {
    caller: state.caller ?? { role: 'anonymous' },
    params: (event.pathParameters ?? {}) as Record<string, string>,
    query: state.query as ApiRequest['query'],
    body: state.body as ApiRequest['body'],
    idempotencyKey: state.idempotency?.key,
    events: {
      correlation_id: event.requestContext.requestId,
      ...(scenario !== undefined && { scenario_id: scenario }),
      ...(trace && { trace }),
    },
    requestId: event.requestContext.requestId,
    event,
  } as ApiRequest;
}

function chain(handlers: Readonly<Record<string, AnyRouteHandler>>, deps: HttpDeps) {
  const core = middy<HttpEvent, HttpResult, Error, Context>().use(problemMiddleware({ logger: deps.logger }));
  core.use(accessMiddleware());
  if (deps.throttle) core.use(throttleMiddleware(deps.throttle));
  // The key is claimed before the input is checked, so a 4xx for a bad body is the stored
  // first response too: the same key with a corrected body is then a 422, never a second try.
  core.use(idempotencyMiddleware({ store: deps.idempotency, logger: deps.logger }));
  core.use(inputMiddleware());
  return core.handler(async (event): Promise<StreamingResult> => {
    const state = peekState(event);
    const handle = handlers[event.routeKey];
    if (!state || !handle) throw new Error(`no handler for ${event.routeKey}`);
    const res = await handle(apiRequest(event, state));
    if ('stream' in res) return { statusCode: res.status, headers: { ...res.headers }, body: '', stream: res.stream };
    return {
      statusCode: res.status,
      headers: { 'content-type': 'application/json', ...res.headers },
      // A final newline, so that an answer printed by curl ends its line.
      body: `${JSON.stringify(res.body)}\n`,
    };
  });
}

/** The answer with the headers every answer carries: the stack's (rate limits) and the trace id. */
function finalHeaders(result: HttpResult, state: RequestState | undefined): HttpResult {
  const traceId = currentTraceId();
  return {
    ...result,
    headers: { ...result.headers, ...state?.headers, ...(traceId && { 'x-trace-id': traceId }) },
  };
}

function traced(name: string, event: HttpEvent, run: (span: Span) => Promise<HttpResult>): Promise<HttpResult> {
  const headers = event.headers ?? {};
  const parent = contextFrom({ traceparent: headers.traceparent, tracestate: headers.tracestate });
  const attributes = {
    'http.request.method': event.requestContext?.http?.method,
    'http.route': event.routeKey,
    'faas.name': name,
  };
  return tracer().startActiveSpan(`${event.routeKey}`, { kind: SpanKind.SERVER, attributes }, parent, async (span) => {
    try {
      const result = await run(span);
      span.setAttribute('http.response.status_code', result.statusCode ?? 200);
      return result;
    } finally {
      span.end();
      await flushTelemetry();
    }
  });
}

/**
 * The stack over any routes of the table (tests mix routes of several functions). Refuses a
 * handler for a route the table does not have.
 */
export function httpStack(
  name: string,
  handlers: Readonly<Record<string, AnyRouteHandler>>,
  deps: HttpDeps,
): HttpHandler {
  const specs = new Map<string, RouteSpec>();
  for (const key of Object.keys(handlers)) {
    const spec = routeSpec(key);
    if (!spec) throw new Error(`${name}: route ${key} is not in the route table`);
    specs.set(key, spec);
  }
  const core = chain(handlers, deps);
  return (event, context) =>
    traced(name, event, async (span) => {
      const spec = specs.get(event.routeKey);
      if (!spec) {
        return finalHeaders(
          problemResponse(new DomainError('not_found', 404, `No route ${event.routeKey}.`), currentTraceId()),
          undefined,
        );
      }
      const state = attachState(event, spec);
      try {
        return finalHeaders((await core(event, context)) as HttpResult, state);
      } catch (err) {
        // Only a failure of the stack itself gets here (the problem middleware answers the rest).
        recordError(span, err);
        deps.logger.error('request failed', { error: err as Error });
        return finalHeaders(problemResponse(err, currentTraceId()), state);
      }
    });
}

/**
 * The Lambda handler of HTTP function `fn`: exactly its routes of the table, each with its
 * handler (the types demand it; the check here covers what bypasses them).
 */
export function httpFunction<F extends HttpFunction>(fn: F, handlers: RouteHandlers<F>, deps: HttpDeps): HttpHandler {
  const served = Object.keys(handlers).sort();
  const expected = routeKeysOf(fn).sort();
  if (served.join('\n') !== expected.join('\n')) {
    throw new Error(`${fn}: serves [${served.join(', ')}] but the route table gives it [${expected.join(', ')}]`);
  }
  // Each handler's request type is narrower than the stack's; the table guarantees the match.
  return httpStack(fn, handlers as unknown as Record<string, AnyRouteHandler>, deps);
}
