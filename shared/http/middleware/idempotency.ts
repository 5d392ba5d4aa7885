/**
 * Idempotency: an `Idempotency-Key` claims the request under the caller's scope before the
 * input is checked, so the first answer, a 4xx for a bad body included, is what every retry
 * gets: a replay (marked `Idempotent-Replayed`), a 409 while the first still runs, a 422 for
 * the same key with another request. A 5xx releases the key, so the retry runs again.
 *
 * A key with more than one value is refused: API Gateway and Node join repeated header lines
 * with commas, and running `k1,k2` under that joined key would let a later retry with `k1`
 * pay again. A comma therefore never appears in a key.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { MiddlewareObj } from '@middy/core';
import type { IdempotencyStore, StoredResponse } from '../../adapters/dynamodb/idempotency.ts';
import { currentTraceId } from '../../adapters/telemetry/tracing.ts';
import { DomainError, validationFailed } from '../../core/errors.ts';
import type { HttpEvent, HttpResult } from '../contract.ts';
import { problemResponse } from '../problem.ts';
import { rawBody } from './input.ts';
import { callerKey, peekState, type RequestState, stateOf } from './state.ts';

export interface IdempotencyOptions {
  store: IdempotencyStore;
  logger: Pick<Logger, 'warn'>;
}

const KEY = /^[\x21-\x2b\x2d-\x7e]{1,255}$/;

/** The request's key, checked; undefined when absent. */
export function idempotencyKeyOf(event: HttpEvent): string | undefined {
  const key = event.headers['idempotency-key'];
  if (key === undefined) return undefined;
  if (key.includes(',')) {
    throw validationFailed([{ path: '/headers/idempotency-key', message: 'must be given once, without commas' }]);
  }
  if (!KEY.test(key)) {
    throw validationFailed([{ path: '/headers/idempotency-key', message: '1 to 255 printable ASCII characters' }]);
  }
  return key;
}

/** Stored responses keep only what a replay needs, and never the route's `notStored` fields. */
export function storable(res: HttpResult, notStored: readonly string[] = []): StoredResponse {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers ?? {})) headers[k] = String(v);
  let body = typeof res.body === 'string' ? res.body : '';
  if (notStored.length > 0 && body) {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    for (const field of notStored) delete parsed[field];
    body = `${JSON.stringify(parsed)}\n`;
    delete headers['content-length'];
  }
  return { statusCode: res.statusCode ?? 200, headers, body };
}

const fingerprint = (event: HttpEvent) =>
  createHash('sha256')
    .update(`${event.routeKey}\n${JSON.stringify(event.pathParameters ?? {})}\n`)
    .update(rawBody(event) ?? '')
    .digest('hex');

function claimRefusal(kind: 'in_progress' | 'mismatch'): DomainError {
  return kind === 'in_progress'
    ? new DomainError(
        'request_in_progress',
        409,
        'A request with this Idempotency-Key is still in progress.',
        {},
        undefined,
        1,
      )
    : new DomainError('idempotency_key_reused', 422, 'This Idempotency-Key was used with a different request.');
}

export function idempotencyMiddleware(options: IdempotencyOptions): MiddlewareObj<HttpEvent, HttpResult> {
  const { store, logger } = options;
  if (typeof store?.begin !== 'function') throw new TypeError('idempotency: store must implement IdempotencyStore');
  if (typeof logger?.warn !== 'function') throw new TypeError('idempotency: logger must have warn()');

  const finish = async (state: RequestState | undefined, res: HttpResult) => {
    const claim = state?.idempotency;
    if (!state || !claim) return;
    try {
      if ((res.statusCode ?? 200) >= 500) await store.release(claim.scope, claim.key);
      else await store.complete(claim.scope, claim.key, storable(res, state.spec.notStored));
    } catch (err) {
      // The operation itself committed; a lost record only means a retry re-runs it, and the
      // business guards (transfer ids) keep that retry from applying twice.
      logger.warn('could not store idempotent response', { error: String(err) });
    }
  };

  return {
    before: async (request) => {
      const state = stateOf(request);
      if (state.spec.idempotency === 'none' || !state.caller || state.caller.role === 'anonymous') return;
      const key = idempotencyKeyOf(request.event);
      if (key === undefined) {
        if (state.spec.idempotency !== 'required') return;
        throw new DomainError('idempotency_key_required', 400, 'This route requires an Idempotency-Key header.');
      }
      const scope = callerKey(state.caller);
      const claim = await store.begin(scope, key, fingerprint(request.event));
      if (claim.kind === 'claimed') {
        state.idempotency = { scope, key };
        return;
      }
      if (claim.kind === 'replay') {
        return { ...claim.response, headers: { ...claim.response.headers, 'idempotent-replayed': 'true' } };
      }
      throw claimRefusal(claim.kind);
    },
    after: async (request) => {
      if (request.response) await finish(stateOf(request), request.response);
    },
    onError: async (request) => {
      // Rendered here (not returned, so the problem middleware still sees and logs the error):
      // the stored first answer must be the very answer the client gets.
      const response = problemResponse(request.error, currentTraceId());
      request.response = response;
      await finish(peekState(request.event), response);
    },
  };
}
