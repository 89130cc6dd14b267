import type { IncomingMessage } from 'node:http';

const authenticated = new WeakSet<IncomingMessage>();

/**
 * Says that `req`'s sender proved who they are (Slack's signature, a bearer token that checked
 * out). The access log counts a 4xx of a request never marked so among the refusals anyone can
 * send (RefusalLog) instead of giving each its own line: a 4xx after this is about what a known
 * caller did, and keeps its line.
 */
export function markAuthenticated(req: IncomingMessage): void {
  authenticated.add(req);
}

export function wasAuthenticated(req: IncomingMessage): boolean {
  return authenticated.has(req);
}
