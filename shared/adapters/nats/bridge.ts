/**
 * The NATS bridge: the rule target that publishes each bus event's envelopes to JetStream.
 * Shared by the Lambda (`functions/nats-bridge.ts`) and the local bus, so both behave the same:
 *
 * - NATS unreachable, or an ack that does not come in time: NatsUnavailableError, after
 *   dropping the connection. The caller fails (Lambda retries the invocation; the local bus
 *   holds the stream) and the retry republishes from the first envelope; JetStream drops what
 *   it already has (`Nats-Msg-Id`), so nothing is stored twice and the order is kept.
 * - Poison envelopes (failing their schema): the valid ones are published in order, then
 *   PoisonEventError is thrown so the bus event ends in the target's dead letter. Throwing
 *   only afterwards keeps one bad event from holding back the rest of its transaction;
 *   throwing at all is what gets it to the dead-letter queue on AWS, because EventBridge
 *   dead-letters only what fails. The retries in between republish the valid ones, which
 *   JetStream ignores as duplicates.
 * - Market state: when given a MarketStateWriter, a bus event whose envelopes hold price updates
 *   also updates the market state bucket, after they are published (so the bucket never shows
 *   a price that JetStream lacks). A failure there fails the target like a failed publish, and
 *   the retry is harmless for the same reasons (see market-state.ts).
 */
import { type JetStreamClient, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import type { BusDetail } from '../outbox-relay.ts';
import type { NatsConnector } from './connection.ts';
import { errorMessage, isPermanent, NatsUnavailableError, PoisonEventError } from './errors.ts';
import type { MarketStateReport, MarketStateWriter } from './market-state.ts';
import { type PublishReport, publishEvents } from './publish.ts';
import { DEFAULT_STREAM, ensureStream, type StreamSettings } from './stream.ts';

export interface NatsBridgeOptions {
  connector: NatsConnector;
  stream?: Partial<StreamSettings>;
  /** Per publish ack and per JetStream API call. Default 2 s. */
  timeoutMs?: number;
}

export class NatsBridge {
  readonly stream: StreamSettings;
  private readonly clients = new WeakMap<NatsConnection, JetStreamClient>();

  constructor(private readonly opts: NatsBridgeOptions) {
    this.stream = { ...DEFAULT_STREAM, ...opts.stream };
  }

  /** Publishes in order; see the module comment for what it throws. */
  async publish(events: readonly unknown[]): Promise<PublishReport> {
    const timeout = this.opts.timeoutMs ?? 2_000;
    const nc = await this.opts.connector.get();
    try {
      let js = this.clients.get(nc);
      if (!js) {
        // Once per connection: creating the stream (or finding it) costs a round trip.
        await ensureStream(await jetstreamManager(nc, { timeout }), this.stream);
        js = jetstream(nc, { timeout });
        this.clients.set(nc, js);
      }
      return await publishEvents(js, events, { subjectRoot: this.stream.subjectRoot, ackTimeoutMs: timeout });
    } catch (error) {
      if (isPermanent(error)) throw error;
      await this.opts.connector.invalidate();
      throw error instanceof NatsUnavailableError
        ? error
        : new NatsUnavailableError(`NATS failed: ${errorMessage(error)}`, { cause: error });
    }
  }

  close(): Promise<void> {
    return this.opts.connector.close();
  }
}

const busDetailSchema = z.object({
  outbox_id: z.string().min(1),
  events: z.array(z.unknown()),
  relay_error: z.string().optional(),
});

export interface BridgeReport extends PublishReport {
  /** What the market state write did (only with a writer and a price update among the events). */
  market?: MarketStateReport;
}

/**
 * The target's work for one bus event `detail` (`{outbox_id, events}`): publish its envelopes,
 * then write the market state they call for, when given its writer.
 */
export async function bridgeBusDetail(
  bridge: Pick<NatsBridge, 'publish'>,
  detail: unknown,
  marketState?: Pick<MarketStateWriter, 'write'>,
): Promise<BridgeReport> {
  const parsed = busDetailSchema.safeParse(detail);
  if (!parsed.success) {
    const id = (detail as Partial<BusDetail> | null)?.outbox_id;
    throw new PoisonEventError(typeof id === 'string' ? id : 'unknown', [
      { index: -1, error: `not a bus event detail: ${z.prettifyError(parsed.error)}`, event: detail },
    ]);
  }
  const { outbox_id, events, relay_error } = parsed.data;
  if (relay_error !== undefined)
    throw new PoisonEventError(outbox_id, [{ index: -1, error: relay_error, event: null }]);
  const report: BridgeReport = await bridge.publish(events);
  // Before the poison check: the valid price updates are published, so the state shows them.
  if (marketState) {
    const market = await marketState.write(events);
    if (market.written.length + market.kept.length > 0) report.market = market;
  }
  if (report.poison.length > 0) throw new PoisonEventError(outbox_id, report.poison);
  return report;
}
