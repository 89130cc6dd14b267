import type { AccessProvider } from '../providers/provider.ts';
import { appendAuditEvents, type AuditEntry } from '../store/audit-log.ts';
import { inTransaction } from '../store/transaction.ts';
import { oneLine, type AccessContext } from './access-context.ts';
import { publishCommitted, type StandingAccess } from './latch-events.ts';
import { sameAccessRoles } from './same-access.ts';

export interface StandingAccessScan {
  /** Holders found without a grant for the first time: the security channel is told. */
  found: StandingAccess[];
  /** Findings the scan no longer sees (the access was removed, or a grant now covers it). */
  resolved: StandingAccess[];
  /** Still open from earlier scans. */
  stillOpen: number;
  /** Roles whose holders could not be listed, one line each; their findings are left as they were. */
  errors: string[];
}

/**
 * Zero standing privileges, checked: asks every provider that can list who holds each role of the
 * policy, and records anyone holding one without a grant covering it — access given outside
 * Latch, or a revocation that silently failed. A grant covers its principal from the moment its
 * row exists until it is revoked, and grants are read before and after the listing, so a grant or
 * a revocation in progress during the scan is not reported. `permanentHolders` are left out.
 * Each new finding and each resolution is audited, then published for the security channel.
 */
export async function scanStandingAccess(ctx: AccessContext): Promise<StandingAccessScan> {
  const result: StandingAccessScan = { found: [], resolved: [], stillOpen: 0, errors: [] };
  for (const resource of ctx.policy().resources) {
    const provider = ctx.providerFor(resource.id);
    if (!provider?.list) continue;
    for (const role of resource.roles) {
      const coveredBefore = await coveredPrincipals(ctx, resource.id, role.id);
      const listed = await provider.list(role.id).catch((error: unknown) => ({ ok: false as const, failure: { message: (error as Error).message } }));
      if (!listed.ok) {
        result.errors.push(`${resource.id} ${role.id}: ${oneLine(listed.failure.message)}`);
        continue;
      }
      const coveredAfter = await coveredPrincipals(ctx, resource.id, role.id);
      const permitted = new Set(resource.permanentHolders);
      const standing = new Set(listed.value.filter((principal) => !coveredBefore.has(principal) && !coveredAfter.has(principal) && !permitted.has(principal)));
      const recorded = await record(ctx, resource.id, role.id, standing);
      result.found.push(...recorded.found);
      result.resolved.push(...recorded.resolved);
      result.stillOpen += recorded.stillOpen;
    }
    if (provider.listScopedAccess) {
      const recorded = await scanScopedAccess(ctx, resource.id, provider.listScopedAccess.bind(provider));
      if (typeof recorded === 'string') {
        result.errors.push(recorded);
        continue;
      }
      result.found.push(...recorded.found);
      result.resolved.push(...recorded.resolved);
      result.stillOpen += recorded.stillOpen;
    }
  }
  if (result.found.length > 0) ctx.logger.warn({ found: result.found }, 'standing access found: role holders without a grant');
  for (const error of result.errors) ctx.logger.warn({ error }, 'standing-access scan could not list a role');
  if (result.found.length > 0 || result.resolved.length > 0) {
    await publishCommitted(ctx, { type: 'standing_access.changed', found: result.found, resolved: result.resolved });
  }
  return result;
}

/** The role a finding of scoped access is filed under: it is a request's, not one of the policy's roles. */
export const SCOPED_ACCESS_ROLE = 'scoped access';

/**
 * What scoped grants made on the resource's target (a request's own role, its table grants, its
 * scope rows) that no active grant of that request covers: one finding per login and request,
 * named `<login> (request <id>)`. Active grants are read before and after the listing, as above.
 */
async function scanScopedAccess(ctx: AccessContext, resourceId: string, listScopedAccess: NonNullable<AccessProvider['listScopedAccess']>) {
  // Before the listing, every active grant (their ids are not known yet); after it, those of the
  // requests it found: a revocation that finishes while the target is read is covered by the first.
  const activeBefore = await ctx.db.grant.findMany({ where: { revokedAt: null }, select: { requestId: true } });
  const listed = await listScopedAccess().catch((error: unknown) => ({ ok: false as const, failure: { message: (error as Error).message } }));
  if (!listed.ok) return `${resourceId} scoped access: ${oneLine(listed.failure.message)}`;
  const requestIds = [...new Set(listed.value.map((found) => found.requestId))];
  const activeAfter = await ctx.db.grant.findMany({ where: { requestId: { in: requestIds }, revokedAt: null }, select: { requestId: true } });
  const covered = new Set([...activeBefore, ...activeAfter].map((grant) => grant.requestId));
  const uncovered = listed.value.filter((found) => !covered.has(found.requestId));
  if (uncovered.length > 0) ctx.logger.warn({ resourceId, uncovered }, 'scoped access on the target that no active grant covers');
  return record(ctx, resourceId, SCOPED_ACCESS_ROLE, new Set(uncovered.map((found) => `${found.login ?? '(no member)'} (request ${found.requestId})`)));
}

async function coveredPrincipals(ctx: AccessContext, resourceId: string, role: string): Promise<Set<string>> {
  // A grant through another resource or role that gives the same thing (one Slack user group behind
  // two resources) covers its holder here too.
  const grants = await ctx.db.grant.findMany({ where: { OR: sameAccessRoles(ctx, resourceId, role), revokedAt: null }, select: { principal: true } });
  return new Set(grants.map((grant) => grant.principal));
}

async function record(ctx: AccessContext, resourceId: string, role: string, standing: Set<string>) {
  const now = ctx.clock.now();
  return inTransaction(ctx.db, async (tx) => {
    const open = await tx.standingAccessFinding.findMany({ where: { resolvedAt: null, resourceId, role } });
    const openByPrincipal = new Map(open.map((finding) => [finding.principal, finding]));
    const found = [...standing].filter((principal) => !openByPrincipal.has(principal));
    const resolved = open.filter((finding) => !standing.has(finding.principal));
    const seen = open.filter((finding) => standing.has(finding.principal));
    if (seen.length > 0) await tx.standingAccessFinding.updateMany({ where: { id: { in: seen.map((finding) => finding.id) } }, data: { lastSeenAt: now } });
    if (found.length > 0) {
      await tx.standingAccessFinding.createMany({ data: found.map((principal) => ({ resourceId, role, principal, firstSeenAt: now, lastSeenAt: now })) });
    }
    if (resolved.length > 0) await tx.standingAccessFinding.updateMany({ where: { id: { in: resolved.map((finding) => finding.id) } }, data: { resolvedAt: now } });
    const events: AuditEntry[] = [
      ...found.map((principal) => ({ actor: 'latch', action: 'standing_access.found', requestId: null, at: now, data: { resourceId, role, principal } })),
      ...resolved.map((finding) => ({
        actor: 'latch',
        action: 'standing_access.resolved',
        requestId: null,
        at: now,
        data: { resourceId, role, principal: finding.principal, firstSeenAt: finding.firstSeenAt.toISOString() },
      })),
    ];
    await appendAuditEvents(tx, events);
    return {
      found: found.map((principal) => ({ resourceId, role, principal })),
      resolved: resolved.map((finding) => ({ resourceId, role, principal: finding.principal })),
      stillOpen: seen.length,
    };
  });
}
