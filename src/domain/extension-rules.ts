import { MAX_REASON_LENGTH } from './access-request-rules.ts';
import { formatDuration, MINIMUM_DURATION_SECONDS, parseDuration } from './duration.ts';
import type { RolePolicy } from './policy.ts';

/**
 * Asking for more time on access one holds. More time is a new decision by the approvers, so an
 * extension is a request of its own; these rules decide whether it may be asked at all. The role's
 * maximum bounds the whole stretch of access, from the first grant to the new end: extensions must
 * not turn temporary access into standing access one approval at a time.
 */

export type ExtensionField = 'duration' | 'reason';
export type ExtensionErrors = Partial<Record<ExtensionField, string>>;

export interface ExtensionDraft {
  duration: string;
  reason: string;
}

export interface HeldAccess {
  /** When the stretch of access began: the first grant of the chain of extensions. */
  since: Date;
  /** When it ends now. */
  until: Date;
}

export type ExtensionValidation = { ok: true; seconds: number; reason: string; newEnd: Date } | { ok: false; errors: ExtensionErrors };

export function validateExtension(role: RolePolicy, held: HeldAccess, draft: ExtensionDraft, minimumDurationSeconds = MINIMUM_DURATION_SECONDS): ExtensionValidation {
  const errors: ExtensionErrors = {};
  const duration = parseDuration(draft.duration, minimumDurationSeconds);
  let newEnd: Date | null = null;
  if (!duration.ok) errors.duration = duration.message;
  else {
    const totalSeconds = Math.round((held.until.getTime() - held.since.getTime()) / 1000) + duration.seconds;
    if (totalSeconds > role.maxDurationSeconds) {
      const left = role.maxDurationSeconds - Math.round((held.until.getTime() - held.since.getTime()) / 1000);
      errors.duration =
        left >= minimumDurationSeconds
          ? `At most ${formatDuration(left)} more: ${role.id} may be held for ${formatDuration(role.maxDurationSeconds)} in all.`
          : `This access already runs for the longest ${role.id} allows (${formatDuration(role.maxDurationSeconds)}); request it again later.`;
    } else newEnd = new Date(held.until.getTime() + duration.seconds * 1000);
  }
  const reason = draft.reason.trim();
  if (!reason) errors.reason = 'Say why you need more time.';
  else if (reason.length > MAX_REASON_LENGTH) errors.reason = `Keep the reason under ${MAX_REASON_LENGTH} characters.`;

  if (Object.keys(errors).length > 0 || !duration.ok || !newEnd) return { ok: false, errors };
  return { ok: true, seconds: duration.seconds, reason, newEnd };
}
