import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../src/logging/logger.ts';
import { NO_SCHEMA_FILTER, openSchemaEngine } from './schema-engine.ts';

export const SCHEMA_PATH = fileURLToPath(new URL('../../prisma/schema.prisma', import.meta.url));

export interface SchemaDriftOptions {
  databaseUrl: string;
  logger: Logger;
  schemaPath?: string;
}

/**
 * The SQL that would turn the live database into what `schema.prisma` describes; empty when the
 * two match. Catches a migration that forgot part of the schema, and hand edits in production.
 * A development and CI tool (`npm run check:schema`): it needs Prisma's schema engine, which the
 * product does not ship.
 */
export async function findSchemaDrift(options: SchemaDriftOptions): Promise<string> {
  const schemaPath = options.schemaPath ?? SCHEMA_PATH;
  const files = [{ path: schemaPath, content: await readFile(schemaPath, 'utf8') }];
  const { engine, close } = await openSchemaEngine({
    databaseUrl: options.databaseUrl,
    schemaPath,
    schema: files[0]!.content,
    onLog: (line) => options.logger.debug({ component: 'schema-engine' }, line),
  });
  try {
    const { stdout } = await engine.diff({
      from: { tag: 'schemaDatasource', files, configDir: process.cwd() },
      to: { tag: 'schemaDatamodel', files },
      script: true,
      exitCode: null,
      filters: NO_SCHEMA_FILTER,
    });
    return isEmptyMigration(stdout ?? '') ? '' : (stdout ?? '').trim();
  } finally {
    close();
  }
}

function isEmptyMigration(script: string): boolean {
  return script
    .split('\n')
    .map((line) => line.trim())
    .every((line) => line === '' || line.startsWith('--'));
}
