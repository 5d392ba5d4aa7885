/**
 * OpenAI Chat Completions on the wire: the request the gateway accepts (permissive of the
 * fields OpenAI adds over time, bounded in what it reads), the shapes it answers, and the
 * prompt's token count the way OpenAI counts chat messages. Any OpenAI SDK pointed at the
 * gateway's base URL speaks these shapes.
 */
import { z } from 'zod';

/** Counts the tokens of a text (the gateway's tokenizer; see adapters/llm/tokenizer.ts). */
export interface TextTokenizer {
  count(text: string): number;
}

const maxTokens = z.number().int().min(1).max(1_000_000).nullable().optional();

const contentPart = z.looseObject({ type: z.string().min(1).max(64), text: z.string().optional() });

export const chatMessageSchema = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z
    .union([z.string(), z.array(contentPart).max(256)])
    .nullable()
    .optional(),
  name: z.string().max(256).optional(),
});
export type ChatMessage = z.output<typeof chatMessageSchema>;

/**
 * A chat completion request. Unknown fields pass through to the provider (OpenAI adds them
 * often); the ones the gateway reads are bounded. `n` above 1 is refused: the reservation covers
 * one completion.
 */
export const chatRequestSchema = z.looseObject({
  model: z.string().min(1).max(128),
  messages: z.array(chatMessageSchema).min(1).max(2048),
  max_tokens: maxTokens,
  max_completion_tokens: maxTokens,
  stream: z.boolean().nullable().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  n: z.literal(1).nullable().optional(),
  user: z.string().max(256).optional(),
});
export type ChatRequest = z.output<typeof chatRequestSchema>;

/** What the caller asked for as its completion's bound, if anything (the smaller of the two fields). */
export function requestedMaxTokens(req: Pick<ChatRequest, 'max_tokens' | 'max_completion_tokens'>): number | undefined {
  const given = [req.max_tokens, req.max_completion_tokens].filter((v): v is number => typeof v === 'number');
  return given.length ? Math.min(...given) : undefined;
}

/** The request as forwarded: the bound capped by the reservation, usage asked for on streams. */
export function forwardedRequest(req: ChatRequest, maxTokens: number): Record<string, unknown> {
  const out: Record<string, unknown> = { ...req };
  // Send the bound in the field(s) the caller used; `max_tokens` is what every compatible server reads.
  if (req.max_completion_tokens != null) out.max_completion_tokens = maxTokens;
  if (req.max_tokens != null || req.max_completion_tokens == null) out.max_tokens = maxTokens;
  if (req.stream) out.stream_options = { ...req.stream_options, include_usage: true };
  return out;
}

/** The text a message's content carries (the text parts of a multi-part content). */
export function contentText(content: ChatMessage['content']): string {
  if (typeof content === 'string') return content;
  if (!content) return '';
  return content.map((p) => (typeof p.text === 'string' ? p.text : '')).join('');
}

const MESSAGE_KEYS = new Set(['role', 'content', 'name']);

/**
 * The prompt's tokens, counted as OpenAI counts chat messages: 3 per message, its role, content
 * and name (1 more with a name), and 3 priming the reply. Whatever else a message or the request
 * carries that the model reads (tool calls, tool definitions, non-text parts, a response format)
 * is counted as its JSON text: an overestimate, never an underestimate of what it adds.
 */
export function promptTokens(req: ChatRequest, tokenizer: TextTokenizer): number {
  let total = 3;
  for (const m of req.messages) {
    total += 3 + tokenizer.count(m.role) + tokenizer.count(contentText(m.content));
    if (m.name) total += 1 + tokenizer.count(m.name);
    const extra = Object.entries(m).filter(([k]) => !MESSAGE_KEYS.has(k));
    const parts = Array.isArray(m.content) ? m.content.filter((p) => typeof p.text !== 'string') : [];
    if (extra.length || parts.length) total += tokenizer.count(JSON.stringify([extra, parts]));
  }
  const tools = ['tools', 'functions', 'response_format', 'tool_choice'].map((k) => req[k]).filter(Boolean);
  if (tools.length) total += tokenizer.count(JSON.stringify(tools));
  return total;
}

export const usageSchema = z.looseObject({
  prompt_tokens: z.number().int().nonnegative(),
  completion_tokens: z.number().int().nonnegative(),
  total_tokens: z.number().int().nonnegative().optional(),
});

/** A chat completion as the gateway answers it (the provider's, passed through). */
export const chatCompletionSchema = z.looseObject({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: z.number().int(),
  model: z.string(),
  choices: z.array(
    z.looseObject({
      index: z.number().int(),
      message: z.looseObject({ role: z.string(), content: z.string().nullable() }),
      finish_reason: z.string().nullable(),
    }),
  ),
  usage: usageSchema.optional(),
});
export type ChatCompletion = z.output<typeof chatCompletionSchema>;

/** One `data:` event of a streamed completion. */
export const chatChunkSchema = z.looseObject({
  id: z.string().optional(),
  object: z.string().optional(),
  choices: z
    .array(z.looseObject({ delta: z.looseObject({ content: z.string().nullable().optional() }).optional() }))
    .optional(),
  usage: usageSchema.nullable().optional(),
});
export type ChatChunk = z.output<typeof chatChunkSchema>;

/** `GET /v1/llm/models`: OpenAI's list shape, with each model's weight. */
export const modelListSchema = z.object({
  object: z.literal('list'),
  data: z.array(
    z.object({
      id: z.string(),
      object: z.literal('model'),
      created: z.number().int(),
      owned_by: z.string(),
      weight: z.number().meta({ description: 'Allocation tokens one token of this model draws.' }),
    }),
  ),
});
