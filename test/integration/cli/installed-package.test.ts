import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeSlack } from '../../../tools/sandbox/fake-slack.ts';
import type { LatchProcess } from '../../helpers/latch-process.ts';
import { LockedDownLatch } from '../../helpers/locked-down-latch.ts';
import { readOnlyRootProgram } from '../../helpers/read-only-root.ts';
import { REPOSITORY } from '../../helpers/product-files.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';
import { PROD_DB_POLICY_YAML } from '../../helpers/test-policy.ts';

const run = promisify(execFile);
// npm pack, then npm install -g, which fetches the production dependencies (from npm's cache when it can).
const INSTALLING = 240_000;
const BOT_TOKEN = 'xoxb-2222-3333-installedPackageBotToken';

const migrationCount = () => readdirSync(join(REPOSITORY, 'prisma/migrations'), { withFileTypes: true }).filter((entry) => entry.isDirectory()).length;

async function appliedMigrations(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ count: string }>('SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL');
    return Number(rows[0]!.count);
  } finally {
    await client.end();
  }
}

describe('latch installed with `npm install -g` from its packed tarball', () => {
  let folder: string;
  let prefix: string;
  let path: string;
  let policyFile: string;
  const databases: TestDatabase[] = [];
  const running: LatchProcess[] = [];

  beforeAll(async () => {
    // Readable by the unprivileged user the locked-down runs switch to.
    folder = mkdtempSync(join(tmpdir(), 'latch-installed-'));
    chmodSync(folder, 0o755);
    prefix = join(folder, 'prefix');
    // The global setup built dist/ from these sources; --ignore-scripts packs that build rather than
    // rebuilding dist/ under the feet of other test files' running processes.
    const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', folder], { cwd: REPOSITORY });
    const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
    await run('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(folder, filename)], { cwd: folder });
    path = [join(prefix, 'bin'), process.env.PATH].join(delimiter);
    policyFile = join(folder, 'policy.yaml');
    writeFileSync(policyFile, PROD_DB_POLICY_YAML);
  }, INSTALLING);
  afterEach(async () => {
    await Promise.all(running.splice(0).map((latch) => latch.kill()));
  });
  afterAll(async () => {
    await Promise.all(databases.map((database) => database.drop()));
    rmSync(folder, { recursive: true, force: true });
  });

  async function emptyDatabase(): Promise<TestDatabase> {
    const database = await createTestDatabase({ migrated: false });
    databases.push(database);
    return database;
  }

  it('carries the compiled code and client, and installs no TypeScript, tsx or Prisma CLI', () => {
    const installed = join(prefix, 'lib/node_modules/latch');
    expect(existsSync(join(installed, 'dist/cli/main.js'))).toBe(true);
    expect(existsSync(join(installed, 'dist/store/generated/client.js'))).toBe(true);
    for (const absent of ['src', 'tools', 'test', 'bench', 'scripts']) expect(existsSync(join(installed, absent)), absent).toBe(false);
    for (const tool of ['tsx', 'typescript', 'prisma', 'vitest']) expect(existsSync(join(installed, 'node_modules', tool)), tool).toBe(false);
  });

  it('puts `latch` on PATH: help, migrate and policy check run', async () => {
    const env = { PATH: path, HOME: process.env.HOME };
    const help = await run('latch', ['--help'], { env, cwd: folder });
    expect(help.stdout).toContain('Usage: latch [command]');

    const database = await emptyDatabase();
    await run('latch', ['migrate'], { env: { ...env, DATABASE_URL: database.url }, cwd: folder });
    expect(await appliedMigrations(database.url)).toBe(migrationCount());

    const checked = await run('latch', ['policy', 'check', policyFile], { env, cwd: folder });
    expect(checked.stdout).toContain('valid; 1 resource(s)');
    expect(checked.stderr).toBe('');
  });

  describe('as an unprivileged user on a read-only root file system, with an unwritable HOME and TMPDIR', () => {
    const latch = () => new LockedDownLatch(['latch'], path);

    it('can write nowhere: not /tmp (its TMPDIR), not its installation', async () => {
      const probes = ['/tmp/latch-probe', join(prefix, 'latch-probe'), join(folder, 'latch-probe')];
      const tried = await run('unshare', readOnlyRootProgram(['sh', '-c', 'for f in "$@"; do touch "$f" 2>&1; done; true', 'sh', ...probes]).args);
      expect(tried.stdout.match(/Read-only file system/g)).toHaveLength(probes.length);
    });

    it('shows its help', async () => {
      const help = await latch().run(['--help']);
      expect(help).toMatchObject({ code: 0, stderr: '' });
      expect(help.stdout).toContain('Usage: latch [command]');
    });

    it('migrates a database', async () => {
      const database = await emptyDatabase();
      const migrated = await latch().run(['migrate'], { DATABASE_URL: database.url });
      expect(migrated.stderr).toBe('');
      expect(migrated.code).toBe(0);
      expect(await appliedMigrations(database.url)).toBe(migrationCount());
    });

    it('serves as `latch web` and answers /healthz', async () => {
      const slack = await FakeSlack.start({ botToken: BOT_TOKEN });
      try {
        const database = await createTestDatabase();
        databases.push(database);
        const { latch: web, baseUrl } = await latch().start('web', {
          DATABASE_URL: database.url,
          SLACK_BOT_TOKEN: BOT_TOKEN,
          SLACK_SIGNING_SECRET: 'c8e1b0d3f5a7c9e2b4d6f8a0c1e3a5b7',
          SLACK_API_URL: slack.apiUrl,
          LATCH_POLICY_FILE: policyFile,
          TARGET_DB_URL: database.url,
        });
        running.push(web);
        expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);
        expect(web.stderr).toBe('');
      } finally {
        await Promise.all(running.splice(0).map((process) => process.kill()));
        await slack.close();
      }
    });
  });
});
