/**
 * The route table: every HTTP route, the function that serves it and who may call it.
 * The CDK stack creates API Gateway routes from it and the local server dispatches with it,
 * so the two can never disagree.
 */

/** Who may call a route. `public` routes skip the authorizer. */
export type Access = 'public' | 'authenticated' | 'agent' | 'operator';

export interface RouteSpec {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** API Gateway path syntax: `{id}` for a path parameter. */
  path: string;
  /** Name of the function under `functions/http/<fn>.ts`. */
  fn: HttpFunction;
  access: Access;
}

export const HTTP_FUNCTIONS = ['health', 'agents', 'transfers', 'bids', 'rounds', 'market', 'events'] as const;
export type HttpFunction = (typeof HTTP_FUNCTIONS)[number];

export const ROUTES: readonly RouteSpec[] = [
  { method: 'GET', path: '/v1/health', fn: 'health', access: 'public' },
  { method: 'GET', path: '/v1/openapi.json', fn: 'health', access: 'public' },
  { method: 'POST', path: '/v1/agents', fn: 'agents', access: 'operator' },
  { method: 'GET', path: '/v1/agents', fn: 'agents', access: 'operator' },
  { method: 'GET', path: '/v1/agents/{id}', fn: 'agents', access: 'authenticated' },
  { method: 'GET', path: '/v1/agents/{id}/balance', fn: 'agents', access: 'authenticated' },
  { method: 'GET', path: '/v1/agents/{id}/history', fn: 'agents', access: 'authenticated' },
  { method: 'PUT', path: '/v1/agents/{id}/state', fn: 'agents', access: 'agent' },
  { method: 'POST', path: '/v1/transfers', fn: 'transfers', access: 'agent' },
  { method: 'POST', path: '/v1/bids', fn: 'bids', access: 'agent' },
  { method: 'GET', path: '/v1/bids', fn: 'bids', access: 'authenticated' },
  { method: 'GET', path: '/v1/bids/{id}', fn: 'bids', access: 'authenticated' },
  { method: 'DELETE', path: '/v1/bids/{id}', fn: 'bids', access: 'agent' },
  { method: 'GET', path: '/v1/rounds/{round}', fn: 'rounds', access: 'authenticated' },
  { method: 'POST', path: '/v1/rounds/clear', fn: 'rounds', access: 'operator' },
  { method: 'GET', path: '/v1/market', fn: 'market', access: 'authenticated' },
  { method: 'GET', path: '/v1/market/history', fn: 'market', access: 'authenticated' },
  { method: 'POST', path: '/v1/market/quote', fn: 'market', access: 'authenticated' },
  { method: 'POST', path: '/v1/events', fn: 'events', access: 'agent' },
  { method: 'GET', path: '/v1/events', fn: 'events', access: 'authenticated' },
  { method: 'GET', path: '/v1/dead-letters', fn: 'events', access: 'operator' },
];

/** `GET /v1/agents/{id}` — the API Gateway v2 `routeKey` of a route. */
export const routeKey = (r: Pick<RouteSpec, 'method' | 'path'>) => `${r.method} ${r.path}`;
