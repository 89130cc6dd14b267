import { migrateCommandEnvSchema } from '../../config/env.ts';
import { createLogger } from '../../logging/logger.ts';
import { passwordOf } from '../../logging/secret-scrubber.ts';
import { grantAppRole } from '../../store/app-role.ts';
import { migrateDatabase } from '../../store/migrate.ts';
import { findSchemaDrift } from '../../store/schema-drift.ts';
import { CliError } from '../cli-error.ts';
import { readEnv } from '../read-env.ts';

export interface MigrateCommandOptions {
  /** Only compare the database with schema.prisma; change nothing. */
  check: boolean;
}

/** `latch migrate`: applies pending migrations; `--check` reports drift from schema.prisma. */
export async function migrateCommand({ check }: MigrateCommandOptions): Promise<void> {
  const env = readEnv(migrateCommandEnvSchema);
  const logger = createLogger({ level: env.LOG_LEVEL, secrets: [passwordOf(env.DATABASE_URL)] });
  if (check) {
    const drift = await findSchemaDrift({ databaseUrl: env.DATABASE_URL, logger });
    if (drift) {
      throw new CliError(`the database differs from prisma/schema.prisma; this SQL would reconcile it:\n${drift}`);
    }
    logger.info('the database matches prisma/schema.prisma');
    return;
  }
  const { applied } = await migrateDatabase({ databaseUrl: env.DATABASE_URL, logger });
  if (applied.length === 0) logger.info('the database is up to date; no migration applied');
  else logger.info({ applied }, `applied ${applied.length} migration(s)`);
  if (env.LATCH_APP_ROLE) {
    await grantAppRole(env.DATABASE_URL, env.LATCH_APP_ROLE).catch((error: unknown) => {
      throw new CliError(`cannot grant LATCH_APP_ROLE ${env.LATCH_APP_ROLE} the privileges of prisma/app-role.sql: ${(error as Error).message}`);
    });
    logger.info({ role: env.LATCH_APP_ROLE }, 'granted the app role the privileges of prisma/app-role.sql');
  }
}
