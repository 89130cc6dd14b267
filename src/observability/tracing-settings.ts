import { z } from 'zod';

/**
 * How traces leave a Latch process, from the standard OpenTelemetry variables. Tracing is off
 * unless an operator asks for it: an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), or OTEL_TRACES_EXPORTER says `otlp`. OTEL_SDK_DISABLED=true
 * or OTEL_TRACES_EXPORTER=none turn it off whatever else is set. (The specification's default of
 * exporting to localhost:4318 with nothing configured would have every deployment send its traces
 * to whatever listens there.)
 *
 * The exporter reads its endpoint, headers and certificates from the same variables itself; only
 * what decides whether and how spans are batched and sampled is read here, and a value that makes
 * no sense stops the start naming the variable, as Latch's own variables do (config/env.ts).
 */
export type TracingSettings =
  | { on: false }
  | {
      on: true;
      protocol: OtlpProtocol;
      /** Where the exporter sends spans, for the start-up log line: the origin only, no credentials. */
      endpoint: string;
      sampler: SamplerSettings;
      batch: BatchSettings;
    };

export type OtlpProtocol = 'http/protobuf' | 'http/json';

export type SamplerSettings = { name: SamplerName; ratio: number };

export interface BatchSettings {
  scheduledDelayMillis?: number | undefined;
  exportTimeoutMillis?: number | undefined;
  maxQueueSize?: number | undefined;
  maxExportBatchSize?: number | undefined;
}

const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const;
type SamplerName = (typeof SAMPLERS)[number];

const DEFAULT_OTLP_ENDPOINT = 'http://localhost:4318';

const blankAsMissing = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);
const optional = <T extends z.ZodType>(schema: T) => z.preprocess(blankAsMissing, schema.optional());
const nonNegativeInteger = optional(z.coerce.number().int().nonnegative({ error: 'must be a whole number of 0 or more' }));
const endpointUrl = optional(
  z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL (the OTLP/HTTP collector, e.g. http://otel-collector:4318)' }),
);

const tracingEnvSchema = z.object({
  OTEL_SDK_DISABLED: optional(z.enum(['true', 'false'], { error: 'must be true or false' })),
  OTEL_TRACES_EXPORTER: optional(
    z
      .string()
      .transform((value) => value.split(',').map((name) => name.trim()).filter(Boolean))
      .pipe(z.array(z.enum(['otlp', 'none'], { error: 'must be otlp or none: Latch exports traces over OTLP only' }))),
  ),
  OTEL_EXPORTER_OTLP_ENDPOINT: endpointUrl,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: endpointUrl,
  OTEL_EXPORTER_OTLP_PROTOCOL: optional(z.string()),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: optional(z.string()),
  OTEL_TRACES_SAMPLER: optional(z.enum(SAMPLERS, { error: `must be one of ${SAMPLERS.join(', ')}` })),
  OTEL_TRACES_SAMPLER_ARG: optional(z.coerce.number().min(0).max(1, { error: 'must be a ratio from 0 to 1' })),
  OTEL_BSP_SCHEDULE_DELAY: nonNegativeInteger,
  OTEL_BSP_EXPORT_TIMEOUT: nonNegativeInteger,
  OTEL_BSP_MAX_QUEUE_SIZE: nonNegativeInteger,
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: nonNegativeInteger,
});

const protocolSchema = z.enum(['http/protobuf', 'http/json'], {
  error: 'must be http/protobuf or http/json: Latch sends traces over OTLP/HTTP (gRPC is not included, to keep the image small)',
});

export type TracingSettingsResult = { ok: true; settings: TracingSettings } | { ok: false; problems: string[] };

/** The tracing settings in `env`, or one problem per bad variable, each naming it. */
export function tracingSettingsFrom(env: Record<string, string | undefined>): TracingSettingsResult {
  const parsed = tracingEnvSchema.safeParse(env);
  if (!parsed.success) return { ok: false, problems: parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`) };
  const vars = parsed.data;
  const exporters = vars.OTEL_TRACES_EXPORTER ?? [];
  const asked = exporters.includes('otlp') || vars.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined || vars.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined;
  if (vars.OTEL_SDK_DISABLED === 'true' || exporters.includes('none') || !asked) return { ok: true, settings: { on: false } };

  const protocolVariable = vars.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  // The specification's default protocol.
  const protocol = protocolSchema.safeParse((vars.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? vars.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf').trim());
  if (!protocol.success) return { ok: false, problems: [`${protocolVariable} ${protocol.error.issues[0]!.message}`] };

  return {
    ok: true,
    settings: {
      on: true,
      protocol: protocol.data,
      endpoint: new URL(vars.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? vars.OTEL_EXPORTER_OTLP_ENDPOINT ?? DEFAULT_OTLP_ENDPOINT).origin,
      // The specification's default: a job's span follows the decision of the span that queued it.
      sampler: { name: vars.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on', ratio: vars.OTEL_TRACES_SAMPLER_ARG ?? 1 },
      batch: {
        scheduledDelayMillis: vars.OTEL_BSP_SCHEDULE_DELAY,
        exportTimeoutMillis: vars.OTEL_BSP_EXPORT_TIMEOUT,
        maxQueueSize: vars.OTEL_BSP_MAX_QUEUE_SIZE,
        maxExportBatchSize: vars.OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
      },
    },
  };
}
