/**
 * The events a test's pipeline publishes, read back from NATS: a JetStream stream of the test's
 * own (its own subject root, so files sharing one server never see each other's events) and a
 * durable consumer collecting every delivery. Call `useNatsEvents` before `useApi`/`useStack`:
 * its hooks then attach the consumer before the bridge's first publish and close it after the
 * pipeline stopped. Pass `pipeline` to the stack's `pipeline.stream` option.
 */
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll } from 'vitest';
import { type Delivery, EventConsumer } from '#shared/adapters/nats/consumer';
import { DEFAULT_STREAM, ensureStream } from '#shared/adapters/nats/stream';
import type { Envelope } from '#shared/core/events';
import { natsUrl } from './context.ts';

export interface NatsEvents {
  /** The stack's `pipeline.stream` option. */
  pipeline: { name: string; subjectRoot: string };
  /** Every delivery so far, in arrival order. */
  received: Delivery[];
  /** The envelopes delivered so far, `data` loosely typed for assertions. */
  envelopes(): (Envelope & { data: Record<string, unknown> })[];
  /** Waits until `probe` gives a value (polling every 25 ms), or fails after `timeoutMs`. */
  until<T>(probe: () => T | undefined, what: string, timeoutMs?: number): Promise<T>;
}

export function useNatsEvents(prefix: string): NatsEvents {
  const suffix = randomBytes(4).toString('hex');
  const pipeline = { name: `${prefix.toUpperCase()}_${suffix}`, subjectRoot: `${prefix}${suffix}` };
  const received: Delivery[] = [];
  let nc: NatsConnection | undefined;
  let consumer: EventConsumer | undefined;
  let consuming: Promise<void> | undefined;

  beforeAll(async () => {
    nc = await connect({ servers: natsUrl() });
    await ensureStream(await jetstreamManager(nc), { ...DEFAULT_STREAM, ...pipeline });
    consumer = await EventConsumer.create({
      connection: nc,
      stream: pipeline.name,
      durable: prefix,
      filterSubject: `${pipeline.subjectRoot}.>`,
    });
    consuming = consumer.run((d) => void received.push(d));
  });

  afterAll(async () => {
    await consumer?.close();
    await consuming;
    if (nc) {
      await (await jetstreamManager(nc)).streams.delete(pipeline.name).catch(() => false);
      await nc.close();
    }
  });

  return {
    pipeline,
    received,
    envelopes: () => received.map((d) => d.envelope as Envelope & { data: Record<string, unknown> }),
    async until(probe, what, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const v = probe();
        if (v !== undefined) return v;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}
