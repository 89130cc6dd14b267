import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/**
 * The address a call came from, for limits kept per address. Behind reverse proxies the TCP peer
 * is the nearest proxy, so every caller would share one limit; each proxy appends the address it
 * saw to X-Forwarded-For. With `trustedProxyHops` proxies in front of Latch, the entry that many
 * places from the right end was written by the outermost trusted proxy: the caller as it saw it.
 * Entries further left are whatever the caller sent, so they are never read. When the header has
 * fewer entries than there are proxies (a call that did not pass through them all, or a proxy set
 * up differently), or the entry is not an address, the TCP peer is used: such calls share a limit
 * rather than pick their own.
 */
export function clientAddress(req: Pick<IncomingMessage, 'headers' | 'socket'>, trustedProxyHops: number): string {
  const peer = req.socket.remoteAddress ?? 'unknown';
  if (trustedProxyHops <= 0) return peer;
  const header = req.headers['x-forwarded-for'];
  const forwarded = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  const entry = forwarded[forwarded.length - trustedProxyHops];
  return entry !== undefined && isIP(entry) ? entry : peer;
}
