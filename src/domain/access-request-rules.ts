import { formatDuration, MINIMUM_DURATION_SECONDS, parseDuration } from './duration.ts';
import { findResource, findRole, isInAudience, type Policy, type ResourcePolicy, type RolePolicy } from './policy.ts';
import type { RequestScope } from './request-scope.ts';
import { checkScope } from './scope-rules.ts';
import { ownsMachine, type MachinePolicy } from './machine.ts';

/**
 * What a request must satisfy before it is stored: the resource and role exist, the requester may
 * ask for them, the duration is readable and within the role's limit, a reason is given. Problems
 * are keyed by the field a person would correct, with a message fit to show next to it.
 */

export const MAX_REASON_LENGTH = 1000;
export const MAX_TICKET_LENGTH = 100;

/** `scope` is a problem with the scope as a whole; `scope.<parameter>` one with a parameter's values. */
export type RequestField = 'resource' | 'role' | 'duration' | 'reason' | 'ticket' | 'startsAt' | 'scope' | `scope.${string}`;

/** How far ahead a later start may be asked for: a maintenance window, not a standing booking. */
export const MAX_START_AHEAD_SECONDS = 14 * 24 * 3600;
/** A start picked for "now" is a little in the past by the time it is submitted. */
const START_GRACE_SECONDS = 5 * 60;
export type FieldErrors = Partial<Record<RequestField, string>>;

export interface AccessRequestDraft {
  requesterId: string;
  resourceId?: string | undefined;
  role?: string | undefined;
  duration: string;
  reason: string;
  ticket?: string | null | undefined;
  /** Access asked for from this time (a maintenance window); as soon as approved when absent. */
  startsAt?: Date | null | undefined;
  /** The scope parameters asked for (`{ customer: ['4711'] }`), as given: checked against the role here. */
  scope?: Readonly<Record<string, readonly unknown[]>> | null | undefined;
}

export interface ValidAccessRequest {
  resource: ResourcePolicy;
  role: RolePolicy;
  durationSeconds: number;
  reason: string;
  ticket: string | null;
  startsAt: Date | null;
  /** The scope checked against the role: trimmed, deduplicated; null for a role without scopes. */
  scope: RequestScope | null;
}

export type RequestValidation = { ok: true; request: ValidAccessRequest } | { ok: false; errors: FieldErrors };

/**
 * `approval`: a request for the approvers. `break-glass`: emergency access granted at once, which
 * has its own list of who may use it and its own, shorter, maximum, and demands no ticket.
 */
export type RequestMode = 'approval' | 'break-glass';

export function validateAccessRequest(
  policy: Policy,
  draft: AccessRequestDraft,
  requesterGroups: ReadonlySet<string>,
  now: Date,
  mode: RequestMode = 'approval',
  minimumDurationSeconds = MINIMUM_DURATION_SECONDS,
): RequestValidation {
  const errors: FieldErrors = {};
  const resource = draft.resourceId ? findResource(policy, draft.resourceId) : undefined;
  const breakGlass = mode === 'break-glass' ? resource?.breakGlass : undefined;
  if (!draft.resourceId) errors.resource = 'Pick a resource.';
  else if (!resource) errors.resource = `There is no resource called "${draft.resourceId}".`;
  else if (mode === 'break-glass' && !breakGlass) errors.resource = `Break-glass is not available for ${resource.name}: ask the approvers instead.`;
  else if (breakGlass && !isInAudience(breakGlass.requesters, draft.requesterId, requesterGroups)) {
    errors.resource = `You may not use break-glass on ${resource.name}: the policy does not list you for it.`;
  } else if (!breakGlass && !isInAudience(resource.requesters, draft.requesterId, requesterGroups)) {
    errors.resource = `You may not request access to ${resource.name}: the policy does not list you as a requester.`;
  }

  const role = resource && draft.role ? findRole(resource, draft.role) : undefined;
  if (!draft.role) errors.role = 'Pick a role.';
  else if (resource && !role) {
    errors.role = `${resource.name} has no role "${draft.role}"; its roles are ${resource.roles.map((r) => r.id).join(', ')}.`;
  }

  const duration = parseDuration(draft.duration, minimumDurationSeconds);
  if (!duration.ok) errors.duration = duration.message;
  else if (role && duration.seconds > role.maxDurationSeconds) {
    errors.duration = `At most ${formatDuration(role.maxDurationSeconds)} for ${role.id} on ${resource!.name}.`;
  } else if (breakGlass && duration.seconds > breakGlass.maxDurationSeconds) {
    errors.duration = `Break-glass on ${resource!.name} lasts at most ${formatDuration(breakGlass.maxDurationSeconds)}; ask the approvers for longer.`;
  }

  const reason = draft.reason.trim();
  const minReason = resource?.minReasonLength ?? 1;
  if (!reason) errors.reason = 'Say why you need this access.';
  else if (reason.length < minReason) errors.reason = `Say a little more: ${resource!.name} needs a reason of at least ${minReason} characters (this one has ${reason.length}).`;
  else if (reason.length > MAX_REASON_LENGTH) errors.reason = `Keep the reason under ${MAX_REASON_LENGTH} characters.`;

  const ticket = draft.ticket?.trim() || null;
  if (ticket && ticket.length > MAX_TICKET_LENGTH) errors.ticket = `Keep the ticket under ${MAX_TICKET_LENGTH} characters.`;
  else if (!breakGlass && resource?.ticketPattern && !new RegExp(resource.ticketPattern, 'u').test(ticket ?? '')) {
    errors.ticket = ticket
      ? `"${ticket}" is not a ticket ${resource.name} accepts: it must match ${resource.ticketPattern}.`
      : `${resource.name} needs a ticket matching ${resource.ticketPattern}.`;
  }

  let startsAt = draft.startsAt ?? null;
  if (startsAt && breakGlass) errors.startsAt = 'Break-glass starts now: leave the start empty, or ask the approvers for a later start.';
  else if (startsAt) {
    const aheadSeconds = (startsAt.getTime() - now.getTime()) / 1000;
    if (Number.isNaN(aheadSeconds)) errors.startsAt = 'Pick a valid start time, or leave it empty.';
    else if (aheadSeconds < -START_GRACE_SECONDS) errors.startsAt = 'Pick a start time in the future, or leave it empty to start once approved.';
    else if (aheadSeconds > MAX_START_AHEAD_SECONDS) errors.startsAt = `Pick a start within ${formatDuration(MAX_START_AHEAD_SECONDS)}.`;
    // "Now" is simply as soon as approved.
    else if (aheadSeconds <= 0) startsAt = null;
  }

  // Break-glass too: a scoped role is only ever granted for a stated scope.
  const scope = role ? checkScope(role, draft.scope) : undefined;
  if (scope && !scope.ok) {
    for (const [parameter, message] of Object.entries(scope.fields)) {
      const field: RequestField = parameter === '' ? 'scope' : `scope.${parameter}`;
      errors[field] = message;
    }
  }

  if (Object.keys(errors).length > 0 || !resource || !role || !duration.ok || !scope?.ok) return { ok: false, errors };
  return { ok: true, request: { resource, role, durationSeconds: duration.seconds, reason, ticket, startsAt, scope: scope.scope } };
}

/**
 * Who may decide a request on `resource`. Returns the refusal to show the person, or null when
 * they may. The requester is refused even when the policy names them as an approver.
 */
export function approverRefusal(
  resource: ResourcePolicy,
  requesterId: string,
  deciderId: string,
  deciderGroups: ReadonlySet<string>,
  /** Groups a request was escalated to: their members may decide it too. */
  escalatedTo: readonly string[] = [],
  /** Whether the decider is on call now as `approvers.onCall` asks (true), is not (false), or could not be asked (why). */
  onCall: boolean | { unavailable: string } = false,
): string | null {
  if (deciderId === requesterId) return 'You cannot decide your own request.';
  const { users, groups } = resource.approvers;
  if (users.includes(deciderId) || [...groups, ...escalatedTo].some((group) => deciderGroups.has(group))) return null;
  if (onCall === true) return null;
  // Fail closed: a provider that cannot answer makes nobody an approver by being on call.
  if (typeof onCall === 'object') return `You are not an approver for ${resource.name}, and whether you are on call could not be checked: ${onCall.unavailable}.`;
  return `You are not an approver for ${resource.name}.`;
}

/** Whether `deciderId` is an approver through users and groups alone (no on-call question needed). */
export function isNamedApprover(resource: ResourcePolicy, deciderId: string, deciderGroups: ReadonlySet<string>, escalatedTo: readonly string[] = []): boolean {
  const { users, groups } = resource.approvers;
  return users.includes(deciderId) || [...groups, ...escalatedTo].some((group) => deciderGroups.has(group));
}

/**
 * Why `deciderId` may not approve a request `machine` made, or null. Whoever answers for a machine
 * can drive it (its token, its pipeline), so approving what it asks would be approving their own
 * request: someone else must. Denying stays open to them, as it gives nothing.
 */
export function machineOwnerRefusal(machine: MachinePolicy, deciderId: string, deciderGroups: ReadonlySet<string>): string | null {
  if (!ownsMachine(machine, deciderId, deciderGroups)) return null;
  const how = 'user' in machine.owner ? 'You own' : 'You are in the user group that owns';
  return `${how} the machine ${machine.id}: someone else must approve its requests.`;
}
