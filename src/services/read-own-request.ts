import { askedRequestOf, type AskedRequest } from '../domain/idempotency-key.ts';
import { readStoredScope } from '../domain/scope-rules.ts';
import { readCreationEvents } from '../store/request-reads.ts';
import type { RequestStateName } from './request-view.ts';
import { refuse, type Refused } from './refusal.ts';
import { isRequestId } from './request-id.ts';
import type { ServiceContext } from './service-context.ts';

/** A request as its requester may read it back: what was asked, where it stands, and its grant. */
export interface OwnRequest {
  id: string;
  state: RequestStateName;
  resourceId: string;
  role: string;
  principal: string | null;
  durationSeconds: number;
  reason: string;
  ticket: string | null;
  /** What of the role was asked for; null for the whole role. */
  scope: Record<string, string[]> | null;
  createdAt: Date;
  decidedAt: Date | null;
  decidedByRule: string | null;
  outcomeReason: string | null;
  /** verifiedRevokedAt: when the provider, looking at the target after revoking, found the access gone. */
  grant: { grantedAt: Date | null; expiresAt: Date | null; revokedAt: Date | null; verifiedRevokedAt: Date | null } | null;
}

const NOT_FOUND = 'There is no request with this id among yours.';

/**
 * One of the requester's own requests. Another requester's answers exactly as a request that does
 * not exist: an id says nothing about whose it is.
 */
export async function readOwnRequest(ctx: Pick<ServiceContext, 'db'>, input: { requesterId: string; requestId: string }): Promise<({ ok: true } & OwnRequest) | Refused> {
  if (!isRequestId(input.requestId)) return refuse('not_found', NOT_FOUND);
  const request = await ctx.db.accessRequest.findUnique({ where: { id: input.requestId }, include: { grant: true } });
  if (!request || request.requesterSlackId !== input.requesterId) return refuse('not_found', NOT_FOUND);
  return { ok: true, ...ownRequestOf(request) };
}

/**
 * What one of the requester's own requests asked for, as a retry with its Idempotency-Key must
 * ask it again: its role and duration as asked, before an approver or an on-call rule changed them.
 */
export async function readAskedRequest(ctx: Pick<ServiceContext, 'db'>, request: OwnRequest): Promise<AskedRequest> {
  return askedRequestOf(request, await readCreationEvents(ctx.db, request.id));
}

/** The caller's access that is live or about to be: approved and not yet ended. */
export async function listOwnAccess(ctx: Pick<ServiceContext, 'db'>, requesterId: string): Promise<OwnRequest[]> {
  const requests = await ctx.db.accessRequest.findMany({
    where: { requesterSlackId: requesterId, state: { in: ['approved', 'active'] } },
    include: { grant: true },
    orderBy: { createdAt: 'asc' },
  });
  return requests.map(ownRequestOf);
}

type StoredRequest = NonNullable<Awaited<ReturnType<ServiceContext['db']['accessRequest']['findUnique']>>> & {
  grant: { grantedAt: Date | null; expiresAt: Date | null; revokedAt: Date | null; verifiedRevokedAt: Date | null } | null;
};

function ownRequestOf(request: StoredRequest): OwnRequest {
  return {
    id: request.id,
    state: request.state,
    resourceId: request.resourceId,
    role: request.role,
    principal: request.principal,
    durationSeconds: request.durationSeconds,
    reason: request.reason,
    ticket: request.ticket,
    scope: shownScope(request.scope),
    createdAt: request.createdAt,
    decidedAt: request.decidedAt,
    decidedByRule: request.decidedByRule,
    outcomeReason: request.outcomeReason,
    grant: request.grant
      ? { grantedAt: request.grant.grantedAt, expiresAt: request.grant.expiresAt, revokedAt: request.grant.revokedAt, verifiedRevokedAt: request.grant.verifiedRevokedAt }
      : null,
  };
}

/** The stored scope as the requester reads it back; one that cannot be read shows as none. */
function shownScope(value: unknown): Record<string, string[]> | null {
  const scope = readStoredScope(value);
  return scope && scope !== 'invalid' ? Object.fromEntries(Object.entries(scope).map(([name, values]) => [name, [...values]])) : null;
}
