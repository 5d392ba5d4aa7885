/**
 * What the middlewares of one request learn and hand on (the route, the caller, the parsed
 * input, the claimed idempotency key, headers for the answer), kept beside the event.
 */
import type { Request } from '@middy/core';
import type { Caller } from '../api.ts';
import type { HttpEvent } from '../contract.ts';
import type { RouteSpec } from '../routes.ts';

export interface RequestState {
  spec: RouteSpec;
  caller?: Caller;
  body?: unknown;
  query?: unknown;
  idempotency?: { scope: string; key: string };
  /** Added to whatever the request is answered with, replays and problems included. */
  headers: Record<string, string>;
}

const states = new WeakMap<object, RequestState>();

export function attachState(event: HttpEvent, spec: RouteSpec): RequestState {
  const state: RequestState = { spec, headers: {} };
  states.set(event, state);
  return state;
}

export const peekState = (event: HttpEvent): RequestState | undefined => states.get(event);

export function stateOf(request: Request<HttpEvent>): RequestState {
  const state = states.get(request.event);
  if (!state) throw new Error('request state missing: the stack attaches it before middy runs');
  return state;
}

/** The scope of idempotency keys and rate limits: one per agent, one for the operator. */
export const callerKey = (caller: Caller): string => {
  if (caller.role === 'agent') return caller.agent_id;
  return caller.role === 'rater' ? `rater:${caller.rater_id}` : caller.role;
};
