import { readStoredScope } from '../domain/scope-rules.ts';
import { findResource } from '../domain/policy.ts';
import type { IssuedCredentials } from '../providers/provider.ts';
import { appendAuditEvent } from '../store/audit-log.ts';
import { claimCredentials, releaseCredentialsClaim } from '../store/credentials-claims.ts';
import { readGrantOfRequest } from '../store/grant-reads.ts';
import { lockRequest } from '../store/request-lock.ts';
import { inSqlTransaction } from '../store/transaction.ts';
import { oneLine } from './access-context.ts';
import { thrownFailure } from './grant-access.ts';
import { readOwnRequest } from './read-own-request.ts';
import { refuse, type Refused } from './refusal.ts';
import type { ServiceContext } from './service-context.ts';

export type IssueCredentialsResult = { ok: true; requestId: string; credentials: IssuedCredentials } | Refused;

/**
 * Hands the requester the credentials of the login their request was granted (a provider that
 * makes a login per request, e.g. postgres with `credentials: dynamic`): once, to them only.
 *
 * The claim comes first: under the request's lock, the grant is marked as having handed out its
 * credentials, with the `credentials.issued` audit event, in one transaction; only then does the
 * provider set a new password on the login and return it. So two fetches at once can never both
 * get a password, and the password exists only in the provider's answer, passed straight back:
 * never in the database, a log line, an audit event or Slack. When the target cannot set it, the
 * claim is given back (with `credentials.issue_failed`) so the requester may try again.
 */
export async function issueCredentials(ctx: ServiceContext, input: { requestId: string; requesterId: string; tokenId?: string }): Promise<IssueCredentialsResult> {
  const own = await readOwnRequest(ctx, input);
  if (!own.ok) return own;
  const resourceName = findResource(ctx.policy(), own.resourceId)?.name ?? own.resourceId;
  const provider = ctx.providerFor?.(own.resourceId);
  if (!provider?.issueCredentials) {
    return refuse('no_credentials', `${resourceName} grants its roles to your own account: it has no credentials to hand out.`);
  }
  const now = ctx.clock.now();
  const claimed = await inSqlTransaction(ctx.db, async (tx) => {
    const request = await lockRequest(tx, input.requestId);
    if (!request) return refuse('not_found', 'There is no request with this id among yours.');
    if (request.state === 'pending' || request.state === 'approved') {
      return refuse('not_granted', `This access is not granted yet (the request is ${request.state === 'pending' ? 'waiting for approval' : 'approved and being granted'}): fetch its credentials once it is active.`, { detail: { state: request.state } });
    }
    if (request.extendsRequestId) {
      // More time on the same login: it keeps the password handed out for the access it extends.
      return refuse('no_credentials', `This request gives more time to earlier access: its login and password are those handed out for request ${request.extendsRequestId}, now valid until the new end.`);
    }
    const grant = await readGrantOfRequest(tx, request.id);
    if (request.state !== 'active' || !grant?.grantedAt || grant.revokedAt || !grant.expiresAt || grant.expiresAt <= now) {
      return refuse('not_active', `This access is not active: the request is ${request.state}.`, { detail: { state: request.state } });
    }
    if (grant.credentialsIssuedAt) {
      return refuse(
        'credentials_issued',
        `The credentials of this access were handed out already, at ${grant.credentialsIssuedAt.toISOString()}: Latch gives them once and keeps no copy. If they are lost, release this access and ask again.`,
      );
    }
    await claimCredentials(tx, grant.id, now);
    await appendAuditEvent(tx, {
      actor: input.requesterId,
      action: 'credentials.issued',
      requestId: request.id,
      at: now,
      data: { grantId: grant.id, user: grant.principal, ...(input.tokenId ? { tokenId: input.tokenId } : {}) },
    });
    return { ok: true as const, grant, scope: readStoredScope(request.scope) };
  });
  if (!claimed.ok) return claimed;
  const { grant, scope } = claimed;

  const target = { grantId: grant.id, requestId: grant.requestId, resourceId: grant.resourceId, role: grant.role, principal: grant.principal, expiresAt: grant.expiresAt!, ...(scope && scope !== 'invalid' ? { scope } : {}) };
  const issued = await provider.issueCredentials(target).catch((error: unknown) => ({ ok: false as const, failure: thrownFailure(error) }));
  if (issued.ok) {
    ctx.logger.info({ accessRequestId: grant.requestId, grantId: grant.id, user: grant.principal }, 'credentials handed to the requester');
    return { ok: true, requestId: grant.requestId, credentials: issued.value };
  }
  const message = oneLine(issued.failure.message);
  await inSqlTransaction(ctx.db, async (tx) => {
    await releaseCredentialsClaim(tx, grant.id, now);
    await appendAuditEvent(tx, { actor: 'latch', action: 'credentials.issue_failed', requestId: grant.requestId, at: ctx.clock.now(), data: { grantId: grant.id, kind: issued.failure.kind, message } });
  });
  ctx.logger.warn({ accessRequestId: grant.requestId, grantId: grant.id, failure: message, kind: issued.failure.kind }, 'could not set the credentials on the target');
  if (issued.failure.kind === 'permanent') {
    return refuse('not_active', 'This access has ended on the target: its login is gone, so there are no credentials to hand out.');
  }
  return refuse('credentials_unavailable', 'Latch could not set the credentials on the target just now; try again in a minute.');
}
