/**
 * Typed domain errors. Each carries a stable machine-readable `code` and the HTTP status it
 * maps to; `shared/http/problem.ts` turns them into RFC 9457 problem+json in one place.
 */

export type ProblemCode =
  | 'validation_failed'
  | 'malformed_json'
  | 'malformed_request'
  | 'headers_too_large'
  | 'request_timeout'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'idempotency_key_reused'
  | 'idempotency_key_required'
  | 'request_in_progress'
  | 'insufficient_balance'
  | 'money_supply_exhausted'
  | 'balance_ceiling_exceeded'
  | 'below_reserve'
  | 'round_closed'
  | 'too_many_open_bids'
  | 'invalid_bundle'
  | 'quota_exceeded'
  | 'allocation_not_active'
  | 'no_active_allocation'
  | 'model_not_allowed'
  | 'provider_error'
  | 'provider_timeout'
  | 'attention_required'
  | 'prompt_exists'
  | 'prompt_already_rewarded'
  | 'prompt_expired'
  | 'mint_ceiling_exceeded'
  | 'agent_dormant'
  | 'spawn_limit_reached'
  | 'invalid_state'
  | 'too_many_requests'
  | 'service_unavailable'
  | 'internal_error';

export interface FieldError {
  /** JSON pointer-like path of the offending field, e.g. `/amount`. */
  path: string;
  message: string;
}

export class DomainError extends Error {
  override readonly name: string = 'DomainError';
  constructor(
    readonly code: ProblemCode,
    readonly status: number,
    message: string,
    /** Extra members of the problem document (e.g. `required`, `available`). */
    readonly extensions: Record<string, unknown> = {},
    readonly errors?: FieldError[],
    /** Seconds, sent as `Retry-After`. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

export const validationFailed = (errors: FieldError[], detail = 'The request is not valid.') =>
  new DomainError('validation_failed', 400, detail, {}, errors);
export const notFound = (what: string) => new DomainError('not_found', 404, `${what} was not found.`);
export const forbidden = (detail = 'The caller may not act on this resource.') =>
  new DomainError('forbidden', 403, detail);
export const unauthorized = (detail = 'A valid bearer key is required.') =>
  new DomainError('unauthorized', 401, detail);
export const conflict = (detail: string, extensions: Record<string, unknown> = {}) =>
  new DomainError('conflict', 409, detail, extensions);
export const serviceUnavailable = (detail: string, retryAfter = 1) =>
  new DomainError('service_unavailable', 503, detail, {}, undefined, retryAfter);
