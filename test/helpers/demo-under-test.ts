import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { dropDemoDatabases } from '../../tools/demo/demo-databases.ts';
import { demoNames, type DemoNames } from '../../tools/demo/demo-names.ts';
import { startDemoStack, type DemoStack } from '../../tools/demo/demo-stack.ts';
import { freePort } from './free-port.ts';
import { latchNodeArgs } from './latch-process.ts';
import { PrivateRedis } from './private-redis.ts';

export interface DemoUnderTest {
  stack: DemoStack;
  names: DemoNames;
  /** Everything `say` printed while starting, for a failure message. */
  said: string[];
  stop(): Promise<void>;
}

/**
 * The demo as `npm run demo` wires it (tools/demo's own functions), on the test PostgreSQL server
 * with names of its own (roles are cluster-wide), a Redis of its own, and free ports. With
 * `shortGrants`, Latch starts through the test entry and grants for seconds (see LatchProcess).
 */
export async function startDemoUnderTest(options: { digestSchedule?: string; shortGrants?: boolean } = {}): Promise<DemoUnderTest> {
  const names = demoNames(`_t${randomBytes(3).toString('hex')}`);
  const adminUrl = inject('adminDatabaseUrl');
  const redis = await PrivateRedis.start();
  const workDir = mkdtempSync(join(tmpdir(), 'latch-demo-test-'));
  const said: string[] = [];
  const cleanup = async () => {
    await redis.stop();
    await dropDemoDatabases(adminUrl, names).catch(() => undefined);
    rmSync(workDir, { recursive: true, force: true });
  };
  try {
    const stack = await startDemoStack({
      adminUrl,
      redisUrl: redis.url,
      names,
      sandboxHost: '127.0.0.1',
      sandboxPort: 0,
      latchPort: await freePort(),
      workDir,
      ...(options.digestSchedule ? { digestSchedule: options.digestSchedule } : {}),
      ...(options.shortGrants ? { latchNodeArgs: latchNodeArgs({ shortGrants: true }) } : {}),
      say: (line) => said.push(line),
    });
    return {
      stack,
      names,
      said,
      stop: async () => {
        await stack.stop();
        await cleanup();
      },
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
