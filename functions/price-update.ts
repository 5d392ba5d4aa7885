/**
 * Price update: the target of the `auction_cleared` rule. The bus event carries one outbox
 * item (`detail.events`); each `auction_cleared` in it moves the prices once (idempotent per
 * round, so EventBridge's retries and replays from the archive change nothing).
 */
import type { EventBridgeEvent } from 'aws-lambda';
import type { Market } from '#shared/adapters/dynamodb/market';
import { lambdaEntry } from '#shared/adapters/lazy-handler';
import type { BusDetail } from '#shared/adapters/outbox-relay';
import { economyOf, marketOf, type TableConfig, tableOf, txRunnerOf } from '#shared/adapters/services';
import { contextFrom, flushTelemetry, tracer } from '#shared/adapters/telemetry/tracing';
import type { Config } from '#shared/config';
import { type Envelope, validateEnvelope } from '#shared/core/events';
import { systemRuntime } from '#shared/core/ports';

export interface PriceUpdateDeps {
  market: Pick<Market, 'applyRound'>;
}

/** Applies every `auction_cleared` of one bus event; resolves with how many moved the prices. */
export async function applyClearedRounds(deps: PriceUpdateDeps, detail: Pick<BusDetail, 'events'>): Promise<number> {
  let applied = 0;
  for (const raw of detail.events) {
    const event = validateEnvelope(raw);
    if (event.type !== 'auction_cleared') continue;
    const cleared = event as Envelope<'auction_cleared'>;
    const parent = contextFrom({ traceparent: cleared.trace?.traceparent, tracestate: cleared.trace?.tracestate });
    await tracer().startActiveSpan('price-update', {}, parent, async (span) => {
      try {
        const updates = await deps.market.applyRound(cleared);
        if (updates.length) applied += 1;
      } finally {
        span.end();
      }
    });
  }
  return applied;
}

export function makeHandler(
  deps: PriceUpdateDeps,
): (event: EventBridgeEvent<string, BusDetail>) => Promise<{ applied: number }> {
  return async (event) => {
    try {
      return { applied: await applyClearedRounds(deps, event.detail) };
    } finally {
      await flushTelemetry();
    }
  };
}

/** Only the market: the price update touches the prices item, its history and the outbox. */
export function priceUpdateDepsOf(
  config: TableConfig & Pick<Config, 'TX_MAX_ATTEMPTS' | 'SYNTROPISM_ECONOMY'>,
): PriceUpdateDeps {
  const runtime = systemRuntime();
  const table = tableOf(config);
  return { market: marketOf({ table, tx: txRunnerOf(table, config, runtime), runtime }, economyOf(config)) };
}

export const handler = lambdaEntry((config) => makeHandler(priceUpdateDepsOf(config)));
