import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Integration tests spawn processes and talk to real PostgreSQL and Redis.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: more parallel files only queue on them and turn waits into timeouts.
    maxWorkers: 2,
    // `npm test` runs the projects one after the other (`--project unit`, then `--project slow`), so
    // a broken rule fails in seconds, before the servers start.
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'slow',
          include: ['test/**/*.test.ts'],
          exclude: ['test/unit/**'],
          globalSetup: ['test/global-setup.ts'],
        },
      },
    ],
  },
});
