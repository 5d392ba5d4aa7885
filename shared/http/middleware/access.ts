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
  const caller = callerOf(ctx);
  if (!caller) throw unauthorized();
  if (access === 'operator' && caller.role !== 'operator') throw forbidden('This route is for the operator.');
  if (access === 'agent' && caller.role !== 'agent') throw forbidden('This route is for agents.');
  if (access === 'human' && caller.role === 'agent') throw forbidden('Only a rater or the operator can do this.');
  if (access !== 'human' && caller.role === 'rater') {
    throw forbidden('A rater key may only read the prompt queue and reward prompts.');
  }
  return caller;
}

function callerOf(ctx: CallerContext | undefined): Caller | undefined {
  const named = (id: unknown): id is string => typeof id === 'string' && id.length > 0;
  if (ctx?.role === 'operator') return { role: 'operator' };
  if (ctx?.role === 'agent' && named(ctx.agent_id)) return { role: 'agent', agent_id: ctx.agent_id };
  if (ctx?.role === 'rater' && named(ctx.rater_id)) return { role: 'rater', rater_id: ctx.rater_id };
  return undefined;
}

export function accessMiddleware(): MiddlewareObj<HttpEvent, HttpResult> {
  return {
    before: (request) => {
      const state = stateOf(request);
      state.caller = admit(state.spec.access, request.event.requestContext.authorizer?.lambda);
    },
  };
}
