/**
 * The background services of the local stack: the event pipeline (the Pipe, the bus with the
 * shared rules, the NATS bridge with the market state bucket, the event log, the price update),
 * the clearing timer standing in for EventBridge Scheduler, which also prints one status line
 * per round, and the allocation sweeper's timer. All are built from the stack's configuration
 * (`ctx.config`), with the same builders the functions use.
 */
import { applyClearedRounds } from '#functions/price-update';
import { makeHandler as makeSweeper, sweeperDepsOf } from '#functions/sweeper';
import { auditLedger } from '#shared/adapters/dynamodb/audit';
import type { TableRef } from '#shared/adapters/dynamodb/client';
import { economyOf, ledgerBaseOf, marketStoresOf, tableOf, txRunnerOf } from '#shared/adapters/services';
import type { Config } from '#shared/config';
import type { EconomyConfig } from '#shared/core/market-config';
import { formatCredits } from '#shared/core/money';
import { systemRuntime } from '#shared/core/ports';
import { RESOURCES } from '#shared/core/resources';
import { consoleLogger, startPipeline } from './pipeline/index.ts';
import type { BackgroundService, RunningService, StackContext } from './stack.ts';

/** How long after a window closes the timer clears it (lets in-flight placements commit). */
const CLEARING_DELAY_MS = 150;

type MarketStores = ReturnType<typeof marketStoresOf> & { table: TableRef; economy: EconomyConfig; roundMs: number };

/** The market stores on the stack's table, shared by the price update and the clearing timer. */
export function stackMarket(config: Config): MarketStores {
  const runtime = systemRuntime();
  const table = tableOf(config);
  const economy = economyOf(config);
  const base = ledgerBaseOf({ table, tx: txRunnerOf(table, config, runtime), runtime }, economy);
  const stores = marketStoresOf(base, config, economy);
  return { ...stores, table, economy, roundMs: economy.round_seconds * 1000 };
}

export function marketServices(ctx: StackContext): BackgroundService[] {
  let stores: MarketStores | undefined;
  // Built when a service starts, not when the list is made: listing them opens no client.
  const market = () => {
    stores ??= stackMarket(ctx.config);
    return stores;
  };
  return [
    { name: 'event pipeline', start: () => startEventPipeline(ctx, market()) },
    { name: 'clearing timer', start: async () => startClearingTimer(market(), ctx.log) },
    { name: 'allocation sweeper', start: async () => startSweeperTimer(ctx.config, ctx.log) },
  ];
}

async function startEventPipeline(ctx: StackContext, stores: MarketStores): Promise<RunningService> {
  const pipeline = await startPipeline({
    tableName: ctx.tableName,
    dynamo: { endpoint: ctx.dynamoEndpoint, region: ctx.config.AWS_REGION },
    natsUrl: ctx.natsUrl,
    startingPosition: 'TRIM_HORIZON',
    // As the bridge Lambda does: price updates also go to the market state bucket.
    marketState: { economy: stores.economy, bucket: ctx.config.NATS_MARKET_BUCKET },
    logger: ctx.options.verbose ? consoleLogger : { ...consoleLogger, info: () => {} },
    targets: { 'price-update': async (event) => void (await applyClearedRounds(stores, event.detail)) },
  });
  return { stop: () => pipeline.stop() };
}

/** Clears each round just after its window closes, one round at a time. */
export function startClearingTimer(stores: MarketStores, log: (line: string) => void): RunningService {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const schedule = () => {
    if (stopped) return;
    const wait = stores.roundMs - (Date.now() % stores.roundMs) + CLEARING_DELAY_MS;
    timer = setTimeout(() => {
      running = clearAndReport(stores, log).finally(schedule);
    }, wait);
  };
  schedule();
  return {
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

async function clearAndReport(stores: MarketStores, log: (line: string) => void): Promise<void> {
  try {
    const cleared = await stores.clearing.clearDue();
    const last = cleared.at(-1);
    if (!last) return;
    const report = await auditLedger({ client: stores.table.doc, tableName: stores.table.tableName });
    const { prices } = await stores.market.state();
    // In a fixed order, so successive lines read as columns.
    const priceText = RESOURCES.map((r) => `${r} ${prices[r].toPrecision(3)}`).join(', ');
    log(
      `${last.round}: ${last.bids} bids, ${last.winners} won, prices ${priceText}; ` +
        `burned ${formatCredits(report.totals.burned)}, minted ${formatCredits(report.totals.minted)}, ` +
        `conservation ${report.ok ? 'OK' : `BROKEN (${report.problems.length} problems)`}`,
    );
  } catch (error) {
    log(`clearing failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** How often the local sweeper runs (every minute on AWS; a local round is a few seconds). */
export const SWEEP_INTERVAL_MS = 2_000;

/** Runs the sweeper function's handler on a timer, one run at a time. */
export function startSweeperTimer(config: Config, log: (line: string) => void): RunningService {
  const sweep = makeSweeper(sweeperDepsOf(config));
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(() =>
      sweep().then(
        () => undefined,
        (error: unknown) => log(`sweeper failed: ${error instanceof Error ? error.message : String(error)}`),
      ),
    );
  }, SWEEP_INTERVAL_MS);
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
