/**
 * The scheduled allocation sweeper (EventBridge Scheduler on AWS, a timer in the local stack):
 * releases token reservations past their deadline (a gateway that stopped between reserve and
 * settle), marks allocations past their end `expired` with `allocation_expired`, and prompts
 * left unrewarded past their time `expired` with `prompt_expired`. All are
 * idempotent and bounded per run; correctness never depends on the sweeper having run, since
 * every read computes `active` from the window and every draw is conditioned on it.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Allocations } from '#shared/adapters/dynamodb/allocations';
import type { Prompts } from '#shared/adapters/dynamodb/prompts';
import { lambdaEntry } from '#shared/adapters/lazy-handler';
import {
  allocationsOf,
  economyOf,
  loggerOf,
  promptsOf,
  type TableConfig,
  tableOf,
  txRunnerOf,
} from '#shared/adapters/services';
import { currentTraceContext, flushTelemetry, tracer } from '#shared/adapters/telemetry/tracing';
import type { Config } from '#shared/config';
import type { EventContext } from '#shared/core/events';
import { type Clock, systemRuntime } from '#shared/core/ports';

export interface SweeperDeps {
  allocations: Pick<Allocations, 'expireEnded' | 'reservations'>;
  prompts: Pick<Prompts, 'expireDue'>;
  clock: Clock;
  logger: Pick<Logger, 'info'>;
  /** Holds released per query, ended allocations looked at per run, and how long releasing may go on. */
  pageSize?: number;
  maxExpiries?: number;
  budgetMs?: number;
}

export interface SweepResult {
  released: number;
  expired: number;
  prompts_expired: number;
}

/** Repeats `step` while it finds work and the budget lasts; returns the total it did. */
async function drain(step: () => Promise<number>, clock: Clock, until: number): Promise<number> {
  let total = 0;
  for (;;) {
    const done = await step();
    total += done;
    if (done === 0 || clock.now() >= until) return total;
  }
}

export function makeHandler(deps: SweeperDeps): () => Promise<SweepResult> {
  const pageSize = deps.pageSize ?? 100;
  const maxExpiries = deps.maxExpiries ?? 5_000;
  const budgetMs = deps.budgetMs ?? 45_000;
  return () =>
    tracer().startActiveSpan('sweeper', async (span) => {
      try {
        const trace = currentTraceContext();
        const ctx: EventContext = trace ? { trace } : {};
        const until = deps.clock.now() + budgetMs;
        // Holds first: an allocation still holding tokens waits for them before it expires.
        const { reservations } = deps.allocations;
        const released = await drain(() => reservations.releaseStale(pageSize, ctx), deps.clock, until);
        // Ended allocations still holding tokens stay in the index: one pass over it, bounded.
        const { expired } = await deps.allocations.expireEnded(maxExpiries, ctx);
        const prompts = await drain(
          async () => (await deps.prompts.expireDue(pageSize, ctx)).expired,
          deps.clock,
          until,
        );
        if (released + expired + prompts > 0)
          deps.logger.info('swept', { released, expired, prompts_expired: prompts });
        return { released, expired, prompts_expired: prompts };
      } finally {
        span.end();
        await flushTelemetry();
      }
    });
}

/** The sweeper needs the allocations and prompts stores. */
export function sweeperDepsOf(
  config: TableConfig & Pick<Config, 'TX_MAX_ATTEMPTS' | 'LOG_LEVEL' | 'SYNTROPISM_ECONOMY'>,
): SweeperDeps {
  const runtime = systemRuntime();
  const table = tableOf(config);
  const base = { table, tx: txRunnerOf(table, config, runtime), runtime };
  const allocations = allocationsOf(base);
  return {
    allocations,
    prompts: promptsOf(base, allocations, economyOf(config)),
    clock: runtime.clock,
    logger: loggerOf(config),
  };
}

export const handler = lambdaEntry((config) => makeHandler(sweeperDepsOf(config)));
