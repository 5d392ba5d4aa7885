/**
 * The port of an LLM provider as the gateway uses it: a chat completion, whole or streamed,
 * and the one error type every failure is reported as. Implemented over HTTP for any
 * OpenAI-compatible server (adapters/llm/provider.ts) and by the offline model.
 */

export type ProviderFailureKind =
  /** The provider answered a non-2xx status. */
  | 'status'
  /** It did not answer (or stopped streaming) within the configured timeout. */
  | 'timeout'
  /** The connection failed or broke. */
  | 'network'
  /** It answered 2xx with something that is not a chat completion. */
  | 'malformed';

export class ProviderFailure extends Error {
  override readonly name = 'ProviderFailure';
  constructor(
    readonly kind: ProviderFailureKind,
    /** Safe to show an agent: sanitized, never the provider key. */
    message: string,
    readonly status?: number,
    /** Seconds, from the provider's `Retry-After`. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

export interface ChatProvider {
  /** `openai-compatible` or `offline`: what answers the gateway's calls. */
  readonly kind: 'openai-compatible' | 'offline';
  /** The provider's JSON answer to a non-streamed request (throws `ProviderFailure`). */
  complete(body: Record<string, unknown>, signal: AbortSignal): Promise<unknown>;
  /**
   * Starts a streamed request; resolves once the provider has answered 2xx, with the `data`
   * payloads of its events (throws `ProviderFailure`, also from the iteration).
   */
  stream(body: Record<string, unknown>, signal: AbortSignal): Promise<AsyncIterable<string>>;
}

const MAX_MESSAGE = 500;

/**
 * A provider's error message as an agent may see it: the key (and anything shaped like a key
 * or a bearer token) redacted, control characters removed, at most 500 characters.
 */
export function sanitizeProviderMessage(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) if (s.length >= 8) out = out.split(s).join('[redacted]');
  out = out
    .replace(/\b(?:sk|rk|pk|key)-[A-Za-z0-9_-]{6,}/g, '[redacted]')
    .replace(/Bearer\s+\S+/gi, 'Bearer [redacted]')
    // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .trim();
  return out.length > MAX_MESSAGE ? `${out.slice(0, MAX_MESSAGE)}…` : out;
}

/** The message of an OpenAI-style error body (`{"error":{"message":…}}`), else the text itself. */
export function providerMessageOf(body: string): string {
  try {
    const json = JSON.parse(body) as { error?: { message?: unknown } | string; message?: unknown };
    if (typeof json.error === 'string') return json.error;
    if (typeof json.error?.message === 'string') return json.error.message;
    if (typeof json.message === 'string') return json.message;
  } catch {
    // not JSON: the text is the message
  }
  return body;
}
