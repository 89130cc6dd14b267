import { migrateEnvSchema } from '../../config/env.ts';
import { formatDuration } from '../../domain/duration.ts';
import { listEndedAccess, type EndedGrant } from '../../services/list-ended-access.ts';
import { listOpenAccess, type OpenGrant } from '../../services/list-open-access.ts';
import { createDatabase } from '../../store/database.ts';
import { CliError } from '../cli-error.ts';
import { readEnv } from '../read-env.ts';

/**
 * `latch access`: every grant not yet revoked, overdue revocations first, one line each. Exit 1
 * when a revocation is overdue, so cron or a monitoring check can page someone: that access
 * should no longer exist. With `--ended <duration>`, then the access that ended within it, each
 * saying whether the target was seen without it (verified gone) and how late that was.
 */
export async function accessListCommand(options: { endedWithinSeconds?: number } = {}, now: Date = new Date()): Promise<void> {
  const env = readEnv(migrateEnvSchema);
  const db = createDatabase({ databaseUrl: env.DATABASE_URL, poolSize: 2 });
  try {
    if (options.endedWithinSeconds !== undefined) await printEndedAccess(db, options.endedWithinSeconds, now);
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
  const what = `${grant.role}${grant.scope ? ` (${grant.scope})` : ''} on ${grant.resourceId}`;
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

async function printEndedAccess(db: ReturnType<typeof createDatabase>, withinSeconds: number, now: Date): Promise<void> {
  const ended = await listEndedAccess(db, new Date(now.getTime() - withinSeconds * 1000));
  const window = formatDuration(withinSeconds);
  for (const grant of ended) process.stdout.write(`${describeEnded(grant)}\n`);
  const verified = ended.filter((grant) => grant.verifiedRevokedAt !== null).length;
  process.stdout.write(
    ended.length === 0 ? `no access ended in the last ${window}\n` : `${ended.length} ended in the last ${window}: ${verified} verified gone, ${ended.length - verified} not verified\n`,
  );
}

function describeEnded(grant: EndedGrant): string {
  const who = `${grant.principal} (${grant.requesterId})`;
  const what = `${grant.role}${grant.scope ? ` (${grant.scope})` : ''} on ${grant.resourceId} (${grant.provider})`;
  const ids = `grant ${grant.grantId}, request ${grant.requestId}`;
  const reason = grant.revokeReason ? ` (${grant.revokeReason})` : '';
  if (grant.verifiedRevokedAt) {
    const late = grant.expiresAt ? `, ${lateness(grant.expiresAt, grant.verifiedRevokedAt)} after its scheduled end` : '';
    return `verified gone       ${who}: ${what}; ended${reason}, verified gone ${utcSeconds(grant.verifiedRevokedAt)}${late} [${ids}]`;
  }
  return `ended, unverified   ${who}: ${what}; ended${reason} ${utcSeconds(grant.revokedAt)}; not verified gone: the target could not be asked, or another grant still gives this access [${ids}]`;
}

/** Whole seconds from the scheduled end to the verified end; none when verified on time. */
function lateness(due: Date, at: Date): string {
  const seconds = Math.max(0, Math.round((at.getTime() - due.getTime()) / 1000));
  return seconds < 60 ? `${seconds}s` : formatDuration(seconds - (seconds % 60));
}

function utcSeconds(at: Date): string {
  return `${at.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function utc(at: Date): string {
  return `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function ago(at: Date, now: Date): string {
  const seconds = Math.max(60, Math.round((now.getTime() - at.getTime()) / 1000));
  return formatDuration(seconds - (seconds % 60));
}
