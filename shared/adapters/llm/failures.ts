/**
 * What a provider failure answers the agent, and what it is recorded as. A refusal of the
 * request itself (400, 404, 413, 422) is the agent's to fix and keeps its 4xx; the provider
 * refusing the gateway's key is the operator's and answers 502 like any provider fault; a
 * provider's rate limit is a 503 with its Retry-After; a timeout is 504. Every one settles with
 * nothing charged.
 */
import type { LlmCallOutcome } from '../../core/allocations.ts';
import { DomainError } from '../../core/errors.ts';
import { ProviderFailure } from '../../core/llm/provider.ts';

const AGENT_FAULTS = new Set([400, 404, 413, 422]);

export function failureProblem(f: ProviderFailure): DomainError {
  if (f.kind === 'timeout') return new DomainError('provider_timeout', 504, f.message);
  if (f.kind !== 'status' || f.status === undefined) return new DomainError('provider_error', 502, f.message);
  if (AGENT_FAULTS.has(f.status)) {
    return new DomainError('provider_error', 400, `The provider refused the request (HTTP ${f.status}): ${f.message}`, {
      provider_status: f.status,
    });
  }
  if (f.status === 429) {
    return new DomainError(
      'service_unavailable',
      503,
      'The provider is rate limiting; retry later.',
      {},
      undefined,
      f.retryAfter ?? 1,
    );
  }
  if (f.status === 401 || f.status === 403) {
    return new DomainError(
      'provider_error',
      502,
      'The provider refused the gateway’s credentials; the operator has been told.',
    );
  }
  return new DomainError('provider_error', 502, `The provider failed (HTTP ${f.status}).`, {
    provider_status: f.status,
  });
}

export const outcomeStatusOf = (err: unknown): LlmCallOutcome['status'] =>
  err instanceof ProviderFailure && err.kind === 'timeout' ? 'timeout' : 'provider_error';
