/**
 * The LLM gateway's HTTP API: OpenAI-compatible chat completions charged to an allocation, and
 * the allowed models. Behind API Gateway (which cannot stream) a `stream: true` answer is sent
 * whole, as one SSE body; the streaming function URL (functions/llm-stream.ts) and the local
 * server send the same answer chunk by chunk.
 */
import { lambdaEntry } from '#shared/adapters/lazy-handler';
import { llmGatewayOf } from '#shared/adapters/llm/compose';
import type { LlmGateway } from '#shared/adapters/llm/gateway';
import { allocationsOf, economyOf, loggerOf, tableOf, txRunnerOf } from '#shared/adapters/services';
import type { Config } from '#shared/config';
import { validationFailed } from '#shared/core/errors';
import { systemRuntime } from '#shared/core/ports';
import type { HttpEvent, HttpHandler } from '#shared/http/contract';
import { httpDepsOf } from '#shared/http/http-deps';
import { type HttpDeps, httpFunction } from '#shared/http/http-function';
import { allocationId } from '#shared/http/schemas';
import { bufferedStreams } from '#shared/http/streaming';

export interface LlmDeps {
  llm: LlmGateway;
  http: HttpDeps;
}

/** `X-Allocation-Id`, checked, when the caller names one. */
function allocationHeader(event: HttpEvent): string | undefined {
  const value = event.headers['x-allocation-id'];
  if (value === undefined) return undefined;
  if (!allocationId.safeParse(value).success) {
    throw validationFailed([{ path: '/headers/x-allocation-id', message: 'once, an allocation id (al_…)' }]);
  }
  return value;
}

export function makeHandler({ llm, http }: LlmDeps): HttpHandler {
  return httpFunction(
    'llm',
    {
      'POST /v1/llm/chat/completions': async ({ caller, body, events, event }) => {
        const answer = await llm.chat({
          agent_id: caller.agent_id,
          request: body,
          allocation_id: allocationHeader(event),
          events,
        });
        if (answer.kind === 'stream') return { status: 200, stream: answer.stream, headers: answer.headers };
        return { status: 200, body: answer.body, headers: answer.headers };
      },
      'GET /v1/llm/models': async () => ({ status: 200, body: llm.models() }),
    },
    http,
  );
}

/** The gateway and what it meters through: the allocations store, the provider, the table. */
export function llmDepsOf(config: Config): LlmDeps {
  const runtime = systemRuntime();
  const table = tableOf(config);
  const meter = allocationsOf({ table, tx: txRunnerOf(table, config, runtime), runtime });
  const llm = llmGatewayOf({ meter, economy: economyOf(config), runtime, logger: loggerOf(config) }, config);
  return { llm, http: httpDepsOf(table, config, runtime) };
}

/** Behind API Gateway: streams are answered whole. */
export const handler = lambdaEntry((config) => bufferedStreams(makeHandler(llmDepsOf(config))));
