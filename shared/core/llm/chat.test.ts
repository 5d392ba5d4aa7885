/**
 * OpenAI request handling: the prompt count (OpenAI's per-message overhead), the bound the
 * provider is sent, and the request schema's limits.
 */
import { describe, expect, it } from 'vitest';
import { chatRequestSchema, forwardedRequest, promptTokens, requestedMaxTokens, type TextTokenizer } from './chat.ts';

/** One token per character: counts are easy to read. */
const chars: TextTokenizer = { count: (t) => t.length };
const req = (extra: Record<string, unknown> = {}) =>
  chatRequestSchema.parse({ model: 'm', messages: [{ role: 'user', content: 'hello' }], ...extra });

describe('promptTokens', () => {
  it('counts 3 per message, its role and content, 1 more per name, and 3 priming the reply', () => {
    expect(promptTokens(req(), chars)).toBe(3 + 3 + 4 + 5);
    const named = req({ messages: [{ role: 'system', content: 'be brief', name: 'op' }] });
    expect(promptTokens(named, chars)).toBe(3 + 3 + 6 + 8 + 1 + 2);
  });

  it('counts text parts as text, and tools, tool calls and other parts as their JSON', () => {
    const parts = req({ messages: [{ role: 'user', content: [{ type: 'text', text: 'ab' }] }] });
    expect(promptTokens(parts, chars)).toBe(3 + 3 + 4 + 2);
    const tools = req({ tools: [{ type: 'function', function: { name: 'f' } }] });
    expect(promptTokens(tools, chars)).toBeGreaterThan(promptTokens(req(), chars) + 20);
    const image = req({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] });
    expect(promptTokens(image, chars)).toBeGreaterThan(3 + 3 + 4);
  });
});

describe('the forwarded request', () => {
  it('carries the capped bound in the fields the caller used, and asks for usage on streams', () => {
    expect(forwardedRequest(req(), 7)).toMatchObject({ max_tokens: 7 });
    expect(forwardedRequest(req({ max_completion_tokens: 100 }), 7)).toEqual(
      expect.objectContaining({ max_completion_tokens: 7 }),
    );
    expect(forwardedRequest(req({ max_completion_tokens: 100 }), 7)).not.toHaveProperty('max_tokens');
    expect(forwardedRequest(req({ stream: true }), 7).stream_options).toEqual({ include_usage: true });
    expect(forwardedRequest(req({ seed: 4, tools: [] }), 7)).toMatchObject({ seed: 4, tools: [] });
    expect(requestedMaxTokens(req({ max_tokens: 9, max_completion_tokens: 5 }))).toBe(5);
    expect(requestedMaxTokens(req())).toBeUndefined();
  });

  it('refuses what the reservation cannot cover or the gateway cannot read', () => {
    for (const bad of [{ n: 2 }, { max_tokens: 0 }, { messages: [] }, { temperature: 3 }, { model: '' }]) {
      expect(
        chatRequestSchema.safeParse({ model: 'm', messages: [{ role: 'user', content: 'x' }], ...bad }).success,
      ).toBe(false);
    }
  });
});
