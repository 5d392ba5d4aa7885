/**
 * EventBridge Pipe enrichment: DynamoDB stream records in (already filtered by the Pipe to
 * outbox inserts), one bus entry per outbox item out, in record order. The Pipe puts each
 * entry on the bus (`source`, `detail-type`, `detail` = `{outbox_id, events}`); see
 * shared/adapters/outbox-relay.ts and infra/constructs/event-pipeline.ts.
 *
 * It never throws on an item's contents: an unreadable item is forwarded marked with
 * `relay_error` so that it ends in the targets' dead letters instead of blocking its shard.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { type PipeBusEntry, relayRecords, type StreamRecordLike } from '#shared/adapters/outbox-relay';
import { loadConfig } from '#shared/config';

const logger = new Logger({ serviceName: 'syntropism', logLevel: loadConfig().LOG_LEVEL });

export const handler = async (records: StreamRecordLike[]): Promise<PipeBusEntry[]> => {
  const entries = relayRecords(Array.isArray(records) ? records : []);
  for (const entry of entries) {
    if (entry.detail.relay_error !== undefined) {
      logger.error('unreadable outbox item forwarded for dead-lettering', {
        outbox_id: entry.detail.outbox_id,
        error: entry.detail.relay_error,
      });
    }
  }
  return entries;
};
