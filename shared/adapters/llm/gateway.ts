/**
 * The LLM gateway: the operator's spend cap made real. Each call resolves the allocation it is
 * charged to, reserves the prompt plus its completion bound (weighted by the model) in one
 * conditional write, forwards to the provider, and settles to the provider's reported usage,
 * the rest released; a provider error or timeout releases everything. The settle writes
 * `llm_call_completed` (counts only) in the same transaction. The pattern, reserve → call →
 * settle, makes concurrent calls safe without any lock: the meter's condition refuses a
 * reservation the allocation cannot cover.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import {
  type AllocationRecord,
  type LlmCallOutcome,
  notUsable,
  type Reservation,
  type TokenMeter,
} from '../../core/allocations.ts';
import { conflict, DomainError, notFound } from '../../core/errors.ts';
import type { EventContext } from '../../core/events.ts';
import {
  type ChatCompletion,
  type ChatRequest,
  chatCompletionSchema,
  contentText,
  forwardedRequest,
  promptTokens,
  requestedMaxTokens,
  type TextTokenizer,
} from '../../core/llm/chat.ts';
import { chargeOf, reservationOf, type Usage } from '../../core/llm/metering.ts';
import { OFFLINE_MODEL } from '../../core/llm/offline.ts';
import { type ChatProvider, ProviderFailure } from '../../core/llm/provider.ts';
import type { EconomyConfig } from '../../core/market-config.ts';
import type { Runtime } from '../../core/ports.ts';
import { failureProblem, outcomeStatusOf } from './failures.ts';
import { relayStream } from './stream-relay.ts';

export const OVERHEAD_HEADER = 'x-syntropism-overhead-ms';

export interface LlmGatewayDeps {
  meter: TokenMeter;
  provider: ChatProvider;
  tokenizer: TextTokenizer;
  llm: EconomyConfig['llm'];
  runtime: Runtime;
  logger: Pick<Logger, 'error' | 'warn'>;
  /** Monotonic milliseconds, for latency and overhead (default `performance.now`). */
  elapsed?: () => number;
}

export interface ChatCall {
  agent_id: string;
  request: ChatRequest;
  /** `X-Allocation-Id`, when the caller named one. */
  allocation_id?: string | undefined;
  events: EventContext;
}

export type ChatAnswer =
  | { kind: 'json'; body: ChatCompletion; headers: Record<string, string> }
  | { kind: 'stream'; stream: ReadableStream<Uint8Array>; headers: Record<string, string> };

/** One call in flight: what settling it needs. */
export interface CallState {
  call: ChatCall;
  weight: number;
  prompt_tokens: number;
  reservation: Reservation;
  forwarded: Record<string, unknown>;
  /** `elapsed()` when the gateway took the call. */
  started: number;
}

export class LlmGateway {
  private readonly elapsed: () => number;

  constructor(private readonly deps: LlmGatewayDeps) {
    this.elapsed = deps.elapsed ?? (() => performance.now());
  }

  /** The models agents may call, with their weights (the offline model when it is what answers). */
  models() {
    const created = Math.floor(this.deps.runtime.clock.now() / 1000);
    const listed = Object.entries(this.deps.llm.models).map(([id, m]) => ({ id, weight: m.weight }));
    if (this.deps.provider.kind === 'offline' && !this.deps.llm.models[OFFLINE_MODEL]) {
      listed.unshift({ id: OFFLINE_MODEL, weight: 1 });
    }
    const owner = this.deps.provider.kind === 'offline' ? 'syntropism' : 'provider';
    return {
      object: 'list' as const,
      data: listed.map((m) => ({ ...m, object: 'model' as const, created, owned_by: owner })),
    };
  }

  weightOf(model: string): number {
    const listed = this.deps.llm.models[model];
    if (listed) return listed.weight;
    if (model === OFFLINE_MODEL && this.deps.provider.kind === 'offline') return 1;
    throw new DomainError('model_not_allowed', 400, `Model ${model} is not on the operator's allow-list.`, {
      allowed: this.models().data.map((m) => m.id),
    });
  }

  /** The allocation named by `X-Allocation-Id`, else the caller's only active one. */
  async allocationOf(call: ChatCall): Promise<AllocationRecord> {
    const { meter } = this.deps;
    if (call.allocation_id !== undefined) {
      const a = await meter.get(call.allocation_id);
      // Another agent's allocation is indistinguishable from a missing one.
      if (!a || a.agent_id !== call.agent_id) throw notFound(`Allocation ${call.allocation_id}`);
      return a;
    }
    const active = await meter.activeOf(call.agent_id);
    const [only] = active;
    if (active.length === 1 && only) return only;
    if (active.length === 0) {
      throw new DomainError(
        'no_active_allocation',
        409,
        'The caller has no active allocation; win a bid for tokens first.',
      );
    }
    throw conflict(`The caller has ${active.length} active allocations; name one with X-Allocation-Id.`, {
      allocation_ids: active.map((a) => a.allocation_id),
    });
  }

  /** Reserves for the call; nothing is written before every refusal has been checked. */
  private async begin(call: ChatCall, started: number): Promise<CallState> {
    const { llm, runtime, tokenizer, meter } = this.deps;
    const weight = this.weightOf(call.request.model);
    const allocation = await this.allocationOf(call);
    const refusal = notUsable(allocation, runtime.clock.now());
    if (refusal) throw refusal;
    const prompt_tokens = promptTokens(call.request, tokenizer);
    const plan = reservationOf({
      prompt_tokens,
      requested_max_tokens: requestedMaxTokens(call.request),
      default_max_tokens: llm.default_max_tokens,
      weight,
      remaining: allocation.tokens_remaining,
    });
    const reservation = await meter.reserve(
      {
        reservation_id: runtime.ids.next('rsv'),
        allocation_id: allocation.allocation_id,
        agent_id: call.agent_id,
        tokens: plan.tokens,
        model: call.request.model,
        deadline_ms: runtime.clock.now() + llm.reservation_seconds * 1000,
      },
      call.events,
    );
    const forwarded = forwardedRequest(call.request, plan.max_tokens);
    return { call, weight, prompt_tokens, reservation, forwarded, started };
  }

  async chat(call: ChatCall): Promise<ChatAnswer> {
    const state = await this.begin(call, this.elapsed());
    return call.request.stream ? this.streamed(state) : this.whole(state);
  }

  /** Settles the call: usage × weight drawn (0 on failure), the rest released, the event written. */
  async settle(state: CallState, usage: Usage, status: LlmCallOutcome['status'], latencyMs: number, charge = true) {
    return this.deps.meter.settle(
      state.reservation,
      {
        model: state.call.request.model,
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
        tokens_charged: charge ? chargeOf(usage, state.weight) : 0,
        latency_ms: Math.max(0, Math.round(latencyMs)),
        status,
      },
      state.call.events,
    );
  }

  /** Releases everything after a failed call and answers its problem (unexpected errors pass on). */
  private async failed(state: CallState, err: unknown, latencyMs: number): Promise<never> {
    const usage = { prompt_tokens: state.prompt_tokens, completion_tokens: 0 };
    await this.settle(state, usage, outcomeStatusOf(err), latencyMs, false);
    if (err instanceof ProviderFailure) {
      if (err.kind === 'status' && (err.status === 401 || err.status === 403)) {
        this.deps.logger.error('the provider refused the gateway key', { provider_status: err.status });
      }
      throw failureProblem(err);
    }
    throw err;
  }

  private async whole(state: CallState): Promise<ChatAnswer> {
    const t0 = this.elapsed();
    let raw: unknown;
    try {
      raw = await this.deps.provider.complete(state.forwarded, new AbortController().signal);
    } catch (err) {
      return this.failed(state, err, this.elapsed() - t0);
    }
    const providerMs = this.elapsed() - t0;
    const parsed = chatCompletionSchema.safeParse(raw);
    if (!parsed.success) {
      return this.failed(
        state,
        new ProviderFailure('malformed', 'The provider answered with no chat completion.'),
        providerMs,
      );
    }
    const body = parsed.data;
    const text = body.choices.map((c) => contentText(c.message.content)).join('');
    const usage = body.usage ?? {
      prompt_tokens: state.prompt_tokens,
      completion_tokens: this.deps.tokenizer.count(text),
    };
    const settled = await this.settle(state, usage, 'ok', providerMs);
    return {
      kind: 'json',
      body,
      headers: {
        ...this.headers(state, this.elapsed() - state.started - providerMs),
        'x-syntropism-tokens-charged': String(settled.tokens_charged),
        'x-syntropism-tokens-remaining': String(settled.remaining),
      },
    };
  }

  headers(state: CallState, overheadMs: number): Record<string, string> {
    return {
      [OVERHEAD_HEADER]: String(Math.max(0, Math.round(overheadMs))),
      'x-syntropism-allocation-id': state.reservation.allocation_id,
    };
  }

  private async streamed(state: CallState): Promise<ChatAnswer> {
    const controller = new AbortController();
    const t0 = this.elapsed();
    let events: AsyncIterable<string>;
    try {
      events = await this.deps.provider.stream(state.forwarded, controller.signal);
    } catch (err) {
      return this.failed(state, err, this.elapsed() - t0);
    }
    const headMs = this.elapsed() - t0;
    const stream = relayStream({ gateway: this, state, events, controller, t0, elapsed: this.elapsed, ...this.deps });
    return {
      kind: 'stream',
      stream,
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        ...this.headers(state, this.elapsed() - state.started - headMs),
      },
    };
  }
}
