/**
 * The `event-log` rule target: appends every event of a bus event to the queryable event log
 * (`GET /v1/events`). Idempotent per event id, so EventBridge retries and archive replays are
 * harmless; poison events throw after the valid ones are stored, so they reach the DLQ.
 */
import type { EventBridgeEvent } from 'aws-lambda';
import type { BusDetail } from '#shared/adapters/outbox-relay';
import { appendBusDetail, EventLog } from '#shared/adapters/outbox-relay-event-log';
import { services } from '#shared/adapters/services';
import { flushTelemetry } from '#shared/adapters/telemetry/tracing';

const s = services();
const log = new EventLog(s.table, s.runtime.clock);

export const handler = async (event: EventBridgeEvent<string, BusDetail>): Promise<{ appended: number }> => {
  try {
    return { appended: await appendBusDetail(log, event.detail) };
  } finally {
    await flushTelemetry();
  }
};
