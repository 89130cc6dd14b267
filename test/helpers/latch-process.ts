import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const LATCH_BIN = fileURLToPath(new URL('../../bin/latch.js', import.meta.url));
const REPOSITORY = fileURLToPath(new URL('../../', import.meta.url));
const LATCH_FOR_TESTS = fileURLToPath(new URL('./latch-for-tests.ts', import.meta.url));

export interface LatchProcessOptions {
  /**
   * Run test/helpers/latch-for-tests.ts instead of bin/latch.js: the same CLI, granting for
   * durations from a second, so a test need not wait out a minute for an expiry.
   */
  shortGrants?: boolean;
  /** What runs instead of `latch` (the seeding tool's npm script). */
  program?: { file: string; args: string[] };
}

/** The Node flags `latch` runs with: those on bin/latch.js's first line, so a test runs it as installed. */
const LATCH_NODE_FLAGS = /^#!\/usr\/bin\/env -S node(.*)$/m.exec(readFileSync(LATCH_BIN, 'utf8').split('\n', 1)[0]!)?.[1]!.trim().split(/\s+/).filter(Boolean) ?? [];

/** The arguments to `node` that start `latch` (before latch's own arguments). */
export function latchNodeArgs(options: LatchProcessOptions = {}): string[] {
  return [...LATCH_NODE_FLAGS, options.shortGrants ? LATCH_FOR_TESTS : LATCH_BIN];
}

export interface LatchExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** One `latch` process, as an operator would run it, with only the environment given. */
export class LatchProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<LatchExit>;
  private readonly child: ChildProcess;

  constructor(args: string[], env: Record<string, string | undefined>, options: LatchProcessOptions = {}) {
    const program = options.program ?? { file: process.execPath, args: latchNodeArgs(options) };
    // Nothing of the test runner's own environment leaks in, so each test states what Latch sees.
    this.child = spawn(program.file, [...program.args, ...args], {
      cwd: REPOSITORY,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Decoded as a stream: a character whose bytes a pipe splits between two chunks stays whole.
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) =>
      this.child.on('close', (code, signal) => resolve({ code, signal, stdout: this.stdout, stderr: this.stderr })),
    );
  }

  /** The process id (for /proc/<pid>/status: the benchmarks read its peak memory there). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** stdout parsed as JSON log lines; throws on a line that is not JSON. */
  logLines(): Array<Record<string, unknown>> {
    return this.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        try {
          return JSON.parse(line) as Record<string, unknown>;
        } catch {
          throw new Error(`not a JSON log line: ${line}`);
        }
      });
  }

  /** Resolves with the first log line that matches, or fails if the process exits first. */
  async waitForLog(predicate: (line: Record<string, unknown>) => boolean, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    while (Date.now() < deadline) {
      const line = this.logLines().find(predicate);
      if (line) return line;
      if (exited) throw new Error(`latch exited before the expected log line.\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`no matching log line within ${timeoutMs} ms.\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<LatchExit> {
    this.child.kill(signal);
    return this.exited;
  }
}

/** Runs `latch` to its end and returns how it ended. */
export function runLatch(args: string[], env: Record<string, string | undefined>, options: LatchProcessOptions = {}): Promise<LatchExit> {
  return new LatchProcess(args, env, options).exited;
}

/** Runs the seeding tool to its end, as a developer does: `npm run seed -- <args>` (tools/seed). */
export function runSeed(args: string[], env: Record<string, string | undefined>): Promise<LatchExit> {
  return new LatchProcess(args, env, { program: { file: 'npm', args: ['run', '--silent', 'seed', '--'] } }).exited;
}

/** Runs the schema drift check to its end, as a developer or CI does: `npm run check:schema` (tools/schema-engine). */
export function runSchemaCheck(env: Record<string, string | undefined>): Promise<LatchExit> {
  return new LatchProcess([], env, { program: { file: 'npm', args: ['run', '--silent', 'check:schema'] } }).exited;
}
