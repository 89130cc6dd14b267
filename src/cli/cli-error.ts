/**
 * A failure the person running `latch` can fix: printed as one line on stderr, without a stack
 * trace, and the process exits with `exitCode`.
 */
export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode: number = EXIT.failure) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** A mistake in the command line itself: printed, then followed by the usage. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** Exit codes, after sysexits.h where one fits, so supervisors can tell a bad config from a crash. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 64,
  unavailable: 69,
  config: 78,
} as const;
