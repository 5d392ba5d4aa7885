/**
 * The `event-log` rule target: appends every event of a bus event to the queryable event log
 * (`GET /v1/events`). Idempotent per event id, so EventBridge retries and archive replays are
 * harmless; poison events throw after the valid ones are stored, so they reach the DLQ.
 */
import type { EventBridgeEvent } from 'aws-lambda';
import { appendBusDetail, EventLog } from '#shared/adapters/dynamodb/event-log';
import { lambdaEntry } from '#shared/adapters/lazy-handler';
import type { BusDetail } from '#shared/adapters/outbox-relay';
import { type TableConfig, tableOf } from '#shared/adapters/services';
import { flushTelemetry } from '#shared/adapters/telemetry/tracing';
import { systemClock } from '#shared/core/ports';

export interface EventLogDeps {
  log: EventLog;
}

export function makeHandler(
  deps: EventLogDeps,
): (event: EventBridgeEvent<string, BusDetail>) => Promise<{ appended: number }> {
  return async (event) => {
    try {
      return { appended: await appendBusDetail(deps.log, event.detail) };
    } finally {
      await flushTelemetry();
    }
  };
}

export function eventLogDepsOf(config: TableConfig): EventLogDeps {
  return { log: new EventLog(tableOf(config), systemClock) };
}

export const handler = lambdaEntry((config) => makeHandler(eventLogDepsOf(config)));
