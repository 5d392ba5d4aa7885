/**
 * A fake OpenAI-compatible provider: a real node:http server on a free loopback port, started
 * by the test. What it does is chosen by the request's last message (`mode:<name>`), so
 * concurrent calls can each pick their own behaviour. It records every request it received.
 *
 * Modes: `ok` (default), `over` (reports usage far above `max_tokens`), `bad` (400 whose message
 * echoes the Authorization header, to prove it is redacted), `down` (500), `auth` (401), `busy`
 * (429), `hang` (never answers), and for streams `ok`, `break` (chunks, then the socket is
 * destroyed), `stall` (chunks, then silence), `slow` (a chunk every 100 ms, 50 of them).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What every `ok` answer reports: fixed, so tests can sum the provider's usage exactly. */
export const FAKE_PROMPT_TOKENS = 8;
export const FAKE_COMPLETION_TOKENS = 5;

export interface FakeRequest {
  headers: IncomingMessage['headers'];
  body: Record<string, unknown> & { max_tokens?: number; stream?: boolean; stream_options?: unknown };
}

export interface FakeLlm {
  url: string;
  requests: FakeRequest[];
  close(): Promise<void>;
}

function modeOf(body: FakeRequest['body']): string {
  const messages = (body.messages ?? []) as { content?: unknown }[];
  const last = messages[messages.length - 1]?.content;
  return typeof last === 'string' ? (/mode:(\w+)/.exec(last)?.[1] ?? 'ok') : 'ok';
}

const chunk = (content: string | null, extra: Record<string, unknown> = {}) =>
  `data: ${JSON.stringify({
    id: 'chatcmpl-fake',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'fake-model',
    choices: content === null ? [] : [{ index: 0, delta: { content }, finish_reason: null }],
    usage: null,
    ...extra,
  })}\n\n`;

function completion(body: FakeRequest['body'], mode: string) {
  const max = body.max_tokens ?? 1_000;
  const completion_tokens = mode === 'over' ? max * 10 + 100 : Math.min(max, FAKE_COMPLETION_TOKENS);
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: 1,
    model: 'fake-model',
    choices: [{ index: 0, message: { role: 'assistant', content: 'fake answer' }, finish_reason: 'stop' }],
    usage: {
      prompt_tokens: FAKE_PROMPT_TOKENS,
      completion_tokens,
      total_tokens: FAKE_PROMPT_TOKENS + completion_tokens,
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function stream(res: ServerResponse, mode: string): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const words = mode === 'slow' ? Array.from({ length: 50 }, () => 'w ') : ['Hello', ' there', ' friend'];
  for (const w of words) {
    if (res.destroyed) return;
    res.write(chunk(w));
    if (mode === 'slow') await sleep(100);
  }
  if (mode === 'break') {
    // Let the chunks reach the gateway first: destroying drops what is still buffered.
    await sleep(50);
    return void res.socket?.destroy();
  }
  if (mode === 'stall') return;
  const usage = {
    prompt_tokens: FAKE_PROMPT_TOKENS,
    completion_tokens: FAKE_COMPLETION_TOKENS,
    total_tokens: FAKE_PROMPT_TOKENS + FAKE_COMPLETION_TOKENS,
  };
  res.write(chunk(null, { usage }));
  res.end('data: [DONE]\n\n');
}

function answer(req: IncomingMessage, res: ServerResponse, body: FakeRequest['body']): void | Promise<void> {
  const mode = modeOf(body);
  const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(value));
  };
  if (mode === 'hang') return;
  if (mode === 'bad') {
    return json(400, { error: { message: `Invalid request; you sent ${req.headers.authorization}`, type: 'invalid' } });
  }
  if (mode === 'down') return json(500, { error: { message: 'internal' } });
  if (mode === 'auth') return json(401, { error: { message: 'Incorrect API key provided' } });
  if (mode === 'busy') return json(429, { error: { message: 'slow down' } }, { 'retry-after': '7' });
  if (body.stream) return stream(res, mode);
  return json(200, completion(body, mode));
}

export async function startFakeLlm(): Promise<FakeLlm> {
  const requests: FakeRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as FakeRequest['body'];
      requests.push({ headers: req.headers, body });
      void answer(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
