import { formatScope, readStoredScope } from '../domain/scope-rules.ts';
import type { Database } from '../store/database.ts';

/**
 * Every grant Latch has not revoked yet, for operators: what access exists because of Latch right
 * now, and above all which revocations are overdue. An overdue revocation is access that should
 * no longer exist; it stays on this list, whatever the retries do, until it is revoked.
 */

export type OpenGrantStatus = 'revocation_overdue' | 'active' | 'granting';

/** What an operator's listing says of any grant, open or ended: whose access to what. */
export interface ListedGrant {
  grantId: string;
  requestId: string;
  requesterId: string;
  resourceId: string;
  role: string;
  /** What of the role was granted, as people read it ("customer 4711"); '' for the whole role. */
  scope: string;
  principal: string;
}

/** A grant row, with its request's requester and scope, as a listing shows it. */
export function listedGrant(grant: { id: string; requestId: string; resourceId: string; role: string; principal: string; request: { requesterSlackId: string; scope: unknown } }): ListedGrant {
  return {
    grantId: grant.id,
    requestId: grant.requestId,
    requesterId: grant.request.requesterSlackId,
    resourceId: grant.resourceId,
    role: grant.role,
    scope: scopeText(grant.request.scope),
    principal: grant.principal,
  };
}

export interface OpenGrant extends ListedGrant {
  status: OpenGrantStatus;
  grantedAt: Date | null;
  expiresAt: Date | null;
  revokeAttempts: number;
  lastError: string | null;
}

/** A revocation a little late is the queue at work; later than this, people should know. */
export const OVERDUE_AFTER_MS = 60_000;

const STATUS_ORDER: Record<OpenGrantStatus, number> = { revocation_overdue: 0, active: 1, granting: 2 };

export async function listOpenAccess(db: Database, now: Date, overdueAfterMs = OVERDUE_AFTER_MS): Promise<OpenGrant[]> {
  const grants = await db.grant.findMany({
    where: { revokedAt: null },
    include: { request: { select: { requesterSlackId: true, scope: true } } },
    orderBy: [{ expiresAt: 'asc' }, { id: 'asc' }],
  });
  return grants
    .map((grant): OpenGrant => {
      const late = grant.expiresAt !== null && now.getTime() - grant.expiresAt.getTime() > overdueAfterMs;
      const status: OpenGrantStatus = late || grant.overdueAlertedAt ? 'revocation_overdue' : grant.grantedAt ? 'active' : 'granting';
      return {
        status,
        ...listedGrant(grant),
        grantedAt: grant.grantedAt,
        expiresAt: grant.expiresAt,
        revokeAttempts: grant.revokeAttempts,
        lastError: grant.lastError,
      };
    })
    .sort((a, b) => STATUS_ORDER[a.status] - STATUS_ORDER[b.status]);
}

/** A stored scope as a line of text; one that cannot be read says so rather than nothing. */
export function scopeText(stored: unknown): string {
  const scope = readStoredScope(stored);
  return scope === 'invalid' ? '(a scope Latch cannot read)' : formatScope(scope);
}
