/**
 * Rounds API: a round's state and statistics; clearing on demand (the scheduled job, for the
 * operator).
 */

import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Clearing } from '#shared/adapters/dynamodb/clearing';
import type { TableRef } from '#shared/adapters/dynamodb/client';
import { lambdaEntry } from '#shared/adapters/lazy-handler';
import { ledgerBaseFrom, marketStoresOf } from '#shared/adapters/services';
import type { Config } from '#shared/config';
import { notFound, validationFailed } from '#shared/core/errors';
import type { EconomyConfig } from '#shared/core/market-config';
import type { Runtime } from '#shared/core/ports';
import { isRoundId, roundAt, roundStartMs } from '#shared/core/rounds';
import type { HttpHandler } from '#shared/http/contract';
import { httpDepsOf } from '#shared/http/http-deps';
import { type HttpDeps, httpFunction } from '#shared/http/http-function';
import { keys } from '#shared/table';

export interface RoundsDeps {
  table: TableRef;
  clearing: Clearing;
  economy: EconomyConfig;
  runtime: Pick<Runtime, 'clock'>;
  http: HttpDeps;
}

export function makeHandler({ table, clearing, economy, runtime, http }: RoundsDeps): HttpHandler {
  return httpFunction(
    'rounds',
    {
      'GET /v1/rounds/{round}': async ({ params }) => {
        const round = params.round ?? '';
        if (!isRoundId(round))
          throw validationFailed([{ path: '/path/round', message: 'must be a round id like r_1764158400' }]);
        const out = await table.doc.send(
          new GetCommand({ TableName: table.tableName, Key: keys.round(round), ConsistentRead: true }),
        );
        const start = roundStartMs(round);
        const current = roundAt(runtime.clock.now(), economy.round_seconds);
        const item = out.Item;
        // A window without bids has no item until it is cleared; a future one does not exist.
        if (!item && start > current.starts_at_ms) throw notFound(`Round ${round}`);
        return {
          status: 200,
          body: {
            round,
            state:
              (item?.state as string | undefined) ?? (start === current.starts_at_ms ? 'open' : 'pending_clearing'),
            starts_at: new Date(start).toISOString(),
            closes_at: new Date(Number(item?.closes_at_ms ?? start + economy.round_seconds * 1000)).toISOString(),
            bid_count: Number(item?.bid_count ?? 0),
            statistics: item?.stats ?? null,
          },
        };
      },
      'POST /v1/rounds/clear': async ({ events }) => {
        const cleared = await clearing.clearDue(events);
        return { status: 200, body: { cleared } };
      },
    },
    http,
  );
}

/** Rounds and the operator's clearing: every market store. */
export function roundsDepsOf(config: Config): RoundsDeps {
  const { economy, ...base } = ledgerBaseFrom(config);
  const { clearing } = marketStoresOf(base, config, economy);
  return {
    table: base.table,
    clearing,
    economy,
    runtime: base.runtime,
    http: httpDepsOf(base.table, config, base.runtime),
  };
}

export const handler = lambdaEntry((config) => makeHandler(roundsDepsOf(config)));
