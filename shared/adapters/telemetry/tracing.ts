/**
 * OpenTelemetry setup, bundled into every function (no layer): W3C trace context, an OTLP/HTTP
 * exporter when OTEL_EXPORTER_OTLP_ENDPOINT is set, otherwise spans are created (so trace ids
 * exist for problem documents and events) but not exported. Tests pass their own exporter.
 */
import { context, propagation, type Span, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

let provider: NodeTracerProvider | undefined;

export interface TelemetryOptions {
  serviceName: string;
  serviceVersion?: string;
  otlpEndpoint?: string;
  /** An exporter to use instead of OTLP (tests: InMemorySpanExporter), exported synchronously. */
  exporter?: SpanExporter;
}

/** Idempotent: the first call per process wins (one provider per container). */
export function initTelemetry(opts: TelemetryOptions): void {
  if (provider) return;
  const processors: SpanProcessor[] = [];
  if (opts.exporter) processors.push(new SimpleSpanProcessor(opts.exporter));
  else if (opts.otlpEndpoint) {
    processors.push(
      new BatchSpanProcessor(new OTLPTraceExporter({ url: `${opts.otlpEndpoint.replace(/\/$/, '')}/v1/traces` })),
    );
  }
  provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      'service.name': opts.serviceName,
      'service.version': opts.serviceVersion ?? '0.0.0',
    }),
    spanProcessors: processors,
  });
  provider.register();
}

/** `initTelemetry` from the functions' configuration (version and OTLP endpoint). */
export function initTelemetryFrom(
  config: { SERVICE_VERSION: string; OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined },
  serviceName: string,
): void {
  initTelemetry({
    serviceName,
    serviceVersion: config.SERVICE_VERSION,
    ...(config.OTEL_EXPORTER_OTLP_ENDPOINT && { otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT }),
  });
}

/** Flushes spans; called before a Lambda invocation returns (the container may freeze after). */
export async function flushTelemetry(): Promise<void> {
  await provider?.forceFlush();
}

export function tracer(): Tracer {
  return trace.getTracer('syntropism');
}

/** The W3C context of the active span, for an event envelope or a message header. */
export function currentTraceContext(): { traceparent: string; tracestate: string } | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ? { traceparent: carrier.traceparent, tracestate: carrier.tracestate ?? '' } : undefined;
}

/** A context continuing the trace of a carrier (HTTP headers, envelope `trace`, NATS headers). */
export function contextFrom(carrier: Record<string, string | undefined>) {
  return propagation.extract(context.active(), carrier);
}

export function currentTraceId(): string | undefined {
  const id = trace.getActiveSpan()?.spanContext().traceId;
  return id && id !== '00000000000000000000000000000000' ? id : undefined;
}

export function recordError(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : new Error(String(err)));
  span.setStatus({ code: SpanStatusCode.ERROR });
}
