import type { Logger } from '../logging/logger.ts';
import { withTimeout } from '../runtime/with-timeout.ts';
import { tracingSettingsFrom } from './tracing-settings.ts';

/** Tracing as a running process sees it: what is left to send goes at shutdown. */
export interface Tracing {
  /** Sends the spans still batched, for at most `boundMs`, and stops the exporter. Never throws. */
  shutdown(boundMs?: number): Promise<void>;
}

export type StartTracingResult = { ok: true; tracing: Tracing | null } | { ok: false; problems: string[] };

const SHUTDOWN_BOUND_MS = 5_000;

/**
 * Starts the OpenTelemetry SDK when the environment asks for traces (tracing-settings.ts), before
 * anything that makes spans is built; `tracing` is null when it does not, and the SDK is then never
 * imported: every span Latch makes is the API's no-op.
 */
export async function startTracing(env: Record<string, string | undefined>, role: string, logger: Logger): Promise<StartTracingResult> {
  const result = tracingSettingsFrom(env);
  if (!result.ok) return result;
  const { settings } = result;
  if (!settings.on) return { ok: true, tracing: null };
  const { startTraceSdk } = await import('./trace-sdk.ts');
  const sdk = await startTraceSdk(settings, { 'latch.process.role': role });
  logger.info({ endpoint: settings.endpoint, protocol: settings.protocol, sampler: settings.sampler.name }, `traces are exported over OTLP (${settings.protocol}) to ${settings.endpoint}`);
  return {
    ok: true,
    tracing: {
      shutdown: (boundMs = SHUTDOWN_BOUND_MS) =>
        withTimeout(
          sdk.shutdown().catch((error: unknown) => logger.warn({ err: error }, 'could not send the last traces')),
          boundMs,
          () => logger.warn(`the last traces were not sent within ${boundMs} ms; they are dropped`),
        ),
    },
  };
}
