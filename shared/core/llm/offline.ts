/**
 * The offline model: what the local stack answers when no LLM provider is configured, so the
 * local economy runs without a key. Deterministic: the same request gets the same answer
 * (its id and text derive from the request, its clock is injected), its name
 * (`syntropism-offline`) is in every response, its text says it is offline, and its usage is
 * counted with the gateway's own tokenizer, so metering works exactly as with a provider.
 */
import { createHash } from 'node:crypto';
import {
  type ChatChunk,
  type ChatCompletion,
  type ChatRequest,
  contentText,
  promptTokens,
  type TextTokenizer,
} from './chat.ts';

export const OFFLINE_MODEL = 'syntropism-offline';

export interface OfflineAnswer {
  completion: ChatCompletion;
  /** The same answer as the chunks of a stream, the usage chunk last. */
  chunks: ChatChunk[];
}

function digestOf(req: ChatRequest): string {
  return createHash('sha256').update(JSON.stringify(req.messages)).digest('hex');
}

/** The longest prefix of `words` (joined by spaces) within `maxTokens`. */
function withinTokens(words: string[], maxTokens: number, tokenizer: TextTokenizer): string[] {
  let n = words.length;
  while (n > 1 && tokenizer.count(words.slice(0, n).join(' ')) > maxTokens) n--;
  return words.slice(0, n);
}

function textOf(req: ChatRequest, digest: string, tokenizer: TextTokenizer): string {
  const last = [...req.messages].reverse().find((m) => m.role === 'user');
  const said = last ? tokenizer.count(contentText(last.content)) : 0;
  return (
    `[${OFFLINE_MODEL}] This is the offline model of the local Syntropism stack: no LLM provider is ` +
    `configured, so this answer is canned. Your last message had ${said} tokens ` +
    `(request digest ${digest.slice(0, 12)}).`
  );
}

/** The answer to `req`, at most `maxTokens` completion tokens, created at `nowMs`. */
export function offlineAnswer(
  req: ChatRequest,
  opts: { maxTokens: number; nowMs: number; tokenizer: TextTokenizer },
): OfflineAnswer {
  const digest = digestOf(req);
  const all = textOf(req, digest, opts.tokenizer).split(' ');
  const words = withinTokens(all, opts.maxTokens, opts.tokenizer);
  const content = words.join(' ');
  const usage = {
    prompt_tokens: promptTokens(req, opts.tokenizer),
    completion_tokens: opts.tokenizer.count(content),
  };
  const finish = words.length < all.length ? 'length' : 'stop';
  const head = {
    id: `chatcmpl-offline-${digest.slice(0, 24)}`,
    created: Math.floor(opts.nowMs / 1000),
    model: OFFLINE_MODEL,
  };
  const total = { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens };
  const completion: ChatCompletion = {
    ...head,
    object: 'chat.completion',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: finish }],
    usage: total,
  };
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): ChatChunk =>
    ({ ...head, object: 'chat.completion.chunk', choices, ...extra }) as ChatChunk;
  const chunks = [
    chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]),
    ...words.map((w, i) => chunk([{ index: 0, delta: { content: i === 0 ? w : ` ${w}` }, finish_reason: null }])),
    chunk([{ index: 0, delta: {}, finish_reason: finish }]),
    chunk([], { usage: total }),
  ];
  return { completion, chunks };
}
