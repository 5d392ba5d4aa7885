/**
 * Executions API: what the execution runner (`syntropism exec`, on the agent's host, with the
 * agent's key) reports. A start is refused outside the allocation's window; an execution ends
 * once. Another agent's allocation or execution is a 404: existence must not leak.
 */

import type { Executions } from '#shared/adapters/dynamodb/executions';
import { lambdaEntry } from '#shared/adapters/lazy-handler';
import { allocationsOf, executionsOf, ledgerBaseFrom } from '#shared/adapters/services';
import type { Config } from '#shared/config';
import { notFound, validationFailed } from '#shared/core/errors';
import { type ExecutionRecord, terminationProblems } from '#shared/core/executions';
import { derivedId } from '#shared/core/ports';
import type { HttpHandler } from '#shared/http/contract';
import { httpDepsOf } from '#shared/http/http-deps';
import { type HttpDeps, httpFunction } from '#shared/http/http-function';
import { allocationId, executionId } from '#shared/http/schemas';

export interface ExecutionsDeps {
  executions: Executions;
  http: HttpDeps;
}

function pathId(params: Record<string, string>, schema: typeof allocationId, what: string): string {
  const id = params.id ?? '';
  if (!schema.safeParse(id).success) throw validationFailed([{ path: '/path/id', message: `not ${what}` }]);
  return id;
}

/** The wire shape of an execution: its termination flattened, null until it ended. */
export const presentExecution = (e: ExecutionRecord) => ({
  execution_id: e.execution_id,
  allocation_id: e.allocation_id,
  agent_id: e.agent_id,
  bundle: e.bundle,
  starts_at: e.starts_at,
  ends_at: e.ends_at,
  started_at: e.started_at,
  status: e.status,
  terminated_at: e.terminated_at ?? null,
  exit_code: e.termination?.exit_code ?? null,
  reason: e.termination?.reason ?? null,
  signal: e.termination?.signal ?? null,
  duration_ms: e.termination?.duration_ms ?? null,
});

export function makeHandler({ executions, http }: ExecutionsDeps): HttpHandler {
  return httpFunction(
    'executions',
    {
      'POST /v1/allocations/{id}/executions': async ({ caller, params, events, idempotencyKey }) => {
        const allocation = pathId(params, allocationId, 'an allocation id');
        const started = await executions.start(
          {
            // Scoped to the allocation too: one key reused on two allocations is two executions.
            execution_id: derivedId('ex', caller.agent_id, allocation, idempotencyKey),
            allocation_id: allocation,
            agent_id: caller.agent_id,
          },
          events,
        );
        return { status: 201, body: presentExecution(started) };
      },
      'POST /v1/executions/{id}/termination': async ({ caller, params, body, events }) => {
        const id = pathId(params, executionId, 'an execution id');
        const problems = terminationProblems(body);
        if (problems.length > 0) throw validationFailed(problems.map((message) => ({ path: '', message })));
        const ended = await executions.terminate(id, caller.agent_id, body, events);
        return { status: 200, body: presentExecution(ended) };
      },
      'GET /v1/executions/{id}': async ({ caller, params }) => {
        const id = pathId(params, executionId, 'an execution id');
        const execution = await executions.get(id);
        if (!execution || (caller.role === 'agent' && execution.agent_id !== caller.agent_id)) {
          throw notFound(`Execution ${id}`);
        }
        return { status: 200, body: presentExecution(execution) };
      },
    },
    http,
  );
}

/** Executions and the allocations they run in; no ledger, no market. */
export function executionsDepsOf(config: Config): ExecutionsDeps {
  const base = ledgerBaseFrom(config);
  const executions = executionsOf(base, allocationsOf(base));
  return { executions, http: httpDepsOf(base.table, config, base.runtime) };
}

export const handler = lambdaEntry((config) => makeHandler(executionsDepsOf(config)));
