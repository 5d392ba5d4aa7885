/**
 * Liveness and the OpenAPI document. Public; touches no table.
 */
import { services } from '#shared/adapters/services';
import { defineRoute, httpFunction } from '#shared/http/http-function';
import { openApiDocument } from '#shared/http/openapi';

const s = services();
const document = openApiDocument(s.config.SERVICE_VERSION);

export const handler = httpFunction(
  'health',
  {
    'GET /v1/health': defineRoute({
      handle: async () => ({
        status: 200,
        body: { status: 'ok', version: s.config.SERVICE_VERSION, time: new Date(s.runtime.clock.now()).toISOString() },
      }),
    }),
    'GET /v1/openapi.json': defineRoute({ handle: async () => ({ status: 200, body: document }) }),
  },
  s,
);
