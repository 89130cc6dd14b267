import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const LATCH_BIN = fileURLToPath(new URL('../../bin/latch.js', import.meta.url));
const REPOSITORY = fileURLToPath(new URL('../../', import.meta.url));

/** What runs: `latch` itself unless told otherwise. */
interface Program {
  file: string;
  args: string[];
}
const LATCH: Program = { file: process.execPath, args: [LATCH_BIN] };

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

  constructor(args: string[], env: Record<string, string | undefined>, program: Program = LATCH) {
    // Nothing of the test runner's own environment leaks in, so each test states what Latch sees.
    this.child = spawn(program.file, [...program.args, ...args], {
      cwd: REPOSITORY,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (chunk) => (this.stdout += chunk));
    this.child.stderr!.on('data', (chunk) => (this.stderr += chunk));
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
export function runLatch(args: string[], env: Record<string, string | undefined>): Promise<LatchExit> {
  return new LatchProcess(args, env).exited;
}

/** Runs the seeding tool to its end, as a developer does: `npm run seed -- <args>` (tools/seed). */
export function runSeed(args: string[], env: Record<string, string | undefined>): Promise<LatchExit> {
  return new LatchProcess(args, env, { file: 'npm', args: ['run', '--silent', 'seed', '--'] }).exited;
}
