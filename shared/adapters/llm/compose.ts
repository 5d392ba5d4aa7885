/**
 * Composition of the LLM gateway: the provider the configuration names (or the offline model)
 * and the gateway over a token meter. Kept apart from `services.ts` on purpose: the tokenizer's
 * ranks are megabytes, and only the two gateway functions (and the local stack) should bundle them.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Config } from '../../config.ts';
import type { TokenMeter } from '../../core/allocations.ts';
import type { ChatProvider } from '../../core/llm/provider.ts';
import type { EconomyConfig } from '../../core/market-config.ts';
import type { Runtime } from '../../core/ports.ts';
import { LlmGateway } from './gateway.ts';
import { OfflineProvider } from './offline-provider.ts';
import { OpenAiCompatibleProvider } from './provider.ts';
import { providerKeyLoader } from './provider-key.ts';
import { o200kTokenizer } from './tokenizer.ts';

export type LlmConfig = Pick<
  Config,
  | 'SYNTROPISM_LLM_BASE_URL'
  | 'SYNTROPISM_LLM_API_KEY'
  | 'SYNTROPISM_LLM_SECRET_ARN'
  | 'SYNTROPISM_LLM_TIMEOUT_MS'
  | 'AWS_REGION'
>;

/** The configured provider, or the offline model when no base URL is set. */
export function llmProviderOf(config: LlmConfig, runtime: Runtime): ChatProvider {
  if (!config.SYNTROPISM_LLM_BASE_URL) return new OfflineProvider({ tokenizer: o200kTokenizer, clock: runtime.clock });
  return new OpenAiCompatibleProvider({
    baseUrl: config.SYNTROPISM_LLM_BASE_URL,
    apiKey: providerKeyLoader(config),
    timeoutMs: config.SYNTROPISM_LLM_TIMEOUT_MS,
  });
}

/** The gateway over a token meter (the allocations store). */
export function llmGatewayOf(
  deps: { meter: TokenMeter; economy: EconomyConfig; runtime: Runtime; logger: Logger },
  config: LlmConfig,
  provider: ChatProvider = llmProviderOf(config, deps.runtime),
): LlmGateway {
  return new LlmGateway({ ...deps, llm: deps.economy.llm, provider, tokenizer: o200kTokenizer });
}
