/**
 * RFC 9457 problem+json responses: the one place where errors become HTTP. A 5xx never
 * carries the internal message or a stack; every problem carries the request's trace id.
 */
import { DomainError, type ProblemCode } from '../core/errors.ts';
import type { HttpResult } from './contract.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

const TITLES: Record<ProblemCode, string> = {
  validation_failed: 'Validation failed',
  malformed_json: 'Malformed JSON',
  malformed_request: 'Malformed request',
  headers_too_large: 'Request headers too large',
  request_timeout: 'Request timeout',
  unsupported_media_type: 'Unsupported media type',
  payload_too_large: 'Payload too large',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  not_found: 'Not found',
  method_not_allowed: 'Method not allowed',
  conflict: 'Conflict',
  idempotency_key_reused: 'Idempotency key reused',
  idempotency_key_required: 'Idempotency key required',
  request_in_progress: 'Request in progress',
  insufficient_balance: 'Insufficient balance',
  money_supply_exhausted: 'Money supply exhausted',
  balance_ceiling_exceeded: 'Balance ceiling exceeded',
  below_reserve: 'Below reserve',
  round_closed: 'Round closed',
  too_many_open_bids: 'Too many open bids',
  invalid_bundle: 'Invalid bundle',
  quota_exceeded: 'Quota exceeded',
  allocation_not_active: 'Allocation not active',
  no_active_allocation: 'No active allocation',
  model_not_allowed: 'Model not allowed',
  provider_error: 'LLM provider error',
  provider_timeout: 'LLM provider timeout',
  attention_required: 'Attention required',
  prompt_exists: 'Prompt exists',
  prompt_already_rewarded: 'Prompt already rewarded',
  prompt_expired: 'Prompt expired',
  mint_ceiling_exceeded: 'Mint ceiling exceeded',
  agent_dormant: 'Agent dormant',
  spawn_limit_reached: 'Spawn limit reached',
  invalid_state: 'Invalid state',
  too_many_requests: 'Too many requests',
  service_unavailable: 'Service unavailable',
  internal_error: 'Internal error',
};

/** Every problem code, for the OpenAPI `Problem` schema. */
export const PROBLEM_CODES = Object.keys(TITLES) as ProblemCode[];

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
  trace_id?: string;
  errors?: { path: string; message: string }[];
  [extension: string]: unknown;
}

/** Stable `type` URIs, one per code. */
export const problemType = (code: ProblemCode) => `https://syntropism.dev/problems/${code.replaceAll('_', '-')}`;

export function problemOf(error: unknown, traceId?: string): ProblemDocument {
  if (error instanceof DomainError) {
    return {
      ...error.extensions,
      type: problemType(error.code),
      title: TITLES[error.code],
      status: error.status,
      detail: error.message,
      code: error.code,
      ...(error.errors && { errors: error.errors }),
      ...(traceId && { trace_id: traceId }),
    };
  }
  return {
    type: problemType('internal_error'),
    title: TITLES.internal_error,
    status: 500,
    detail: 'An unexpected error occurred. It has been logged; quote the trace id when reporting it.',
    code: 'internal_error',
    ...(traceId && { trace_id: traceId }),
  };
}

/**
 * The one renderer of errors as HTTP answers, used by the Lambda stack and the local server
 * alike. `headers` are added to the answer (such as `allow` on a 405).
 */
export function problemResponse(error: unknown, traceId?: string, headers: Record<string, string> = {}): HttpResult {
  const doc = problemOf(error, traceId);
  const retryAfter = error instanceof DomainError ? error.retryAfter : undefined;
  return {
    statusCode: doc.status,
    headers: {
      ...headers,
      'content-type': PROBLEM_CONTENT_TYPE,
      ...(retryAfter !== undefined && { 'retry-after': String(retryAfter) }),
    },
    body: `${JSON.stringify(doc)}\n`,
  };
}
