/**
 * ensureNats: uses a NATS that answers, otherwise spawns nats-server with JetStream, and
 * stop() only ever stops a server it spawned.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { natsUrl } from '../test/harness/context.ts';
import { ensureNats, natsAnswers } from './nats.ts';
import { freePort } from './ports.ts';

describe('ensureNats', () => {
  it('uses the server at the URL when it answers, and leaves it running on stop()', async () => {
    const nats = await ensureNats({ url: natsUrl() });
    expect(nats).toMatchObject({ url: natsUrl(), spawned: false });
    await nats.stop();
    expect(await natsAnswers(natsUrl())).toBe(true);
  });

  it('spawns nats-server with JetStream when nothing answers, and stops it', async () => {
    const unreachable = `nats://127.0.0.1:${await freePort()}`;
    const nats = await ensureNats({ url: unreachable });
    try {
      expect(nats.spawned).toBe(true);
      expect(nats.url).not.toBe(unreachable);
      const nc = await connect({ servers: nats.url, timeout: 2_000 });
      try {
        const info = await (await jetstreamManager(nc)).getAccountInfo();
        expect(info.streams).toBe(0);
      } finally {
        await nc.close();
      }
    } finally {
      await nats.stop();
    }
    expect(await natsAnswers(nats.url, 500)).toBe(false);
    expect(await nats.exited).toBeDefined();
  });
});
