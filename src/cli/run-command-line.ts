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
    () => exitOnceWritten(EXIT.ok),
    (error: unknown) => {
      const known = error instanceof CliError;
      const message = known ? error.message : `unexpected error: ${error instanceof Error ? error.message : String(error)}`;
      for (const line of scrub(message).split('\n')) process.stderr.write(`${program}: ${line}\n`);
      if (error instanceof UsageError) process.stderr.write(`\n${usage}\n`);
      exitOnceWritten(known ? error.exitCode : EXIT.failure);
    },
  );
}

/**
 * Exits once stdout and stderr have handed everything written to them to the operating system.
 * Writes to a pipe are asynchronous: process.exit drops what the pipe had not taken yet, so
 * `latch audit export | siem-forwarder` whose reader fell behind lost the export's end, with exit
 * code 0. A write's callback runs once it and every write before it are out (or failed: a reader
 * that went away does not hold the exit).
 */
function exitOnceWritten(code: number): void {
  const flushed = (stream: NodeJS.WriteStream) => new Promise<void>((resolve) => stream.write('', () => resolve()));
  void Promise.all([flushed(process.stdout), flushed(process.stderr)]).then(() => process.exit(code));
}
