import { inject } from 'vitest';
import { freePort } from './free-port.ts';
import { LatchProcess, type LatchExit } from './latch-process.ts';
import { readOnlyRootProgram, UNWRITABLE_HOME } from './read-only-root.ts';

/**
 * A `latch` from an installation other than this checkout (an installed tarball, the image's /app),
 * run by plain node as a Kubernetes pod runs it: unprivileged, on a read-only root file system,
 * with a HOME and TMPDIR it cannot write, and only the environment given.
 */
export class LockedDownLatch {
  /** `command` starts latch (e.g. `['latch']`, found on `path`, or `[node, '/app/bin/latch.js']`). */
  constructor(
    private readonly command: string[],
    private readonly path = process.env.PATH,
  ) {}

  /** Runs `latch <args>` to its end. */
  run(args: string[], env: Record<string, string | undefined> = {}): Promise<LatchExit> {
    return this.spawn(args, env).exited;
  }

  /** Starts `latch <command>` and resolves once it listens, with its base URL. */
  async start(command: string, env: Record<string, string | undefined>): Promise<{ latch: LatchProcess; baseUrl: string }> {
    const port = String(await freePort());
    const latch = this.spawn([command], { REDIS_URL: inject('redisUrl'), PORT: port, ...env });
    // Generous: other test files may be starting Latch processes on the same two cores.
    await latch.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('latch is listening'), 60_000);
    return { latch, baseUrl: `http://127.0.0.1:${port}` };
  }

  private spawn(args: string[], env: Record<string, string | undefined>): LatchProcess {
    return new LatchProcess(args, { ...UNWRITABLE_HOME, PATH: this.path, NODE_ENV: 'production', ...env }, { program: readOnlyRootProgram(this.command) });
  }
}
