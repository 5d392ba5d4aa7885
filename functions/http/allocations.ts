/**
 * Allocations API: a won bid's execution context, read by its agent (or the operator), and its
 * token budget metered by direct usage reports. The LLM gateway draws on the same budget
 * through reservations (functions/http/llm.ts).
 */

import type { Allocations } from '#shared/adapters/dynamodb/allocations';
import { callerOf } from '#shared/adapters/dynamodb/cursor';
import { lambdaEntry } from '#shared/adapters/lazy-handler';
import { allocationsOf, tableOf, txRunnerOf } from '#shared/adapters/services';
import type { Config } from '#shared/config';
import { DomainError, notFound, validationFailed } from '#shared/core/errors';
import { type Clock, derivedId, systemRuntime } from '#shared/core/ports';
import type { ApiRequest } from '#shared/http/api';
import { presentAllocation } from '#shared/http/bid-presenter';
import type { HttpHandler } from '#shared/http/contract';
import { httpDepsOf } from '#shared/http/http-deps';
import { type HttpDeps, httpFunction } from '#shared/http/http-function';
import type { SpecOf } from '#shared/http/routes';
import { allocationId } from '#shared/http/schemas';

export interface AllocationsDeps {
  allocations: Allocations;
  clock: Clock;
  http: HttpDeps;
}

function idOf(params: Record<string, string>): string {
  const id = params.id ?? '';
  if (!allocationId.safeParse(id).success) {
    throw validationFailed([{ path: '/path/id', message: 'not an allocation id' }]);
  }
  return id;
}

/** Whose allocations a listing reads: an agent only its own; the operator any agent's, or all not ended. */
function listedAgent({ caller, query }: ApiRequest<SpecOf<'GET /v1/allocations'>>): string | undefined {
  if (caller.role === 'agent') {
    if (query.agent_id && query.agent_id !== caller.agent_id) {
      throw new DomainError('forbidden', 403, 'An agent can list only its own allocations.');
    }
    return caller.agent_id;
  }
  if (!query.agent_id && query.status === 'expired') {
    throw validationFailed([
      { path: '/query/agent_id', message: 'required to list expired allocations (all are listed only until they end)' },
    ]);
  }
  return query.agent_id;
}

export function makeHandler({ allocations, clock, http }: AllocationsDeps): HttpHandler {
  return httpFunction(
    'allocations',
    {
      'GET /v1/allocations': async (req) => {
        const agentId = listedAgent(req);
        const page = await allocations.list({
          limit: req.query.limit,
          caller: callerOf(req.caller),
          ...(agentId !== undefined && { agent_id: agentId }),
          ...(req.query.status && { status: req.query.status }),
          ...(req.query.cursor && { cursor: req.query.cursor }),
        });
        const now = clock.now();
        return {
          status: 200,
          body: { allocations: page.allocations.map((a) => presentAllocation(a, now)), next_cursor: page.next_cursor },
        };
      },
      'GET /v1/allocations/{id}': async ({ caller, params }) => {
        const id = idOf(params);
        const a = await allocations.get(id);
        // Another agent's allocation is indistinguishable from a missing one: existence must not leak.
        if (!a || (caller.role === 'agent' && a.agent_id !== caller.agent_id)) throw notFound(`Allocation ${id}`);
        return { status: 200, body: presentAllocation(a, clock.now()) };
      },
      'POST /v1/allocations/{id}/usage': async ({ caller, params, body, events, idempotencyKey }) => {
        const id = idOf(params);
        // The usage id derives from the caller's Idempotency-Key: a retry meets the usage guard.
        const metered = await allocations.consume(
          {
            usage_id: derivedId('us', caller.agent_id, id, idempotencyKey),
            allocation_id: id,
            agent_id: caller.agent_id,
            tokens: body.tokens,
          },
          events,
        );
        return { status: 200, body: metered };
      },
    },
    http,
  );
}

/** Allocations: the table and its runner, no ledger. */
export function allocationsDepsOf(config: Config): AllocationsDeps {
  const runtime = systemRuntime();
  const table = tableOf(config);
  return {
    allocations: allocationsOf({ table, tx: txRunnerOf(table, config, runtime), runtime }),
    clock: runtime.clock,
    http: httpDepsOf(table, config, runtime),
  };
}

export const handler = lambdaEntry((config) => makeHandler(allocationsDepsOf(config)));
