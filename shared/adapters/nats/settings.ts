/**
 * Where the bridge finds NATS: `NATS_SECRET_ARN` (a Secrets Manager secret holding JSON
 * `{url?, user?, pass?, token?}`) when set, else `NATS_URL`. A secret without `url` uses
 * NATS_URL, so an operator can keep the address in configuration and only the credentials
 * in the secret. The secret is cached for a few minutes, so a rotation is picked up without a
 * redeploy and a warm container does not read it on every invocation.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { type Clock, systemClock } from '../../core/ports.ts';
import type { NatsSettings } from './connection.ts';

const secretSchema = z
  .object({
    url: z.string().min(1).optional(),
    user: z.string().optional(),
    pass: z.string().optional(),
    token: z.string().optional(),
  })
  .strict();

export interface NatsSettingsSource {
  NATS_URL: string;
  NATS_SECRET_ARN?: string | undefined;
  AWS_REGION: string;
}

export interface NatsSettingsDeps {
  /** Reads the secret's string (replaceable in tests). */
  readSecret?: (arn: string) => Promise<string | undefined>;
  clock?: Clock;
  /** Default 5 minutes. */
  cacheMs?: number;
}

export function natsSettingsProvider(
  source: NatsSettingsSource,
  deps: NatsSettingsDeps = {},
): () => Promise<NatsSettings> {
  const arn = source.NATS_SECRET_ARN;
  if (!arn) return async () => ({ url: source.NATS_URL });
  const clock = deps.clock ?? systemClock;
  const cacheMs = deps.cacheMs ?? 5 * 60_000;
  let client: SecretsManagerClient | undefined;
  const readSecret =
    deps.readSecret ??
    (async (id: string) => {
      client ??= new SecretsManagerClient({ region: source.AWS_REGION });
      return (await client.send(new GetSecretValueCommand({ SecretId: id }))).SecretString;
    });
  let cached: { at: number; settings: NatsSettings } | undefined;
  return async () => {
    if (cached && clock.now() - cached.at < cacheMs) return cached.settings;
    const text = await readSecret(arn);
    let json: unknown;
    try {
      json = JSON.parse(text ?? '{}');
    } catch {
      throw new Error('the NATS secret is not JSON');
    }
    const parsed = secretSchema.safeParse(json);
    // Never echo the secret's content in the message.
    if (!parsed.success) throw new Error('the NATS secret must be JSON {url?, user?, pass?, token?}');
    const s = parsed.data;
    const settings: NatsSettings = {
      url: s.url ?? source.NATS_URL,
      ...(s.user !== undefined && { user: s.user }),
      ...(s.pass !== undefined && { pass: s.pass }),
      ...(s.token !== undefined && { token: s.token }),
    };
    cached = { at: clock.now(), settings };
    return settings;
  };
}
