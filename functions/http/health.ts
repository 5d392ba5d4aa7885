/**
 * Liveness and the OpenAPI document. Public; touches no table.
 */
import { services } from '#shared/adapters/services';
import type { Config } from '#shared/config';
import type { Runtime } from '#shared/core/ports';
import type { HttpHandler } from '#shared/http/contract';
import { withHttp } from '#shared/http/http-deps';
import { type HttpDeps, httpFunction, lazyHandler } from '#shared/http/http-function';
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

export const handler = lazyHandler(() => makeHandler(withHttp(services())));
