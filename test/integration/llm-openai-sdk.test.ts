/**
 * An agent written against the official OpenAI SDK works by setting its base URL and key: the
 * SDK (the real `openai` package) pointed at the local stack's gateway, with no provider
 * configured, so the built-in offline model answers, whole and streamed, and the call is
 * metered like any other.
 */
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { OFFLINE_MODEL } from '#shared/core/llm/offline';
import { useApi } from '../harness/api.ts';

const api = useApi('llm-sdk', { env: { SYNTROPISM_ECONOMY: JSON.stringify({ round_seconds: 1 }) } });

async function client(tokens = 2000) {
  const agent = await api.agent('sdk-agent', 100);
  const allocation = await api.won(agent, { bundle: { cpu: 0.1, tokens }, duration_seconds: 600, amount: 1 });
  const openai = new OpenAI({ baseURL: `${api.url}/v1/llm`, apiKey: agent.key, maxRetries: 0 });
  return { agent, allocation, openai };
}

describe('the OpenAI SDK against the gateway (offline model)', () => {
  it('lists the models and completes a chat, charged to the only active allocation', async () => {
    const { agent, allocation, openai } = await client();
    const models = await openai.models.list();
    expect(models.data.map((m) => m.id)).toEqual([OFFLINE_MODEL]);

    const messages = [{ role: 'user' as const, content: 'What is the price of cpu?' }];
    const { data: completion, response } = await openai.chat.completions
      .create({ model: OFFLINE_MODEL, messages, max_tokens: 200 })
      .withResponse();
    expect(completion.model).toBe(OFFLINE_MODEL);
    expect(completion.choices[0]?.message.content).toContain('offline');
    expect(response.headers.get('x-syntropism-allocation-id')).toBe(allocation);
    const again = await openai.chat.completions.create({ model: OFFLINE_MODEL, messages, max_tokens: 200 });
    // Deterministic: the same request, the same answer.
    expect(again.choices[0]?.message.content).toBe(completion.choices[0]?.message.content);
    const usage = completion.usage;
    if (!usage) throw new Error('no usage');
    const tokens = (await api.call('GET', `/v1/allocations/${allocation}`, { key: agent.key })).body.tokens;
    expect(tokens.used).toBe(2 * (usage.prompt_tokens + usage.completion_tokens));
  });

  it('streams a chat, with the usage in the final chunk when asked for', async () => {
    const { openai } = await client();
    const stream = await openai.chat.completions.create({
      model: OFFLINE_MODEL,
      messages: [{ role: 'user', content: 'Stream please.' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined | null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks += 1;
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(chunks).toBeGreaterThan(3);
    expect(text).toContain(OFFLINE_MODEL);
    expect(usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('surfaces the gateway refusals as SDK errors with their status', async () => {
    const { openai } = await client(20);
    await expect(
      openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toMatchObject({ status: 400 });
    const long = 'word '.repeat(200);
    await expect(
      openai.chat.completions.create({ model: OFFLINE_MODEL, messages: [{ role: 'user', content: long }] }),
    ).rejects.toMatchObject({ status: 429 });
  });
});
