/**
 * RFC 9457 problem documents: the single place errors become HTTP, so every field clients
 * rely on is pinned here, and a 5xx must never carry what went wrong inside.
 */
import { describe, expect, it } from 'vitest';
import { conflict, DomainError, type ProblemCode, serviceUnavailable, validationFailed } from '../core/errors.ts';
import { PROBLEM_CONTENT_TYPE, problemOf, problemResponse, problemType } from './problem.ts';

/** Codes to check; TITLES in problem.ts is typed exhaustively, this list only has to be valid. */
const CODES = [
  'validation_failed',
  'malformed_json',
  'unsupported_media_type',
  'payload_too_large',
  'unauthorized',
  'forbidden',
  'not_found',
  'method_not_allowed',
  'conflict',
  'idempotency_key_reused',
  'idempotency_key_required',
  'request_in_progress',
  'insufficient_balance',
  'below_reserve',
  'round_closed',
  'too_many_open_bids',
  'invalid_bundle',
  'quota_exceeded',
  'invalid_state',
  'too_many_requests',
  'service_unavailable',
  'internal_error',
] as const satisfies readonly ProblemCode[];

const TRACE = '0af7651916cd43dd8448eb211c80319c';

describe('problemOf', () => {
  it('maps a domain error to type, title, status, detail, code and trace id', () => {
    const doc = problemOf(new DomainError('not_found', 404, 'Agent a_1 was not found.'), TRACE);
    expect(doc).toEqual({
      type: 'https://syntropism.dev/problems/not-found',
      title: 'Not found',
      status: 404,
      detail: 'Agent a_1 was not found.',
      code: 'not_found',
      trace_id: TRACE,
    });
  });

  it.each(CODES)('%s has a title and a stable type URI', (code) => {
    const doc = problemOf(new DomainError(code, 400, 'x'));
    expect(doc.title).toMatch(/^[A-Z][a-z]/);
    expect(doc.type).toBe(problemType(code));
    expect(doc.type).toMatch(/^https:\/\/syntropism\.dev\/problems\/[a-z-]+$/);
  });

  it('carries field errors of a validation failure', () => {
    const errors = [{ path: '/amount', message: 'amount must have at most 6 decimal places' }];
    const doc = problemOf(validationFailed(errors));
    expect(doc).toMatchObject({ status: 400, code: 'validation_failed', errors });
  });

  it('carries extensions such as required and available of insufficient_balance', () => {
    const error = new DomainError('insufficient_balance', 409, 'Not enough credits.', { required: 12.5, available: 3 });
    expect(problemOf(error)).toMatchObject({ code: 'insufficient_balance', status: 409, required: 12.5, available: 3 });
    expect(problemOf(conflict('Different parameters.', { transfer_id: 'tr_1' }))).toMatchObject({
      code: 'conflict',
      status: 409,
      transfer_id: 'tr_1',
    });
  });

  it('does not let an extension override the standard members', () => {
    const error = new DomainError('forbidden', 403, 'No.', {
      status: 200,
      code: 'ok',
      type: 'about:blank',
      title: 'Fine',
    });
    expect(problemOf(error)).toMatchObject({
      status: 403,
      code: 'forbidden',
      type: problemType('forbidden'),
      title: 'Forbidden',
    });
  });

  it('leaves out trace_id and errors when there are none', () => {
    const doc = problemOf(new DomainError('conflict', 409, 'x'));
    expect(doc).not.toHaveProperty('trace_id');
    expect(doc).not.toHaveProperty('errors');
  });

  it.each<[string, unknown]>([
    ['an Error', new Error('connect ECONNREFUSED 10.0.0.7:8000 (table syntropism-prod)')],
    ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'balance')")],
    [
      'an SDK-like error with a status',
      Object.assign(new Error('ProvisionedThroughputExceeded'), { status: 400, code: 'forbidden' }),
    ],
    ['a string', 'secret-operator-key leaked'],
    ['undefined', undefined],
  ])('turns %s into a 500 internal_error without its message or stack', (_, error) => {
    const doc = problemOf(error, TRACE);
    expect(doc).toEqual({
      type: problemType('internal_error'),
      title: 'Internal error',
      status: 500,
      detail: expect.any(String),
      code: 'internal_error',
      trace_id: TRACE,
    });
    const text = JSON.stringify(doc);
    for (const secret of ['ECONNREFUSED', 'syntropism-prod', 'balance', 'Provisioned', 'secret-operator-key', ' at ']) {
      expect(text).not.toContain(secret);
    }
  });
});

describe('problemResponse', () => {
  it('answers application/problem+json with the document as body', () => {
    const error = new DomainError('payload_too_large', 413, 'The body exceeds 65536 bytes.');
    const res = problemResponse(error, TRACE);
    expect(res.statusCode).toBe(413);
    expect(res.headers).toEqual({ 'content-type': PROBLEM_CONTENT_TYPE });
    expect(PROBLEM_CONTENT_TYPE).toBe('application/problem+json');
    expect(JSON.parse(res.body ?? '')).toEqual(problemOf(error, TRACE));
  });

  it('sends Retry-After in seconds when the error has one', () => {
    const res = problemResponse(serviceUnavailable('The ledger is busy.', 3));
    expect(res.statusCode).toBe(503);
    expect(res.headers?.['retry-after']).toBe('3');
    const throttled = new DomainError('too_many_requests', 429, 'Slow down.', {}, undefined, 1);
    expect(problemResponse(throttled).headers?.['retry-after']).toBe('1');
  });

  it('sends no Retry-After otherwise, and none for internal errors', () => {
    expect(problemResponse(new DomainError('conflict', 409, 'x')).headers).not.toHaveProperty('retry-after');
    expect(problemResponse(Object.assign(new Error('x'), { retryAfter: 9 })).headers).not.toHaveProperty('retry-after');
  });

  it('hides the internal message of a 5xx in the body too', () => {
    const res = problemResponse(new Error('DynamoDB table syntropism-prod is gone'));
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('syntropism-prod');
  });
});
