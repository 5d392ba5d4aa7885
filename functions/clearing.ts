/**
 * The scheduled clearing job (EventBridge Scheduler on AWS, a timer in the local stack): clears
 * every round whose window has closed, catching up after downtime.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Clearing } from '#shared/adapters/dynamodb/clearing';
import { lambdaEntry } from '#shared/adapters/lazy-handler';
import { ledgerBaseFrom, loggerOf, marketStoresOf, type TableConfig } from '#shared/adapters/services';
import { settlementDispatch, sqsSendBatch } from '#shared/adapters/sqs/settlement-queue';
import { currentTraceContext, flushTelemetry, tracer } from '#shared/adapters/telemetry/tracing';
import type { Config } from '#shared/config';

export interface ClearingDeps {
  clearing: Pick<Clearing, 'clearDue'>;
  logger: Pick<Logger, 'info'>;
}

export interface ClearingResult {
  cleared: number;
  rounds: string[];
}

export function makeHandler(deps: ClearingDeps): () => Promise<ClearingResult> {
  return () =>
    tracer().startActiveSpan('clearing', async (span) => {
      try {
        // auction_cleared (and the price update after it) continue this run's trace; each bid's
        // outcome continues the trace of the request that placed it.
        const trace = currentTraceContext();
        const summaries = await deps.clearing.clearDue(trace ? { trace } : {});
        for (const r of summaries) deps.logger.info('round cleared', { ...r });
        return { cleared: summaries.length, rounds: summaries.map((r) => r.round) };
      } finally {
        span.end();
        await flushTelemetry();
      }
    });
}

/**
 * Clearing reads and writes every market store: all of them, on one table and runner. With a
 * settlement queue it hands settlement to the settlement function; without, it settles
 * in-process, `SETTLEMENT_CONCURRENCY` transactions at a time.
 */
export function clearingDepsOf(
  config: TableConfig &
    Pick<Config, 'TX_MAX_ATTEMPTS' | 'SYNTROPISM_ECONOMY' | 'LEDGER_SHARDS' | 'ROUND_BID_SHARDS' | 'LOG_LEVEL'> &
    Partial<Pick<Config, 'SETTLEMENT_CONCURRENCY' | 'SETTLEMENT_QUEUE_URL'>>,
): ClearingDeps {
  const { economy, ...base } = ledgerBaseFrom(config);
  const { clearing } = marketStoresOf(base, config, economy, {
    ...(config.SETTLEMENT_CONCURRENCY && { settlementConcurrency: config.SETTLEMENT_CONCURRENCY }),
    ...(config.SETTLEMENT_QUEUE_URL && {
      dispatch: settlementDispatch(sqsSendBatch(config.SETTLEMENT_QUEUE_URL)),
    }),
  });
  return { clearing, logger: loggerOf(config) };
}

export const handler = lambdaEntry((config) => makeHandler(clearingDepsOf(config)));
