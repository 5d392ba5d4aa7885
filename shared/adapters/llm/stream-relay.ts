/**
 * A streamed call's relay: the provider's SSE events passed to the client one by one (pulled
 * as the client reads, so a slow client slows the provider rather than filling memory), the
 * usage read from the final chunk, and exactly one settle however the stream ends:
 *
 * - `[DONE]`: settled `ok` to the provider's usage (or, if it sent none, to the prompt and the
 *   streamed text as the gateway's tokenizer counts them), a comment with the charge, `[DONE]`;
 * - the provider breaks off or stalls past the timeout: settled `provider_error` / `timeout` to
 *   what was streamed, an error event sent, the stream closed;
 * - the client goes away: the provider call aborted, settled `client_closed` to what was streamed.
 *
 * The usage chunk the gateway asked for is dropped unless the client asked for it too.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { LlmCallOutcome } from '../../core/allocations.ts';
import { chatChunkSchema, type TextTokenizer } from '../../core/llm/chat.ts';
import type { Usage } from '../../core/llm/metering.ts';
import { ProviderFailure } from '../../core/llm/provider.ts';
import { DONE, sseComment, sseData } from '../../core/llm/sse.ts';
import { failureProblem, outcomeStatusOf } from './failures.ts';
import type { CallState, LlmGateway } from './gateway.ts';

export interface RelayDeps {
  gateway: Pick<LlmGateway, 'settle'>;
  state: CallState;
  events: AsyncIterable<string>;
  /** Aborts the provider call (the client went away). */
  controller: AbortController;
  /** `elapsed()` when the provider call started. */
  t0: number;
  elapsed: () => number;
  tokenizer: TextTokenizer;
  logger: Pick<Logger, 'error'>;
}

/** What the relay has seen of the stream so far. */
class Tally {
  text = '';
  usage: Usage | undefined;

  constructor(private readonly wantsUsage: boolean) {}

  /** Records a payload; false when it is the usage chunk the client did not ask for. */
  observe(payload: string): boolean {
    let json: unknown;
    try {
      json = JSON.parse(payload);
    } catch {
      return true;
    }
    const chunk = chatChunkSchema.safeParse(json);
    if (!chunk.success) return true;
    for (const c of chunk.data.choices ?? []) if (typeof c.delta?.content === 'string') this.text += c.delta.content;
    const usage = chunk.data.usage;
    if (!usage) return true;
    this.usage = { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens };
    return this.wantsUsage || (chunk.data.choices?.length ?? 0) > 0;
  }
}

function errorEvent(err: unknown): string {
  const problem = err instanceof ProviderFailure ? failureProblem(err) : undefined;
  const message = problem?.message ?? 'The provider stream broke off.';
  return sseData(
    JSON.stringify({ error: { message, type: 'provider_error', code: problem?.code ?? 'provider_error' } }),
  );
}

export function relayStream(d: RelayDeps): ReadableStream<Uint8Array> {
  const it = d.events[Symbol.asyncIterator]();
  const encoder = new TextEncoder();
  const tally = new Tally(d.state.call.request.stream_options?.include_usage === true);
  let finished = false;

  /** The one settle of the call; a failure to settle is logged (the sweeper releases the hold). */
  const finish = async (status: LlmCallOutcome['status']) => {
    if (finished) return undefined;
    finished = true;
    const usage = tally.usage ?? {
      prompt_tokens: d.state.prompt_tokens,
      completion_tokens: d.tokenizer.count(tally.text),
    };
    try {
      return await d.gateway.settle(d.state, usage, status, d.elapsed() - d.t0);
    } catch (error) {
      d.logger.error('settling a streamed call failed', {
        error: error as Error,
        reservation_id: d.state.reservation.reservation_id,
      });
      return undefined;
    }
  };

  const end = async (c: ReadableStreamDefaultController<Uint8Array>, failure?: unknown) => {
    const settled = await finish(failure === undefined ? 'ok' : outcomeStatusOf(failure));
    if (failure !== undefined) c.enqueue(encoder.encode(errorEvent(failure)));
    else if (settled) {
      const note = `syntropism tokens_charged=${settled.tokens_charged} remaining=${settled.remaining}`;
      c.enqueue(encoder.encode(sseComment(note)));
    }
    c.enqueue(encoder.encode(sseData(DONE)));
    c.close();
  };

  return new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        for (;;) {
          let next: IteratorResult<string>;
          try {
            next = await it.next();
          } catch (err) {
            if (!finished) await end(c, err);
            return;
          }
          // Cancelled while waiting for the provider: the cancel has settled already.
          if (finished) return;
          if (next.done) {
            // Some servers end without `[DONE]`: a stream that delivered its usage is complete.
            return end(c, tally.usage ? undefined : new ProviderFailure('network', 'The provider stream broke off.'));
          }
          if (next.value === DONE) return end(c);
          if (tally.observe(next.value)) {
            c.enqueue(encoder.encode(sseData(next.value)));
            return;
          }
        }
      },
      async cancel() {
        d.controller.abort();
        await finish('client_closed');
        it.return?.().catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}
