import { SpanKind, type Attributes } from '@opentelemetry/api';
import { inSpan, tracingIsOn } from './tracer.ts';

/** What a listener says about the use case it runs (answers.ts's `asked`). */
export interface UseCaseAsked {
  /** The button, form or command that asked for it. */
  action: string;
  /** What the use case does, as the person reads it on failure ("record your approval"). */
  what: string;
  accessRequestId?: unknown;
  resourceId?: unknown;
}

/**
 * An INTERNAL span around the use case a Slack request runs (`use case record your approval`):
 * the access request and resource it is about, and whether it was refused, with the refusal's code
 * (never its message, which may quote the policy or the person's input).
 */
export function inUseCaseSpan<T>(asked: UseCaseAsked, run: () => Promise<T>): Promise<T> {
  if (!tracingIsOn()) return run();
  const attributes: Attributes = { 'latch.use_case.action': asked.action };
  if (typeof asked.accessRequestId === 'string') attributes['latch.access_request.id'] = asked.accessRequestId;
  if (typeof asked.resourceId === 'string') attributes['latch.resource.id'] = asked.resourceId;
  return inSpan(`use case ${asked.what}`, { kind: SpanKind.INTERNAL, attributes }, async (span) => {
    const result = await run();
    const outcome = result as { ok?: unknown; requestId?: unknown; refusal?: { code?: unknown } } | undefined;
    if (typeof outcome?.requestId === 'string') span.setAttribute('latch.access_request.id', outcome.requestId);
    if (outcome?.ok === false) {
      span.setAttribute('latch.outcome', 'refused');
      if (typeof outcome.refusal?.code === 'string') span.setAttribute('latch.refusal.code', outcome.refusal.code);
    } else {
      span.setAttribute('latch.outcome', 'done');
    }
    return result;
  });
}
