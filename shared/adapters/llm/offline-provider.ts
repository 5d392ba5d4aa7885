/**
 * The offline model behind the provider port: what the gateway forwards to when no provider is
 * configured. It answers through the same path as a real provider (JSON, or SSE payloads with
 * the usage chunk last), so the gateway's metering and streaming are exercised unchanged.
 */
import type { ChatRequest, TextTokenizer } from '../../core/llm/chat.ts';
import { offlineAnswer } from '../../core/llm/offline.ts';
import type { ChatProvider } from '../../core/llm/provider.ts';
import { DONE } from '../../core/llm/sse.ts';
import type { Clock } from '../../core/ports.ts';

export class OfflineProvider implements ChatProvider {
  readonly kind = 'offline' as const;

  constructor(private readonly deps: { tokenizer: TextTokenizer; clock: Clock }) {}

  private answer(body: Record<string, unknown>) {
    const req = body as unknown as ChatRequest;
    const maxTokens = typeof body.max_tokens === 'number' ? body.max_tokens : 1024;
    return offlineAnswer(req, { maxTokens, nowMs: this.deps.clock.now(), tokenizer: this.deps.tokenizer });
  }

  async complete(body: Record<string, unknown>): Promise<unknown> {
    return this.answer(body).completion;
  }

  async stream(body: Record<string, unknown>, signal: AbortSignal): Promise<AsyncIterable<string>> {
    const { chunks } = this.answer(body);
    return (async function* () {
      for (const chunk of chunks) {
        if (signal.aborted) return;
        yield JSON.stringify(chunk);
      }
      yield DONE;
    })();
  }
}
