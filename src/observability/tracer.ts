import { SpanStatusCode, trace, type Attributes, type Context, type Span, type SpanKind } from '@opentelemetry/api';

/**
 * Latch's tracer. Until the SDK is registered (start-tracing.ts), and for good when tracing is
 * off, it is the API's no-op: a span costs an object and a function call.
 */
export const tracer = trace.getTracer('latch');

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
 * with the error's type only: a message may quote a target, a person's text or a token.
 */
export function inSpan<T>(name: string, { kind, attributes, parent, expected }: SpanOptions, work: (span: Span) => Promise<T>): Promise<T> {
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
