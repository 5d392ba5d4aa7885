import { describe, expect, it } from 'vitest';
import { natsSettingsProvider } from './settings.ts';

const base = { NATS_URL: 'nats://configured:4222', AWS_REGION: 'eu-west-1' };

describe('NATS settings', () => {
  it('uses NATS_URL when there is no secret', async () => {
    expect(await natsSettingsProvider(base)()).toEqual({ url: 'nats://configured:4222' });
  });

  it('reads the secret, falls back to NATS_URL for the address, and caches it for a while', async () => {
    let reads = 0;
    let now = 0;
    const settings = natsSettingsProvider(
      { ...base, NATS_SECRET_ARN: 'arn:secret' },
      {
        readSecret: async (arn) => {
          reads++;
          expect(arn).toBe('arn:secret');
          return JSON.stringify({ user: 'bridge', pass: 'p' });
        },
        clock: { now: () => now },
        cacheMs: 1_000,
      },
    );
    expect(await settings()).toEqual({ url: 'nats://configured:4222', user: 'bridge', pass: 'p' });
    await settings();
    expect(reads).toBe(1);
    now = 1_001;
    await settings();
    expect(reads).toBe(2);
  });

  it('takes the address from the secret when it has one', async () => {
    const settings = natsSettingsProvider(
      { ...base, NATS_SECRET_ARN: 'arn' },
      { readSecret: async () => '{"url":"tls://nats.example:4222","token":"t"}' },
    );
    expect(await settings()).toEqual({ url: 'tls://nats.example:4222', token: 't' });
  });

  it('refuses a malformed secret without echoing it', async () => {
    const notJson = natsSettingsProvider({ ...base, NATS_SECRET_ARN: 'arn' }, { readSecret: async () => 'hunter2' });
    await expect(notJson()).rejects.toThrow('the NATS secret is not JSON');
    const wrong = natsSettingsProvider(
      { ...base, NATS_SECRET_ARN: 'arn' },
      { readSecret: async () => '{"password":"hunter2"}' },
    );
    await expect(wrong()).rejects.toThrow(/must be JSON/);
    await expect(wrong()).rejects.not.toThrow(/hunter2/);
  });
});
