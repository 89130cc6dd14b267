import { formatDuration } from '../../domain/duration.ts';
import type { RequestStateName } from '../../services/request-view.ts';
import { slackDate } from '../mrkdwn.ts';

/**
 * Some targets let sessions outlive the access they came from: credentials issued for a fixed
 * time keep working after the revocation until they expire (the provider's effectiveEndLag). There
 * the access's end is not the end people must plan around: these say when it really is, the end
 * plus the lag, in words that name no target, so the builders need not know the providers.
 */

/** What these read of a request: a RequestView, or a request with its stored grant (App Home). */
interface EndingAccess {
  state: RequestStateName;
  grant: { expiresAt: Date | null; revokedAt: Date | null; effectiveEndLagSeconds?: number | null } | null;
  continuedUntil?: Date | null;
}

/** When sessions started from the access may stop working at the latest; null when nothing outlives it. */
export function effectiveEnd(view: EndingAccess): Date | null {
  const lag = view.grant?.effectiveEndLagSeconds;
  if (!lag || lag <= 0 || !view.grant) return null;
  const end = view.state === 'revoked' ? view.grant.revokedAt : view.state === 'active' ? (view.continuedUntil ?? view.grant.expiresAt) : null;
  return end ? new Date(end.getTime() + lag * 1000) : null;
}

/** A sentence for the requester, or '' when nothing outlives the access. */
export function effectiveEndSentence(view: EndingAccess): string {
  const at = effectiveEnd(view);
  if (!at) return '';
  const lag = formatDuration(view.grant!.effectiveEndLagSeconds!);
  return view.state === 'revoked'
    ? `\n⏳ Sessions started before it ended can keep working until ${slackDate(at)} (up to ${lag}): the target lets them run until their credentials expire.`
    : `\n⏳ Sessions already started can keep working until ${slackDate(at)}, up to ${lag} after the access ends: the target lets them run until their credentials expire.`;
}

/** The same for the approval card's status line: a clause, or ''. */
export function effectiveEndClause(view: EndingAccess): string {
  const at = effectiveEnd(view);
  return at ? `; sessions already started can work until ${slackDate(at)}` : '';
}
