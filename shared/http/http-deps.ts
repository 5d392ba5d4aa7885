/**
 * The HTTP stack's dependencies from a `Services` composition, one set per composition: every
 * handler built from the same services shares one rate limiter, so a caller's limit holds
 * across the API's functions in one process.
 */
import type { Services } from '../adapters/services.ts';
import type { HttpDeps } from './http-function.ts';
import { InProcessRateLimiter } from './rate-limiter.ts';

const built = new WeakMap<Services, HttpDeps>();

export function httpDeps(s: Services): HttpDeps {
  let deps = built.get(s);
  if (!deps) {
    const limiter = new InProcessRateLimiter(
      { ratePerSecond: s.config.RATE_LIMIT_PER_SECOND, burst: s.config.RATE_LIMIT_BURST },
      s.runtime.clock,
    );
    deps = {
      idempotency: s.idempotency,
      logger: s.logger,
      throttle: { limiter, windowSeconds: limiter.windowSeconds },
    };
    built.set(s, deps);
  }
  return deps;
}

/** A services composition with the HTTP stack's dependencies: what every `makeHandler` takes. */
export const withHttp = (s: Services): Services & { http: HttpDeps } => ({ ...s, http: httpDeps(s) });
