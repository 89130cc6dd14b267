import { createSecretScrubber } from '../logging/secret-scrubber.ts';
import { CliError, EXIT, UsageError } from './cli-error.ts';

/**
 * Runs a command line's `main` and exits with its code (`latch`, and the development tools that
 * follow it). Whatever escapes is printed as lines on stderr, each starting with `program`, never
 * as a stack trace and never with a secret in it: an unexpected error may quote a connection
 * string. A usage mistake is followed by the usage.
 */
export function runCommandLine(program: string, usage: string, main: () => Promise<void>): void {
  const scrub = createSecretScrubber(Object.entries(process.env).filter(([name]) => /TOKEN|SECRET|PASSWORD/.test(name)).map(([, value]) => value));
  main().then(
    () => process.exit(EXIT.ok),
    (error: unknown) => {
      const known = error instanceof CliError;
      const message = known ? error.message : `unexpected error: ${error instanceof Error ? error.message : String(error)}`;
      for (const line of scrub(message).split('\n')) process.stderr.write(`${program}: ${line}\n`);
      if (error instanceof UsageError) process.stderr.write(`\n${usage}\n`);
      process.exit(known ? error.exitCode : EXIT.failure);
    },
  );
}
