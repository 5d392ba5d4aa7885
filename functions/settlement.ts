/**
 * The settlement worker (AWS): settles the orders clearing put on the settlement queue, one
 * transaction each. SQS runs as many of these at once as the event source allows, so a round's
 * settlement is bounded by the table's write throughput rather than by one invocation. A failed
 * order is reported alone (partial batch response) and comes back after the visibility timeout;
 * an order that keeps failing ends in the queue's dead-letter queue, and the next clearing run
 * settles its bids itself (they are still pending).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { Clearing } from '#shared/adapters/dynamodb/clearing';
import { lambdaEntry } from '#shared/adapters/lazy-handler';
import { ledgerBaseFrom, loggerOf, marketStoresOf, type TableConfig } from '#shared/adapters/services';
import { flushTelemetry, tracer } from '#shared/adapters/telemetry/tracing';
import type { Config } from '#shared/config';
import type { SettlementOrder } from '#shared/core/settlement';

export interface SettlementDeps {
  clearing: Pick<Clearing, 'settleOrder'>;
  logger: Pick<Logger, 'info' | 'error'>;
}

export function makeHandler(deps: SettlementDeps): (event: SQSEvent) => Promise<SQSBatchResponse> {
  return (event) =>
    tracer().startActiveSpan('settlement', async (span) => {
      const failures: SQSBatchResponse['batchItemFailures'] = [];
      try {
        for (const record of event.Records) {
          try {
            const order = JSON.parse(record.body) as SettlementOrder;
            const settled = await deps.clearing.settleOrder(order);
            deps.logger.info('settlement order', { round: order.round, bids: order.outcomes.length, settled });
          } catch (err) {
            deps.logger.error('settlement order failed', { messageId: record.messageId, error: String(err) });
            failures.push({ itemIdentifier: record.messageId });
          }
        }
        return { batchItemFailures: failures };
      } finally {
        span.end();
        await flushTelemetry();
      }
    });
}

export function settlementDepsOf(
  config: TableConfig &
    Pick<Config, 'TX_MAX_ATTEMPTS' | 'SYNTROPISM_ECONOMY' | 'LEDGER_SHARDS' | 'ROUND_BID_SHARDS' | 'LOG_LEVEL'>,
): SettlementDeps {
  const { economy, ...base } = ledgerBaseFrom(config);
  const { clearing } = marketStoresOf(base, config, economy);
  return { clearing, logger: loggerOf(config) };
}

export const handler = lambdaEntry((config) => makeHandler(settlementDepsOf(config)));
