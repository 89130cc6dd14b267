import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import type { Database } from '../../src/store/database.ts';

/**
 * A database with every migration applied, prepared once per run by the global setup. Named per
 * run, so two test runs against the same server (two terminals, two agents) never drop each
 * other's template.
 */
export function templateDatabaseName(runId: string): string {
  return `latch_test_template_${runId}`;
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export function withDatabaseName(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/**
 * A database of its own for one test file: a copy of the migrated template, or empty when
 * `migrated` is false (for tests of migrations themselves).
 */
export async function createTestDatabase({ migrated = true } = {}): Promise<TestDatabase> {
  const adminUrl = inject('adminDatabaseUrl');
  const name = `latch_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name}${migrated ? ` TEMPLATE ${inject('templateDatabase')}` : ''}`);
  return {
    name,
    url: withDatabaseName(adminUrl, name),
    drop: () => adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/** Runs one statement as the test server's superuser (CREATE or DROP DATABASE cannot run in a transaction). */
export async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Empties the request tables between tests. audit_events (and decision_evidence) refuse TRUNCATE (it is append-only), so
 * this does what only a superuser can: skip triggers, for this one transaction only.
 */
export async function emptyRequestTables(db: Database): Promise<void> {
  await db.$transaction([
    db.$executeRawUnsafe('SET LOCAL session_replication_role = replica'),
    db.$executeRawUnsafe('TRUNCATE audit_events, decision_evidence, approvals, grants, access_requests'),
  ]);
}
