import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerContextExclusions, imageCopies, REPOSITORY } from '../../helpers/product-files.ts';

const run = promisify(execFile);
const EXAMPLE_POLICY = join(REPOSITORY, 'policy.example.yaml');
// Loading every module of the product through tsx, uncached, on a busy 2-core machine.
const LOADING = 90_000;

/**
 * The production image's /app without Docker (none runs here): exactly what the Dockerfile's final
 * stage copies, laid out the same way. What it copies from the build context is copied from the
 * repository, leaving out what .dockerignore keeps out of any folder; what it copies from an
 * earlier stage is what that stage makes, which `npm ci` made here too (node_modules, linked, and
 * the generated Prisma client).
 */
function assembleImageFiles(): string {
  const app = mkdtempSync(join(tmpdir(), 'latch-image-'));
  const { fromContext, fromStages } = imageCopies();
  const keptOut = dockerContextExclusions();
  for (const source of fromContext) {
    cpSync(join(REPOSITORY, source), join(app, source), { recursive: true, filter: (path) => !keptOut(relative(REPOSITORY, path)) });
  }
  for (const destination of fromStages) {
    const inApp = join(app, destination);
    if (basename(destination) === 'node_modules') symlinkSync(join(REPOSITORY, 'node_modules'), inApp, 'dir');
    else cpSync(join(REPOSITORY, destination), inApp, { recursive: true });
  }
  return app;
}

describe('latch from the production image files alone', () => {
  let app: string;

  beforeAll(() => {
    app = assembleImageFiles();
  });
  afterAll(() => rmSync(app, { recursive: true, force: true }));

  it('holds the product and none of the development tools, tests or benchmarks', () => {
    const top = readdirSync(app);
    for (const path of ['bin', 'src', 'prisma', 'package.json', 'node_modules']) expect(top, path).toContain(path);
    for (const path of ['tools', 'test', 'bench', 'scripts']) expect(top, path).not.toContain(path);
    expect(existsSync(join(app, 'src/store/generated/client.ts'))).toBe(true);
  });

  it(
    'runs: `latch help` loads every command, and `latch policy check` validates the example policy',
    async () => {
      const options = { cwd: app, env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production' } };
      const help = await run(process.execPath, ['bin/latch.js', 'help'], options);
      expect(help.stdout).toContain('Usage: latch [command]');
      expect(help.stdout).not.toMatch(/^ +seed /m);
      const checked = await run(process.execPath, ['bin/latch.js', 'policy', 'check', EXAMPLE_POLICY], options);
      expect(checked.stdout).toContain('valid; 3 resource(s)');
      expect(checked.stderr).toBe('');
    },
    LOADING,
  );
});
