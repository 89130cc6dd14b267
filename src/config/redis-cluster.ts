/**
 * What a Redis Cluster asks of Latch's configuration. REDIS_URL names one Redis, or with
 * REDIS_CLUSTER=true one or more of the cluster's nodes (seeds, separated by commas), from which
 * the client learns the rest. Every key of a BullMQ queue must hash to one slot, or BullMQ's Lua
 * scripts, which touch several keys at once, fail with CROSSSLOT: the queue prefix must hold a
 * hash tag (`{latch}`), the part of a key Redis hashes when there is one.
 */

/** The URLs in REDIS_URL: a comma starts a new one only before a scheme, so a password may hold one. */
export function splitRedisUrls(value: string): string[] {
  return value
    .split(/,(?=\s*rediss?:\/\/)/i)
    .map((part) => part.trim())
    .filter((part) => part !== '');
}

export interface RedisClusterSeeds {
  nodes: Array<{ host: string; port: number }>;
  username: string | undefined;
  password: string | undefined;
  tls: boolean;
}

/**
 * The seed nodes and the credentials every node of the cluster shares. The client connects to
 * nodes it discovers by address only, so the user, password and TLS must be the same for all:
 * redisClusterUrlProblem refuses seeds that disagree before this is used.
 */
export function redisClusterSeedsOf(redisUrl: string): RedisClusterSeeds {
  const urls = splitRedisUrls(redisUrl).map((url) => new URL(url));
  const first = urls[0];
  if (!first) throw new Error('REDIS_URL names no Redis node');
  return {
    nodes: urls.map((url) => ({ host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port ? Number(url.port) : 6379 })),
    username: first.username ? decodeURIComponent(first.username) : undefined,
    password: first.password ? decodeURIComponent(first.password) : undefined,
    tls: first.protocol === 'rediss:',
  };
}

/**
 * Why REDIS_URL cannot name this Redis (Cluster), as the end of a line that starts with the
 * variable's name, or undefined when it can. Never quotes the URL: it may hold a password.
 */
export function redisClusterUrlProblem(redisUrl: string, cluster: boolean): string | undefined {
  const urls = splitRedisUrls(redisUrl).map((url) => new URL(url));
  if (!cluster) {
    return urls.length > 1 ? `names ${urls.length} Redis nodes: set REDIS_CLUSTER=true if they are the seed nodes of a Redis Cluster, or name one Redis` : undefined;
  }
  const shared = (url: URL) => `${url.protocol} ${url.username} ${url.password}`;
  if (new Set(urls.map(shared)).size > 1) {
    return 'names Redis Cluster seed nodes with different schemes, users or passwords: a cluster has one, and every node it reports is reached with it';
  }
  const database = urls.map((url) => url.pathname.replace(/^\//, '')).find((path) => path !== '' && path !== '0');
  if (database !== undefined) return `names database ${database}, but a Redis Cluster only has database 0: remove /${database} from the URL`;
  return undefined;
}

/**
 * The hash tag Redis hashes for keys that start with `prefix`: what lies between the first `{`
 * and the first `}` after it, when that is not empty. Undefined when there is none, and then the
 * keys of one queue spread over many slots.
 */
export function hashTagOf(prefix: string): string | undefined {
  const open = prefix.indexOf('{');
  if (open < 0) return undefined;
  const close = prefix.indexOf('}', open + 1);
  if (close < 0 || close === open + 1) return undefined;
  return prefix.slice(open + 1, close);
}

/** The prefix to suggest when `prefix` has no hash tag: itself in braces, when that makes one. */
export function hashTaggedPrefixFor(prefix: string): string {
  return /[{}]/.test(prefix) ? '{latch}' : `{${prefix}}`;
}
