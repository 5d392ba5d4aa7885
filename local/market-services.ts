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
import { economySummary } from '#shared/adapters/dynamodb/economy';
import { economyOf, ledgerBaseOf, marketStoresOf, tableOf, txRunnerOf } from '#shared/adapters/services';
import type { Config } from '#shared/config';
import type { EconomyConfig } from '#shared/core/market-config';
import { formatCredits } from '#shared/core/money';
import { systemClock, systemRuntime } from '#shared/core/ports';
import { RESOURCES } from '#shared/core/resources';
import { consoleLogger, startPipeline } from './pipeline/index.ts';
import type { BackgroundService, RunningService, StackContext } from './stack.ts';

/** How long after a window closes the timer clears it (lets in-flight placements commit). */
const CLEARING_DELAY_MS = 150;

type MarketStores = ReturnType<typeof marketStoresOf> & {
  table: TableRef;
  economy: EconomyConfig;
  roundMs: number;
  shards: number;
};

/** The market stores on the stack's table, shared by the price update and the clearing timer. */
export function stackMarket(config: Config): MarketStores {
  const runtime = systemRuntime();
  const table = tableOf(config);
  const economy = economyOf(config);
  const base = ledgerBaseOf({ table, tx: txRunnerOf(table, config, runtime), runtime }, economy);
  const stores = marketStoresOf(base, config, economy);
  return { ...stores, table, economy, roundMs: economy.round_seconds * 1000, shards: config.LEDGER_SHARDS };
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

/**
 * Clears each round just after its window closes, one round at a time. The status lines are
 * written on a chain of their own: waiting for a round's price update and scanning the table for
 * the audit take longer as the table grows, and must never hold back the next clearing (bids
 * left pending hold their agents' open-bid slots, and the market stalls).
 */
export function startClearingTimer(stores: MarketStores, log: (line: string) => void): RunningService {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let reporting: Promise<void> = Promise.resolve();
  // Rounds cleared while a report runs wait here and are reported together, with one audit.
  let queued: ClearedRound[] = [];
  let busy = false;
  const enqueue = (rounds: ClearedRound[]) => {
    queued.push(...rounds);
    if (busy) return;
    busy = true;
    reporting = (async () => {
      while (queued.length > 0) {
        const batch = queued;
        queued = [];
        await report(stores, batch, log);
      }
      busy = false;
    })();
  };
  let stopped = false;
  const schedule = () => {
    if (stopped) return;
    const wait = stores.roundMs - (Date.now() % stores.roundMs) + CLEARING_DELAY_MS;
    timer = setTimeout(() => {
      running = clearDue(stores, log)
        .then((rounds) => {
          if (rounds.length > 0) enqueue(rounds);
        })
        .finally(schedule);
    }, wait);
  };
  schedule();
  return {
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
      await reporting;
    },
  };
}

type ClearedRound = Awaited<ReturnType<MarketStores['clearing']['clearDue']>>[number];

async function clearDue(stores: MarketStores, log: (line: string) => void): Promise<ClearedRound[]> {
  try {
    return (await stores.clearing.clearDue()).filter((r) => r.bids > 0);
  } catch (error) {
    log(`clearing failed: ${error instanceof Error ? error.message : String(error)}`);
    return [];
  }
}

/**
 * One line for every cleared round that had bids (a catch-up after downtime may clear several
 * at once): its bids and outcome, the prices its own price update set, and the economy's
 * running totals, labelled as such, with the audit's verdict.
 */
async function report(stores: MarketStores, active: ClearedRound[], log: (line: string) => void): Promise<void> {
  try {
    for (const [i, round] of active.entries()) {
      const prices = await pricesAfter(stores, round.round);
      const totals = i === active.length - 1 ? `; ${await totalsLine(stores)}` : '';
      log(
        `${round.round}: ${round.bids} bids, ${round.winners} won, ${round.losers} lost, ${round.revenue} credits burned; ` +
          `prices after it ${prices}${totals}`,
      );
    }
  } catch (error) {
    log(`status line failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** How long a status line waits for its round's price update (applied by the event pipeline). */
const PRICE_UPDATE_WAIT_MS = 2_000;

/** The prices once `round`'s price update has been applied (or, past the wait, as they are). */
async function pricesAfter(stores: MarketStores, round: string): Promise<string> {
  const deadline = Date.now() + PRICE_UPDATE_WAIT_MS;
  let state = await stores.market.state();
  while ((state.last_round ?? '') < round && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    state = await stores.market.state();
  }
  const pending = (state.last_round ?? '') < round ? ' (update pending)' : '';
  // In a fixed order, so successive lines read as columns.
  return `${RESOURCES.map((r) => `${r} ${Number(state.prices[r].toPrecision(3))}`).join(', ')}${pending}`;
}

/**
 * The audit's verdict on a table agents keep writing: its scan is not a snapshot, so it can
 * meet a transaction half-read and see a problem that is gone a moment later. A problem is
 * reported only when it is still there after two more scans; a broken ledger stays broken.
 */
async function settledAudit(stores: MarketStores) {
  let report = await auditLedger({ client: stores.table.doc, tableName: stores.table.tableName });
  for (let again = 0; again < 2 && !report.ok; again++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    report = await auditLedger({ client: stores.table.doc, tableName: stores.table.tableName });
  }
  return report;
}

async function totalsLine(stores: MarketStores): Promise<string> {
  const summary = await economySummary({ ...stores, shards: stores.shards, clock: systemClock });
  const report = await settledAudit(stores);
  const c = (n: number) => formatCredits(n);
  return (
    `totals so far: minted ${c(summary.minted.total)} (grants ${c(summary.minted.grants)}, rewards ${c(summary.minted.rewards)}), ` +
    `burned ${c(summary.burned.total)}, escrowed ${c(summary.escrowed)}, held by agents ${c(summary.circulating)}; ` +
    `audit ${report.ok ? 'OK' : `BROKEN (${report.problems.length} problems)`}`
  );
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
