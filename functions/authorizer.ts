/**
 * API Gateway (HTTP API) Lambda authorizer, simple responses, cached by the Authorization header.
 *
 * It resolves a bearer key to `{role, agent_id}` (an agent), `{role: 'rater', rater_id}` (a
 * human's key, refused once revoked) or `{role: 'operator'}`. A present but unknown key is *authorized* as
 * `anonymous` so the handler answers with a problem+json 401 (HTTP APIs cannot customise the
 * gateway's own 401/403 bodies); the handlers refuse `anonymous` on every non-public route.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { type Agents, readAgent } from '#shared/adapters/dynamodb/agents';
import { type Raters, readRater } from '#shared/adapters/dynamodb/raters';
import { lambdaEntry } from '#shared/adapters/lazy-handler';
import { loggerOf, tableOf } from '#shared/adapters/services';
import type { Config } from '#shared/config';
import { bearerToken, parseApiKey, parseRaterKey, sameKey, verifySecret } from '#shared/core/api-keys';
import type { AuthorizerResult } from '#shared/http/contract';

export type { AuthorizerResult } from '#shared/http/contract';

export interface AuthorizerDeps {
  agents: Pick<Agents, 'get'>;
  raters: Pick<Raters, 'get'>;
  config: Pick<Config, 'SYNTROPISM_OPERATOR_KEY' | 'OPERATOR_KEY_SECRET_ARN' | 'AWS_REGION'>;
  logger: Pick<Logger, 'error'>;
}

export type Authorizer = (event: APIGatewayRequestAuthorizerEventV2) => Promise<AuthorizerResult>;

function operatorKeyLoader(config: AuthorizerDeps['config']): () => Promise<string | undefined> {
  let loading: Promise<string | undefined> | undefined;
  const load = (): Promise<string | undefined> => {
    if (config.SYNTROPISM_OPERATOR_KEY) return Promise.resolve(config.SYNTROPISM_OPERATOR_KEY);
    const arn = config.OPERATOR_KEY_SECRET_ARN;
    if (!arn) return Promise.resolve(undefined);
    const client = new SecretsManagerClient({ region: config.AWS_REGION });
    return client.send(new GetSecretValueCommand({ SecretId: arn })).then((out) => out.SecretString);
  };
  return () => {
    loading ??= load().catch((err: unknown) => {
      loading = undefined; // retry on the next request rather than caching a failure
      throw err;
    });
    return loading;
  };
}

export function makeAuthorizer({ agents, raters, config, logger }: AuthorizerDeps): Authorizer {
  const operatorKey = operatorKeyLoader(config);
  const anonymous: AuthorizerResult = { isAuthorized: true, context: { role: 'anonymous' } };

  async function authorize(authorization: string | undefined): Promise<AuthorizerResult> {
    const token = bearerToken(authorization);
    if (!token) return anonymous;
    const parsed = parseApiKey(token);
    if (parsed) {
      const agent = await agents.get(parsed.agentId);
      if (agent && verifySecret(parsed.secret, agent.key_hash)) {
        return { isAuthorized: true, context: { role: 'agent', agent_id: agent.agent_id } };
      }
      return anonymous;
    }
    const rater = parseRaterKey(token);
    if (rater) {
      const item = await raters.get(rater.raterId);
      if (item?.status === 'active' && verifySecret(rater.secret, item.key_hash)) {
        return { isAuthorized: true, context: { role: 'rater', rater_id: item.rater_id } };
      }
      return anonymous;
    }
    const expected = await operatorKey();
    if (expected && sameKey(token, expected)) return { isAuthorized: true, context: { role: 'operator' } };
    return anonymous;
  }

  return async (event) => {
    const header = event.headers?.authorization ?? event.headers?.Authorization;
    try {
      return await authorize(header);
    } catch (err) {
      // Fail closed: an authorizer error never grants access.
      logger.error('authorizer failed', { error: err as Error });
      return { isAuthorized: false, context: { role: 'anonymous' } };
    }
  };
}

/** The authorizer reads agent items and nothing else: no ledger, no market. */
export function authorizerDepsOf(config: Config): AuthorizerDeps {
  const table = tableOf(config);
  return {
    agents: { get: (id) => readAgent(table, id) },
    raters: { get: (id) => readRater(table, id) },
    config,
    logger: loggerOf(config),
  };
}

export const handler = lambdaEntry((config) => makeAuthorizer(authorizerDepsOf(config)));
