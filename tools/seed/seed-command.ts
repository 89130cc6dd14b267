import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { CliError, EXIT } from '../../src/cli/cli-error.ts';
import { readEnv } from '../../src/cli/read-env.ts';
import { migrateEnvSchema, serviceEnvFields } from '../../src/config/env.ts';
import { loadPolicyFile } from '../../src/config/policy-file.ts';
import { REQUEST_STATES } from '../../src/domain/request-state.ts';
import { createLogger } from '../../src/logging/logger.ts';
import { PostgresAccessLocks } from '../../src/store/access-lock.ts';
import { createDatabase } from '../../src/store/database.ts';
import { findPendingMigrations } from '../../src/store/migration-status.ts';
import { UnseedablePolicyError } from './plans.ts';
import { SEED_CONCURRENCY, seedHistory } from './seed-history.ts';

const seedEnvSchema = migrateEnvSchema.extend(serviceEnvFields.pick({ LATCH_POLICY_FILE: true }).shape);

export interface SeedCommandOptions {
  requests: number;
  days: number;
  /** Null: a random seed, printed so the history can be written again. */
  seed: string | null;
  /** The end of the history; now when null. */
  until: Date | null;
  force: boolean;
}

/**
 * `npm run seed -- --requests N [--days D] [--seed S] [--until time] [--force]` (tools/seed/main.ts):
 * fills a database with a made-up but realistic history of access (see seed-history.ts), for demos, digests
 * and benchmarks. Refuses a database that already holds requests unless --force: a seeded
 * history mixed into a real one would be indistinguishable from it.
 */
export async function seedCommand(options: SeedCommandOptions, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const env = readEnv(seedEnvSchema);
  const loaded = await loadPolicyFile(env.LATCH_POLICY_FILE);
  if (!loaded.ok) {
    throw new CliError([`the policy file ${env.LATCH_POLICY_FILE} has ${loaded.problems.length} problem(s):`, ...loaded.problems.map((problem) => `  ${problem}`)].join('\n'), EXIT.config);
  }
  const db = createDatabase({ databaseUrl: env.DATABASE_URL, poolSize: SEED_CONCURRENCY });
  const locks = new PostgresAccessLocks({ databaseUrl: env.DATABASE_URL, poolSize: SEED_CONCURRENCY });
  try {
    const pending = await findPendingMigrations(db);
    if (pending.length > 0) throw new CliError(`the database is missing ${pending.length} migration(s) (${pending.join(', ')}): run \`latch migrate\` first`);
    const existing = await db.accessRequest.count();
    if (existing > 0 && !options.force) {
      throw new CliError(
        `the database already holds ${existing} access request(s); a seeded history mixed into them could not be told apart. ` +
          'Seed an empty database, or pass --force to add to it anyway.',
      );
    }
    const seed = options.seed ?? String(randomInt(1, 1_000_000_000));
    const until = options.until ?? new Date();
    // The use cases log every step; a seed of thousands of requests would bury its summary.
    const logger = createLogger({ level: process.env.LOG_LEVEL ? env.LOG_LEVEL : 'silent', destination: process.stderr });
    const startedAt = performance.now();
    const result = await seedHistory(
      { db, policy: loaded.policy, locks, logger },
      {
        requests: options.requests,
        days: options.days,
        seed,
        until,
        onProgress: options.requests >= 5_000 ? (made) => process.stderr.write(`seed: ${made} of ${options.requests} requests seeded\n`) : undefined,
      },
    ).catch((error: unknown) => {
      throw error instanceof UnseedablePolicyError ? new CliError(`cannot seed with ${env.LATCH_POLICY_FILE}: ${error.message}`, EXIT.config) : error;
    });
    const seconds = (performance.now() - startedAt) / 1000;

    const lines = [
      `seeded ${result.requests} access requests from ${result.from.toISOString()} to ${result.until.toISOString()} (${options.days} days, ${result.people} people, seed ${seed})`,
      'requests by state at the end:',
      ...REQUEST_STATES.filter((state) => result.byState[state]).map((state) => `  ${state.padEnd(10)} ${String(result.byState[state]).padStart(8)}`),
      `approved by policy: ${result.autoApproved}; break-glass: ${result.breakGlass}`,
      `audit events written: ${result.auditEvents}`,
      `elapsed: ${seconds.toFixed(1)} s, ${(result.requests / Math.max(seconds, 0.001)).toFixed(1)} requests/s`,
      `\`npm run seed -- --seed ${seed}\` writes the same requests, people and outcomes again${options.until ? '' : `; add --until ${result.until.toISOString()} for the same times too`}`,
    ];
    for (const skipped of result.skipped) lines.push(`resource ${skipped.resourceId} not seeded: ${skipped.why}`);
    out.write(`${lines.join('\n')}\n`);
    if (result.refused.length > 0) {
      process.stderr.write(`seed: warning: ${result.refused.length} seeded step(s) were refused by Latch, the first:\n`);
      for (const line of result.refused.slice(0, 5)) process.stderr.write(`seed:   ${line}\n`);
    }
  } finally {
    await locks.close().catch(() => undefined);
    await db.$disconnect();
  }
}
