// Traces: off unless asked for. The standard OpenTelemetry environment variables turn OTLP export
// on (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; OTEL_TRACES_EXPORTER=none
// keeps it off); tests pass an exporter. With neither, no tracer provider is installed and every
// tracer is the API's no-op: creating spans costs next to nothing. Imports nothing from the app.
import { context, propagation, trace, ROOT_CONTEXT, type Context, type Span, type SpanContext, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, parseTraceParent, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, SimpleSpanProcessor, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';

export interface TracingOptions {
  serviceName: string;
  serviceVersion: string;
  env?: NodeJS.ProcessEnv;
  /** Export every span at once to this exporter (tests). */
  exporter?: SpanExporter;
}

let provider: TracerProvider | null = null;

/** Installs the process's tracer provider if traces are wanted; returns whether it did. Once per process. */
export function installTracing(options: TracingOptions): boolean {
  if (provider) return true;
  const env = options.env ?? process.env;
  const otlp = env.OTEL_TRACES_EXPORTER !== 'none' && Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  if (!options.exporter && !otlp) return false;
  const processor = options.exporter
    ? new SimpleSpanProcessor({ exporter: options.exporter })
    : new BatchSpanProcessor({ exporter: new OTLPTraceExporter() });
  provider = new TracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName, [ATTR_SERVICE_VERSION]: options.serviceVersion }),
    spanProcessors: [processor],
  });
  // What SDK 2's NodeTracerProvider.register() did: AsyncLocalStorage context (so log lines and child
  // spans find the active span) and the W3C trace-context and baggage propagators.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
  trace.setGlobalTracerProvider(provider);
  return true;
}

export function tracingEnabled(): boolean {
  return provider !== null;
}

export async function shutdownTracing(): Promise<void> {
  await provider?.forceFlush();
}

export function tracer(): Tracer {
  return trace.getTracer('streamer');
}

/** Whether `value` is a valid W3C `traceparent` (version, 32-hex trace id, 16-hex span id, flags). */
export function isTraceparent(value: string): boolean {
  return parseTraceParent(value) !== null;
}

/** The context a client's W3C `traceparent` describes (the root context when absent or invalid). */
export function contextFromTraceparent(traceparent: string | null | undefined): Context {
  if (!traceparent) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/** A child span of `parent`, and the context that makes it current. */
export function startChildSpan(name: string, parent: Context, attributes: Record<string, string | number | boolean> = {}): { span: Span; ctx: Context } {
  const span = tracer().startSpan(name, { attributes }, parent);
  return { span, ctx: trace.setSpan(parent, span) };
}

/** trace_id/span_id of the active span, for log lines (empty when none). */
export function activeTraceIds(): { trace_id?: string; span_id?: string } {
  const span = trace.getSpan(context.active());
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

export type { Context, Span, SpanContext };
