import { describe, expect, it } from 'vitest';
import { tracingSettingsFrom } from '../../../src/observability/tracing-settings.ts';

const ENDPOINT = 'http://collector.internal:4318';

describe('tracing settings from the OTEL_* variables', () => {
  it('is off when nothing asks for traces: no OTLP export to localhost by default', () => {
    expect(tracingSettingsFrom({})).toEqual({ ok: true, settings: { on: false } });
    expect(tracingSettingsFrom({ OTEL_SERVICE_NAME: 'latch-prod', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })).toEqual({ ok: true, settings: { on: false } });
  });

  it('is on when an endpoint is set, sending OTLP/HTTP protobuf (the specification default) to it', () => {
    expect(tracingSettingsFrom({ OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT })).toEqual({
      ok: true,
      settings: { on: true, protocol: 'http/protobuf', endpoint: ENDPOINT, sampler: { name: 'parentbased_always_on', ratio: 1 }, batch: {} },
    });
    const tracesOnly = tracingSettingsFrom({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${ENDPOINT}/v1/traces`, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' });
    expect(tracesOnly).toMatchObject({ ok: true, settings: { on: true, protocol: 'http/json', endpoint: ENDPOINT } });
  });

  it('is on with OTEL_TRACES_EXPORTER=otlp alone, to the default collector address', () => {
    expect(tracingSettingsFrom({ OTEL_TRACES_EXPORTER: 'otlp' })).toMatchObject({ ok: true, settings: { on: true, endpoint: 'http://localhost:4318' } });
  });

  it('is off with OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none, whatever else is set', () => {
    expect(tracingSettingsFrom({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_TRACES_EXPORTER: 'otlp' })).toEqual({ ok: true, settings: { on: false } });
    expect(tracingSettingsFrom({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT })).toEqual({ ok: true, settings: { on: false } });
  });

  it('reads the sampler and the batch timings', () => {
    const settings = tracingSettingsFrom({
      OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT,
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_BSP_MAX_QUEUE_SIZE: '4096',
      OTEL_BSP_EXPORT_TIMEOUT: ' ',
    });
    expect(settings).toMatchObject({ ok: true, settings: { sampler: { name: 'parentbased_traceidratio', ratio: 0.25 }, batch: { scheduledDelayMillis: 100, maxQueueSize: 4096, exportTimeoutMillis: undefined } } });
  });

  it('gives the endpoint it logs without credentials or path', () => {
    expect(tracingSettingsFrom({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://user:hunter2@collector.internal:4318/otlp' })).toMatchObject({
      settings: { endpoint: 'https://collector.internal:4318' },
    });
  });

  it('refuses what it cannot do, naming each variable and never echoing its value', () => {
    const result = tracingSettingsFrom({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'collector.internal:4318?token=hunter2',
      OTEL_TRACES_EXPORTER: 'otlp,zipkin',
      OTEL_TRACES_SAMPLER: 'sometimes',
      OTEL_TRACES_SAMPLER_ARG: '2',
      OTEL_BSP_SCHEDULE_DELAY: '-5',
    });
    expect(result.ok).toBe(false);
    const problems = result.ok ? [] : result.problems;
    expect(problems.map((problem) => problem.split(' ')[0])).toEqual(
      expect.arrayContaining(['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_TRACES_EXPORTER.1', 'OTEL_TRACES_SAMPLER', 'OTEL_TRACES_SAMPLER_ARG', 'OTEL_BSP_SCHEDULE_DELAY']),
    );
    expect(problems.join('\n')).not.toContain('hunter2');
  });

  it('refuses gRPC, which Latch does not ship, naming the variable that asked for it', () => {
    expect(tracingSettingsFrom({ OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toEqual({
      ok: false,
      problems: [expect.stringMatching(/^OTEL_EXPORTER_OTLP_PROTOCOL must be http\/protobuf or http\/json/)],
    });
    expect(tracingSettingsFrom({ OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' })).toMatchObject({
      problems: [expect.stringMatching(/^OTEL_EXPORTER_OTLP_TRACES_PROTOCOL /)],
    });
  });
});
