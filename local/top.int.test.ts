/**
 * `syntropism top --once` against a running API: one screen with every resource's price between
 * its floor and ceiling, the last cleared round and the money supply.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import { useApi } from '../test/harness/api.ts';
import { natsUrl } from '../test/harness/context.ts';
import { priceBar, renderTop } from './top.ts';

const SHIM = fileURLToPath(new URL('../bin/syntropism.mjs', import.meta.url));
const suffix = randomBytes(4).toString('hex');
// Registered before the stack's hooks, so it runs after the pipeline stopped.
afterAll(async () => {
  const nc = await connect({ servers: natsUrl() });
  await (await jetstreamManager(nc)).streams.delete(`TOP_${suffix}`).catch(() => false);
  await nc.close();
});
const quiet = { info: () => {}, warn: () => {}, error: () => {} };
// With the pipeline's price update, which records the last cleared round top shows.
const api = useApi('top', {
  env: { SYNTROPISM_ECONOMY: JSON.stringify({ round_seconds: 1 }) },
  pipeline: { stream: { name: `TOP_${suffix}`, subjectRoot: `top${suffix}` }, priceUpdate: true, logger: quiet },
});

describe('syntropism top', () => {
  it('draws where a price sits between floor and ceiling, on a log scale', () => {
    expect(priceBar(0.001, 0.001, 1)).toBe(`[${'.'.repeat(20)}]`);
    expect(priceBar(1, 0.001, 1)).toBe(`[${'#'.repeat(20)}]`);
    expect(priceBar(Math.sqrt(0.001), 0.001, 1)).toBe(`[${'#'.repeat(10)}${'.'.repeat(10)}]`);
    const screen = renderTop(
      {
        round: { round: 'r_10', closes_at: new Date(5_000).toISOString() },
        last_round: null,
        resources: { cpu: { price: 0.01, min_price: 0.001, max_price: 1, utilization: 0.25 } },
      },
      undefined,
      { minted: { grants: 100, rewards: 30, total: 130 }, burned: { total: 5 }, escrowed: 1, circulating: 124 },
      2_000,
    );
    expect(screen[0]).toBe('syntropism top — round r_10 closes in 3s');
    expect(screen.join('\n')).toContain('cpu         0.01');
    expect(screen.join('\n')).toContain('25.0%');
    expect(screen.at(-1)).toBe(
      'money       minted 130 (grants 100, rewards 30), burned 5, escrowed 1, held by agents 124',
    );
  });

  it('--once prints one screen of the live market and its last round', async () => {
    const agent = await api.agent('watched', 20);
    await api.won(agent, { bundle: { cpu: 1 }, duration_seconds: 10, amount: 2 });
    for (let i = 0; i < 100; i++) {
      const market = await api.call('GET', '/v1/market');
      if (market.body.last_round) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const child = spawn(process.execPath, [SHIM, 'top', '--once', '--api', api.url, '--key', api.operatorKey]);
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(0);
    for (const r of ['cpu', 'memory', 'tokens', 'attention'])
      expect(out).toMatch(new RegExp(`^${r} +\\S+ +\\[[#.]{20}\\]`, 'm'));
    expect(out).toMatch(/^last round +r_\d+ \(cleared\): 1 bids, 1 won, 0 lost, 2 credits burned$/m);
    expect(out).toMatch(/^money +minted 20 \(grants 20, rewards 0\), burned 2,/m);
  });
});
