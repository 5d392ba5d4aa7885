/**
 * The HTTP stack's dependencies: idempotency records, the per-caller throttle and a logger.
 * `httpDepsOf` builds them from a table and a configuration (a Lambda entry builds only these
 * and the stores its routes use); `httpDeps` gives one set per `Services` composition, so every
 * handler built from the same services shares one limiter (the local stack, the tests).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { TableRef } from '../adapters/dynamodb/client.ts';
import { TableRateLimiter } from '../adapters/dynamodb/rate-limiter.ts';
import { type RequestStores, requestStoresOf, type Services } from '../adapters/services.ts';
import type { Config } from '../config.ts';
import type { Runtime } from '../core/ports.ts';
import type { RateLimiter } from '../core/rate-limit.ts';
import { InProcessRateLimiter, windowSecondsOf } from '../core/token-bucket.ts';
import type { HttpDeps } from './http-function.ts';

export type ThrottleConfig = Pick<Config, 'RATE_LIMIT_PER_SECOND' | 'RATE_LIMIT_BURST' | 'RATE_LIMIT_STORE'>;

/** The caller's limiter: one bucket per caller in the table (every container shares it), or in memory. */
function limiterOf(table: TableRef, config: ThrottleConfig, runtime: Pick<Runtime, 'clock'>, logger: Logger) {
  const bucket = { ratePerSecond: config.RATE_LIMIT_PER_SECOND, burst: config.RATE_LIMIT_BURST };
  const limiter: RateLimiter =
    config.RATE_LIMIT_STORE === 'table'
      ? new TableRateLimiter({
          ...bucket,
          table,
          clock: runtime.clock,
          // Fail open: the stage throttle still bounds the API while the table is unreachable.
          onError: (error, caller) => logger.warn('rate limiter unavailable', { caller, error: String(error) }),
        })
      : new InProcessRateLimiter(bucket, runtime.clock);
  return { limiter, windowSeconds: windowSecondsOf(bucket) };
}

/** The HTTP dependencies over the given request stores. */
export function httpDepsFrom(
  stores: RequestStores,
  table: TableRef,
  config: ThrottleConfig,
  runtime: Pick<Runtime, 'clock'>,
): HttpDeps {
  return { ...stores, throttle: limiterOf(table, config, runtime, stores.logger) };
}

/** The HTTP dependencies of a function built from its configuration alone. */
export function httpDepsOf(
  table: TableRef,
  config: ThrottleConfig & Pick<Config, 'LOG_LEVEL'>,
  runtime: Pick<Runtime, 'clock'>,
): HttpDeps {
  return httpDepsFrom(requestStoresOf(table, config, runtime), table, config, runtime);
}

const built = new WeakMap<Services, HttpDeps>();

export function httpDeps(s: Services): HttpDeps {
  let deps = built.get(s);
  if (!deps) {
    deps = httpDepsFrom({ idempotency: s.idempotency, logger: s.logger }, s.table, s.config, s.runtime);
    built.set(s, deps);
  }
  return deps;
}

/** A services composition with the HTTP stack's dependencies: what every `makeHandler` takes. */
export const withHttp = (s: Services): Services & { http: HttpDeps } => ({ ...s, http: httpDeps(s) });
