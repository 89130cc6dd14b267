import { formatDuration } from './duration.ts';
import { findRole, type ResourcePolicy } from './policy.ts';
import type { RequestScope } from './request-scope.ts';
import { checkScope } from './scope-rules.ts';

/**
 * An approver's edit made while approving ("Approve with changes"): the request approved is then
 * this one. It may only ever give less than what was asked: a shorter duration, or a role the
 * policy lists as `lesser` than the asked one, of the same resource. Pure: checked under the
 * request's row lock against the stored request, whatever the form that sent it claimed.
 */
export interface ApprovalChange {
  role: string;
  durationSeconds: number;
}

export interface AskedAccess {
  role: string;
  durationSeconds: number;
  /** A request for more time runs on the role of the access it extends: its role cannot change. */
  extension: boolean;
  /** The scope asked for (kept as it is: an approval changes the role or the duration, never the scope). */
  scope?: RequestScope | null;
}

/**
 * The roles the asked one may be narrowed to, as the policy orders them (none when it does not),
 * of those that take the request's scope as it is: a scoped request never becomes the whole of a
 * lesser role, nor an unscoped one a role that needs a scope.
 */
export function lesserRoles(resource: ResourcePolicy, role: string, scope: RequestScope | null = null): string[] {
  return listedLesserRoles(resource, role).filter((id) => checkScope(findRole(resource, id)!, scope).ok);
}

/** The roles the policy lists below `role` that it still has, whatever they take. */
function listedLesserRoles(resource: ResourcePolicy, role: string): string[] {
  return (findRole(resource, role)?.lesser ?? []).filter((id) => findRole(resource, id) !== undefined);
}

/** Why this change cannot be made, fit to show the approver; null when it narrows the request. */
export function approvalChangeRefusal(resource: ResourcePolicy, asked: AskedAccess, change: ApprovalChange, minimumSeconds: number): string | null {
  if (change.role !== asked.role) {
    if (asked.extension) return 'A request for more time keeps the role of the access it extends: only its duration can be shortened.';
    if (!listedLesserRoles(resource, asked.role).includes(change.role)) {
      return `\`${change.role}\` is not a lesser role than \`${asked.role}\` on ${resource.name}: an approval can only narrow a request.`;
    }
    if (!lesserRoles(resource, asked.role, asked.scope ?? null).includes(change.role)) {
      return `\`${change.role}\` does not take this request's scope as it was asked: approve it as \`${asked.role}\`, or deny it.`;
    }
  }
  if (!Number.isSafeInteger(change.durationSeconds) || change.durationSeconds < minimumSeconds) {
    return `A duration must be at least ${formatDuration(minimumSeconds)}.`;
  }
  if (change.durationSeconds > asked.durationSeconds) {
    return `${formatDuration(change.durationSeconds)} is longer than the ${formatDuration(asked.durationSeconds)} asked for: an approval can only shorten a request.`;
  }
  const roleMax = findRole(resource, change.role)?.maxDurationSeconds ?? 0;
  if (change.durationSeconds > roleMax) return `\`${change.role}\` can be held for at most ${formatDuration(roleMax)}.`;
  if (change.role === asked.role && change.durationSeconds === asked.durationSeconds) return 'Nothing was changed: use Approve to approve the request as asked.';
  return null;
}
