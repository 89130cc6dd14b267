import { listedGrant, type ListedGrant } from './list-open-access.ts';
import type { Database } from '../store/database.ts';

/**
 * The grants Latch revoked since a moment, for operators: when each access ended, and whether the
 * provider, looking at the target again after revoking, found it really gone (verifiedRevokedAt).
 * A revocation not verified is one whose target could not be asked (a webhook without
 * verifyRevocations) or one closed while another grant still gave the same access.
 */
export interface EndedGrant extends ListedGrant {
  provider: string;
  /** When the access was due to end: the lateness of the revocation counts from here. */
  expiresAt: Date | null;
  revokedAt: Date;
  verifiedRevokedAt: Date | null;
  revokeReason: string | null;
}

/** Newest first. Grants that failed before the target acted (never granted) are left out: no access ended. */
export async function listEndedAccess(db: Database, since: Date): Promise<EndedGrant[]> {
  const grants = await db.grant.findMany({
    where: { revokedAt: { gte: since }, grantedAt: { not: null } },
    include: { request: { select: { requesterSlackId: true, scope: true } } },
    orderBy: [{ revokedAt: 'desc' }, { id: 'asc' }],
  });
  return grants.map((grant) => ({
    ...listedGrant(grant),
    provider: grant.provider,
    expiresAt: grant.expiresAt,
    revokedAt: grant.revokedAt!,
    verifiedRevokedAt: grant.verifiedRevokedAt,
    revokeReason: grant.revokeReason,
  }));
}
