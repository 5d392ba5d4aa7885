/**
 * The last resort: whatever error reached it becomes problem+json (through the one renderer,
 * `problemResponse`), unless an inner middleware (idempotency) has rendered it already. It also
 * logs and records on the span every error that is not a domain error: those are bugs or
 * outages, and the 500's document promises they were logged. Used first, so that its
 * `onError` runs last (middy runs `onError` in reverse order of `use`).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { MiddlewareObj } from '@middy/core';
import { trace } from '@opentelemetry/api';
import { currentTraceId, recordError } from '../../adapters/telemetry/tracing.ts';
import { DomainError } from '../../core/errors.ts';
import type { HttpEvent, HttpResult } from '../contract.ts';
import { problemResponse } from '../problem.ts';

export interface ProblemOptions {
  logger: Pick<Logger, 'error'>;
}

export function logUnexpected(err: unknown, logger: Pick<Logger, 'error'>): void {
  if (err instanceof DomainError) return;
  logger.error('unhandled error', { error: err as Error });
  const span = trace.getActiveSpan();
  if (span) recordError(span, err);
}

export function problemMiddleware(options: ProblemOptions): MiddlewareObj<HttpEvent, HttpResult> {
  const { logger } = options;
  if (typeof logger?.error !== 'function') throw new TypeError('problem: logger must have error()');
  return {
    onError: (request) => {
      logUnexpected(request.error, logger);
      request.response ??= problemResponse(request.error, currentTraceId());
    },
  };
}
