/**
 * Transfers API: agent → agent credit transfers.
 */
import { services } from '#shared/adapters/services';
import { validationFailed } from '#shared/core/errors';
import { formatCredits } from '#shared/core/money';
import { derivedId } from '#shared/core/ports';
import { defineRoute, httpFunction } from '#shared/http/http-function';
import { presentTransfer } from '#shared/http/presenters';
import { transferBody } from '#shared/http/schemas';

const s = services();

export const handler = httpFunction(
  'transfers',
  {
    'POST /v1/transfers': defineRoute({
      body: transferBody,
      idempotency: 'required',
      handle: async ({ caller, body, events, event }) => {
        if (caller.role !== 'agent') throw new Error('unreachable: route is for agents');
        if (body.to_agent_id === caller.agent_id) {
          throw validationFailed([{ path: '/to_agent_id', message: 'cannot transfer to yourself' }]);
        }
        // The transfer id derives from the caller's Idempotency-Key: even if the stored response
        // were lost, a retry hits the transfer guard and applies nothing twice.
        const key = event.headers['idempotency-key'] ?? '';
        const memo = body.memo ?? body.purpose_note;
        const outcome = await s.ledger.transfer(
          {
            transfer_id: derivedId('tr', caller.agent_id, key),
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
    }),
  },
  s,
);
