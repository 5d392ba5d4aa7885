/** The offline model: deterministic, named, honest about being offline, within its bound. */
import { describe, expect, it } from 'vitest';
import { chatRequestSchema, type TextTokenizer } from './chat.ts';
import { OFFLINE_MODEL, offlineAnswer } from './offline.ts';

const words: TextTokenizer = { count: (t) => (t ? t.split(' ').length : 0) };
const req = chatRequestSchema.parse({ model: OFFLINE_MODEL, messages: [{ role: 'user', content: 'price of cpu?' }] });

describe('offlineAnswer', () => {
  it('answers the same request the same way, names itself and says it is offline', () => {
    const a = offlineAnswer(req, { maxTokens: 1000, nowMs: 1_000_000, tokenizer: words });
    const b = offlineAnswer(req, { maxTokens: 1000, nowMs: 1_000_000, tokenizer: words });
    expect(a).toEqual(b);
    expect(a.completion.model).toBe(OFFLINE_MODEL);
    expect(a.completion.choices[0]?.message.content).toContain('offline');
    expect(a.completion.choices[0]?.finish_reason).toBe('stop');
    const other = offlineAnswer(
      { ...req, messages: [{ role: 'user', content: 'else' }] },
      {
        maxTokens: 1000,
        nowMs: 1_000_000,
        tokenizer: words,
      },
    );
    expect(other.completion.id).not.toBe(a.completion.id);
  });

  it('stays within max_tokens, counts its usage, and streams the same text with the usage last', () => {
    const a = offlineAnswer(req, { maxTokens: 4, nowMs: 0, tokenizer: words });
    const content = a.completion.choices[0]?.message.content ?? '';
    expect(words.count(content)).toBe(4);
    expect(a.completion.choices[0]?.finish_reason).toBe('length');
    expect(a.completion.usage).toMatchObject({ completion_tokens: 4 });
    const streamed = a.chunks.map((c) => c.choices?.[0]?.delta?.content ?? '').join('');
    expect(streamed).toBe(content);
    expect(a.chunks.at(-1)?.usage).toEqual(a.completion.usage);
  });
});
