/**
 * The HTTP stack's dependencies from a `Services` composition, one set per composition: every
 * handler built from the same services shares one rate limiter, so a caller's limit holds
 * across the API's functions in one process.
 */
import { TableRateLimiter } from '../adapters/dynamodb/rate-limiter.ts';
import type { Services } from '../adapters/services.ts';
import type { RateLimiter } from '../core/rate-limit.ts';
import type { HttpDeps } from './http-function.ts';
import { InProcessRateLimiter } from './rate-limiter.ts';

const built = new WeakMap<Services, HttpDeps>();

export function httpDeps(s: Services): HttpDeps {
  let deps = built.get(s);
  if (!deps) {
    const bucket = { ratePerSecond: s.config.RATE_LIMIT_PER_SECOND, burst: s.config.RATE_LIMIT_BURST };
    const limiter: RateLimiter =
      s.config.RATE_LIMIT_STORE === 'table'
        ? new TableRateLimiter({
            ...bucket,
            table: s.table,
            clock: s.runtime.clock,
            // Fail open: the stage throttle still bounds the API while the table is unreachable.
            onError: (error, caller) => s.logger.warn('rate limiter unavailable', { caller, error: String(error) }),
          })
        : new InProcessRateLimiter(bucket, s.runtime.clock);
    deps = {
      idempotency: s.idempotency,
      logger: s.logger,
      throttle: { limiter, windowSeconds: Math.max(1, Math.ceil(bucket.burst / bucket.ratePerSecond)) },
    };
    built.set(s, deps);
  }
  return deps;
}

/** A services composition with the HTTP stack's dependencies: what every `makeHandler` takes. */
export const withHttp = (s: Services): Services & { http: HttpDeps } => ({ ...s, http: httpDeps(s) });
