/**
 * The route table: the single record of every HTTP route. Each entry says who may call it,
 * the function serving it, the schemas of its body, query and responses, its idempotency and
 * the headers it documents. The CDK stack creates API Gateway routes from it, the local server
 * dispatches with it, the handlers' request and response types derive from it, and so does the
 * OpenAPI document: none of them can disagree with another.
 */
import type { z } from 'zod';
import * as res from './responses.ts';
import {
  agentEventBody,
  agentStateBody,
  chatCompletionBody,
  createRaterBody,
  deadLettersQuery,
  eventsQuery,
  listAllocationsQuery,
  listBidsQuery,
  listPromptsQuery,
  pageQuery,
  placeBidBody,
  priceHistoryQuery,
  quoteBody,
  registerAgentBody,
  rewardBody,
  spawnChildBody,
  startExecutionBody,
  submitPromptBody,
  terminationBody,
  transferBody,
  usageBody,
} from './schemas.ts';

/**
 * Who may call a route. `public` routes skip the authorizer; `authenticated` admits agents and
 * the operator; `human` admits raters and the operator (the human's queue and rewards). A rater
 * key reaches nothing but `human` routes.
 */
export type Access = 'public' | 'authenticated' | 'agent' | 'operator' | 'human';

/**
 * `required`: a request without `Idempotency-Key` is refused. `optional`: a key is honoured when
 * given. `none`: the header is ignored (reads).
 */
export type IdempotencyMode = 'required' | 'optional' | 'none';

export const HTTP_FUNCTIONS = [
  'health',
  'agents',
  'transfers',
  'bids',
  'rounds',
  'allocations',
  'market',
  'events',
  'llm',
  'executions',
  'prompts',
  'raters',
  'economy',
] as const;
export type HttpFunction = (typeof HTTP_FUNCTIONS)[number];

/** A response header a route documents beyond those the HTTP stack adds to every answer. */
export interface HeaderDoc {
  description: string;
  schema: Record<string, unknown>;
}

export interface RouteSpec {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** API Gateway path syntax: `{id}` for a path parameter. */
  path: string;
  /** Name of the function under `functions/http/<fn>.ts`. */
  fn: HttpFunction;
  access: Access;
  summary: string;
  body?: z.ZodType;
  /** A request without a body is read as `{}` (routes whose body is an empty object). */
  bodyOptional?: boolean;
  query?: z.ZodType;
  idempotency: IdempotencyMode;
  /**
   * Top-level body fields never stored with the idempotent response (secrets shown once, such
   * as a new agent's `api_key`): a replay answers without them.
   */
  notStored?: readonly string[];
  /** Success statuses and the schema of each one's body. */
  responses: Readonly<Record<number, z.ZodType>>;
  headers?: Readonly<Record<string, HeaderDoc>>;
  /**
   * The route may answer 200 as `text/event-stream` (its handler returns a stream): streamed by
   * the local server and the streaming function URL, buffered whole behind API Gateway.
   */
  stream?: true;
}

export const ROUTES = [
  {
    method: 'GET',
    path: '/v1/health',
    fn: 'health',
    access: 'public',
    summary: 'Liveness and version',
    idempotency: 'none',
    responses: { 200: res.healthResponse },
  },
  {
    method: 'GET',
    path: '/v1/openapi.json',
    fn: 'health',
    access: 'public',
    summary: 'This document',
    idempotency: 'none',
    responses: { 200: res.openApiResponse },
  },
  {
    method: 'POST',
    path: '/v1/agents',
    fn: 'agents',
    access: 'operator',
    summary: 'Register an agent with an initial grant (minted); returns its API key once',
    body: registerAgentBody,
    idempotency: 'optional',
    // The key is shown once and kept only as a hash: a replayed registration answers without it.
    notStored: ['api_key'],
    responses: { 201: res.agentRegistered },
  },
  {
    method: 'GET',
    path: '/v1/agents',
    fn: 'agents',
    access: 'operator',
    summary: 'List agents',
    query: pageQuery,
    idempotency: 'none',
    responses: { 200: res.agentList },
  },
  {
    method: 'GET',
    path: '/v1/agents/{id}',
    fn: 'agents',
    access: 'authenticated',
    summary: 'Profile: state, balance, totals, lineage',
    idempotency: 'none',
    responses: { 200: res.agentProfile },
  },
  {
    method: 'GET',
    path: '/v1/agents/{id}/balance',
    fn: 'agents',
    access: 'authenticated',
    summary: 'Balance (emits balance_queried)',
    idempotency: 'none',
    responses: { 200: res.agentBalance },
  },
  {
    method: 'GET',
    path: '/v1/agents/{id}/history',
    fn: 'agents',
    access: 'authenticated',
    summary: 'Ledger entries, newest first',
    query: pageQuery,
    idempotency: 'none',
    responses: { 200: res.agentHistory },
  },
  {
    method: 'PUT',
    path: '/v1/agents/{id}/state',
    fn: 'agents',
    access: 'agent',
    summary: 'Go dormant or wake up (voluntary)',
    body: agentStateBody,
    idempotency: 'optional',
    responses: { 200: res.agentProfile },
  },
  {
    method: 'POST',
    path: '/v1/agents/{id}/children',
    fn: 'agents',
    access: 'agent',
    summary: 'Spawn a child: the spawn fee is burned, the initial balance moves to the child; returns its API key once',
    body: spawnChildBody,
    idempotency: 'required',
    // The child's key is shown once and kept only as a hash: a replayed spawn answers without it.
    notStored: ['api_key'],
    responses: { 201: res.agentSpawned },
  },
  {
    method: 'GET',
    path: '/v1/agents/{id}/children',
    fn: 'agents',
    access: 'authenticated',
    summary: "An agent's children, newest first",
    query: pageQuery,
    idempotency: 'none',
    responses: { 200: res.childList },
  },
  {
    method: 'POST',
    path: '/v1/transfers',
    fn: 'transfers',
    access: 'agent',
    summary: 'Transfer credits to another agent',
    body: transferBody,
    idempotency: 'required',
    responses: { 201: res.transferMade },
  },
  {
    method: 'POST',
    path: '/v1/bids',
    fn: 'bids',
    access: 'agent',
    summary: 'Place an all-or-nothing bundle bid in the open round; its amount is escrowed',
    body: placeBidBody,
    idempotency: 'required',
    responses: { 201: res.bidPlaced },
  },
  {
    method: 'GET',
    path: '/v1/bids',
    fn: 'bids',
    access: 'authenticated',
    summary: "The caller's bids (operator: ?agent_id=)",
    query: listBidsQuery,
    idempotency: 'none',
    responses: { 200: res.bidList },
  },
  {
    method: 'GET',
    path: '/v1/bids/{id}',
    fn: 'bids',
    access: 'authenticated',
    summary: 'A bid and its status',
    idempotency: 'none',
    responses: { 200: res.bid },
  },
  {
    method: 'DELETE',
    path: '/v1/bids/{id}',
    fn: 'bids',
    access: 'agent',
    summary: 'Cancel a pending bid (escrow refunded)',
    idempotency: 'optional',
    responses: { 200: res.bid },
  },
  {
    method: 'GET',
    path: '/v1/rounds/{round}',
    fn: 'rounds',
    access: 'authenticated',
    summary: "A round's state and statistics",
    idempotency: 'none',
    responses: { 200: res.roundState },
  },
  {
    method: 'POST',
    path: '/v1/rounds/clear',
    fn: 'rounds',
    access: 'operator',
    summary: 'Clear every due round now',
    idempotency: 'optional',
    responses: { 200: res.roundsCleared },
  },
  {
    method: 'GET',
    path: '/v1/allocations',
    fn: 'allocations',
    access: 'authenticated',
    summary: "The caller's allocations (operator: ?agent_id=, or every one not yet ended)",
    query: listAllocationsQuery,
    idempotency: 'none',
    responses: { 200: res.allocationList },
  },
  {
    method: 'GET',
    path: '/v1/allocations/{id}',
    fn: 'allocations',
    access: 'authenticated',
    summary: 'An execution context: bundle, window, seconds left, token budget',
    idempotency: 'none',
    responses: { 200: res.allocation },
  },
  {
    method: 'POST',
    path: '/v1/allocations/{id}/usage',
    fn: 'allocations',
    access: 'agent',
    summary: "Draw tokens from the allocation's budget (never below zero, only inside its window)",
    body: usageBody,
    idempotency: 'required',
    responses: { 200: res.tokensMetered },
  },
  {
    method: 'GET',
    path: '/v1/market',
    fn: 'market',
    access: 'authenticated',
    summary: 'Prices, bounds, capacity, utilization, open round',
    idempotency: 'none',
    responses: { 200: res.marketState },
  },
  {
    method: 'GET',
    path: '/v1/market/history',
    fn: 'market',
    access: 'authenticated',
    summary: 'Price series of a resource',
    query: priceHistoryQuery,
    idempotency: 'none',
    responses: { 200: res.priceHistory },
  },
  {
    method: 'POST',
    path: '/v1/market/quote',
    fn: 'market',
    access: 'authenticated',
    summary: 'Reference and floor cost of a bundle',
    body: quoteBody,
    idempotency: 'none',
    responses: { 200: res.quote },
  },
  {
    method: 'POST',
    path: '/v1/events',
    fn: 'events',
    access: 'agent',
    summary: 'Publish an agent event (reasoning, tool calls, reflection, code changes)',
    body: agentEventBody,
    idempotency: 'optional',
    responses: { 201: res.eventPublished },
  },
  {
    method: 'GET',
    path: '/v1/events',
    fn: 'events',
    access: 'authenticated',
    summary: 'The event log in id order: own events for agents, all for the operator',
    query: eventsQuery,
    idempotency: 'none',
    responses: { 200: res.eventPage },
  },
  {
    method: 'GET',
    path: '/v1/dead-letters',
    fn: 'events',
    access: 'operator',
    summary: 'Bus events a pipeline target gave up on, newest first',
    query: deadLettersQuery,
    idempotency: 'none',
    responses: { 200: res.deadLetterPage },
  },
  {
    method: 'POST',
    path: '/v1/llm/chat/completions',
    fn: 'llm',
    access: 'agent',
    summary:
      'OpenAI-compatible chat completion, charged to the allocation of X-Allocation-Id (or the only active one); stream: true answers SSE',
    body: chatCompletionBody,
    idempotency: 'none',
    stream: true,
    responses: { 200: res.chatCompletion },
    headers: {
      'X-Syntropism-Overhead-Ms': {
        description: "The gateway's own time for this call in ms, the provider's excluded.",
        schema: { type: 'integer', minimum: 0 },
      },
      'X-Syntropism-Allocation-Id': {
        description: 'The allocation the call is charged to.',
        schema: { type: 'string' },
      },
      'X-Syntropism-Tokens-Charged': {
        description: 'Allocation tokens drawn: usage × the model weight, rounded up (not on streams).',
        schema: { type: 'integer', minimum: 0 },
      },
      'X-Syntropism-Tokens-Remaining': {
        description: 'What the allocation has left after the call (not on streams).',
        schema: { type: 'integer', minimum: 0 },
      },
    },
  },
  {
    method: 'GET',
    path: '/v1/llm/models',
    fn: 'llm',
    access: 'agent',
    summary: 'The models the gateway allows, with their weights (OpenAI list shape)',
    idempotency: 'none',
    responses: { 200: res.modelList },
  },
  {
    method: 'POST',
    path: '/v1/allocations/{id}/executions',
    fn: 'executions',
    access: 'agent',
    summary: "Start an execution of the caller's process inside its active allocation (the execution runner)",
    body: startExecutionBody,
    bodyOptional: true,
    idempotency: 'required',
    responses: { 201: res.execution },
  },
  {
    method: 'POST',
    path: '/v1/executions/{id}/termination',
    fn: 'executions',
    access: 'agent',
    summary: 'Record how an execution ended: exit code, reason, signal, duration (agent-attested)',
    body: terminationBody,
    idempotency: 'required',
    responses: { 200: res.execution },
  },
  {
    method: 'GET',
    path: '/v1/executions/{id}',
    fn: 'executions',
    access: 'authenticated',
    summary: 'An execution and, once ended, its termination',
    idempotency: 'none',
    responses: { 200: res.execution },
  },
  {
    method: 'POST',
    path: '/v1/prompts',
    fn: 'prompts',
    access: 'agent',
    summary: "Show the human a prompt: one per active allocation of the caller's that holds attention",
    body: submitPromptBody,
    idempotency: 'optional',
    responses: { 201: res.prompt },
  },
  {
    method: 'GET',
    path: '/v1/prompts',
    fn: 'prompts',
    access: 'human',
    summary: "The human's queue: pending prompts by attention bid (credits per attention-second), then age",
    query: listPromptsQuery,
    idempotency: 'none',
    responses: { 200: res.promptList },
  },
  {
    method: 'POST',
    path: '/v1/prompts/{id}/reward',
    fn: 'prompts',
    access: 'human',
    summary: 'Score a prompt 0–10 three ways; the weighted sum is minted to its agent, once',
    body: rewardBody,
    idempotency: 'required',
    responses: { 201: res.rewardIssued },
  },
  {
    method: 'POST',
    path: '/v1/raters',
    fn: 'raters',
    access: 'operator',
    summary: "Create a rater: a human's key that may only read the prompt queue and reward; shown once",
    body: createRaterBody,
    idempotency: 'optional',
    notStored: ['api_key'],
    responses: { 201: res.raterCreated },
  },
  {
    method: 'GET',
    path: '/v1/raters',
    fn: 'raters',
    access: 'operator',
    summary: 'List raters, revoked ones included',
    query: pageQuery,
    idempotency: 'none',
    responses: { 200: res.raterList },
  },
  {
    method: 'DELETE',
    path: '/v1/raters/{id}',
    fn: 'raters',
    access: 'operator',
    summary: "Revoke a rater's key (at once: every reward re-checks it)",
    idempotency: 'optional',
    responses: { 200: res.rater },
  },
  {
    method: 'GET',
    path: '/v1/economy',
    fn: 'economy',
    access: 'authenticated',
    summary: 'The money supply: minted by source (grants, rewards), burned by purpose, escrowed, circulating, ceilings',
    idempotency: 'none',
    responses: { 200: res.economy },
  },
] as const satisfies readonly RouteSpec[];

type AnyRoute = (typeof ROUTES)[number];
type KeyOf<S> = S extends { method: infer M extends string; path: infer P extends string } ? `${M} ${P}` : never;

/** `GET /v1/agents/{id}`: the API Gateway v2 `routeKey` of a route. */
export type RouteKey = KeyOf<AnyRoute>;
/** The spec of one route, with its literal types (access, schemas, statuses). */
export type SpecOf<K extends RouteKey> = AnyRoute extends infer S
  ? S extends unknown
    ? KeyOf<S> extends K
      ? S
      : never
    : never
  : never;
/** The routes a function serves. */
export type RouteKeyOf<F extends HttpFunction> = {
  [K in RouteKey]: SpecOf<K>['fn'] extends F ? K : never;
}[RouteKey];

export const routeKey = (r: Pick<RouteSpec, 'method' | 'path'>) => `${r.method} ${r.path}`;

const BY_KEY: ReadonlyMap<string, RouteSpec> = new Map(ROUTES.map((r) => [routeKey(r), r]));

/** The spec of a `routeKey`, if the table has it. */
export const routeSpec = (key: string): RouteSpec | undefined => BY_KEY.get(key);

/** The route keys a function serves, in table order. */
export const routeKeysOf = (fn: HttpFunction): string[] => ROUTES.filter((r) => r.fn === fn).map(routeKey);
