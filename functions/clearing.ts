/**
 * The scheduled clearing job (EventBridge Scheduler on AWS, a timer in the local stack): clears
 * every round whose window has closed, catching up after downtime.
 */
import { services } from '#shared/adapters/services';
import { currentTraceContext, flushTelemetry, tracer } from '#shared/adapters/telemetry/tracing';

const s = services();

export const handler = async (): Promise<{ cleared: number; rounds: string[] }> => {
  return tracer().startActiveSpan('clearing', async (span) => {
    try {
      // auction_cleared (and the price update after it) continue this run's trace; each bid's
      // outcome continues the trace of the request that placed it.
      const trace = currentTraceContext();
      const summaries = await s.clearing.clearDue(trace ? { trace } : {});
      for (const r of summaries) s.logger.info('round cleared', { ...r });
      return { cleared: summaries.length, rounds: summaries.map((r) => r.round) };
    } finally {
      span.end();
      await flushTelemetry();
    }
  });
};
