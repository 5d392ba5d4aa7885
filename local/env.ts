/**
 * The configuration of the local stack's handlers (see shared/config.ts), as the local stack
 * and the integration tests build it: DynamoDB Local needs an endpoint, a region and some
 * credentials, but never checks them. Everything here works on a record handed in; nothing
 * reads or writes `process.env`.
 */
import { randomBytes } from 'node:crypto';
import type { Credentials } from '#shared/adapters/dynamodb/client';
import { type Config, loadConfig } from '#shared/config';

export type EnvRecord = Readonly<Record<string, string | undefined>>;

export interface LocalEnvInput {
  dynamoEndpoint: string;
  tableName: string;
  natsUrl: string;
  operatorKey: string;
}

/** A fresh operator key: 32 random bytes, base64url. */
export const generateOperatorKey = () => randomBytes(32).toString('base64url');

/**
 * The variables describing the local stack, over `env`. Region and credentials keep the values
 * `env` has, so a developer's own settings win; the rest describe the local stack and always
 * apply.
 */
export function localHandlerEnv(input: LocalEnvInput, env: EnvRecord = {}): Record<string, string> {
  return {
    DYNAMODB_ENDPOINT: input.dynamoEndpoint,
    TABLE_NAME: input.tableName,
    NATS_URL: input.natsUrl,
    SYNTROPISM_OPERATOR_KEY: input.operatorKey,
    AWS_REGION: env.AWS_REGION ?? 'us-east-1',
    AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID ?? 'local',
    AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY ?? 'local',
  };
}

/** The handlers' configuration for the local stack: `env` (the operator's settings) with the stack's over it. */
export function localConfig(input: LocalEnvInput, env: EnvRecord = {}, extra: EnvRecord = {}): Config {
  return loadConfig({ ...env, ...localHandlerEnv(input, env), ...extra });
}

/** Credentials set in `env`, if both halves are. */
export function credentialsFromEnv(env: EnvRecord): Credentials | undefined {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = env;
  if (!accessKeyId || !secretAccessKey) return undefined;
  return { accessKeyId, secretAccessKey, ...(env.AWS_SESSION_TOKEN && { sessionToken: env.AWS_SESSION_TOKEN }) };
}
