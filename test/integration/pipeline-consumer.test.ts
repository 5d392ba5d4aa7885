/**
 * The consumer library against the harness's NATS, on a stream of this file's own: typed
 * envelopes, de-duplication by event id, the scenario filter, invalid messages, redelivery after
 * a failed handler, and the acknowledgement rules of the iterator API.
 */
import { randomBytes } from 'node:crypto';
import { type JetStreamClient, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Delivery, EventConsumer } from '#shared/adapters/nats/consumer';
import { DEFAULT_STREAM, ensureStream, subjectFor } from '#shared/adapters/nats/stream';
import { type Envelope, makeEvent } from '#shared/core/events';
import { systemClock, ulidGenerator } from '#shared/core/ports';
import { natsUrl } from '../harness/context.ts';

const suffix = randomBytes(4).toString('hex');
const STREAM = `CONSUMER_${suffix}`;
const ROOT = `consumer${suffix}`;
let nc: NatsConnection;
let js: JetStreamClient;
const deps = { clock: systemClock, ids: ulidGenerator(systemClock) };

beforeAll(async () => {
  nc = await connect({ servers: natsUrl() });
  await ensureStream(await jetstreamManager(nc), { ...DEFAULT_STREAM, name: STREAM, subjectRoot: ROOT });
  js = jetstream(nc);
});

afterAll(async () => {
  await (await jetstreamManager(nc)).streams.delete(STREAM).catch(() => false);
  await nc.close();
});

const reasoning = (scenario?: string): Envelope =>
  makeEvent(
    deps,
    { type: 'reasoning_trace', agent_id: 'a_1', data: { reasoning: 'r', decision: 'd' } },
    scenario === undefined ? {} : { scenario_id: scenario },
  );

async function publish(e: Envelope, msgID?: string): Promise<void> {
  await js.publish(subjectFor(e, ROOT), JSON.stringify(e), msgID === undefined ? {} : { msgID });
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('EventConsumer', () => {
  it('hands over each valid event of its scenario once, and redelivers after a failed handler', async () => {
    const mine = reasoning('s1');
    const other = reasoning('s2');
    const flaky = reasoning('s1');
    await publish(mine, 'first');
    await publish(mine, 'second'); // stored twice (distinct message ids): a consumer-side duplicate
    await publish(other);
    await js.publish(`${ROOT}.system.economy.credits_transferred`, 'not json');
    await publish(flaky);

    const invalid: string[] = [];
    const consumer = await EventConsumer.create({
      connection: nc,
      stream: STREAM,
      durable: 'run',
      filterSubject: `${ROOT}.>`,
      scenarioId: 's1',
      nakDelayMs: 10,
      onInvalid: (i) => invalid.push(i.error),
    });
    const delivered: Delivery[] = [];
    let failedOnce = false;
    const running = consumer.run(async (d) => {
      if (d.envelope.event_id === flaky.event_id && !failedOnce) {
        failedOnce = true;
        throw new Error('handler failed');
      }
      delivered.push(d);
    });
    await until(() => delivered.length === 2, 'two deliveries');
    await consumer.close();
    await running;

    expect(delivered.map((d) => d.envelope.event_id)).toEqual([mine.event_id, flaky.event_id]);
    expect(delivered[0]?.envelope).toEqual(mine);
    expect(delivered[1]?.redelivered).toBe(true);
    expect(consumer.stats).toMatchObject({ delivered: 2, duplicates: 1, filtered: 1, invalid: 1 });
    expect(invalid[0]).toMatch(/JSON|invalid/i);
  });

  it('iterator: acknowledges a delivery when the next one is requested; leaving the loop leaves it pending', async () => {
    const subjectRoot = `${ROOT}.agent.agents.reasoning_trace`;
    const options = {
      connection: nc,
      stream: STREAM,
      durable: 'iter',
      filterSubject: subjectRoot,
      ackWaitMs: 1_000,
    };
    const seen: string[] = [];
    const first = await EventConsumer.create(options);
    for await (const d of first) {
      seen.push(d.envelope.event_id);
      if (seen.length === 2) break; // the second is not acknowledged
    }
    await first.close();

    const again: string[] = [];
    const second = await EventConsumer.create(options);
    for await (const d of second) {
      again.push(d.envelope.event_id);
      d.ack();
      break;
    }
    await second.close();
    // The first was acknowledged (by asking for the next); the second comes again.
    expect(again).toEqual([seen[1]]);
  });

  it('refuses to reuse a durable name with another filter', async () => {
    await expect(
      EventConsumer.create({ connection: nc, stream: STREAM, durable: 'run', filterSubject: `${ROOT}.system.>` }),
    ).rejects.toThrow(/filters/);
  });
});
