import { migrateCommandEnvSchema } from '../../config/env.ts';
import { createLogger } from '../../logging/logger.ts';
import { passwordOf } from '../../logging/secret-scrubber.ts';
import { grantAppRole } from '../../store/app-role.ts';
import { migrateDatabase } from '../../store/migrate.ts';
import { MigrationError } from '../../store/migration-error.ts';
import { CliError } from '../cli-error.ts';
import { readEnv } from '../read-env.ts';

/** `latch migrate`: applies pending migrations, or says which migration stops it and how to resolve it; with LATCH_APP_ROLE, then grants that role what prisma/app-role.sql lists. */
export async function migrateCommand(): Promise<void> {
  const env = readEnv(migrateCommandEnvSchema);
  const logger = createLogger({ level: env.LOG_LEVEL, secrets: [passwordOf(env.DATABASE_URL)] });
  let applied: string[];
  try {
    ({ applied } = await migrateDatabase({ databaseUrl: env.DATABASE_URL, logger }));
  } catch (error) {
    if (error instanceof MigrationError) throw new CliError(error.message);
    throw error;
  }
  if (applied.length === 0) logger.info('the database is up to date; no migration applied');
  else logger.info({ applied }, `applied ${applied.length} migration(s)`);
  if (env.LATCH_APP_ROLE) {
    await grantAppRole(env.DATABASE_URL, env.LATCH_APP_ROLE).catch((error: unknown) => {
      throw new CliError(`cannot grant LATCH_APP_ROLE ${env.LATCH_APP_ROLE} the privileges of prisma/app-role.sql: ${(error as Error).message}`);
    });
    logger.info({ role: env.LATCH_APP_ROLE }, 'granted the app role the privileges of prisma/app-role.sql');
  }
}
