/**
 * The client of an OpenAI-compatible provider (`POST {base}/chat/completions`), over fetch. One
 * timeout bounds a call: the whole answer of a plain request, and for a stream the wait for the
 * answer's head and then every gap between two chunks. The key is read through `apiKey()` (from
 * Secrets Manager on AWS, cached), sent only in the Authorization header, and redacted from every
 * message this client reports.
 */
import {
  type ChatProvider,
  ProviderFailure,
  providerMessageOf,
  sanitizeProviderMessage,
} from '../../core/llm/provider.ts';
import { SseParser } from '../../core/llm/sse.ts';

export interface HttpProviderOptions {
  /** E.g. `https://api.openai.com/v1`; `/chat/completions` is appended. */
  baseUrl: string;
  apiKey: () => Promise<string | undefined>;
  timeoutMs: number;
  fetch?: typeof fetch;
}

/** Largest error body read from the provider. */
const MAX_ERROR_BYTES = 16 * 1024;

/** A timer that aborts a call, restartable between stream chunks, and the caller's signal joined in. */
class Deadline {
  readonly controller = new AbortController();
  timedOut = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly onAbort = () => this.controller.abort();

  constructor(
    private readonly ms: number,
    private readonly caller: AbortSignal,
  ) {
    if (caller.aborted) this.controller.abort();
    else caller.addEventListener('abort', this.onAbort, { once: true });
    this.restart();
  }

  restart(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort();
    }, this.ms);
  }

  clear(): void {
    clearTimeout(this.timer);
    this.caller.removeEventListener('abort', this.onAbort);
  }

  /** What an error thrown under this deadline means: the caller's abort passes through as is. */
  failure(err: unknown, secrets: string[]): unknown {
    if (this.timedOut) return new ProviderFailure('timeout', `The provider did not answer within ${this.ms} ms.`);
    if (this.caller.aborted) return err;
    if (err instanceof ProviderFailure) return err;
    const detail = sanitizeProviderMessage(String((err as Error)?.message ?? err), secrets);
    return new ProviderFailure('network', `The provider could not be reached (${detail}).`);
  }
}

export class OpenAiCompatibleProvider implements ChatProvider {
  readonly kind = 'openai-compatible' as const;
  private readonly url: string;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: HttpProviderOptions) {
    this.url = `${options.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    this.fetch = options.fetch ?? fetch;
  }

  /** Posts `body`; resolves with a 2xx answer, throws `ProviderFailure` for any other. */
  private async post(body: Record<string, unknown>, deadline: Deadline, key: string | undefined): Promise<Response> {
    const res = await this.fetch(this.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: body.stream ? 'text/event-stream' : 'application/json',
        ...(key && { authorization: `Bearer ${key}` }),
      },
      body: JSON.stringify(body),
      signal: deadline.controller.signal,
    });
    if (res.ok) return res;
    const text = (await res.text()).slice(0, MAX_ERROR_BYTES);
    const retry = Number(res.headers.get('retry-after'));
    throw new ProviderFailure(
      'status',
      sanitizeProviderMessage(providerMessageOf(text), key ? [key] : []) || `HTTP ${res.status}`,
      res.status,
      Number.isFinite(retry) && retry > 0 ? Math.ceil(retry) : undefined,
    );
  }

  async complete(body: Record<string, unknown>, signal: AbortSignal): Promise<unknown> {
    const key = await this.options.apiKey();
    const deadline = new Deadline(this.options.timeoutMs, signal);
    try {
      const res = await this.post(body, deadline, key);
      const text = await res.text();
      try {
        return JSON.parse(text);
      } catch {
        throw new ProviderFailure('malformed', 'The provider answered with something other than JSON.');
      }
    } catch (err) {
      throw deadline.failure(err, key ? [key] : []);
    } finally {
      deadline.clear();
    }
  }

  async stream(body: Record<string, unknown>, signal: AbortSignal): Promise<AsyncIterable<string>> {
    const key = await this.options.apiKey();
    const deadline = new Deadline(this.options.timeoutMs, signal);
    let res: Response;
    try {
      res = await this.post(body, deadline, key);
    } catch (err) {
      deadline.clear();
      throw deadline.failure(err, key ? [key] : []);
    }
    return events(res, deadline, key ? [key] : []);
  }
}

/** The `data` payloads of a streamed answer; the deadline restarts with every chunk. */
async function* events(res: Response, deadline: Deadline, secrets: string[]): AsyncGenerator<string> {
  if (!res.body) throw new ProviderFailure('malformed', 'The provider answered a stream without a body.');
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  try {
    for (;;) {
      let read: Awaited<ReturnType<typeof reader.read>>;
      try {
        read = await reader.read();
      } catch (err) {
        throw deadline.failure(err, secrets);
      }
      if (read.done) break;
      deadline.restart();
      yield* parser.push(decoder.decode(read.value, { stream: true }));
    }
    yield* parser.push(decoder.decode());
    yield* parser.end();
  } finally {
    deadline.clear();
    await reader.cancel().catch(() => {});
  }
}
