/**
 * The background services of the local stack: the event pipeline (the Pipe, the bus with the
 * shared rules, the NATS bridge, the event log, the price update) and the clearing timer
 * standing in for EventBridge Scheduler, which also prints one status line per round.
 */
import { auditLedger } from '#shared/adapters/dynamodb/audit';
import { formatCredits } from '#shared/core/money';
import { RESOURCES } from '#shared/core/resources';
import type { BackgroundService, StackContext } from './cli.ts';
import { consoleLogger, startPipeline } from './pipeline/index.ts';

/** How long after a window closes the timer clears it (lets in-flight placements commit). */
const CLEARING_DELAY_MS = 150;

export function marketServices(ctx: StackContext): BackgroundService[] {
  return [
    {
      name: 'event pipeline',
      start: async () => {
        // Imported here: the handlers read the environment the stack has just set.
        const { applyClearedRounds } = await import('#functions/price-update');
        const pipeline = await startPipeline({
          tableName: ctx.tableName,
          dynamoEndpoint: ctx.dynamoEndpoint,
          natsUrl: ctx.natsUrl,
          startingPosition: 'TRIM_HORIZON',
          logger: ctx.options.verbose ? consoleLogger : { ...consoleLogger, info: () => {} },
          targets: { 'price-update': async (event) => void (await applyClearedRounds(event.detail)) },
        });
        return { stop: () => pipeline.stop() };
      },
    },
    {
      name: 'clearing timer',
      start: async () => {
        const { services } = await import('#shared/adapters/services');
        const s = services();
        const roundMs = s.economy.round_seconds * 1000;
        let timer: NodeJS.Timeout | undefined;
        let running: Promise<void> = Promise.resolve();
        let stopped = false;
        const tick = async () => {
          try {
            const cleared = await s.clearing.clearDue();
            if (cleared.length === 0) return;
            const report = await auditLedger({ client: s.table.doc, tableName: s.table.tableName });
            const { prices } = await s.market.state();
            const last = cleared.at(-1);
            if (!last) return;
            // In a fixed order, so successive lines read as columns.
            const priceText = RESOURCES.map((r) => `${r} ${prices[r].toPrecision(3)}`).join(', ');
            ctx.log(
              `${last.round}: ${last.bids} bids, ${last.winners} won, prices ${priceText}; ` +
                `burned ${formatCredits(report.totals.burned)}, minted ${formatCredits(report.totals.minted)}, ` +
                `conservation ${report.ok ? 'OK' : `BROKEN (${report.problems.length} problems)`}`,
            );
          } catch (error) {
            ctx.log(`clearing failed: ${error instanceof Error ? error.message : String(error)}`);
          }
        };
        const schedule = () => {
          if (stopped) return;
          const wait = roundMs - (Date.now() % roundMs) + CLEARING_DELAY_MS;
          timer = setTimeout(() => {
            running = tick().finally(schedule);
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
      },
    },
  ];
}
