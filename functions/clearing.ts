/**
 * The scheduled clearing job (EventBridge Scheduler on AWS, a timer in the local stack): clears
 * every round whose window has closed, catching up after downtime.
 */
import { services } from '#shared/adapters/services';
import { flushTelemetry, tracer } from '#shared/adapters/telemetry/tracing';

const s = services();

export const handler = async (): Promise<{ cleared: number; rounds: string[] }> => {
  return tracer().startActiveSpan('clearing', async (span) => {
    try {
      const summaries = await s.clearing.clearDue();
      for (const r of summaries) s.logger.info('round cleared', { ...r });
      return { cleared: summaries.length, rounds: summaries.map((r) => r.round) };
    } finally {
      span.end();
      await flushTelemetry();
    }
  });
};
