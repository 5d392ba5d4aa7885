/**
 * The runner's two calls to the API, with the agent's own key: start an execution (the answer
 * gives `ends_at` and the bundle) and report its termination. Both carry an Idempotency-Key,
 * so retrying after a lost answer records each fact once.
 */

export interface ExecutionStarted {
  execution_id: string;
  allocation_id: string;
  agent_id: string;
  bundle: { cpu?: number; memory?: number; tokens?: number; attention?: number };
  starts_at: string;
  ends_at: string;
  started_at: string;
}

export interface TerminationReport {
  exit_code: number | null;
  reason: 'exited' | 'allocation_ended' | 'memory_limit' | 'signal';
  signal: string | null;
  duration_ms: number;
}

/** A refusal of the API, with its problem's code (`allocation_not_active`, `not_found`, …). */
export class ApiRefusal extends Error {
  override readonly name = 'ApiRefusal';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ApiClientOptions {
  apiUrl: string;
  apiKey: string;
  scenarioId?: string;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  /** Attempts per call when the API is unreachable or answers 5xx/409 in progress. */
  attempts?: number;
}

export class ExecutionsClient {
  private readonly fetch: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly opts: ApiClientOptions) {
    this.fetch = opts.fetch ?? fetch;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  start(allocationId: string, idempotencyKey: string): Promise<ExecutionStarted> {
    return this.post(
      `/v1/allocations/${encodeURIComponent(allocationId)}/executions`,
      {},
      idempotencyKey,
    ) as Promise<ExecutionStarted>;
  }

  terminate(executionId: string, report: TerminationReport, idempotencyKey: string): Promise<unknown> {
    return this.post(`/v1/executions/${encodeURIComponent(executionId)}/termination`, report, idempotencyKey);
  }

  /** POSTs with retries on what a retry can fix: no answer, 5xx, 429, the same key still in progress. */
  private async post(path: string, body: unknown, idempotencyKey: string): Promise<unknown> {
    const attempts = this.opts.attempts ?? 5;
    let last: unknown;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await this.sleep(Math.min(2_000, 100 * 2 ** attempt));
      let res: Response;
      try {
        res = await this.fetch(new URL(path, this.opts.apiUrl), {
          method: 'POST',
          headers: {
            authorization: `Bearer ${this.opts.apiKey}`,
            'content-type': 'application/json',
            'idempotency-key': idempotencyKey,
            ...(this.opts.scenarioId !== undefined && { 'x-scenario-id': this.opts.scenarioId }),
          },
          body: JSON.stringify(body),
        });
      } catch (error) {
        last = error;
        continue;
      }
      const text = await res.text();
      const json = parse(text);
      if (res.ok) return json;
      const problem = json as { code?: string; detail?: string } | undefined;
      last = new ApiRefusal(res.status, problem?.code ?? 'http_error', problem?.detail ?? `HTTP ${res.status}`);
      const retryable = res.status >= 500 || res.status === 429 || problem?.code === 'request_in_progress';
      if (!retryable) throw last;
    }
    throw last instanceof Error ? last : new Error(String(last));
  }
}

function parse(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}
