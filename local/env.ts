/**
 * The environment the handlers read at module scope (see shared/config.ts), as the local
 * stack and the integration tests set it: DynamoDB Local needs an endpoint, a region and some
 * credentials, but never checks them.
 */
import { randomBytes } from 'node:crypto';

export interface LocalEnvInput {
  dynamoEndpoint: string;
  tableName: string;
  natsUrl: string;
  operatorKey: string;
}

/** A fresh operator key: 32 random bytes, base64url. */
export const generateOperatorKey = () => randomBytes(32).toString('base64url');

/**
 * Variables to export before importing handlers. Region and credentials keep values already
 * set, so a developer's own settings win; the rest describe the local stack and always apply.
 */
export function localHandlerEnv(input: LocalEnvInput, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
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
