/**
 * Access: the caller from the authorizer's context, checked against the route's access
 * (401 without a caller, 403 for the wrong role). Public routes take anyone, as `anonymous`.
 */
import type { MiddlewareObj } from '@middy/core';
import { forbidden, unauthorized } from '../../core/errors.ts';
import type { Caller } from '../api.ts';
import type { CallerContext, HttpEvent, HttpResult } from '../contract.ts';
import type { Access } from '../routes.ts';
import { stateOf } from './state.ts';

/** The caller a route admits, or the 401/403 that refuses it. */
export function admit(access: Access, ctx: CallerContext | undefined): Caller {
  if (access === 'public') return { role: 'anonymous' };
  let caller: Caller | undefined;
  if (ctx?.role === 'operator') caller = { role: 'operator' };
  else if (ctx?.role === 'agent' && typeof ctx.agent_id === 'string' && ctx.agent_id) {
    caller = { role: 'agent', agent_id: ctx.agent_id };
  }
  if (!caller) throw unauthorized();
  if (access === 'operator' && caller.role !== 'operator') throw forbidden('This route is for the operator.');
  if (access === 'agent' && caller.role !== 'agent') throw forbidden('This route is for agents.');
  return caller;
}

export function accessMiddleware(): MiddlewareObj<HttpEvent, HttpResult> {
  return {
    before: (request) => {
      const state = stateOf(request);
      state.caller = admit(state.spec.access, request.event.requestContext.authorizer?.lambda);
    },
  };
}
