/**
 * Agents API: registration (operator), profile, balance, history, voluntary state.
 */
import { callerOf } from '#shared/adapters/dynamodb/cursor';
import { services } from '#shared/adapters/services';
import { notFound, validationFailed } from '#shared/core/errors';
import { formatCredits } from '#shared/core/money';
import { defineRoute, httpFunction } from '#shared/http/http-function';
import { assertSelf, assertSelfOrOperator } from '#shared/http/ownership';
import { presentAgentSummary, presentEntry, presentProfile } from '#shared/http/presenters';
import { agentId, agentStateBody, pageQuery, registerAgentBody } from '#shared/http/schemas';

const s = services();

/** Checks ownership first (403 never depends on existence), then the id's shape. */
function ownId(params: Record<string, string>): string {
  const id = params.id ?? '';
  if (!agentId.safeParse(id).success) throw validationFailed([{ path: '/path/id', message: 'not an agent id' }]);
  return id;
}

export const handler = httpFunction(
  'agents',
  {
    'POST /v1/agents': defineRoute({
      body: registerAgentBody,
      idempotency: 'optional',
      // The key is shown once and kept only as a hash: a replayed registration answers without it.
      notStored: ['api_key'],
      handle: async ({ body, events }) => {
        const { agent, api_key, balance } = await s.agents.register(
          { name: body.name, initial_balance: body.initial_balance },
          events,
        );
        return {
          status: 201,
          body: { ...presentAgentSummary(agent), api_key, balance: formatCredits(balance) },
        };
      },
    }),
    'GET /v1/agents': defineRoute({
      query: pageQuery,
      handle: async ({ caller, query }) => {
        const page = await s.agents.list({ ...query, caller: callerOf(caller) });
        return { status: 200, body: { agents: page.agents.map(presentAgentSummary), next_cursor: page.next_cursor } };
      },
    }),
    'GET /v1/agents/{id}': defineRoute({
      handle: async ({ caller, params }) => {
        assertSelfOrOperator(caller, params.id ?? '');
        const id = ownId(params);
        const profile = await s.agents.profile(id);
        if (!profile) throw notFound(`Agent ${id}`);
        return { status: 200, body: presentProfile(profile) };
      },
    }),
    'GET /v1/agents/{id}/balance': defineRoute({
      handle: async ({ caller, params, events }) => {
        assertSelfOrOperator(caller, params.id ?? '');
        const id = ownId(params);
        const balance = await s.agents.queryBalance(id, events);
        return { status: 200, body: { agent_id: id, balance: formatCredits(balance) } };
      },
    }),
    'GET /v1/agents/{id}/history': defineRoute({
      query: pageQuery,
      handle: async ({ caller, params, query }) => {
        assertSelfOrOperator(caller, params.id ?? '');
        const id = ownId(params);
        if (!(await s.ledger.getAccount(id, false))) throw notFound(`Agent ${id}`);
        const page = await s.ledger.history(id, { ...query, caller: callerOf(caller) });
        return { status: 200, body: { entries: page.entries.map(presentEntry), next_cursor: page.next_cursor } };
      },
    }),
    'PUT /v1/agents/{id}/state': defineRoute({
      body: agentStateBody,
      idempotency: 'optional',
      handle: async ({ caller, params, body, events }) => {
        assertSelf(caller, params.id ?? '');
        const profile = await s.agents.setState(ownId(params), body.state, events);
        return { status: 200, body: presentProfile(profile) };
      },
    }),
  },
  s,
);
