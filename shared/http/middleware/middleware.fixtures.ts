/**
 * Test fixtures for the middlewares: an API Gateway v2 event of a real route and the middy
 * request around it, with the stack's state attached as `httpStack` does.
 */
import type { Request } from '@middy/core';
import type { Context } from 'aws-lambda';
import type { CallerContext, HttpEvent, HttpResult } from '../contract.ts';
import { routeSpec } from '../routes.ts';
import { attachState } from './state.ts';

export interface FixtureOptions {
  caller?: CallerContext;
  headers?: Record<string, string>;
  body?: string;
  query?: Record<string, string>;
}

export function fixtureRequest(key: string, opts: FixtureOptions = {}): Request<HttpEvent, HttpResult, Error, Context> {
  const spec = routeSpec(key);
  if (!spec) throw new Error(`no route ${key}`);
  const event = {
    version: '2.0',
    routeKey: key,
    rawPath: spec.path,
    rawQueryString: '',
    headers: { ...(opts.body !== undefined && { 'content-type': 'application/json' }), ...opts.headers },
    ...(opts.query && { queryStringParameters: opts.query }),
    requestContext: {
      requestId: 'req-1',
      routeKey: key,
      http: { method: spec.method, path: spec.path },
      ...(opts.caller && { authorizer: { lambda: opts.caller } }),
    },
    isBase64Encoded: false,
    ...(opts.body !== undefined && { body: opts.body }),
  } as unknown as HttpEvent;
  attachState(event, spec);
  return { event, context: {} as Context, response: undefined, error: undefined, internal: {} } as unknown as Request<
    HttpEvent,
    HttpResult,
    Error,
    Context
  >;
}
