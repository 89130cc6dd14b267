import { SpanKind, SpanStatusCode, type Attributes, type Span } from '@opentelemetry/api';
import type { RequestScope } from '../domain/request-scope.ts';
import type { AccessProvider, ProviderGrant, ProviderResult } from '../providers/provider.ts';
import { inSpan } from './tracer.ts';

/**
 * `provider`, with a CLIENT span around each call that reaches its target (`provider grant`,
 * `provider revoke`, `provider check`, …): the provider type, the resource, role, grant and access
 * request, and a failure's kind. Never the principal's credentials nor the failure's message,
 * which may quote the target. Every provider is built through the registry, which wraps it here,
 * so the grant and revoke use cases' calls are traced wherever they run.
 */
export function tracedProvider(provider: AccessProvider): AccessProvider {
  const traced = <T>(operation: string, attributes: Attributes, call: () => Promise<ProviderResult<T>>) =>
    inSpan(`provider ${operation}`, { kind: SpanKind.CLIENT, attributes: { 'latch.provider.type': provider.type, 'latch.provider.operation': operation, ...attributes } }, async (span) =>
      recordOutcome(span, await call()),
    );
  return {
    type: provider.type,
    grant: (grant) => traced('grant', grantAttributes(grant), () => provider.grant(grant)),
    revoke: (grant) => traced('revoke', grantAttributes(grant), () => provider.revoke(grant)),
    check: (grant) => traced('check', grantAttributes(grant), () => provider.check(grant)),
    ...(provider.list ? { list: (role: string) => traced('list', { 'latch.role': role }, () => provider.list!(role)) } : {}),
    // Dropped here, no revocation was ever recorded verified, nor caught while access remained.
    ...(provider.verifyRevoked
      ? { verifyRevoked: (grant: ProviderGrant, since: Date) => traced('verify-revoked', grantAttributes(grant), () => provider.verifyRevoked!(grant, since)) }
      : {}),
    ...(provider.effectiveEndLag ? { effectiveEndLag: (role: string) => traced('effective-end-lag', { 'latch.role': role }, () => provider.effectiveEndLag!(role)) } : {}),
    ...(provider.checkPrincipal
      ? { checkPrincipal: (principal: string, role: string) => traced('check-principal', { 'latch.role': role }, () => provider.checkPrincipal!(principal, role)) }
      : {}),
    // Scope values stay out of the span: a customer id can be personal data.
    ...(provider.checkScope ? { checkScope: (role: string, scope: RequestScope) => traced('check-scope', { 'latch.role': role }, () => provider.checkScope!(role, scope)) } : {}),
    ...(provider.listScopedAccess ? { listScopedAccess: () => traced('list-scoped-access', {}, () => provider.listScopedAccess!()) } : {}),
    // The answer holds a password: the span records the call and its outcome, never the value.
    ...(provider.issueCredentials ? { issueCredentials: (grant: ProviderGrant) => traced('issue-credentials', grantAttributes(grant), () => provider.issueCredentials!(grant)) } : {}),
    ...(provider.watchSingleUse ? { watchSingleUse: (grant: ProviderGrant) => traced('watch-single-use', grantAttributes(grant), () => provider.watchSingleUse!(grant)) } : {}),
    // Answered from the settings, without reaching the target: nothing to trace.
    ...(provider.accessTarget ? { accessTarget: (role: string) => provider.accessTarget!(role) } : {}),
    ...(provider.close ? { close: () => provider.close!() } : {}),
  };
}

function grantAttributes(grant: ProviderGrant): Attributes {
  return { 'latch.resource.id': grant.resourceId, 'latch.role': grant.role, 'latch.grant.id': grant.grantId, 'latch.access_request.id': grant.requestId };
}

function recordOutcome<T>(span: Span, result: ProviderResult<T>): ProviderResult<T> {
  if (result.ok) return result;
  span.setAttribute('latch.provider.failure', result.failure.kind);
  span.setStatus({ code: SpanStatusCode.ERROR, message: `${result.failure.kind} failure` });
  return result;
}
