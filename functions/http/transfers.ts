/**
 * Transfers API: agent → agent credit transfers.
 */

import type { Ledger } from '#shared/adapters/dynamodb/ledger';
import { lambdaEntry } from '#shared/adapters/lazy-handler';
import { ledgerBaseFrom, ledgerOf } from '#shared/adapters/services';
import type { Config } from '#shared/config';
import { validationFailed } from '#shared/core/errors';
import { formatCredits } from '#shared/core/money';
import { derivedId } from '#shared/core/ports';
import type { HttpHandler } from '#shared/http/contract';
import { httpDepsOf } from '#shared/http/http-deps';
import { type HttpDeps, httpFunction } from '#shared/http/http-function';
import { presentTransfer } from '#shared/http/presenters';

export interface TransfersDeps {
  ledger: Ledger;
  http: HttpDeps;
}

export function makeHandler({ ledger, http }: TransfersDeps): HttpHandler {
  return httpFunction(
    'transfers',
    {
      'POST /v1/transfers': async ({ caller, body, events, idempotencyKey }) => {
        if (body.to_agent_id === caller.agent_id) {
          throw validationFailed([{ path: '/to_agent_id', message: 'cannot transfer to yourself' }]);
        }
        // The transfer id derives from the caller's Idempotency-Key: even if the stored response
        // were lost, a retry hits the transfer guard and applies nothing twice.
        const memo = body.memo ?? body.purpose_note;
        const outcome = await ledger.transfer(
          {
            transfer_id: derivedId('tr', caller.agent_id, idempotencyKey),
            from: caller.agent_id,
            to: body.to_agent_id,
            amount: body.amount,
            purpose: 'transfer',
            reference: null,
            ...(memo !== undefined && { memo }),
          },
          { actor: caller.agent_id, ctx: events },
        );
        return {
          status: 201,
          body: {
            ...presentTransfer(outcome.transfer),
            balance: outcome.balance === undefined ? null : formatCredits(outcome.balance),
          },
        };
      },
    },
    http,
  );
}

/** Transfers: the ledger and its writer alone. */
export function transfersDepsOf(config: Config): TransfersDeps {
  const base = ledgerBaseFrom(config);
  return { ledger: ledgerOf(base, config), http: httpDepsOf(base.table, config, base.runtime) };
}

export const handler = lambdaEntry((config) => makeHandler(transfersDepsOf(config)));
