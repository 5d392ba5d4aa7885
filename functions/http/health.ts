/**
 * Liveness and the OpenAPI document. Public; touches no table.
 */

import { lambdaEntry } from '#shared/adapters/lazy-handler';
import { tableOf } from '#shared/adapters/services';
import type { Config } from '#shared/config';
import type { Runtime } from '#shared/core/ports';
import { systemRuntime } from '#shared/core/ports';
import type { HttpHandler } from '#shared/http/contract';
import { httpDepsOf } from '#shared/http/http-deps';
import { type HttpDeps, httpFunction } from '#shared/http/http-function';
import { openApiDocument } from '#shared/http/openapi';

export interface HealthDeps {
  config: Pick<Config, 'SERVICE_VERSION'>;
  runtime: Pick<Runtime, 'clock'>;
  http: HttpDeps;
}

export function makeHandler({ config, runtime, http }: HealthDeps): HttpHandler {
  const version = config.SERVICE_VERSION;
  const document = openApiDocument(version);
  return httpFunction(
    'health',
    {
      'GET /v1/health': async () => ({
        status: 200,
        body: { status: 'ok', version, time: new Date(runtime.clock.now()).toISOString() },
      }),
      'GET /v1/openapi.json': async () => ({ status: 200, body: document }),
    },
    http,
  );
}

/** Health and the OpenAPI document: nothing but the HTTP stack itself. */
export function healthDepsOf(config: Config): HealthDeps {
  const runtime = systemRuntime();
  return { config, runtime, http: httpDepsOf(tableOf(config), config, runtime) };
}

export const handler = lambdaEntry((config) => makeHandler(healthDepsOf(config)));
