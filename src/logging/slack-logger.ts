import { LogLevel, type Logger as SlackLogger } from '@slack/bolt';
import type { Logger } from './logger.ts';

/**
 * Bolt and the Web API client log through Slack's own Logger interface; this sends those lines
 * through pino, so they are JSON, carry the request id, and pass the secret scrubber.
 */
export function slackLoggerFrom(logger: Logger): SlackLogger {
  const child = logger.child({ component: 'slack' });
  const text = (parts: unknown[]) => parts.map((p) => (typeof p === 'string' ? p : safeJson(p))).join(' ');
  // Bolt logs at debug on every request (its ack, its middleware): a line below the level is not
  // worth building, and some of what Bolt passes is serialised to JSON to build it.
  const at = (level: 'debug' | 'info' | 'warn' | 'error') => (...msg: unknown[]) => {
    if (child.isLevelEnabled(level)) child[level](text(msg));
  };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    // The level is Latch's LOG_LEVEL; Bolt may not change it.
    setLevel: () => {},
    getLevel: () => toSlackLevel(child.level),
    setName: () => {},
  };
}

function toSlackLevel(level: string): LogLevel {
  if (level === 'debug' || level === 'trace') return LogLevel.DEBUG;
  if (level === 'info') return LogLevel.INFO;
  if (level === 'warn') return LogLevel.WARN;
  return LogLevel.ERROR;
}

function safeJson(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}
