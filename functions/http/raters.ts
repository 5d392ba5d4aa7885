/**
 * Raters API (operator): create a human's key (shown once), list, revoke.
 */

import { callerOf } from '#shared/adapters/dynamodb/cursor';
import type { Raters } from '#shared/adapters/dynamodb/raters';
import { lambdaEntry } from '#shared/adapters/lazy-handler';
import { ratersOf, tableOf } from '#shared/adapters/services';
import type { Config } from '#shared/config';
import { validationFailed } from '#shared/core/errors';
import { systemRuntime } from '#shared/core/ports';
import type { HttpHandler } from '#shared/http/contract';
import { httpDepsOf } from '#shared/http/http-deps';
import { type HttpDeps, httpFunction } from '#shared/http/http-function';
import { raterId } from '#shared/http/schemas';

export interface RatersDeps {
  raters: Raters;
  http: HttpDeps;
}

export function makeHandler({ raters, http }: RatersDeps): HttpHandler {
  return httpFunction(
    'raters',
    {
      'POST /v1/raters': async ({ body }) => {
        const { rater, api_key } = await raters.create(body.name);
        return { status: 201, body: { ...rater, api_key } };
      },
      'GET /v1/raters': async ({ caller, query }) => {
        const page = await raters.list({ ...query, caller: callerOf(caller) });
        return { status: 200, body: page };
      },
      'DELETE /v1/raters/{id}': async ({ params }) => {
        const id = params.id ?? '';
        if (!raterId.safeParse(id).success) throw validationFailed([{ path: '/path/id', message: 'not a rater id' }]);
        return { status: 200, body: await raters.revoke(id) };
      },
    },
    http,
  );
}

/** Raters need the table alone: no ledger, no market. */
export function ratersDepsOf(config: Config): RatersDeps {
  const table = tableOf(config);
  const runtime = systemRuntime();
  return { raters: ratersOf({ table, runtime }), http: httpDepsOf(table, config, runtime) };
}

export const handler = lambdaEntry((config) => makeHandler(ratersDepsOf(config)));
