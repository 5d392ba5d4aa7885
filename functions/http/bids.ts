/**
 * Bids API: place (escrow hold in the same transaction), read, list, cancel.
 */

import type { Bids } from '#shared/adapters/dynamodb/bids';
import { callerOf } from '#shared/adapters/dynamodb/cursor';
import { lambdaEntry } from '#shared/adapters/lazy-handler';
import { bidsOf, ledgerBaseFrom, ledgerOf } from '#shared/adapters/services';
import type { Config } from '#shared/config';
import { DomainError, notFound, validationFailed } from '#shared/core/errors';
import type { EconomyConfig } from '#shared/core/market-config';
import { formatCredits } from '#shared/core/money';
import { derivedId } from '#shared/core/ports';
import { bundleRates, floorCost } from '#shared/core/resources';
import { roundStartMs } from '#shared/core/rounds';
import type { ApiRequest, ApiResponse } from '#shared/http/api';
import { presentBid } from '#shared/http/bid-presenter';
import type { HttpHandler } from '#shared/http/contract';
import { httpDepsOf } from '#shared/http/http-deps';
import { type HttpDeps, httpFunction } from '#shared/http/http-function';
import { checkedBundle } from '#shared/http/market-input';
import type { SpecOf } from '#shared/http/routes';
import { bidId } from '#shared/http/schemas';

export interface BidsDeps {
  bids: Bids;
  economy: EconomyConfig;
  http: HttpDeps;
}

/** Placement refusals that are recorded as `bid_rejected` before the problem is returned. */
const RECORDED = new Set(['insufficient_balance', 'round_closed', 'too_many_open_bids']);

function ownBidId(params: Record<string, string>): string {
  const id = params.id ?? '';
  if (!bidId.safeParse(id).success) throw validationFailed([{ path: '/path/id', message: 'not a bid id' }]);
  return id;
}

/** Places a bid; a refusal is recorded as a `rejected` bid before its problem is answered. */
async function placeBid(
  { bids, economy }: Omit<BidsDeps, 'http'>,
  { caller, body, events, idempotencyKey }: ApiRequest<SpecOf<'POST /v1/bids'>>,
): Promise<ApiResponse<SpecOf<'POST /v1/bids'>>> {
  const bundle = checkedBundle(body.bundle, body.duration_seconds, economy);
  const id = derivedId('b', caller.agent_id, idempotencyKey);
  const floor = floorCost(bundle, body.duration_seconds, economy);
  // What was asked, kept with status `rejected` when the placement is refused.
  const attempt = {
    ...(body.beneficiary_id !== undefined && { beneficiary_id: body.beneficiary_id }),
    bundle,
    duration_seconds: body.duration_seconds,
    amount: body.amount,
    rates: bundleRates(bundle, body.duration_seconds),
  };
  if (body.amount < floor) {
    await bids.recordRejection(
      caller.agent_id,
      { reason: 'below_reserve', required: floor, bid_id: id },
      events,
      attempt,
    );
    throw new DomainError(
      'below_reserve',
      422,
      `The bid of ${formatCredits(body.amount)} credits is below the floor cost ${formatCredits(floor)} of its bundle.`,
      { required: formatCredits(floor) },
    );
  }
  try {
    const placed = await bids.place({ bid_id: id, agent_id: caller.agent_id, ...attempt }, events);
    return {
      status: 201,
      body: {
        ...presentBid(placed.bid),
        balance: formatCredits(placed.balance),
        round_closes_at: new Date(roundStartMs(placed.bid.round) + economy.round_seconds * 1000).toISOString(),
      },
    };
  } catch (err) {
    if (err instanceof DomainError && RECORDED.has(err.code)) {
      const ext = err.extensions as { required?: number; available?: number; round?: string };
      await bids.recordRejection(
        caller.agent_id,
        {
          reason: err.code as 'insufficient_balance' | 'round_closed' | 'too_many_open_bids',
          ...(ext.required !== undefined && { required: Math.round(ext.required * 1e6) }),
          ...(ext.available !== undefined && { available: Math.round(ext.available * 1e6) }),
          bid_id: id,
        },
        events,
        { ...attempt, ...(ext.round !== undefined && { round: ext.round }) },
      );
    }
    throw err;
  }
}

export function makeHandler({ bids, economy, http }: BidsDeps): HttpHandler {
  return httpFunction(
    'bids',
    {
      'POST /v1/bids': (req) => placeBid({ bids, economy }, req),
      'GET /v1/bids': async ({ caller, query }) => {
        let agentId: string;
        if (caller.role === 'agent') {
          if (query.agent_id && query.agent_id !== caller.agent_id) {
            throw new DomainError('forbidden', 403, 'An agent can list only its own bids.');
          }
          agentId = caller.agent_id;
        } else {
          if (!query.agent_id)
            throw validationFailed([{ path: '/query/agent_id', message: 'required for the operator' }]);
          agentId = query.agent_id;
        }
        const page = await bids.listForAgent(agentId, {
          limit: query.limit,
          caller: callerOf(caller),
          ...(query.cursor && { cursor: query.cursor }),
          ...(query.status && { status: query.status }),
          ...(query.round && { round: query.round }),
        });
        return { status: 200, body: { bids: page.bids.map(presentBid), next_cursor: page.next_cursor } };
      },
      'GET /v1/bids/{id}': async ({ caller, params }) => {
        const id = ownBidId(params);
        const bid = await bids.get(id);
        // Another agent's bid is indistinguishable from a missing one: existence must not leak.
        if (!bid || (caller.role === 'agent' && bid.agent_id !== caller.agent_id)) throw notFound(`Bid ${id}`);
        return { status: 200, body: presentBid(bid) };
      },
      'DELETE /v1/bids/{id}': async ({ caller, params, events }) => {
        const bid = await bids.cancel(ownBidId(params), caller.agent_id, events);
        return { status: 200, body: presentBid(bid) };
      },
    },
    http,
  );
}

/** Bids and their escrow: the ledger and the bids store, no clearing. */
export function bidsDepsOf(config: Config): BidsDeps {
  const { economy, ...base } = ledgerBaseFrom(config);
  const bids = bidsOf(base, { ledger: ledgerOf(base, config), economy }, config);
  return { bids, economy, http: httpDepsOf(base.table, config, base.runtime) };
}

export const handler = lambdaEntry((config) => makeHandler(bidsDepsOf(config)));
