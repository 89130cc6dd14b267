import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { FetchFunction } from '@slack/web-api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { withLogContext } from '../../../src/logging/log-context.ts';
import { inEnqueueSpan, inJobSpan, payloadOf, TRACE_CONTEXT_KEY } from '../../../src/observability/job-trace-context.ts';
import { tracedProvider } from '../../../src/observability/provider-spans.ts';
import { tracedSlackFetch } from '../../../src/observability/slack-api-spans.ts';
import { slackRequestSpan } from '../../../src/observability/slack-request-span.ts';
import type { AccessProvider, ProviderGrant } from '../../../src/providers/provider.ts';

const REQUEST_ID = '01a23d51-1402-72fc-ae32-0da504300ad5';
const GRANT: ProviderGrant = { grantId: '01a23d51-16cb-7075-ab18-9f3f74fb2368', requestId: REQUEST_ID, resourceId: 'prod-db', role: 'read', principal: 'alice', expiresAt: new Date() };

function enqueueOne(data: object): Promise<unknown> {
  let stored: unknown;
  return inEnqueueSpan({ name: 'grant', queue: 'latch-grants', ids: [`grant-${REQUEST_ID}`] }, async (traced) => {
    stored = traced(data);
  }).then(() => stored);
}

describe('with tracing off (no SDK registered)', () => {
  it('queues the job data exactly as given: no trace context key', async () => {
    expect(await enqueueOne({ requestId: REQUEST_ID })).toEqual({ requestId: REQUEST_ID });
  });

  it('keeps every optional part of the provider it wraps, and passes each its arguments', async () => {
    const since = new Date('2026-12-05T10:00:00Z');
    const seen: unknown[] = [];
    const full: Required<AccessProvider> = {
      ...fakeProvider({ ok: true, value: undefined }),
      verifyRevoked: async (grant, at) => (seen.push(grant.grantId, at), { ok: true, value: { gone: false, remains: 'still a member' } }),
      list: async () => ({ ok: true, value: ['alice'] }),
      effectiveEndLag: async () => ({ ok: true, value: 3600 }),
      checkPrincipal: async () => ({ ok: true, value: undefined }),
      checkScope: async () => ({ ok: true, value: undefined }),
      listScopedAccess: async () => ({ ok: true, value: [{ requestId: REQUEST_ID, login: 'alice', what: 'role latch_s_x' }] }),
      accessTarget: () => 'group-1',
      issueCredentials: async () => ({ ok: false, failure: { kind: 'permanent', message: 'none' } }),
      watchSingleUse: async () => ({ ok: true, value: 'unused' }),
      close: async () => undefined,
    };
    const traced = tracedProvider(full);
    expect(Object.keys(traced).sort()).toEqual(Object.keys(full).sort());
    // A revocation the target contradicts must reach revokeGrant as the provider said it.
    expect(await traced.verifyRevoked!(GRANT, since)).toEqual({ ok: true, value: { gone: false, remains: 'still a member' } });
    expect(seen).toEqual([GRANT.grantId, since]);
    // The standing-access scan reads what scoped grants left through the wrapper.
    expect(await traced.listScopedAccess!()).toEqual({ ok: true, value: [{ requestId: REQUEST_ID, login: 'alice', what: 'role latch_s_x' }] });
  });

  it('runs what it wraps and returns its result', async () => {
    const provider = tracedProvider(fakeProvider({ ok: true, value: undefined }));
    expect(await provider.grant(GRANT)).toEqual({ ok: true, value: undefined });
  });
});

describe('with tracing on', () => {
  const exporter = new InMemorySpanExporter();
  const spans = () => exporter.getFinishedSpans();

  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }));
  });
  afterAll(() => {
    trace.disable();
    propagation.disable();
    context.disable();
  });
  beforeEach(() => exporter.reset());

  it('names a click after its action and carries the request id of its log lines, never what was typed', async () => {
    await withLogContext({ requestId: 'req-1' }, () =>
      slackRequestSpan(bolt({ type: 'block_actions', actions: [{ action_id: 'latch_approve', value: REQUEST_ID }] })),
    );
    await slackRequestSpan(bolt({ command: '/request-access', text: 'prod-db read 1h my secret reason' }));
    await slackRequestSpan(bolt({ type: 'block_actions', actions: [{ action_id: '<!channel> give me prod', value: 'not a request id' }] }));
    const [click, command, forged] = spans();
    expect(click).toMatchObject({ name: 'slack action latch_approve', kind: SpanKind.SERVER, attributes: { 'latch.request_id': 'req-1', 'latch.access_request.id': REQUEST_ID } });
    expect(command!.name).toBe('slack command /request-access');
    expect(forged!.name).toBe('slack action other');
    expect(JSON.stringify(spans().map((span) => [span.name, span.attributes]))).not.toMatch(/secret reason|channel|not a request id/);
  });

  it('carries the trace from the enqueue to the job, whose payload stays what its definition declares', async () => {
    const data = await enqueueOne({ requestId: REQUEST_ID });
    expect(data).toMatchObject({ requestId: REQUEST_ID, [TRACE_CONTEXT_KEY]: { traceparent: expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/) } });
    expect(payloadOf(data)).toEqual({ requestId: REQUEST_ID });
    // Stored as JSON in Redis, read back in another process.
    await inJobSpan({ id: `grant-${REQUEST_ID}`, name: 'grant', queue: 'latch-grants', attempt: 1, data: JSON.parse(JSON.stringify(data)) }, () => false, async () => undefined);
    const [enqueue, job] = spans();
    expect(enqueue).toMatchObject({ name: 'enqueue grant', kind: SpanKind.PRODUCER, attributes: { 'latch.job.id': `grant-${REQUEST_ID}` } });
    expect(job).toMatchObject({ name: 'job grant', kind: SpanKind.CONSUMER, attributes: { 'latch.job.id': `grant-${REQUEST_ID}`, 'latch.access_request.id': REQUEST_ID, 'latch.job.attempt': 1 } });
    expect(job!.spanContext().traceId).toBe(enqueue!.spanContext().traceId);
    expect(job!.parentSpanContext?.spanId).toBe(enqueue!.spanContext().spanId);
  });

  it('starts a trace of its own for a job without one (a schedule), or with a malformed one', async () => {
    await inJobSpan({ id: 'reconcile-1', name: 'reconcile', queue: 'latch-sweeps', attempt: 1, data: {} }, () => false, async () => undefined);
    await inJobSpan({ id: 'x', name: 'grant', queue: 'latch-grants', attempt: 1, data: { [TRACE_CONTEXT_KEY]: { traceparent: 'garbage' } } }, () => false, async () => undefined);
    expect(spans().map((span) => span.parentSpanContext)).toEqual([undefined, undefined]);
  });

  it('marks a failed job an error, and a job put back to sleep not', async () => {
    class Sleep extends Error {}
    const job = { id: 'grant-1', name: 'grant', queue: 'latch-grants', attempt: 2, data: {} };
    await expect(inJobSpan(job, (error) => error instanceof Sleep, () => Promise.reject(new Sleep('later')))).rejects.toThrow('later');
    await expect(inJobSpan(job, (error) => error instanceof Sleep, () => Promise.reject(new Error('target said: password hunter2 refused')))).rejects.toThrow();
    const [slept, failed] = spans();
    expect(slept!.status.code).toBe(SpanStatusCode.UNSET);
    expect(slept!.attributes['latch.job.outcome']).toBe('delayed');
    expect(failed!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'Error' });
  });

  it("records a provider's failure by its kind, never its message, and keeps the provider's optional parts as they are", async () => {
    const provider = tracedProvider(fakeProvider({ ok: false, failure: { kind: 'permanent', message: 'role "admin" refused for hunter2' } }));
    expect(await provider.revoke(GRANT)).toMatchObject({ ok: false });
    expect(provider.checkPrincipal).toBeUndefined();
    expect(provider.accessTarget?.('read')).toBe('group-1');
    const [span] = spans();
    expect(span).toMatchObject({
      name: 'provider revoke',
      kind: SpanKind.CLIENT,
      attributes: { 'latch.provider.type': 'fake', 'latch.resource.id': 'prod-db', 'latch.grant.id': GRANT.grantId, 'latch.provider.failure': 'permanent' },
    });
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(JSON.stringify([span!.attributes, span!.status])).not.toContain('hunter2');
    expect(Object.values(span!.attributes)).not.toContain('alice');
  });

  it('names a Slack call by its Web API method, and a response_url call without its URL', async () => {
    const fetch = tracedSlackFetch((async () => new Response('{"ok":true}', { status: 200 })) as unknown as FetchFunction, 'http://127.0.0.1:9/api/');
    await fetch('http://127.0.0.1:9/api/chat.update', { method: 'POST' });
    await fetch('https://hooks.slack.com/actions/T0/123/s3cretPath', { method: 'POST' });
    const [update, respond] = spans();
    expect(update).toMatchObject({ name: 'slack chat.update', kind: SpanKind.CLIENT, attributes: { 'slack.method': 'chat.update', 'http.response.status_code': 200 } });
    expect(respond!.name).toBe('slack response_url');
    expect(JSON.stringify(respond!.attributes)).not.toContain('s3cretPath');
  });
});

/** What Bolt hands a global middleware, as far as the span reads it. */
function bolt(body: Record<string, unknown>): Parameters<typeof slackRequestSpan>[0] {
  return { body, next: async () => undefined } as unknown as Parameters<typeof slackRequestSpan>[0];
}

function fakeProvider(result: Awaited<ReturnType<AccessProvider['grant']>>): AccessProvider {
  return {
    type: 'fake',
    grant: async () => result,
    revoke: async () => result,
    check: async () => ({ ok: true, value: true }),
    accessTarget: () => 'group-1',
  };
}
