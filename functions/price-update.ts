/**
 * Price update: the target of the `auction_cleared` rule. The bus event carries one outbox
 * item (`detail.events`); each `auction_cleared` in it moves the prices once (idempotent per
 * round, so EventBridge's retries and replays from the archive change nothing).
 */
import type { EventBridgeEvent } from 'aws-lambda';
import { services } from '#shared/adapters/services';
import { contextFrom, flushTelemetry, tracer } from '#shared/adapters/telemetry/tracing';
import { type Envelope, validateEnvelope } from '#shared/core/events';

const s = services();

export interface OutboxDetail {
  outbox_id: string;
  events: unknown[];
}

export async function applyClearedRounds(detail: OutboxDetail): Promise<number> {
  let applied = 0;
  for (const raw of detail.events) {
    const event = validateEnvelope(raw);
    if (event.type !== 'auction_cleared') continue;
    const cleared = event as Envelope<'auction_cleared'>;
    const parent = contextFrom({ traceparent: cleared.trace?.traceparent, tracestate: cleared.trace?.tracestate });
    await tracer().startActiveSpan('price-update', {}, parent, async (span) => {
      try {
        const updates = await s.market.applyRound(cleared);
        if (updates.length) applied += 1;
      } finally {
        span.end();
      }
    });
  }
  return applied;
}

export const handler = async (event: EventBridgeEvent<string, OutboxDetail>): Promise<{ applied: number }> => {
  try {
    return { applied: await applyClearedRounds(event.detail) };
  } finally {
    await flushTelemetry();
  }
};
