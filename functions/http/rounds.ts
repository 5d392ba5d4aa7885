/**
 * Rounds API: a round's state and statistics; clearing on demand (the scheduled job, for the
 * operator).
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { services } from '#shared/adapters/services';
import { notFound, validationFailed } from '#shared/core/errors';
import { isRoundId, roundAt, roundStartMs } from '#shared/core/rounds';
import { defineRoute, httpFunction } from '#shared/http/http-function';
import { keys } from '#shared/table';

const s = services();

export const handler = httpFunction(
  'rounds',
  {
    'GET /v1/rounds/{round}': defineRoute({
      handle: async ({ params }) => {
        const round = params.round ?? '';
        if (!isRoundId(round))
          throw validationFailed([{ path: '/path/round', message: 'must be a round id like r_1764158400' }]);
        const out = await s.table.doc.send(
          new GetCommand({ TableName: s.table.tableName, Key: keys.round(round), ConsistentRead: true }),
        );
        const start = roundStartMs(round);
        const current = roundAt(s.runtime.clock.now(), s.economy.round_seconds);
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
            closes_at: new Date(Number(item?.closes_at_ms ?? start + s.economy.round_seconds * 1000)).toISOString(),
            bid_count: Number(item?.bid_count ?? 0),
            statistics: item?.stats ?? null,
          },
        };
      },
    }),
    'POST /v1/rounds/clear': defineRoute({
      idempotency: 'optional',
      handle: async ({ events }) => {
        const cleared = await s.clearing.clearDue(events);
        return { status: 200, body: { cleared } };
      },
    }),
  },
  s,
);
