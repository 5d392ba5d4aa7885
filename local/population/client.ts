/**
 * The population's HTTP client: one caller's key against the local API, as any outside agent
 * would use it. Every call can be aborted (the population's stop), and every answer comes back
 * as status and parsed body: a refusal is an answer the strategy learns from, not an exception.
 */

export interface ApiAnswer<T = unknown> {
  status: number;
  body: T;
}

/** A problem+json answer's code, if it has one. */
export function problemCode(answer: ApiAnswer): string | undefined {
  const body = answer.body as { code?: unknown } | undefined;
  return typeof body?.code === 'string' ? body.code : undefined;
}

/** An answer the API should never give a well-behaved caller (5xx, or no answer at all). */
export class ApiFailure extends Error {
  override readonly name = 'ApiFailure';
}

export interface CallOptions {
  idempotencyKey?: string;
  headers?: Record<string, string>;
}

/** No call of a simulated agent waits longer than this for its answer. */
const CALL_TIMEOUT_MS = 15_000;

export class ApiClient {
  constructor(
    private readonly apiUrl: string,
    private readonly key: string,
    private readonly signal: AbortSignal,
  ) {}

  /**
   * One controller per call, aborted with the population's signal or after the timeout. fetch
   * keeps its listener on a signal until the request is garbage collected, so handing every call
   * the population's one long-lived signal would pile listeners up on it.
   */
  private controller(): { signal: AbortSignal; done(): void } {
    const own = new AbortController();
    const abort = () => own.abort();
    if (this.signal.aborted) own.abort();
    this.signal.addEventListener('abort', abort, { once: true });
    const timer = setTimeout(abort, CALL_TIMEOUT_MS);
    return {
      signal: own.signal,
      done: () => {
        clearTimeout(timer);
        this.signal.removeEventListener('abort', abort);
      },
    };
  }

  get<T = unknown>(path: string): Promise<ApiAnswer<T>> {
    return this.call<T>('GET', path, undefined, {});
  }

  post<T = unknown>(path: string, body: unknown, options: CallOptions = {}): Promise<ApiAnswer<T>> {
    return this.call<T>('POST', path, body, options);
  }

  private async call<T>(method: string, path: string, body: unknown, options: CallOptions): Promise<ApiAnswer<T>> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.key}`, ...options.headers };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey;
    const call = this.controller();
    let res: Response;
    let text: string;
    try {
      res = await fetch(new URL(path, this.apiUrl), {
        method,
        headers,
        signal: call.signal,
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      text = await res.text();
    } finally {
      call.done();
    }
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if (res.status >= 500) {
      const code = problemCode({ status: res.status, body: parsed }) ?? 'error';
      throw new ApiFailure(`${method} ${path.split('?')[0]} answered ${res.status} ${code}`);
    }
    return { status: res.status, body: parsed as T };
  }
}
