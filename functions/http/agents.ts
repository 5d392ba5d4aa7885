/**
 * Agents API: registration (operator), profile, balance, history, voluntary state, and
 * spawning (an agent's children).
 */

import type { Agents } from '#shared/adapters/dynamodb/agents';
import { callerOf } from '#shared/adapters/dynamodb/cursor';
import type { Ledger } from '#shared/adapters/dynamodb/ledger';
import type { Spawning } from '#shared/adapters/dynamodb/spawning';
import { lambdaEntry } from '#shared/adapters/lazy-handler';
import { agentsOf, ledgerBaseFrom, ledgerOf, spawningOf } from '#shared/adapters/services';
import type { Config } from '#shared/config';
import { notFound, validationFailed } from '#shared/core/errors';
import { formatCredits, type Micros, parseCredits } from '#shared/core/money';
import type { HttpHandler } from '#shared/http/contract';
import { httpDepsOf } from '#shared/http/http-deps';
import { type HttpDeps, httpFunction } from '#shared/http/http-function';
import { assertSelf, assertSelfOrOperator } from '#shared/http/ownership';
import {
  presentAgentSummary,
  presentChild,
  presentEntry,
  presentProfile,
  presentSpawned,
} from '#shared/http/presenters';
import { agentId } from '#shared/http/schemas';

export interface AgentsDeps {
  agents: Agents;
  ledger: Ledger;
  /** The economy's `money.max_grant`: the most one registration may mint (µcr). */
  maxGrant: Micros;
  spawning: Spawning;
  http: HttpDeps;
}

/** Checks ownership first (403 never depends on existence), then the id's shape. */
function ownId(params: Record<string, string>): string {
  const id = params.id ?? '';
  if (!agentId.safeParse(id).success) throw validationFailed([{ path: '/path/id', message: 'not an agent id' }]);
  return id;
}

export function makeHandler({ agents, ledger, maxGrant, spawning, http }: AgentsDeps): HttpHandler {
  return httpFunction(
    'agents',
    {
      'POST /v1/agents': async ({ body, events }) => {
        if (body.initial_balance > maxGrant) {
          const max = formatCredits(maxGrant);
          throw validationFailed([{ path: '/initial_balance', message: `must be at most ${max} (money.max_grant)` }]);
        }
        const { agent, api_key, balance } = await agents.register(
          { name: body.name, initial_balance: body.initial_balance },
          events,
        );
        return { status: 201, body: { ...presentAgentSummary(agent), api_key, balance: formatCredits(balance) } };
      },
      'GET /v1/agents': async ({ caller, query }) => {
        const page = await agents.list({ ...query, caller: callerOf(caller) });
        return { status: 200, body: { agents: page.agents.map(presentAgentSummary), next_cursor: page.next_cursor } };
      },
      'GET /v1/agents/{id}': async ({ caller, params }) => {
        assertSelfOrOperator(caller, params.id ?? '');
        const id = ownId(params);
        const profile = await agents.profile(id);
        if (!profile) throw notFound(`Agent ${id}`);
        return { status: 200, body: presentProfile(profile) };
      },
      'GET /v1/agents/{id}/balance': async ({ caller, params, events }) => {
        assertSelfOrOperator(caller, params.id ?? '');
        const id = ownId(params);
        const balance = await agents.queryBalance(id, events);
        return { status: 200, body: { agent_id: id, balance: formatCredits(balance) } };
      },
      'GET /v1/agents/{id}/history': async ({ caller, params, query }) => {
        assertSelfOrOperator(caller, params.id ?? '');
        const id = ownId(params);
        if (!(await ledger.getAccount(id, false))) throw notFound(`Agent ${id}`);
        const page = await ledger.history(id, { ...query, caller: callerOf(caller) });
        return { status: 200, body: { entries: page.entries.map(presentEntry), next_cursor: page.next_cursor } };
      },
      'PUT /v1/agents/{id}/state': async ({ caller, params, body, events }) => {
        assertSelf(caller, params.id ?? '');
        const profile = await agents.setState(ownId(params), body.state, events);
        return { status: 200, body: presentProfile(profile) };
      },
      'POST /v1/agents/{id}/children': async ({ caller, params, body, events, idempotencyKey }) => {
        assertSelf(caller, params.id ?? '');
        const outcome = await spawning.spawn(
          {
            parent_id: ownId(params),
            idempotency_key: idempotencyKey,
            name: body.name,
            initial_balance: body.initial_balance,
            ...(body.metadata !== undefined && { metadata: body.metadata }),
          },
          events,
        );
        return { status: 201, body: presentSpawned(outcome) };
      },
      'GET /v1/agents/{id}/children': async ({ caller, params, query }) => {
        assertSelfOrOperator(caller, params.id ?? '');
        const id = ownId(params);
        if (!(await agents.get(id))) throw notFound(`Agent ${id}`);
        const page = await spawning.children(id, { ...query, caller: callerOf(caller) });
        return { status: 200, body: { children: page.children.map(presentChild), next_cursor: page.next_cursor } };
      },
    },
    http,
  );
}

/** Agents and their accounts: the ledger and its writer, no market. */
export function agentsDepsOf(config: Config): AgentsDeps {
  const base = ledgerBaseFrom(config);
  const ledger = ledgerOf(base, config);
  return {
    agents: agentsOf(base, ledger),
    ledger,
    maxGrant: parseCredits(base.economy.money.max_grant),
    spawning: spawningOf(base, ledger, base.economy),
    http: httpDepsOf(base.table, config, base.runtime),
  };
}

export const handler = lambdaEntry((config) => makeHandler(agentsDepsOf(config)));
