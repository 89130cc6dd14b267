import { readStoredScope } from '../domain/scope-rules.ts';
import { approverRefusal, machineOwnerRefusal } from '../domain/access-request-rules.ts';
import { onCallApproverStatus } from './on-call-approver.ts';
import { approvalChangeRefusal } from '../domain/approval-change.ts';
import { MINIMUM_DURATION_SECONDS } from '../domain/duration.ts';
import type { SlackRequestEvidence } from '../domain/decision-evidence.ts';
import { tallyVotes } from '../domain/approval-tally.ts';
import { findResource, type ResourcePolicy } from '../domain/policy.ts';
import { findMachine, isMachineRequester, machineIdOf, ownerGroupOf, type MachinePolicy } from '../domain/machine.ts';
import { canTransition } from '../domain/request-state.ts';
import type { StoredRequestFit } from '../domain/stored-request-fit.ts';
import { appendAuditEvent, type AuditEntry } from '../store/audit-log.ts';
import type { AccessRequest } from '../store/generated/client.ts';
import { lockRequest } from '../store/request-lock.ts';
import { readRequestForDecision, type RequestForDecision } from '../store/request-reads.ts';
import { recordDecision } from '../store/decision-write.ts';
import { endRequest } from '../store/request-end.ts';
import { inSqlTransaction } from '../store/transaction.ts';
import { publishCommitted } from './latch-events.ts';
import { recheckStoredRequest } from './recheck-policy.ts';
import { refuse, type Refused } from './refusal.ts';
import type { ServiceContext } from './service-context.ts';
import { isRequestId } from './request-id.ts';
import { deciderAccountRefused } from './decider-account.ts';

export interface DecideRequestInput {
  requestId: string;
  deciderId: string;
  decision: 'approve' | 'deny';
  comment?: string | null;
  /** The revision the decider was shown; a vote on an older one is refused. Latest when absent. */
  revision?: number;
  /**
   * "Approve with changes": approve a narrower request than the one shown (a shorter duration, a
   * lesser role). Only with `approve` and a `revision`; refused unless it narrows what is stored.
   */
  change?: { role: string | null; durationSeconds: number } | undefined;
  /** How the decision reached Latch (the signed Slack request over HTTP), kept with its audit events. */
  evidence?: SlackRequestEvidence | undefined;
  /**
   * The bundle whose "Approve all" made this approval: recorded with its audit events, so the
   * signed click (on the bundle's card, with the bundle's id) is checked as the evidence of each item.
   */
  approvedAllOf?: string;
  /** When the click was taken, for its audit events: "Approve all" records each item's vote at the one moment of its one click. */
  at?: Date;
}

export type DecideRequestResult =
  | { ok: true; outcome: 'recorded' | 'approved' | 'denied'; requestId: string }
  /**
   * `endedRequestId`: the refusal ended the request (it no longer fits the policy in force, or its
   * decision time has passed), and published so: its messages are rewritten and its requester told.
   */
  | (Refused & { endedRequestId?: string });

const MAX_COMMENT_LENGTH = 500;

/**
 * May `deciderId` make this decision on this request? Used before a Deny or an "Approve with
 * changes" opens its modal too, so a person who may not is told at once. Everything is re-read
 * from the database: a button's value is only an id. The decider's Slack account is read while
 * their groups are (both cached), so the check adds no wait and no database round trip.
 */
export async function checkDecider(
  ctx: ServiceContext,
  requestId: string,
  deciderId: string,
  decision: 'approve' | 'deny',
): Promise<({ ok: true; resource: ResourcePolicy } & RequestForDecision) | (Refused & { request?: AccessRequest })> {
  const read = isRequestId(requestId) ? await readRequestForDecision(ctx.db, requestId) : null;
  if (!read) return refuse('not_found', 'This request no longer exists.');
  const { request } = read;
  // Approvers are people: no policy can name a machine as one, and no machine id decides.
  if (isMachineRequester(deciderId)) return refuse('not_approver', 'Machines can never approve or deny requests: only people decide.');
  const policy = ctx.policy();
  const resource = findResource(policy, request.resourceId);
  // Nobody can approve it now: decideRequest closes it, so its requester hears why.
  if (!resource) {
    return { ...refuse('no_longer_fits', `The policy no longer has a resource called ${request.resourceId}.`), request };
  }
  const escalatedTo = request.escalatedAt ? (resource.reminders?.escalateTo ?? []) : [];
  // Ownership as the policy in force says, at this click.
  const machine = requestingMachine(policy.machines, request.requesterSlackId);
  const ownerGroup = machine ? ownerGroupOf(machine) : null;
  const [groups, accountRefused] = await Promise.all([
    ctx.groups.memberGroups(deciderId, [...resource.approvers.groups, ...escalatedTo, ...(ownerGroup ? [ownerGroup] : [])]),
    deciderAccountRefused(ctx, deciderId),
  ]);
  const onCall = deciderId === request.requesterSlackId ? false : await onCallApproverStatus(ctx, resource, deciderId, groups, escalatedTo);
  const refusal = approverRefusal(resource, request.requesterSlackId, deciderId, groups, escalatedTo, onCall);
  if (refusal) return refuse(deciderId === request.requesterSlackId ? 'own_request' : 'not_approver', refusal);
  if (accountRefused) return accountRefused;
  const ownerRefusal = machine && decision === 'approve' ? machineOwnerRefusal(machine, deciderId, groups) : null;
  if (ownerRefusal) return refuse('own_request', ownerRefusal, { detail: { machineId: machine!.id } });
  if (request.state !== 'pending') return refuse('not_pending', `This request is already ${request.state}.`, { detail: { state: request.state } });
  return { ok: true, resource, ...read };
}

/** The machine a request is from, under the policy in force; undefined for a person's, or a machine it no longer has. */
function requestingMachine(machines: readonly MachinePolicy[], requesterId: string): MachinePolicy | undefined {
  const machineId = machineIdOf(requesterId);
  return machineId === null ? undefined : findMachine(machines, machineId);
}

/**
 * How many times a decision is computed again when the request changed between its read and its
 * write. Each time another decision (or change) was written meanwhile, so even approvers all
 * clicking one request at once are through long before this; past it, the click fails as an error.
 */
const DECISION_ATTEMPTS = 20;

/**
 * Records one approver's decision. Authorisation is checked against the policy in force, from the
 * request and its votes as read, and the decision is written only if the request is still as read
 * (store/decision-write.ts): concurrent clicks take turns, and each is counted with the votes before
 * it: one vote per approver and revision, and the request leaves `pending` once.
 */
export async function decideRequest(ctx: ServiceContext, input: DecideRequestInput): Promise<DecideRequestResult> {
  for (let attempt = 1; attempt <= DECISION_ATTEMPTS; attempt += 1) {
    const decided = await decideOnce(ctx, input);
    if (decided === 'changed') continue;
    const { result } = decided;
    if (!('request' in decided)) return result;
    const { request, at } = decided;
    if (result.ok && result.outcome !== 'recorded') ctx.metrics?.decision(result.outcome, request.createdAt, at);
    // A later start asked for delays the grant job to it.
    if (result.ok && result.outcome === 'approved') await handOver(ctx, () => ctx.access.requestGrant(result.requestId, request.startsAt), result.requestId);
    if (result.ok) {
      ctx.logger.info({ accessRequestId: result.requestId, decider: input.deciderId, outcome: result.outcome, attempt }, 'decision recorded');
      await publishCommitted(ctx, result.outcome === 'recorded' ? { type: 'vote.recorded', requestId: result.requestId } : { type: 'request.decided', requestId: result.requestId, outcome: result.outcome });
    }
    return result;
  }
  throw new Error(`request ${input.requestId} changed under each of ${DECISION_ATTEMPTS} attempts to record a decision on it`);
}

/**
 * One attempt at a decision: read, checked, counted and written in one statement if the request
 * is still as read; 'changed' when it is not, and nothing was written. A refusal or a recorded
 * decision comes with the request it was computed from.
 */
async function decideOnce(
  ctx: ServiceContext,
  input: DecideRequestInput,
): Promise<'changed' | { result: DecideRequestResult } | { result: DecideRequestResult; request: AccessRequest; at: Date }> {
  const allowed = await checkDecider(ctx, input.requestId, input.deciderId, input.decision);
  if (!allowed.ok && allowed.refusal.code === 'no_longer_fits' && allowed.request?.state === 'pending') {
    const fit = await recheckStoredRequest(ctx, allowed.request, 'decision');
    if (!fit.fits) return { result: await endUnfitRequest(ctx, allowed.request.id, fit, input.deciderId) };
  }
  if (!allowed.ok) return { result: { ok: false, refusal: allowed.refusal } };
  const { request, votes, rowVersion } = allowed;
  // Votes are taken only while a decision can still move the request on.
  if (!canTransition(request.state, input.decision === 'approve' ? 'approved' : 'denied')) {
    return { result: refuse('not_pending', `This request is already ${request.state}.`, { detail: { state: request.state } }) };
  }
  if (input.revision !== undefined && input.revision !== request.revision) {
    return { result: refuse('stale', 'This request changed after you saw it; look at it again before deciding.', { detail: { shown: input.revision, current: request.revision } }) };
  }
  if (votes.some((vote) => vote.approverSlackId === input.deciderId)) {
    return { result: refuse('already_decided', 'You have already decided this request.') };
  }
  const comment = input.comment?.trim().slice(0, MAX_COMMENT_LENGTH) || null;
  // The policy in force binds what was queued under an older one (see stored-request-fit.ts). A
  // denial gives nothing, so only the decision time stops it; approval needs the whole fit.
  const fit = await recheckStoredRequest(ctx, request, 'decision');
  if (!fit.fits && (input.decision === 'approve' || fit.code === 'pending_timeout_passed')) return { result: await endUnfitRequest(ctx, request.id, fit, input.deciderId) };
  const now = input.at ?? ctx.clock.now();
  const requiredApprovals = fit.fits ? fit.requiredApprovals : request.requiredApprovals;
  const requiredGroups = fit.fits ? fit.requiredGroups : request.requiredGroups;
  // Which of the groups this request needs an approval from the decider is in, as of now.
  const deciderGroups = requiredGroups.length > 0 ? [...(await ctx.groups.memberGroups(input.deciderId, requiredGroups))] : [];
  // Approvals count only from people who are approvers under the policy in force.
  const stillApprovers = await currentApprovers(ctx, allowed.resource, request, allowed.approvedBy);

  // An edit narrows the request and starts a new revision, in the statement with the vote: the
  // approval applies to exactly the narrowed request, and earlier votes (on what was asked before)
  // no longer count. Checked against the stored request, whatever the form claimed.
  let narrowed: { role: string; durationSeconds: number } | null = null;
  const changeEvents: AuditEntry[] = [];
  if (input.change) {
    const minimum = ctx.minimumDurationSeconds ?? MINIMUM_DURATION_SECONDS;
    const storedScope = readStoredScope(request.scope);
    // A scope that cannot be read fits no role: the change is refused (and so is the grant).
    const asked = { role: request.role, durationSeconds: request.durationSeconds, extension: request.extendsRequestId !== null, scope: storedScope === 'invalid' ? { '': ['?'] } : storedScope };
    // No role given: it stays as stored (the form offered no lesser one).
    const change = { role: input.change.role ?? request.role, durationSeconds: input.change.durationSeconds };
    const refusal = input.decision !== 'approve' || input.revision === undefined ? 'Only an approval of the request you saw can change it.' : approvalChangeRefusal(allowed.resource, asked, change, minimum);
    if (refusal) return { result: refuse('invalid_input', refusal, { detail: { asked, change } }) };
    narrowed = change;
    changeEvents.push({
      actor: input.deciderId,
      action: 'request.changed',
      requestId: request.id,
      at: now,
      data: { from: { role: request.role, durationSeconds: request.durationSeconds }, role: change.role, durationSeconds: change.durationSeconds, revision: request.revision + 1 },
      evidence: input.evidence,
    });
  }
  const revision = narrowed ? request.revision + 1 : request.revision;
  // The policy now asks for more than was stored: the request says so from here on.
  const raised = requiredApprovals !== request.requiredApprovals || requiredGroups.length !== request.requiredGroups.length;
  // Every vote on this revision was read with the request, and each was checked by its own decision.
  const counted = (narrowed ? [] : votes).filter((vote) => stillApprovers.get(vote.approverSlackId) !== false);
  const tally = tallyVotes(
    [
      ...counted.map((v) => ({ approverId: v.approverSlackId, decision: v.decision, groups: v.approverGroups })),
      { approverId: input.deciderId, decision: input.decision, groups: deciderGroups },
    ],
    requiredApprovals,
    request.requesterSlackId,
    requiredGroups,
  );
  const state = tally.outcome === 'pending' ? null : tally.outcome;
  const recorded: AuditEntry = {
    actor: input.deciderId,
    action: 'approval.recorded',
    requestId: request.id,
    at: now,
    data: {
      decision: input.decision,
      comment,
      revision,
      ...(deciderGroups.length > 0 ? { groups: deciderGroups } : {}),
      ...(raised ? { requiredApprovals, requiredGroups, policyVersion: ctx.policy().version } : {}),
      ...(input.approvedAllOf ? { approvedAllOf: input.approvedAllOf } : {}),
    },
    evidence: input.evidence,
  };
  const events = [...changeEvents, recorded];
  if (tally.outcome !== 'pending') {
    events.push({
      actor: input.deciderId,
      action: `request.${tally.outcome}`,
      requestId: request.id,
      at: now,
      // The risk flags the approvers were shown, so the decision's record says what it weighed.
      data: {
        ...(tally.outcome === 'approved' ? { approvers: tally.approvers, policyVersion: ctx.policy().version } : { deniedBy: tally.deniedBy, reason: comment }),
        riskFlags: request.riskFlags ?? [],
        ...(input.approvedAllOf ? { approvedAllOf: input.approvedAllOf } : {}),
      },
      evidence: input.evidence,
    });
  }
  const written = await recordDecision(ctx.db, {
    requestId: request.id,
    rowVersion,
    revision,
    narrowed,
    approverSlackId: input.deciderId,
    decision: input.decision,
    comment,
    approverGroups: deciderGroups,
    at: now,
    raised: raised ? { requiredApprovals, requiredGroups } : null,
    outcome: state ? { state, outcomeReason: state === 'denied' ? comment : null } : null,
    events,
  });
  if (!written) return 'changed';
  return { result: { ok: true, outcome: tally.outcome === 'pending' ? 'recorded' : tally.outcome, requestId: request.id }, request, at: now };
}

/**
 * For each approver who already voted on this revision: are they still an approver under the
 * policy in force? Someone the policy no longer names cannot help approve, even by an earlier vote,
 * nor can someone it has since made the owner of the machine that asked.
 */
async function currentApprovers(ctx: ServiceContext, resource: ResourcePolicy, request: AccessRequest, approvedBy: readonly string[]): Promise<Map<string, boolean>> {
  const escalatedTo = request.escalatedAt ? (resource.reminders?.escalateTo ?? []) : [];
  const machine = requestingMachine(ctx.policy().machines, request.requesterSlackId);
  const ownerGroup = machine ? ownerGroupOf(machine) : null;
  const entries = await Promise.all(
    approvedBy.map(async (voter): Promise<[string, boolean]> => {
      const groups = await ctx.groups.memberGroups(voter, [...resource.approvers.groups, ...escalatedTo, ...(ownerGroup ? [ownerGroup] : [])]);
      const onCall = voter === request.requesterSlackId ? false : await onCallApproverStatus(ctx, resource, voter, groups, escalatedTo);
      const approver = approverRefusal(resource, request.requesterSlackId, voter, groups, escalatedTo, onCall) === null;
      return [voter, approver && !(machine && machineOwnerRefusal(machine, voter, groups))];
    }),
  );
  return new Map(entries);
}

/**
 * Ends a pending request the policy in force no longer allows, instead of recording the vote: past
 * its decision time it is expired (what the sweep would have done), otherwise it is denied by the
 * policy. The state change and its audit event, with the reason's code, commit together; then it
 * is published, so the requester hears why.
 */
async function endUnfitRequest(ctx: ServiceContext, requestId: string, fit: Extract<StoredRequestFit, { fits: false }>, deciderId: string): Promise<DecideRequestResult> {
  const now = ctx.clock.now();
  const state = fit.code === 'pending_timeout_passed' ? 'expired' : 'denied';
  const policyVersion = ctx.policy().version;
  const ended = await inSqlTransaction(ctx.db, async (tx) => {
    const request = await lockRequest(tx, requestId);
    if (!request || !canTransition(request.state, state)) return false;
    await endRequest(tx, requestId, { state, decidedAt: state === 'denied' ? now : null, endedAt: now, outcomeReason: fit.message });
    await appendAuditEvent(tx, {
      actor: 'latch',
      action: `request.${state}`,
      requestId,
      at: now,
      data: { code: fit.code, reason: fit.message, policyVersion, attemptedBy: deciderId },
    });
    return true;
  });
  ctx.logger.info({ accessRequestId: requestId, code: fit.code, decider: deciderId, ended }, 'decision refused: the request no longer fits the policy in force');
  if (ended) await publishCommitted(ctx, state === 'expired' ? { type: 'request.expired', requestId } : { type: 'request.decided', requestId, outcome: 'denied' });
  const message =
    state === 'expired'
      ? 'This request can no longer be approved: nobody decided in time, so it has expired. The requester has been told.'
      : `This request can no longer be approved: ${fit.message} It has been closed and the requester told.`;
  return { ...refuse('no_longer_fits', message, { detail: { fit: fit.code, ended } }), ...(ended ? { endedRequestId: requestId } : {}) };
}

/**
 * Queues follow-up work after a commit. The decision is stored whatever happens here: if Redis is
 * unreachable, the reconcile job finds the request in PostgreSQL and queues it again.
 */
export async function handOver(ctx: ServiceContext, enqueue: () => Promise<void>, requestId: string): Promise<void> {
  try {
    await enqueue();
  } catch (error) {
    ctx.logger.warn({ err: error, accessRequestId: requestId }, 'could not queue the next step; the reconcile job will');
  }
}
