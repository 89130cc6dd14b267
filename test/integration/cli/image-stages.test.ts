import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeSlack } from '../../../tools/sandbox/fake-slack.ts';
import type { LatchProcess } from '../../helpers/latch-process.ts';
import { LockedDownLatch } from '../../helpers/locked-down-latch.ts';
import { REPOSITORY } from '../../helpers/product-files.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';

const run = promisify(execFile);
// Both install stages run `npm ci` (from npm's cache when it can) and the build stage compiles.
const BUILDING = 600_000;
const EXAMPLE_POLICY = join(REPOSITORY, 'policy.example.yaml');
const BOT_TOKEN = 'xoxb-2222-3333-imageStagesBotToken';

interface FinalStage {
  app: string;
  user: string;
  entrypoint: string[];
  cmd: string[];
}

/**
 * The production image without Docker (none runs here): scripts/build-image-stages.mjs carries out
 * the Dockerfile's stages, and its final stage's /app is started the way the image starts it
 * (ENTRYPOINT and CMD, from /app), unprivileged, on a read-only root file system.
 */
describe('the production image, its Dockerfile stages run without Docker', () => {
  let folder: string;
  let image: FinalStage;
  const databases: TestDatabase[] = [];
  const running: LatchProcess[] = [];

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), 'latch-image-'));
    chmodSync(folder, 0o755);
    const built = await run(process.execPath, [join(REPOSITORY, 'scripts/build-image-stages.mjs'), folder], { maxBuffer: 64 * 1024 * 1024 });
    image = JSON.parse(built.stdout) as FinalStage;
  }, BUILDING);
  afterEach(async () => {
    await Promise.all(running.splice(0).map((latch) => latch.kill()));
  });
  afterAll(async () => {
    await Promise.all(databases.map((database) => database.drop()));
    rmSync(folder, { recursive: true, force: true });
  });

  /** The image's entrypoint, run from its working directory, with `args` instead of its CMD. */
  const imageLatch = () => new LockedDownLatch(['sh', '-c', 'cd "$0" && exec "$@"', image.app, ...image.entrypoint]);

  it('holds the compiled product and its production dependencies, none of the sources, development tools, tests or benchmarks', () => {
    const top = readdirSync(image.app);
    for (const path of ['bin', 'dist', 'prisma', 'package.json', 'node_modules']) expect(top, path).toContain(path);
    for (const path of ['src', 'tools', 'test', 'bench', 'scripts']) expect(top, path).not.toContain(path);
    expect(existsSync(join(image.app, 'dist/store/generated/client.js'))).toBe(true);
    for (const tool of ['tsx', 'typescript', '@typescript/native', 'prisma', 'vitest', '@prisma/studio-core', '@electric-sql/pglite']) {
      expect(existsSync(join(image.app, 'node_modules', tool)), tool).toBe(false);
    }
    expect(image.user).not.toBe('root');
  });

  it('shows its help and validates the example policy, unprivileged on a read-only root file system', async () => {
    const help = await imageLatch().run(['help']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toContain('Usage: latch [command]');
    expect(help.stdout).not.toMatch(/^ +seed /m);
    const checked = await imageLatch().run(['policy', 'check', EXAMPLE_POLICY]);
    expect(checked.stdout).toContain('valid; 3 resource(s)');
    expect(checked.stderr).toBe('');
  });

  it('migrates a database and runs its default command (start), answering /healthz and /readyz', async () => {
    const database = await createTestDatabase({ migrated: false });
    databases.push(database);
    const migrated = await imageLatch().run(['migrate'], { DATABASE_URL: database.url });
    expect(migrated).toMatchObject({ code: 0, stderr: '' });

    const slack = await FakeSlack.start({ botToken: BOT_TOKEN });
    try {
      const { latch, baseUrl } = await imageLatch().start(image.cmd[0]!, {
        DATABASE_URL: database.url,
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_SIGNING_SECRET: 'd9f2c1e4a6b8d0f3c5e7a9b1d2f4a6c8',
        SLACK_API_URL: slack.apiUrl,
        LATCH_POLICY_FILE: EXAMPLE_POLICY,
        PROD_DB_ADMIN_URL: database.url,
        AWS_WEBHOOK_SECRET: 'image-stages-webhook-secret',
      });
      running.push(latch);
      expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);
      expect(await (await fetch(`${baseUrl}/readyz`)).json()).toMatchObject({ ready: true });
      expect(latch.stderr).toBe('');
    } finally {
      await Promise.all(running.splice(0).map((latch) => latch.kill()));
      await slack.close();
    }
  });
});
