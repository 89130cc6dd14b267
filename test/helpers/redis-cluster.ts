import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './free-port.ts';

const run = promisify(execFile);

interface ClusterNode {
  port: number;
  server: ChildProcess;
  exited: Promise<void>;
}

/**
 * A real Redis Cluster of one test file's own: three masters (no replicas) on free loopback
 * ports, each slot served, without persistence, in a temporary folder removed at stop. What a
 * managed cluster (ElastiCache, Memorystore) looks like to a client: keys spread over nodes by
 * slot, multi-key commands refused with CROSSSLOT unless every key hashes to one slot.
 */
export class RedisCluster {
  private constructor(
    private readonly nodes: ClusterNode[],
    private readonly folder: string,
    private readonly password: string | undefined,
  ) {}

  /** Three masters unless told; with `password`, every node requires it (requirepass and masterauth). */
  static async start(options: { size?: number; password?: string } = {}): Promise<RedisCluster> {
    const folder = mkdtempSync(join(tmpdir(), 'latch-redis-cluster-'));
    const nodes: ClusterNode[] = [];
    const { password } = options;
    const cluster = new RedisCluster(nodes, folder, password);
    try {
      for (let index = 0; index < (options.size ?? 3); index++) nodes.push(await startNode(folder, index, password));
      await Promise.all(nodes.map((node) => waitForPing(node.port, password)));
      // Fails when a port was taken between freePort() and redis-server binding it: stop() cleans up.
      const auth = password ? ['-a', password, '--no-auth-warning'] : [];
      await run('redis-cli', [...auth, '--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
      await cluster.waitUntilServing();
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /** `redis://127.0.0.1:P1,redis://127.0.0.1:P2,…`: every node, as REDIS_URL lists cluster seed nodes. */
  get url(): string {
    const auth = this.password ? `:${encodeURIComponent(this.password)}@` : '';
    return this.nodes.map((node) => `redis://${auth}127.0.0.1:${node.port}`).join(',');
  }

  get ports(): number[] {
    return this.nodes.map((node) => node.port);
  }

  /** A plain (non-cluster) client of one node: for FLUSHALL, KEYS and CLUSTER commands on that node alone. */
  node(port: number): Redis {
    const client = new Redis({ host: '127.0.0.1', port, password: this.password, maxRetriesPerRequest: 1 });
    client.on('error', () => undefined);
    return client;
  }

  /** The port of the master that serves `key`'s slot. */
  async portServing(key: string): Promise<number> {
    const client = this.node(this.nodes[0]!.port);
    try {
      const slot = Number(await client.call('CLUSTER', 'KEYSLOT', key));
      const ranges = (await client.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, ...unknown[]], ...unknown[]]>;
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      if (!range) throw new Error(`no node serves slot ${slot}`);
      return Number(range[2][1]);
    } finally {
      client.disconnect();
    }
  }

  /** Every key of every node, with the node that holds it. */
  async allKeys(): Promise<Array<{ port: number; key: string }>> {
    const found: Array<{ port: number; key: string }> = [];
    for (const { port } of this.nodes) {
      const client = this.node(port);
      try {
        for (const key of await client.keys('*')) found.push({ port, key });
      } finally {
        client.disconnect();
      }
    }
    return found;
  }

  /** ZCARD of `key`, asked of the node that serves it (a BullMQ queue's `completed` set, say). */
  async sortedSetSize(key: string): Promise<number> {
    const client = this.node(await this.portServing(key));
    try {
      return await client.zcard(key);
    } finally {
      client.disconnect();
    }
  }

  /** The slot a key hashes to (CLUSTER KEYSLOT, as Redis computes it). */
  async slotOf(key: string): Promise<number> {
    const client = this.node(this.nodes[0]!.port);
    try {
      return Number(await client.call('CLUSTER', 'KEYSLOT', key));
    } finally {
      client.disconnect();
    }
  }

  /** FLUSHALL on one node: what a restart without persistence does to the slots it serves. */
  async flushNode(port: number): Promise<void> {
    const client = this.node(port);
    try {
      await client.flushall();
    } finally {
      client.disconnect();
    }
  }

  /** Kills one node, as a crashed host would: the cluster marks it failed after the node timeout (15 s). */
  async killNode(port: number): Promise<void> {
    const node = this.nodes.find((candidate) => candidate.port === port);
    if (!node) throw new Error(`no node on port ${port}`);
    node.server.kill('SIGKILL');
    await node.exited;
  }

  async stop(): Promise<void> {
    for (const node of this.nodes) node.server.kill('SIGKILL');
    await Promise.all(this.nodes.map((node) => node.exited));
    rmSync(this.folder, { recursive: true, force: true });
  }

  /** Until every node says cluster_state:ok: slots are assigned and the nodes have agreed on it. */
  private async waitUntilServing(): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const states = await Promise.all(
        this.nodes.map(async ({ port }) => {
          const client = this.node(port);
          try {
            return String(await client.call('CLUSTER', 'INFO'));
          } catch {
            return '';
          } finally {
            client.disconnect();
          }
        }),
      );
      if (states.every((info) => info.includes('cluster_state:ok'))) return;
      if (Date.now() > deadline) throw new Error(`the Redis Cluster did not reach cluster_state:ok within 30 s:\n${states.join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function startNode(folder: string, index: number, password: string | undefined): Promise<ClusterNode> {
  const port = await freePort();
  // The cluster bus defaults to port + 10000, which may be taken or beyond 65535: name one.
  const busPort = await freePort();
  const server = spawn(
    'redis-server',
    [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--cluster-enabled', 'yes',
      '--cluster-port', String(busPort),
      '--cluster-config-file', join(folder, `nodes-${index}.conf`),
      // Long enough that, after killNode, the other nodes keep serving their slots while a test looks.
      '--cluster-node-timeout', '15000',
      '--dir', folder,
      '--save', '',
      '--appendonly', 'no',
      '--maxmemory-policy', 'noeviction',
      ...(password ? ['--requirepass', password, '--masterauth', password] : []),
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  return { port, server, exited };
}

async function waitForPing(port: number, password: string | undefined): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const client = new Redis({ host: '127.0.0.1', port, password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      client.disconnect();
    }
  }
}
