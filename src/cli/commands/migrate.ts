import { migrateEnvSchema } from '../../config/env.ts';
import { createLogger } from '../../logging/logger.ts';
import { passwordOf } from '../../logging/secret-scrubber.ts';
import { migrateDatabase } from '../../store/migrate.ts';
import { MigrationError } from '../../store/migration-error.ts';
import { CliError } from '../cli-error.ts';
import { readEnv } from '../read-env.ts';

/** `latch migrate`: applies pending migrations, or says which migration stops it and how to resolve it. */
export async function migrateCommand(): Promise<void> {
  const env = readEnv(migrateEnvSchema);
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
}
