import type { Logger } from './logger.ts';
import { withoutLogContext } from './log-context.ts';

/** How long a kind of refusal is counted after the one logged, before a line says how many more came. */
export const REFUSAL_LOG_WINDOW_MS = 60_000;

type Level = 'info' | 'warn';

interface OpenWindow {
  level: Level;
  message: string;
  openedAtMs: number;
  more: number;
  timer: NodeJS.Timeout;
}

/** Every RefusalLog with a count not yet said, so that shutdown can say them all (flushAll). */
const withOpenWindows = new Set<RefusalLog>();

/**
 * Log lines for refusals of requests nobody has authenticated, which anyone who reaches Latch's
 * port can send as fast as they like: one line each would let them fill disks and log pipelines
 * (paid per GB) and bury every other line. Per kind of refusal, the first in a window is logged as
 * it comes, in full; the rest are only counted, and when the window ends one line says how many
 * more there were. A flood of one kind costs two lines a window, whatever its rate.
 *
 * A kind is a name the code chooses from a fixed few (never text from the request: each open
 * kind holds a count and a timer). Only logs are summarised: audit events, and lines about what
 * an authenticated caller did, are never given to this.
 */
export class RefusalLog {
  private readonly windows = new Map<string, OpenWindow>();

  constructor(
    private readonly logger: Logger,
    private readonly windowMs = REFUSAL_LOG_WINDOW_MS,
  ) {}

  /** A refusal: logged at `level` now if it is the first of its kind in the window, otherwise counted. */
  refused(kind: string, fields: Record<string, unknown>, message: string, level: Level = 'warn'): void {
    const open = this.windows.get(kind);
    if (open) {
      open.more++;
      return;
    }
    this.logger[level](fields, message);
    // Set outside the request's log context: the count belongs to no one request.
    const timer = withoutLogContext(() => setTimeout(() => this.close(kind), this.windowMs));
    // A process with nothing else to do is not kept up for a count.
    timer.unref();
    this.windows.set(kind, { level, message, openedAtMs: Date.now(), more: 0, timer });
    withOpenWindows.add(this);
  }

  /** Says now what every RefusalLog of the process counted and has not said: at shutdown, what is left of a minute. */
  static flushAll(): void {
    for (const log of [...withOpenWindows]) log.flush();
  }

  /** Says now how many of each kind were counted, and ends every window. */
  flush(): void {
    for (const kind of [...this.windows.keys()]) this.close(kind);
  }

  private close(kind: string): void {
    const window = this.windows.get(kind);
    if (!window) return;
    clearTimeout(window.timer);
    this.windows.delete(kind);
    if (this.windows.size === 0) withOpenWindows.delete(this);
    if (window.more === 0) return;
    const seconds = Math.max(1, Math.round((Date.now() - window.openedAtMs) / 1000));
    this.logger[window.level]({ refusal: kind, more: window.more, seconds }, `${window.more} more like this in the last ${seconds} s: ${window.message}`);
  }
}
