import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config/env.ts';
import { currentLogContext } from './log-context.ts';
import { createSecretScrubber, REDACTED } from './secret-scrubber.ts';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level: LogLevel;
  /** Configured secret values (tokens, signing secret, passwords) that must never be written. */
  secrets?: ReadonlyArray<string | undefined>;
  /** Where lines go; stdout when absent. */
  destination?: DestinationStream;
}

// Fields that hold secrets whatever their value looks like.
const SECRET_FIELDS = [
  'password',
  'token',
  'secret',
  'signingSecret',
  'authorization',
  'headers.authorization',
  'headers["x-slack-signature"]',
  'headers.cookie',
];

/**
 * JSON logs, one object a line, with the current Slack request or job id on every line and
 * secrets removed twice over: known fields by path, and every finished line by the scrubber.
 */
export function createLogger({ level, secrets = [], destination }: LoggerOptions): Logger {
  const scrub = createSecretScrubber(secrets);
  return pino(
    {
      name: 'latch',
      level,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: () => ({ ...currentLogContext() }),
      redact: {
        paths: SECRET_FIELDS.flatMap((field) => [field, `*.${field}`]),
        censor: REDACTED,
      },
      hooks: { streamWrite: scrub },
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
