import { alertChannelFor, findResource, type Policy } from '../domain/policy.ts';
import type { Database } from '../store/database.ts';

/** A grant whose revocation the security channel hears about. */
export interface OverdueGrantView {
  grantId: string;
  requestId: string;
  requesterId: string;
  resourceName: string;
  role: string;
  principal: string;
  dueAt: Date | null;
  attempts: number;
  lastError: string | null;
}

/**
 * A grant as its overdue alert shows it, read fresh, and where that alert goes: the security
 * channel the policy names for its resource, else the request's approval channel (null: neither).
 */
export async function loadOverdueGrant(db: Database, policy: Policy, grantId: string): Promise<{ view: OverdueGrantView; channel: string | null } | null> {
  const grant = await db.grant.findUnique({ where: { id: grantId }, include: { request: true } });
  if (!grant) return null;
  const resource = findResource(policy, grant.resourceId);
  return {
    channel: alertChannelFor(policy, resource) ?? grant.request.approvalChannelId,
    view: {
      grantId: grant.id,
      requestId: grant.requestId,
      requesterId: grant.request.requesterSlackId,
      resourceName: resource?.name ?? grant.resourceId,
      role: grant.role,
      principal: grant.principal,
      dueAt: grant.expiresAt,
      attempts: grant.revokeAttempts,
      lastError: grant.lastError,
    },
  };
}
