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
import { lazyHandler } from '#shared/adapters/lazy-handler';
import { type PipeBusEntry, relayRecords, type StreamRecordLike } from '#shared/adapters/outbox-relay';
import { type Config, loadConfig } from '#shared/config';

export interface OutboxRelayDeps {
  logger: Pick<Logger, 'error'>;
}

export function makeHandler(deps: OutboxRelayDeps): (records: StreamRecordLike[]) => Promise<PipeBusEntry[]> {
  return async (records) => {
    const entries = relayRecords(Array.isArray(records) ? records : []);
    for (const entry of entries) {
      if (entry.detail.relay_error !== undefined) {
        deps.logger.error('unreadable outbox item forwarded for dead-lettering', {
          outbox_id: entry.detail.outbox_id,
          error: entry.detail.relay_error,
        });
      }
    }
    return entries;
  };
}

/** A logger only: the relay is pure and touches no table, so it bundles no store. */
export function outboxRelayDepsOf(config: Pick<Config, 'LOG_LEVEL'>): OutboxRelayDeps {
  return { logger: new Logger({ serviceName: 'syntropism', logLevel: config.LOG_LEVEL }) };
}

export const handler = lazyHandler(() => makeHandler(outboxRelayDepsOf(loadConfig(process.env))));
