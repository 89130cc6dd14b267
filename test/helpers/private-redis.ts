import { spawn, type ChildProcess } from 'node:child_process';
import { Redis, type RedisOptions } from 'ioredis';
import { freePort } from './free-port.ts';

/**
 * A redis-server of one test's own, on a free loopback port, without persistence: a test may
 * FLUSHALL it or stop it without touching the Redis the other test files share.
 */
export class PrivateRedis {
  private constructor(
    readonly url: string,
    private readonly server: ChildProcess,
    private readonly exited: Promise<void>,
  ) {}

  /** On a free port, or on `port` (the port of one stopped before, to bring "the same" Redis back). */
  static async start(port?: number): Promise<PrivateRedis> {
    port ??= await freePort();
    const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
    const redis = new PrivateRedis(`redis://127.0.0.1:${port}`, server, exited);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const client = redis.client({ lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      try {
        await client.connect();
        await client.ping();
        return redis;
      } catch (error) {
        if (Date.now() > deadline) {
          server.kill('SIGKILL');
          throw new Error(`redis-server on port ${port} did not answer: ${(error as Error).message}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      } finally {
        client.disconnect();
      }
    }
  }

  /** The redis-server's process id (the benchmarks read its CPU time in /proc). */
  get pid(): number | undefined {
    return this.server.pid;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  client(options: RedisOptions = {}): Redis {
    const client = new Redis(this.url, options);
    client.on('error', () => undefined);
    return client;
  }

  /** Everything this Redis holds is gone, as after FLUSHALL or a restart without persistence. */
  async flushAll(): Promise<void> {
    const client = this.client();
    try {
      await client.flushall();
    } finally {
      client.disconnect();
    }
  }

  async stop(): Promise<void> {
    this.server.kill('SIGKILL');
    await this.exited;
  }
}
