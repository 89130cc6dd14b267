import type { IncomingMessage } from 'node:http';
import { isIP, isIPv6 } from 'node:net';

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

/**
 * What a limit per address counts `address` as: an IPv4 address as itself (also when written as
 * IPv6, `::ffff:a.b.c.d`, as a dual-stack socket reports it), an IPv6 address by its /64. A host
 * on IPv6 is given a whole /64 (2^64 addresses) and can send each call from another of them: counted
 * one by one, it would never be limited. Anything else (`unknown`) is counted as it is.
 */
export function addressLimitKey(address: string): string {
  if (!isIPv6(address)) return address;
  const groups = ipv6Groups(address);
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
  }
  return `${groups.slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of an address isIPv6 accepts (a zone, `%eth0`, is left out). */
function ipv6Groups(address: string): number[] {
  let text = address.split('%', 1)[0]!;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const [a, b, c, d] = tail.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = text.split('::', 2) as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const left = parse(head);
  if (rest === undefined) return left;
  const right = parse(rest);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}
