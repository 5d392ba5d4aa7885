/**
 * API Gateway (HTTP API) Lambda authorizer, simple responses, cached by the Authorization header.
 *
 * It resolves a bearer key to `{role, agent_id}`. A present but unknown key is *authorized* as
 * `anonymous` so the handler answers with a problem+json 401 (HTTP APIs cannot customise the
 * gateway's own 401/403 bodies); the handlers refuse `anonymous` on every non-public route.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { services } from '#shared/adapters/services';
import { bearerToken, parseApiKey, sameKey, verifySecret } from '#shared/core/api-keys';

const s = services();
let operatorKey: Promise<string | undefined> | undefined;

function loadOperatorKey(): Promise<string | undefined> {
  if (s.config.SYNTROPISM_OPERATOR_KEY) return Promise.resolve(s.config.SYNTROPISM_OPERATOR_KEY);
  const arn = s.config.OPERATOR_KEY_SECRET_ARN;
  if (!arn) return Promise.resolve(undefined);
  const client = new SecretsManagerClient({ region: s.config.AWS_REGION });
  return client.send(new GetSecretValueCommand({ SecretId: arn })).then((out) => out.SecretString);
}

export interface AuthorizerResult {
  isAuthorized: boolean;
  context: { role: 'agent' | 'operator' | 'anonymous'; agent_id?: string };
}

export async function authorize(authorization: string | undefined): Promise<AuthorizerResult> {
  const anonymous: AuthorizerResult = { isAuthorized: true, context: { role: 'anonymous' } };
  const token = bearerToken(authorization);
  if (!token) return anonymous;
  const parsed = parseApiKey(token);
  if (parsed) {
    const agent = await s.agents.get(parsed.agentId);
    if (agent && verifySecret(parsed.secret, agent.key_hash)) {
      return { isAuthorized: true, context: { role: 'agent', agent_id: agent.agent_id } };
    }
    return anonymous;
  }
  operatorKey ??= loadOperatorKey().catch((err: unknown) => {
    operatorKey = undefined; // retry on the next request rather than caching a failure
    throw err;
  });
  const expected = await operatorKey;
  if (expected && sameKey(token, expected)) return { isAuthorized: true, context: { role: 'operator' } };
  return anonymous;
}

export const handler = async (event: APIGatewayRequestAuthorizerEventV2): Promise<AuthorizerResult> => {
  const header = event.headers?.authorization ?? event.headers?.Authorization;
  try {
    return await authorize(header);
  } catch (err) {
    // Fail closed: an authorizer error never grants access.
    s.logger.error('authorizer failed', { error: err as Error });
    return { isAuthorized: false, context: { role: 'anonymous' } };
  }
};
