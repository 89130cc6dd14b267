import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Which of Latch's few HTTP paths a request is for, from its request target alone. The query is
 * ignored (`/metrics?x=1` is `/metrics`) and nothing is decoded: a path is served only when it is
 * exactly one of ours, so `//healthz`, `/%` or a 10 kB path are simply not found, never a parse
 * error. Absolute-form targets (`GET http://host/healthz`), which HTTP/1.1 servers must accept,
 * are read for their path.
 */
export function requestPathOf(req: IncomingMessage): string | null {
  const target = req.url ?? '';
  if (target.startsWith('/')) return target.split(/[?#]/, 1)[0]!;
  if (/^https?:\/\//i.test(target)) {
    try {
      return new URL(target).pathname;
    } catch {
      return null;
    }
  }
  // `*` (OPTIONS *) or garbage: no path at all.
  return null;
}

/** A path's methods: HEAD is served wherever GET is (Node sends the headers without the body). */
export interface Route {
  methods: readonly string[];
  serve(req: IncomingMessage, res: ServerResponse): void | Promise<void>;
}

/** What to do with a request: serve it, or the 4xx it gets and (for 405) the methods to allow. */
export type Routing = { route: Route } | { status: 400 | 404 | 405; allow?: string };

export function routeRequest(method: string | undefined, path: string | null, routes: ReadonlyMap<string, Route>): Routing {
  if (path === null) return { status: 400 };
  const route = routes.get(path);
  if (!route) return { status: 404 };
  const allowed = route.methods.includes('GET') ? [...route.methods, 'HEAD'] : route.methods;
  if (!method || !allowed.includes(method)) return { status: 405, allow: allowed.join(', ') };
  return { route };
}
