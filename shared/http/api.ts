/**
 * What a route handler is given and what it answers, derived from its entry in the route
 * table: the caller's type follows the route's access (an `agent` route's handler gets an
 * agent, statically), the body and query are the outputs of the route's schemas, and the
 * answer's body must fit the response schema of its status.
 */
import type { z } from 'zod';
import type { EventContext } from '../core/events.ts';
import type { HttpEvent } from './contract.ts';
import type { Access, HttpFunction, RouteKey, RouteKeyOf, RouteSpec, SpecOf } from './routes.ts';

export type AgentCaller = { role: 'agent'; agent_id: string };
export type OperatorCaller = { role: 'operator' };
export type RaterCaller = { role: 'rater'; rater_id: string };
export type AnonymousCaller = { role: 'anonymous' };
/** `anonymous` only reaches public routes, a rater only `human` routes. */
export type Caller = AgentCaller | RaterCaller | OperatorCaller | AnonymousCaller;

export type CallerOf<A extends Access> = A extends 'agent'
  ? AgentCaller
  : A extends 'operator'
    ? OperatorCaller
    : A extends 'authenticated'
      ? AgentCaller | OperatorCaller
      : A extends 'human'
        ? RaterCaller | OperatorCaller
        : AnonymousCaller;

type Output<T, Fallback> = T extends z.ZodType ? z.output<T> : Fallback;

export interface ApiRequest<S extends RouteSpec = RouteSpec> {
  caller: CallerOf<S['access']>;
  params: Record<string, string>;
  query: Output<S['query'], Record<string, never>>;
  body: Output<S['body'], undefined>;
  /** The request's `Idempotency-Key`; always present on routes that require one. */
  idempotencyKey: S['idempotency'] extends 'required' ? string : string | undefined;
  /** Carried by every event the request causes. */
  events: EventContext;
  requestId: string;
  event: HttpEvent;
}

type StatusOf<S extends RouteSpec> = keyof S['responses'] & number;

/** A 200 `text/event-stream` answer, for routes whose spec says `stream: true`. */
export interface StreamAnswer {
  status: 200;
  stream: ReadableStream<Uint8Array>;
  headers: Record<string, string>;
}

export type ApiResponse<S extends RouteSpec = RouteSpec> =
  | {
      [St in StatusOf<S>]: { status: St; body: z.input<S['responses'][St]>; headers?: Record<string, string> };
    }[StatusOf<S>]
  | (S extends { stream: true } ? StreamAnswer : never);

export type RouteHandler<K extends RouteKey> = (req: ApiRequest<SpecOf<K>>) => Promise<ApiResponse<SpecOf<K>>>;

/** Exactly the routes of function `F`, each with its handler. */
export type RouteHandlers<F extends HttpFunction> = { [K in RouteKeyOf<F>]: RouteHandler<K> };

/** A handler as the stack calls it, whatever its route. */
export type AnyRouteHandler = (
  req: ApiRequest,
) => Promise<{ status: number; body: unknown; headers?: Record<string, string> } | StreamAnswer>;
