import { context, propagation, ROOT_CONTEXT, SpanKind, type Attributes } from '@opentelemetry/api';
import { z } from 'zod';
import { inSpan, tracingIsOn } from './tracer.ts';

/**
 * The key of a queued job's data that carries the W3C trace context of the span that queued it
 * (`traceparent`, `tracestate`), so the worker's job span continues that trace, in whichever
 * process runs it. Absent when tracing is off, so the data is what it always was.
 */
export const TRACE_CONTEXT_KEY = 'traceContext';

const carrierSchema = z.object({ traceparent: z.string().max(128), tracestate: z.string().max(512).optional() });

export interface QueuedJob {
  /** The job definition's name (`grant`, `revoke`). */
  name: string;
  queue: string;
  /** The deterministic job ids being added (one, or a reconcile's batch). */
  ids: readonly string[];
}

/**
 * A PRODUCER span around adding jobs to a queue (`enqueue grant`); `add` gets the job data with
 * the trace context added, to store instead of the bare payload.
 */
export function inEnqueueSpan<T>(job: QueuedJob, add: (withTraceContext: <D>(data: D) => D) => Promise<T>): Promise<T> {
  if (!tracingIsOn()) return add(asItIs);
  const attributes: Attributes = { 'messaging.system': 'bullmq', 'messaging.operation.type': 'send', 'messaging.destination.name': job.queue, 'latch.job.name': job.name };
  if (job.ids.length === 1) attributes['latch.job.id'] = job.ids[0]!;
  else attributes['messaging.batch.message_count'] = job.ids.length;
  return inSpan(`enqueue ${job.name}`, { kind: SpanKind.PRODUCER, attributes }, () => {
    const carrier: Record<string, string> = {};
    propagation.inject(context.active(), carrier);
    // Payloads are objects (a definition's zod object); anything else is stored as it is.
    const traced = <D>(data: D): D => (carrier.traceparent && typeof data === 'object' && data !== null ? { ...data, [TRACE_CONTEXT_KEY]: carrier } : data);
    return add(traced);
  });
}

const asItIs = <D>(data: D): D => data;

/** The job's payload without the trace context, for its definition's schema. */
export function payloadOf(data: unknown): unknown {
  if (typeof data !== 'object' || data === null || !(TRACE_CONTEXT_KEY in data)) return data;
  const { [TRACE_CONTEXT_KEY]: _carrier, ...payload } = data as Record<string, unknown>;
  return payload;
}

export interface RunningJob {
  id: string;
  name: string;
  queue: string;
  /** 1 for the first run, 2 for the first retry, … */
  attempt: number;
  data: unknown;
}

/**
 * A CONSUMER span around one run of a job (`job grant`), the child of the span that queued it
 * when its data carries one (a scheduled job's run starts a trace of its own). `isExpected` tells
 * a throw that is not a failure (a job put back to sleep) from one that is.
 */
export function inJobSpan<T>(job: RunningJob, isExpected: (error: unknown) => boolean, run: () => Promise<T>): Promise<T> {
  if (!tracingIsOn()) return run();
  const carrier = carrierSchema.safeParse((job.data as Record<string, unknown> | null)?.[TRACE_CONTEXT_KEY]);
  const parent = carrier.success ? propagation.extract(ROOT_CONTEXT, carrier.data) : ROOT_CONTEXT;
  const attributes: Attributes = {
    'messaging.system': 'bullmq',
    'messaging.operation.type': 'process',
    'messaging.destination.name': job.queue,
    'latch.job.id': job.id,
    'latch.job.name': job.name,
    'latch.job.attempt': job.attempt,
  };
  const payload = payloadOf(job.data) as { requestId?: unknown; grantId?: unknown } | null;
  if (typeof payload?.requestId === 'string') attributes['latch.access_request.id'] = payload.requestId;
  if (typeof payload?.grantId === 'string') attributes['latch.grant.id'] = payload.grantId;
  return inSpan(`job ${job.name}`, { kind: SpanKind.CONSUMER, attributes, parent, expected: isExpected }, async (span) => {
    try {
      return await run();
    } catch (error) {
      if (isExpected(error)) span.setAttribute('latch.job.outcome', 'delayed');
      throw error;
    }
  });
}
