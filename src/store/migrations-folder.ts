import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { migrationChecksum } from './migration-checksum.ts';
import { MigrationError } from './migration-error.ts';

/** One migration of the folder: `<name>/migration.sql`. */
export interface MigrationFile {
  /** The folder's name (`20261124143000_init`), which is also its name in `_prisma_migrations`. */
  name: string;
  script: string;
  /** What Prisma stores for this script in `_prisma_migrations.checksum`. */
  checksum: string;
}

/**
 * Reads a migrations folder in Prisma's own format (`<name>/migration.sql` beside
 * `migration_lock.toml`), in name order, which is the order they apply in. The format is Prisma's
 * so that a user with Prisma's native engine can still run `prisma migrate deploy` on the same
 * folder.
 */
export async function readMigrationsFolder(folder: string): Promise<MigrationFile[]> {
  const baseDir = resolve(folder);
  await refuseOtherProvider(baseDir);
  const entries = await readdir(baseDir, { withFileTypes: true });
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const script = await readFile(join(baseDir, name, 'migration.sql'), 'utf8').catch((error: NodeJS.ErrnoException) => {
        throw new MigrationError(`migration ${name} has no readable migration.sql (${error.code ?? error.message})`);
      });
      return { name, script, checksum: migrationChecksum(script) };
    }),
  );
}

/**
 * Prisma refuses a folder whose lock file names another database (its error P3019): its
 * migrations are written in another SQL dialect.
 */
async function refuseOtherProvider(baseDir: string): Promise<void> {
  const lockfile = await readFile(join(baseDir, 'migration_lock.toml'), 'utf8').catch(() => null);
  const provider = lockfile?.match(/^\s*provider\s*=\s*"([^"]*)"/m)?.[1];
  if (provider !== undefined && provider !== 'postgresql') {
    throw new MigrationError(`the migrations in ${baseDir} are for "${provider}" (migration_lock.toml), not PostgreSQL`);
  }
}
