import { migrateEnvSchema } from '../../config/env.ts';
import { formatDuration } from '../../domain/duration.ts';
import { listOpenAccess, type OpenGrant } from '../../services/list-open-access.ts';
import { createDatabase } from '../../store/database.ts';
import { CliError } from '../cli-error.ts';
import { readEnv } from '../read-env.ts';

/**
 * `latch access`: every grant not yet revoked, overdue revocations first, one line each. Exit 1
 * when a revocation is overdue, so cron or a monitoring check can page someone: that access
 * should no longer exist.
 */
export async function accessListCommand(now: Date = new Date()): Promise<void> {
  const env = readEnv(migrateEnvSchema);
  const db = createDatabase({ databaseUrl: env.DATABASE_URL, poolSize: 2 });
  try {
    const open = await listOpenAccess(db, now);
    for (const grant of open) process.stdout.write(`${describe(grant, now)}\n`);
    const overdue = open.filter((grant) => grant.status === 'revocation_overdue').length;
    const active = open.filter((grant) => grant.status === 'active').length;
    const granting = open.length - overdue - active;
    if (open.length === 0) process.stdout.write('no access granted by Latch is open\n');
    else process.stdout.write(`${active} active, ${granting} being granted, ${overdue} revocation(s) overdue\n`);
    if (overdue > 0) throw new CliError(`${overdue} revocation(s) overdue: Latch keeps retrying; see the lines marked REVOCATION OVERDUE`);
  } finally {
    await db.$disconnect();
  }
}

function describe(grant: OpenGrant, now: Date): string {
  const who = `${grant.principal} (${grant.requesterId})`;
  const what = `${grant.role} on ${grant.resourceId}`;
  const ids = `grant ${grant.grantId}, request ${grant.requestId}`;
  switch (grant.status) {
    case 'revocation_overdue': {
      const late = grant.expiresAt ? `due ${utc(grant.expiresAt)}, ${ago(grant.expiresAt, now)} late` : 'due';
      const error = grant.lastError ? `; last error: ${grant.lastError}` : '';
      return `REVOCATION OVERDUE  ${who}: ${what}; ${late}; ${grant.revokeAttempts} attempt(s)${error} [${ids}]`;
    }
    case 'active':
      return `active              ${who}: ${what} until ${utc(grant.expiresAt!)} [${ids}]`;
    case 'granting':
      return `being granted       ${who}: ${what} [${ids}]`;
  }
}

function utc(at: Date): string {
  return `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function ago(at: Date, now: Date): string {
  const seconds = Math.max(60, Math.round((now.getTime() - at.getTime()) / 1000));
  return formatDuration(seconds - (seconds % 60));
}
