import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const LATCH_BIN = fileURLToPath(new URL('../../bin/latch.js', import.meta.url));
const READY_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 20_000;

export interface LatchExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * `latch <args>` as an operator runs it, in a process of its own with only the environment given,
 * its JSON log lines going to `logFile` so the terminal keeps the demo's own lines.
 */
export class LatchChild {
  readonly exited: Promise<LatchExit>;
  private readonly child: ChildProcess;
  private hasExited = false;

  constructor(
    args: string[],
    env: Record<string, string>,
    readonly logFile: string,
    /** The arguments to `node` that start Latch, before its own. */
    nodeArgs: string[] = [LATCH_BIN],
  ) {
    const log = openSync(logFile, 'a');
    this.child = spawn(process.execPath, [...nodeArgs, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/', ...env },
      stdio: ['ignore', log, log],
      // Its own process group: Ctrl-C reaches only the demo, which stops Latch first and the
      // services last, in that order.
      detached: true,
    });
    closeSync(log);
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        this.hasExited = true;
        resolve({ code, signal });
      }),
    );
    // Should the demo itself die on an error, Latch goes with it.
    process.once('exit', () => {
      if (!this.hasExited) this.child.kill('SIGKILL');
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Resolves once `GET /readyz` answers 200: the policy loaded, PostgreSQL migrated, Redis reachable. */
  async waitUntilReady(port: number, abort?: AbortSignal): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      abort?.throwIfAborted();
      if (this.hasExited) throw new Error(`latch exited before it was ready; the end of ${this.logFile}:\n${this.logTail()}`);
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(5_000) }).then(
        (response) => response.ok,
        () => false,
      );
      if (ready) return;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`latch was not ready within ${READY_TIMEOUT_MS / 1000} s; the end of ${this.logFile}:\n${this.logTail()}`);
  }

  /** SIGTERM (Latch finishes what it is doing), then SIGKILL if it takes too long. */
  async stop(): Promise<LatchExit> {
    if (!this.hasExited) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  logTail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}
