import type { RequestScope } from '../../domain/request-scope.ts';
import { formatScope, readStoredScope } from '../../domain/scope-rules.ts';
import { escapeAndTruncate } from '../mrkdwn.ts';

/**
 * A request's scope as every message shows it: "customer 4711, 4712 · tables public.orders". The
 * values are what the requester typed (checked against the policy, still hostile text): escaped
 * like any user text, and cut so a message stays within Slack's limits. '' for an unscoped request.
 */
export function scopeShown(scope: RequestScope | null | undefined, max = 600): string {
  const text = formatScope(scope);
  return text === '' ? '' : escapeAndTruncate(text, max);
}

/** The same from a stored row's jsonb; a scope that cannot be read says so rather than nothing. */
export function storedScopeShown(stored: unknown, max = 600): string {
  const scope = readStoredScope(stored);
  return scope === 'invalid' ? '(a scope Latch cannot read)' : scopeShown(scope, max);
}

/** " (customer 4711)": after a role, or nothing for an unscoped request. */
export function scopeSuffix(scope: RequestScope | null | undefined, max = 600): string {
  const shown = scopeShown(scope, max);
  return shown === '' ? '' : ` (${shown})`;
}
