import { ProxyTracerProvider, SpanStatusCode, trace, INVALID_SPAN_CONTEXT, type Attributes, type Context, type Span, type SpanKind } from '@opentelemetry/api';

/**
 * Latch's tracer. Until a tracer provider is registered (start-tracing.ts, or an operator's own
 * OpenTelemetry set-up), and for good when tracing is off, it is the API's no-op.
 */
export const tracer = trace.getTracer('latch');

// What the API's proxy hands out while no provider is registered (the API's own no-op provider).
const NO_PROVIDER = new ProxyTracerProvider().getDelegate();
// A span that records nothing, handed to work run without tracing: its methods do nothing.
const NOT_RECORDING = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * Whether spans go anywhere: a tracer provider is registered behind the API's global proxy.
 * Asked on every span rather than remembered, so a provider registered (or removed) later counts.
 * Without one, the wrappers below run their work directly: a span made by the API's no-op still
 * costs a span object, a context copy, a closure and an async frame on every request and query.
 */
export function tracingIsOn(): boolean {
  const provider = trace.getTracerProvider();
  // A provider of another kind than the API's proxy can only be a real one.
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NO_PROVIDER;
}

export interface SpanOptions {
  kind: SpanKind;
  attributes?: Attributes;
  /** The parent's context when it is not the active one (a job continuing the trace that queued it). */
  parent?: Context;
  /** A throw that is not a failure (a job put back to sleep): the span keeps its status. */
  expected?: (error: unknown) => boolean;
}

/**
 * Runs `work` in a new active span, which ends when `work` settles. A throw marks the span an error
 * with the error's type only: a message may quote a target, a person's text or a token. With
 * tracing off, `work` runs as it is, given a span that records nothing.
 */
export function inSpan<T>(name: string, { kind, attributes, parent, expected }: SpanOptions, work: (span: Span) => Promise<T>): Promise<T> {
  if (!tracingIsOn()) return work(NOT_RECORDING);
  const run = async (span: Span): Promise<T> => {
    try {
      return await work(span);
    } catch (error) {
      if (!expected?.(error)) span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : 'thrown' });
      throw error;
    } finally {
      span.end();
    }
  };
  const options = { kind, ...(attributes ? { attributes } : {}) };
  return parent ? tracer.startActiveSpan(name, options, parent, run) : tracer.startActiveSpan(name, options, run);
}
