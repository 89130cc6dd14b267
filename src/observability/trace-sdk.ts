import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { detectResources, resourceAttributesEnvDetector, resourceFromAttributes, serviceNameEnvDetector } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace';
import type { SamplerSettings, TracingSettings } from './tracing-settings.ts';

/**
 * The OpenTelemetry SDK, set up as the global tracer provider: imported only when tracing is on
 * (start-tracing.ts), so a process without it never loads the SDK and its spans are the API's no-op.
 * Context follows async work through AsyncLocalStorage; W3C trace context is what a queued job
 * carries to the worker (jobs/job-trace-context.ts).
 */
export async function startTraceSdk(settings: Extract<TracingSettings, { on: true }>, attributes: Record<string, string>): Promise<{ shutdown(): Promise<void> }> {
  const exporter = await otlpExporter(settings.protocol);
  // OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME, override Latch's own (the later detector wins, as the specification says).
  const resource = resourceFromAttributes({ 'service.name': 'latch', ...attributes }).merge(detectResources({ detectors: [resourceAttributesEnvDetector, serviceNameEnvDetector] }));
  const provider = new TracerProvider({
    resource,
    sampler: samplerOf(settings.sampler),
    spanProcessors: [new BatchSpanProcessor({ exporter, ...definedOnly(settings.batch) })],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return { shutdown: () => provider.shutdown() };
}

/** The exporter reads OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout, certificates) itself. */
async function otlpExporter(protocol: Extract<TracingSettings, { on: true }>['protocol']): Promise<SpanExporter> {
  if (protocol === 'http/json') return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
  return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter();
}

function samplerOf({ name, ratio }: SamplerSettings): Sampler {
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }
}

function definedOnly<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}
