import { constants } from 'node:os';
import type { Logger } from '../logging/logger.ts';
import { withTimeout } from './with-timeout.ts';

/**
 * One part of a running process as shutdown sees it: the HTTP server, a BullMQ worker, a
 * connection. Every step is optional; a connection only has `close`.
 */
export interface ShutdownPart {
  /** Named in the log when a step fails. */
  name: string;
  /** Takes no new work (stops listening, stops fetching jobs) without waiting for the work in hand. */
  stopTaking?(): void;
  /** Resolves once the work in hand is done. */
  finished?(): Promise<void>;
  /** What is still running, for the log ("2 grant jobs"), or null when idle. */
  busyWith?(): string | null;
  /** The bound has passed: let go of the work still in hand so another process retries it. */
  abandon?(): Promise<unknown>;
  /** Releases connections; runs once every part has finished or let go, the last part added first. */
  close?(): Promise<unknown>;
}

export interface GracefulShutdownOptions {
  logger: Logger;
  /** How long the work in hand may take to finish; what is still running then is left to be retried. */
  timeoutMs: number;
  /** How long closing the connections may take after that, before the process exits regardless. */
  closeTimeoutMs?: number;
  /** How often the log says what shutdown is still waiting for. */
  progressEveryMs?: number;
  /** process.exit, unless a test says otherwise. */
  exit?: (code: number) => void;
}

const DEFAULT_CLOSE_TIMEOUT_MS = 3_000;
const DEFAULT_PROGRESS_EVERY_MS = 2_000;
const HARD_STOP_MARGIN_MS = 1_000;

/**
 * Stops a process without losing or half-writing anything, in three steps:
 * 1. every part stops taking new work: the HTTP server stops accepting (requests already received
 *    are answered), the workers stop fetching jobs;
 * 2. the work in hand finishes, for at most `timeoutMs`: HTTP requests, Bolt listeners still
 *    working after their ack, running jobs. A job still running then is let go: BullMQ hands it to
 *    another worker (or to this one after a restart) once its lock expires, and since every job
 *    reads the truth from PostgreSQL and every state change is one transaction, it is redone
 *    cleanly, never half-written;
 * 3. connections close (Redis, PostgreSQL, the policy's providers), the last opened first.
 * A second SIGTERM or SIGINT exits at once, for the operator who does not want to wait.
 */
export class GracefulShutdown {
  private readonly parts: ShutdownPart[] = [];
  private stopping: Promise<boolean> | null = null;
  private readonly exit: (code: number) => void;

  constructor(private readonly options: GracefulShutdownOptions) {
    this.exit = options.exit ?? ((code) => process.exit(code));
  }

  add(part: ShutdownPart): void {
    this.parts.push(part);
  }

  /** What is still running, part by part, for the log. */
  busy(): string[] {
    return this.parts.map((part) => part.busyWith?.() ?? null).filter((busy): busy is string => busy !== null);
  }

  /**
   * Runs the three steps once (a second call gets the first one's outcome): true when every part
   * finished its work in time, false when some was left to be retried.
   */
  run(reason: string): Promise<boolean> {
    this.stopping ??= this.stop(reason);
    return this.stopping;
  }

  /**
   * Runs the shutdown on the first SIGTERM or SIGINT and resolves with its outcome; a second
   * signal while it runs exits at once with 128 + the signal's number, as a shell reports it.
   */
  onSignals(): Promise<boolean> {
    return new Promise((resolve) => {
      const second = (signal: NodeJS.Signals) => {
        this.options.logger.error({ signal, left: this.busy() }, `second ${signal}: exiting at once; work still running is left to be retried`);
        this.exit(128 + (constants.signals[signal] ?? 0));
      };
      const first = (signal: NodeJS.Signals) => {
        process.off('SIGTERM', first);
        process.off('SIGINT', first);
        process.on('SIGTERM', second);
        process.on('SIGINT', second);
        void this.run(signal).then(resolve);
      };
      process.on('SIGTERM', first);
      process.on('SIGINT', first);
    });
  }

  private async stop(reason: string): Promise<boolean> {
    const { logger, timeoutMs } = this.options;
    const closeTimeoutMs = this.options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    const startedAt = Date.now();
    // Whatever hangs, the process ends (a moment after the closes' own bound, which logs which one).
    const hardStopMs = timeoutMs + closeTimeoutMs + HARD_STOP_MARGIN_MS;
    const hardStop = setTimeout(() => {
      logger.error({ left: this.busy() }, `shutdown did not end within ${hardStopMs / 1000} s; exiting`);
      this.exit(1);
    }, hardStopMs);
    hardStop.unref();
    try {
      for (const part of this.parts) this.attempt(part, 'stop taking work', () => part.stopTaking?.());
      logger.info({ reason, timeoutMs, waitingFor: this.busy() }, `shutting down (${reason}): taking no new work, finishing the work in hand`);
      const finished = await this.finishWork(timeoutMs);
      if (!finished) {
        const left = this.busy();
        logger.error({ left, timeoutMs }, `shutdown bound of ${timeoutMs / 1000} s reached: leaving ${left.join(', ') || 'the work in hand'} to be retried`);
        for (const part of this.parts) if (part.abandon) await this.attemptAsync(part, 'let go of its work', () => part.abandon!());
      }
      const closeBy = Date.now() + closeTimeoutMs;
      for (const part of [...this.parts].reverse()) {
        if (!part.close) continue;
        const close = part.close.bind(part);
        await withTimeout(
          this.attemptAsync(part, 'close', close),
          Math.max(0, closeBy - Date.now()),
          () => logger.warn({ part: part.name }, `${part.name} did not close in time`),
        );
      }
      logger.info({ durationMs: Date.now() - startedAt, complete: finished }, finished ? 'shutdown complete' : 'shutdown complete; some work was left to be retried');
      return finished;
    } finally {
      clearTimeout(hardStop);
    }
  }

  /** Waits for every part's work, saying every few seconds what is left; false when the bound passed. */
  private async finishWork(timeoutMs: number): Promise<boolean> {
    const { logger } = this.options;
    const deadline = Date.now() + timeoutMs;
    const progress = setInterval(() => {
      const busy = this.busy();
      if (busy.length > 0) logger.info({ waitingFor: busy, remainingMs: deadline - Date.now() }, `shutdown is waiting for ${busy.join(', ')}`);
    }, this.options.progressEveryMs ?? DEFAULT_PROGRESS_EVERY_MS);
    progress.unref();
    try {
      const all = Promise.all(this.parts.map((part) => (part.finished ? this.attemptAsync(part, 'finish its work', () => part.finished!()) : undefined)));
      return await withTimeout(
        all.then(() => true),
        timeoutMs,
        () => false,
      );
    } finally {
      clearInterval(progress);
    }
  }

  private attempt(part: ShutdownPart, step: string, run: () => void): void {
    try {
      run();
    } catch (error) {
      this.options.logger.warn({ err: error, part: part.name }, `${part.name} could not ${step}`);
    }
  }

  private async attemptAsync(part: ShutdownPart, step: string, run: () => Promise<unknown>): Promise<void> {
    try {
      await run();
    } catch (error) {
      this.options.logger.warn({ err: error, part: part.name }, `${part.name} could not ${step}`);
    }
  }
}

/** Work that stops taking more when asked to finish: BullMQ's Worker.close(), a server's close(). */
export interface FinishingWork {
  /** Starts finishing (at the first call) and resolves once done; the same promise every call. */
  finish(): Promise<void>;
  busyWith(): string | null;
  abandon?(): Promise<unknown>;
  close?(): Promise<unknown>;
}

/** The part for such work: it stops taking work by starting to finish. */
export function finishingPart(name: string, work: FinishingWork): ShutdownPart {
  return {
    name,
    // Rejections are reported by finished(), which shutdown awaits.
    stopTaking: () => void work.finish().catch(() => undefined),
    finished: () => work.finish(),
    busyWith: () => work.busyWith(),
    ...(work.abandon ? { abandon: () => work.abandon!() } : {}),
    ...(work.close ? { close: () => work.close!() } : {}),
  };
}
