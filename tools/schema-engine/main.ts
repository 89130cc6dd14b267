import { parseArgs } from 'node:util';
import { migrateEnvSchema } from '../../src/config/env.ts';
import { CliError, UsageError } from '../../src/cli/cli-error.ts';
import { readEnv } from '../../src/cli/read-env.ts';
import { runCommandLine } from '../../src/cli/run-command-line.ts';
import { createLogger } from '../../src/logging/logger.ts';
import { passwordOf } from '../../src/logging/secret-scrubber.ts';
import { findSchemaDrift } from './schema-drift.ts';

// A development and CI tool, not part of the `latch` command: it needs Prisma's schema engine,
// which the production image does not carry.
const USAGE = `Usage: npm run check:schema

Compares the database at DATABASE_URL with prisma/schema.prisma; exits 1, printing the SQL that
would reconcile them, when they differ (a migration that forgot part of the schema, or a hand edit).`;

async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h', default: false } } });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const env = readEnv(migrateEnvSchema);
  const logger = createLogger({ level: env.LOG_LEVEL, secrets: [passwordOf(env.DATABASE_URL)] });
  const drift = await findSchemaDrift({ databaseUrl: env.DATABASE_URL, logger });
  if (drift) throw new CliError(`the database differs from prisma/schema.prisma; this SQL would reconcile it:\n${drift}`);
  logger.info('the database matches prisma/schema.prisma');
}

runCommandLine('check:schema', USAGE, () => main(process.argv.slice(2)));
