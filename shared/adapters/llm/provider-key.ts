/**
 * The provider key: from the environment (local stack) or a Secrets Manager secret (AWS), read
 * on first use and kept for the container's life; a failed read is retried on the next call
 * rather than cached. The key goes to the provider's Authorization header and nowhere else.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Config } from '../../config.ts';

export type ProviderKeyConfig = Pick<Config, 'SYNTROPISM_LLM_API_KEY' | 'SYNTROPISM_LLM_SECRET_ARN' | 'AWS_REGION'>;

export function providerKeyLoader(config: ProviderKeyConfig): () => Promise<string | undefined> {
  let loading: Promise<string | undefined> | undefined;
  const load = async (): Promise<string | undefined> => {
    if (config.SYNTROPISM_LLM_API_KEY) return config.SYNTROPISM_LLM_API_KEY;
    const arn = config.SYNTROPISM_LLM_SECRET_ARN;
    if (!arn) return undefined;
    const client = new SecretsManagerClient({ region: config.AWS_REGION });
    const out = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    return out.SecretString?.trim() || undefined;
  };
  return () => {
    loading ??= load().catch((err: unknown) => {
      loading = undefined;
      throw err;
    });
    return loading;
  };
}
