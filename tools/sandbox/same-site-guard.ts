import type { IncomingMessage } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';

/**
 * Keeps other web pages out of the sandbox. Its API acts as any person in the workspace, and a
 * developer's browser reaches it on loopback: without these checks any page they open could drive
 * it, by a cross-site form POST or a `text/plain` fetch (neither needs a CORS preflight), or by
 * DNS rebinding (a name the attacker controls, re-pointed at 127.0.0.1, makes the page
 * "same-origin" with the sandbox while its Host header still names the attacker's domain).
 *
 * - Host must name the sandbox as it listens: its address or name and its port.
 * - Origin, when the browser sends one, must be the sandbox's own (`http://` + that Host).
 * - A request that changes something must say `application/json`, which a page of another origin
 *   can send only after a preflight the sandbox never answers.
 */

export interface Refusal {
  status: 403 | 415;
  message: string;
}

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '::1'];
const WILDCARDS = new Set(['0.0.0.0', '::', '']);
const SAFE_METHODS = new Set(['GET', 'HEAD']);

/**
 * The host names (without port) the sandbox answers to, listening on `listenHost`: loopback when it
 * listens there, the machine's own names and addresses when it listens on every interface.
 */
export function sandboxHostNames(listenHost: string, extra: readonly string[] = []): Set<string> {
  const names = new Set<string>(extra.map(normalise));
  const host = normalise(listenHost);
  if (WILDCARDS.has(host)) {
    for (const name of LOOPBACK_NAMES) names.add(name);
    names.add(normalise(hostname()));
    for (const addresses of Object.values(networkInterfaces())) for (const address of addresses ?? []) names.add(normalise(address.address));
  } else {
    names.add(host);
    if (LOOPBACK_NAMES.includes(host) || host.startsWith('127.')) for (const name of LOOPBACK_NAMES) names.add(name);
  }
  return names;
}

export class SameSiteGuard {
  constructor(
    private readonly hostNames: ReadonlySet<string>,
    private readonly port: number,
  ) {}

  /**
   * Why `req` is refused, or null when it may go on. `needsJson` is false for the parts that serve
   * Latch (the Web API and response URLs take form bodies, as Slack's do).
   */
  refusal(req: IncomingMessage, needsJson: boolean): Refusal | null {
    const host = req.headers.host;
    if (!host || !this.isOwnHost(host)) {
      return { status: 403, message: 'refused: the Host header does not name this sandbox (another name it is reached by must be allowed: allowedHosts, LATCH_DEMO_ALLOWED_HOSTS)' };
    }
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${host.toLowerCase()}`) return { status: 403, message: 'refused: requests from another origin are not accepted' };
    if (needsJson && !SAFE_METHODS.has(req.method ?? 'GET') && mediaType(req.headers['content-type']) !== 'application/json') {
      return { status: 415, message: 'refused: send the body as application/json' };
    }
    return null;
  }

  private isOwnHost(header: string): boolean {
    const parsed = parseHost(header);
    return parsed !== null && parsed.port === this.port && this.hostNames.has(parsed.name);
  }
}

/** `name:port`, `[v6]:port` or a bare name (port 80), as a Host header carries it; null if malformed. */
function parseHost(header: string): { name: string; port: number } | null {
  const match = /^(?:\[([0-9a-f:.]+)\]|([^:\[\]]+))(?::(\d{1,5}))?$/i.exec(header.trim());
  if (!match) return null;
  return { name: normalise(match[1] ?? match[2]!), port: match[3] === undefined ? 80 : Number(match[3]) };
}

function normalise(name: string): string {
  return name.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}
