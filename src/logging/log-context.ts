import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Ids that every log line written while handling one Slack request or one job carries, without
 * passing a logger through every call: the logger's mixin reads them from here.
 */
export interface LogContext {
  /** One incoming HTTP request from Slack. */
  requestId?: string;
  /** One BullMQ job run. */
  jobId?: string;
  /** The AccessRequest being worked on, once known. */
  accessRequestId?: string;
}

const storage = new AsyncLocalStorage<LogContext>();

/** Runs `work` with `context` added to whatever context is already in force. */
export function withLogContext<T>(context: LogContext, work: () => T): T {
  return storage.run({ ...storage.getStore(), ...context }, work);
}

export function currentLogContext(): LogContext {
  return storage.getStore() ?? {};
}

/** Runs `work` outside any context: a timer it sets belongs to no request, whichever one set it. */
export function withoutLogContext<T>(work: () => T): T {
  return storage.exit(work);
}
