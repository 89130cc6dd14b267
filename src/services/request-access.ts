import { setTimeout as sleep } from 'node:timers/promises';
import { validateAccessRequest, type AccessRequestDraft } from '../domain/access-request-rules.ts';
import { explainAutoApproval, onCallRulesToCheck, type AutoApprovalCandidate, type OnCallEvidence, type RuleVerdict } from '../domain/auto-approval.ts';
import { isMachineRequester } from '../domain/machine.ts';
import { canonicalJson, groupsOf, type AutoApprovalRule, type ResourcePolicy, type RolePolicy } from '../domain/policy.ts';
import { appendAuditEvents, type AuditEntry } from '../store/audit-log.ts';
import { insertRequest, isUniqueViolation } from '../store/request-insert.ts';
import { uuidV7 } from '../store/uuid-v7.ts';
import { lockingRequester } from '../store/requester-lock.ts';
import { readRequestBySubmission } from '../store/request-reads.ts';
import type { SqlTransaction } from '../store/sql-transaction.ts';
import { inSqlTransaction } from '../store/transaction.ts';
import { loadAutoApprovalHistory } from './auto-approval-history.ts';
import { approvalsRequired } from '../domain/approval-tally.ts';
import { assessRisk, type RiskFlag, type RiskHistory } from '../domain/risk-flags.ts';
import { loadRiskHistory, readingRiskHistory, riskHistoryFrom } from '../store/risk-history.ts';
import { handOver } from './decide-request.ts';
import { publishCommitted } from './latch-events.ts';
import { requesterPrincipal } from './requester-principal.ts';
import { invalidInput, refuse, type Refused } from './refusal.ts';
import type { OnCallAnswer, ServiceContext } from './service-context.ts';
import { onCallEmailOf, type OnCallFacts } from '../domain/on-call.ts';
import type { RequestScope } from '../domain/request-scope.ts';
import { formatScope, scopeApprovals } from '../domain/scope-rules.ts';
import { oneLine } from './access-context.ts';

export interface RequestAccessInput extends AccessRequestDraft {
  teamId?: string | null;
  /** Emergency access: granted at once if the policy allows it, then reviewed (see BreakGlassPolicy). */
  breakGlass?: boolean;
  /**
   * What the request was submitted by (`slack-view:<view id>`), when it can be submitted twice:
   * Slack shows a person an error when a form's answer takes over 3 s, and they submit it again.
   * A second submission gives back the request the first one made, not another.
   */
  submissionKey?: string | null;
  /** The API token a machine asked with: recorded in the request's audit event. */
  tokenId?: string;
}

export type RequestAccessResult =
  | {
      ok: true;
      requestId: string;
      autoApprovedBy: string | null;
      breakGlass: { reviewDueAt: Date } | null;
      /** The same submission made this request before: it is (being) announced already. */
      resubmitted?: true;
    }
  | Refused;

/** The decider recorded for break-glass access: the policy, by its break-glass block. */
export const BREAK_GLASS_RULE = 'break-glass';

/**
 * Stores a new request as pending, with its `request.created` audit event in the same
 * transaction. When one of the resource's auto-approval rules covers it, the request is approved
 * in that same transaction, the rule's name recorded as the decider, and handed on to be granted.
 * After the commit it publishes `request.created`: an auto-approved request is announced too.
 */
export async function requestAccess(ctx: ServiceContext, input: RequestAccessInput): Promise<RequestAccessResult> {
  if (input.submissionKey) {
    const made = await requestMadeBy(ctx, input.submissionKey, input.requesterId);
    if (made) return made;
  }
  const prepared = await prepareRequest(ctx, input);
  if (!prepared.ok) return prepared;
  const { request } = prepared;
  const policy = ctx.policy();
  let written: WrittenRequest;
  try {
    const placement: RequestPlacement = { approvalChannelId: request.resource.approvalChannel, submissionKey: input.submissionKey || null, bundle: null };
    // Under the requester's lock, taken with BEGIN, so their concurrent requests count each other (see lockingRequester).
    // The risk history is read under that lock, sent in the same write as BEGIN and the lock, and
    // the insert, this transaction's one change, carries COMMIT: two round trips in all.
    const riskRead = readingRiskHistory({ requesterId: request.requesterId, resourceId: request.resource.id, role: request.asked.role }, request.now);
    const made = await inSqlTransaction(
      ctx.db,
      async (tx, opened) => (await writeRequest(tx, ctx, request, placement, { last: true, onlyChange: true, riskHistory: riskHistoryFrom(opened) })) ?? { refused: true as const },
      { ...lockingRequester(input.requesterId), followedBy: riskRead },
    );
    if ('refused' in made) {
      ctx.logger.info({ requester: input.requesterId, resourceId: request.resource.id }, 'request refused: too many pending requests');
      return pendingLimitRefusal(policy.limits.pendingPerPerson);
    }
    written = made;
  } catch (error) {
    // The same form submitted twice at once: the other submission's request is the one.
    const made = input.submissionKey && isUniqueViolation(error) ? await requestMadeBy(ctx, input.submissionKey, input.requesterId) : null;
    if (made) return made;
    throw error;
  }
  await followUpRequest(ctx, request, written);
  await publishCommitted(ctx, { type: 'request.created', requestId: written.requestId });
  return { ok: true, requestId: written.requestId, autoApprovedBy: written.rule?.name ?? null, breakGlass: request.breakGlass };
}

/** A request checked against the policy in force, with everything its row and audit event store. */
export interface PreparedRequest {
  /** Known before the insert: a resource that creates a login per request names it after the request. */
  id: string;
  requesterId: string;
  teamId: string | null;
  tokenId: string | undefined;
  resource: ResourcePolicy;
  role: RolePolicy;
  startsAt: Date | null;
  memberGroups: ReadonlySet<string>;
  breakGlass: { reviewDueAt: Date } | null;
  /** What the on-call providers said, for the resource's on-call rules that could approve it. */
  onCall: OnCallEvidence | undefined;
  /** What was asked and under which rules: stored on the request and, identically, in its audit event. */
  asked: {
    resourceId: string;
    role: string;
    principal: string | null;
    durationSeconds: number;
    reason: string;
    ticket: string | null;
    startsAt: Date | null;
    requiredApprovals: number;
    requiredGroups: string[];
    policyVersion: string;
    /** What of the role was asked for (domain/scope-rules.ts); null: the whole role. */
    scope: RequestScope | null;
  };
  /** The scope asks for more approvers than the resource's (moreApprovers): no rule approves it alone. */
  scopeNeedsMore: boolean;
  now: Date;
}

/**
 * Checks one request against the policy in force (who may ask, the role, the duration, the
 * reason and ticket rules) and resolves the account it would be granted to. Writes nothing.
 */
export async function prepareRequest(ctx: ServiceContext, input: RequestAccessInput): Promise<{ ok: true; request: PreparedRequest } | Refused> {
  const policy = ctx.policy();
  const candidate = policy.resources.find((r) => r.id === input.resourceId);
  // Every group that may matter to this request, asked about at once (the lookups are cached).
  const relevantGroups = candidate
    ? [
        ...new Set([
          ...groupsOf(candidate.requesters),
          ...candidate.autoApprove.flatMap((rule) => groupsOf(rule.requesters)),
          ...(candidate.breakGlass ? groupsOf(candidate.breakGlass.requesters) : []),
        ]),
      ]
    : [];
  // A machine is in no Slack user group: it is named in the policy, or not there at all.
  const memberGroups = relevantGroups.length > 0 && !isMachineRequester(input.requesterId) ? await ctx.groups.memberGroups(input.requesterId, relevantGroups) : new Set<string>();
  const validation = validateAccessRequest(policy, input, memberGroups, ctx.clock.now(), input.breakGlass ? 'break-glass' : 'approval', ctx.minimumDurationSeconds);
  if (!validation.ok) return invalidInput(validation.errors);

  const { resource, role, durationSeconds, reason, ticket, startsAt, scope } = validation.request;
  const now = ctx.clock.now();
  const id = uuidV7(now.getTime());
  const identity = await requesterPrincipal(ctx, resource, role.id, input.requesterId, id);
  if (!identity.ok) return identity;
  if (scope) {
    const targetSays = await targetScopeRefusal(ctx, resource, role.id, scope);
    if (targetSays) return targetSays;
  }
  const more = scopeApprovals(role, scope);
  // Asked before any transaction: the providers are on the network, and bounded in time.
  const onCall = input.breakGlass ? undefined : await gatherOnCallEvidence(ctx, resource, { requesterId: input.requesterId, role: role.id, durationSeconds, startsAt }, memberGroups, now);
  return {
    ok: true,
    request: {
      id,
      requesterId: input.requesterId,
      teamId: input.teamId ?? null,
      tokenId: input.tokenId,
      resource,
      role,
      startsAt,
      memberGroups,
      breakGlass: input.breakGlass && resource.breakGlass ? { reviewDueAt: new Date(now.getTime() + resource.breakGlass.reviewWithinSeconds * 1000) } : null,
      onCall,
      asked: {
        resourceId: resource.id,
        role: role.id,
        principal: identity.principal,
        durationSeconds,
        reason,
        ticket,
        startsAt,
        requiredApprovals: resource.approvers.required + more.add,
        requiredGroups: [...new Set([...resource.approvers.oneFrom, ...more.oneFrom])],
        policyVersion: policy.version,
        scope,
      },
      scopeNeedsMore: more.add > 0 || more.oneFrom.length > 0,
      now,
    },
  };
}

/** A request stored by writeRequest: decided already when a policy rule (or break-glass) did. */
export interface WrittenRequest {
  requestId: string;
  rule: AutoApprovalRule | undefined;
  decidedBy: string | undefined;
  riskFlags: RiskFlag[];
}

/** Where a request's approval message goes, and what links it to the other items of its bundle. */
export interface RequestPlacement {
  approvalChannelId: string;
  submissionKey: string | null;
  bundle: { id: string; position: number } | null;
}

/**
 * Stores a prepared request and its audit events in `tx`, which holds the requester's lock:
 * approved at once when an auto-approval rule (or break-glass) covers it. Null when the requester
 * already has as many pending requests as the policy allows (nothing is written then).
 *
 * `last`: the insert is the transaction's last statement, so it writes the transaction's audit
 * events too, in the same round trip (insertRequest's withAuditEvents); refused, it writes none
 * of them, and the caller must then commit nothing else (or roll back). `onlyChange` (with
 * `last`): the insert is the transaction's one change, so it carries COMMIT too (insertRequest's
 * thenCommit; a refused insert commits nothing); never for a bundle, whose earlier items a refused
 * last one must roll back. `riskHistory`: read by the caller under the requester's lock in this
 * transaction (readingRiskHistory, sent with the lock); read here when absent.
 */
export async function writeRequest(
  tx: SqlTransaction,
  ctx: ServiceContext,
  prepared: PreparedRequest,
  placement: RequestPlacement,
  { last, onlyChange = false, riskHistory }: { last: boolean; onlyChange?: boolean; riskHistory?: RiskHistory },
): Promise<WrittenRequest | null> {
  if (onlyChange && !last) throw new Error('the only change of a transaction is its last statement');
  const { asked, breakGlass, now, resource, requesterId } = prepared;
  const policy = ctx.policy();
  const plainCandidate: AutoApprovalCandidate = { requesterId, role: asked.role, durationSeconds: asked.durationSeconds, startsAt: asked.startsAt };
  const autoCandidate: AutoApprovalCandidate = prepared.onCall ? { ...plainCandidate, onCall: prepared.onCall } : plainCandidate;
  const auto: AutoApproval = breakGlass
    ? { rule: undefined, withheld: null, onCallUntil: null, onCallNote: null }
    : prepared.scopeNeedsMore
      ? // The policy asks more people to look at this scope: a rule alone must not approve it.
        { rule: undefined, withheld: null, onCallUntil: null, onCallNote: null }
      : await autoApprovalFor(tx, resource, autoCandidate, prepared.memberGroups, now);
  const rule = auto.rule;
  const decidedBy = breakGlass ? BREAK_GLASS_RULE : rule?.name;
  // Access approved because someone is on call ends when their shift does, at the latest.
  const grantedSeconds = auto.onCallUntil ? Math.min(asked.durationSeconds, Math.floor((auto.onCallUntil.getTime() - now.getTime()) / 1000)) : asked.durationSeconds;
  // Judged against history read before the insert, so the request never counts itself.
  const riskFlags = assessRisk({ resourceId: resource.id, role: asked.role, durationSeconds: asked.durationSeconds, at: now }, riskHistory ?? (await loadRiskHistory(tx, { requesterId, resourceId: resource.id, role: asked.role }, now)));
  const requiredApprovals = approvalsRequired(asked.requiredApprovals, resource.approvers.oneMoreWhenFlagged === true, riskFlags.length);
  const { scope: _scope, ...askedWithoutScope } = asked;
  const created: AuditEntry = {
    actor: requesterId,
    action: 'request.created',
    requestId: prepared.id,
    at: now,
    data: {
      ...askedWithoutScope,
      durationSeconds: grantedSeconds,
      requiredApprovals,
      riskFlags: riskFlags.map(({ signal, explanation }) => ({ signal, explanation })),
      startsAt: asked.startsAt?.toISOString() ?? null,
      // Recorded only for a scoped request, so the events of every other request stay as they were.
      ...(asked.scope ? { scope: asked.scope } : {}),
      ...(placement.bundle ? { bundle: placement.bundle } : {}),
      ...(prepared.tokenId ? { tokenId: prepared.tokenId } : {}),
      ...(breakGlass ? { breakGlass: true } : {}),
      ...(auto.withheld ? { autoApprovalWithheld: auto.withheld } : {}),
      ...(auto.onCallNote ? { onCallNote: auto.onCallNote } : {}),
    },
  };
  const events: AuditEntry[] =
    decidedBy
      ? [
          created,
          {
            actor: `policy:${decidedBy}`,
            action: 'request.approved',
            requestId: prepared.id,
            at: now,
            data: {
              rule: decidedBy,
              policyVersion: policy.version,
              ...(auto.onCallUntil ? { onCallUntil: auto.onCallUntil.toISOString(), askedSeconds: asked.durationSeconds } : {}),
              ...(breakGlass ? { breakGlass: true, reviewDueAt: breakGlass.reviewDueAt.toISOString() } : {}),
            },
          },
        ]
      : [created];
  // Recorded first when the insert writes them (last), after it otherwise: never for a refused insert.
  if (last) await appendAuditEvents(tx, events);
  // Stored with the pending limit checked in the same statement, unless it is decided already.
  const requestId = await insertRequest(
    tx,
    {
      ...asked,
      durationSeconds: grantedSeconds,
      requiredApprovals,
      riskFlags,
      onCallNote: auto.onCallNote,
      id: prepared.id,
      requesterSlackId: requesterId,
      slackTeamId: prepared.teamId,
      state: decidedBy ? 'approved' : 'pending',
      approvalChannelId: placement.approvalChannelId,
      pendingExpiresAt: new Date(now.getTime() + resource.pendingTimeoutSeconds * 1000),
      decidedAt: decidedBy ? now : null,
      decidedByRule: decidedBy ?? null,
      breakGlass: breakGlass !== null,
      reviewDueAt: breakGlass?.reviewDueAt ?? null,
      submissionKey: placement.submissionKey,
      createdAt: now,
      bundleId: placement.bundle?.id ?? null,
      bundlePosition: placement.bundle?.position ?? null,
    },
    decidedBy ? null : policy.limits.pendingPerPerson,
    { withAuditEvents: last, thenCommit: onlyChange },
  );
  if (!requestId) return null;
  if (!last) await appendAuditEvents(tx, events);
  return { requestId, rule, decidedBy, riskFlags };
}

/** After the commit: metrics, the grant of a request decided already, and the log line. */
export async function followUpRequest(ctx: ServiceContext, prepared: PreparedRequest, written: WrittenRequest): Promise<void> {
  const { requestId, decidedBy, riskFlags, rule } = written;
  if (decidedBy) ctx.metrics?.decision('approved_by_policy', prepared.now, prepared.now);
  for (const flag of riskFlags) ctx.metrics?.riskFlag?.(flag.signal);
  if (decidedBy) await handOver(ctx, () => ctx.access.requestGrant(requestId, prepared.startsAt), requestId);
  const logged = { accessRequestId: requestId, resourceId: prepared.resource.id, role: prepared.role.id, autoApprovedBy: rule?.name, breakGlass: Boolean(prepared.breakGlass) };
  if (prepared.breakGlass) ctx.logger.warn(logged, 'break-glass access used');
  else ctx.logger.info(logged, 'access requested');
}

interface AutoApproval {
  rule: AutoApprovalRule | undefined;
  withheld: { rule: string; because: string } | null;
  /** For an on-call rule: the end of the shift that approved it (the access ends there at the latest). */
  onCallUntil: Date | null;
  /** When no rule approved it and an on-call provider could not be asked: said on the approval card. */
  onCallNote: string | null;
}

/**
 * The rule that approves the request by itself, if any. The requester's history of the same
 * resource and role is read only when a rule would apply to a first request: it can only
 * withhold an approval. `withheld` says which rule the history stopped and why, for the audit.
 */
async function autoApprovalFor(
  tx: SqlTransaction,
  resource: ResourcePolicy,
  candidate: AutoApprovalCandidate,
  memberGroups: ReadonlySet<string>,
  now: Date,
): Promise<AutoApproval> {
  const firstVerdicts = explainAutoApproval(resource, candidate, memberGroups, now);
  const firstRequest = firstVerdicts.find((verdict) => verdict.applies)?.rule;
  if (!firstRequest) return { rule: undefined, withheld: null, onCallUntil: null, onCallNote: onCallNoteOf(firstVerdicts) };
  const lookbackSeconds = Math.max(...resource.autoApprove.map((rule) => rule.limits.cooldownSeconds));
  const history = await loadAutoApprovalHistory(tx, { requesterId: candidate.requesterId, resourceId: resource.id, role: candidate.role }, now, lookbackSeconds);
  const verdicts = explainAutoApproval(resource, candidate, memberGroups, now, history);
  const applied = verdicts.find((verdict) => verdict.applies);
  if (applied) return { rule: applied.rule, withheld: null, onCallUntil: applied.onCallUntil ?? null, onCallNote: null };
  const stopped = verdicts.find((verdict) => verdict.rule.name === firstRequest.name);
  return { rule: undefined, withheld: stopped && !stopped.applies ? { rule: stopped.rule.name, because: stopped.because } : null, onCallUntil: null, onCallNote: onCallNoteOf(verdicts) };
}

/** "On-call could not be checked: PagerDuty did not answer in time", when that kept a rule from deciding. */
function onCallNoteOf(verdicts: readonly RuleVerdict[]): string | null {
  const unavailable = verdicts.find((verdict) => !verdict.applies && verdict.onCallUnavailable);
  return unavailable && !unavailable.applies ? `On-call could not be checked: ${unavailable.onCallUnavailable}` : null;
}

/**
 * Asks the on-call providers about every on-call rule that could approve this request, once per
 * distinct condition and all at once. The requester is matched by their confirmed Slack email.
 */
async function gatherOnCallEvidence(ctx: ServiceContext, resource: ResourcePolicy, candidate: AutoApprovalCandidate, memberGroups: ReadonlySet<string>, now: Date): Promise<OnCallEvidence | undefined> {
  const rules = onCallRulesToCheck(resource, candidate, memberGroups, now);
  if (rules.length === 0) return undefined;
  const email = onCallEmailOf(isMachineRequester(candidate.requesterId) ? null : await ctx.users.profile(candidate.requesterId));
  const answers = new Map<string, Promise<OnCallAnswer>>();
  const byRule = new Map<string, { facts: OnCallFacts } | { unavailable: string }>();
  await Promise.all(
    rules.map(async (rule) => {
      const condition = rule.onCall!;
      const key = canonicalJson(condition);
      if (!answers.has(key)) answers.set(key, ctx.onCall ? ctx.onCall.check(condition, now) : Promise.resolve({ unavailable: 'no on-call provider is configured in Latch' }));
      byRule.set(rule.name, await answers.get(key)!);
    }),
  );
  return { email, byRule };
}

/** How long a request waits for the target's word on a scope (a form's answer must reach Slack within 3 s). */
const SCOPE_CHECK_TIMEOUT_MS = 1_500;

/**
 * Asks the resource's provider whether it can grant `scope` (the tables exist, the scoped columns
 * are in place); a provider that cannot take scopes at all (no checkScope) refuses every one. A refusal is shown to the person like any bad value; a target
 * that cannot answer now refuses the request too (fail closed), with a "try again".
 */
async function targetScopeRefusal(ctx: ServiceContext, resource: ResourcePolicy, role: string, scope: RequestScope): Promise<Refused | null> {
  const provider = ctx.providerFor?.(resource.id);
  if (!provider) return null;
  if (!provider.checkScope) {
    // A provider that knows nothing of scopes would grant the whole role: refused, not widened.
    const message = `${resource.name} cannot grant part of a role: its provider (${provider.type}) does not take scopes.`;
    return refuse('invalid_input', message, { fields: { scope: message }, detail: { resourceId: resource.id } });
  }
  const checked = await Promise.race([
    provider.checkScope(role, scope).catch((error: unknown) => ({ ok: false as const, failure: { kind: 'transient' as const, message: error instanceof Error ? error.message : String(error) } })),
    sleep(SCOPE_CHECK_TIMEOUT_MS, undefined, { ref: false }).then(() => ({ ok: false as const, failure: { kind: 'transient' as const, message: `no answer within ${SCOPE_CHECK_TIMEOUT_MS} ms` } })),
  ]);
  if (checked.ok) return null;
  if (checked.failure.kind === 'permanent') {
    const message = `${resource.name} cannot grant ${formatScope(scope)}: ${oneLine(checked.failure.message)}.`;
    ctx.logger.info({ resourceId: resource.id, role, failure: oneLine(checked.failure.message) }, 'request refused: the target cannot grant the scope');
    return refuse('invalid_input', message, { fields: { scope: message }, detail: { resourceId: resource.id } });
  }
  ctx.logger.warn({ resourceId: resource.id, role, failure: oneLine(checked.failure.message) }, 'could not check the requested scope on the target');
  return refuse('scope_unavailable', `Latch could not check that scope on ${resource.name} just now; try again in a minute.`, { detail: { resourceId: resource.id } });
}

/** The requester has as many requests waiting as the policy allows. */
export function pendingLimitRefusal(limit: number): Refused {
  return refuse(
    'limit_reached',
    `You already have ${limit} requests waiting for approvers, the most the policy allows at once. Cancel one you no longer need, or wait for a decision, then ask again.`,
    { detail: { limit } },
  );
}

/** The request a submission already made, as requestAccess reports it; null when there is none. */
async function requestMadeBy(ctx: ServiceContext, submissionKey: string, requesterId: string): Promise<RequestAccessResult | null> {
  const made = await readRequestBySubmission(ctx.db, submissionKey);
  // A key is a Slack view id, shown to one person: another's is not theirs to find.
  if (!made || made.requesterSlackId !== requesterId) return null;
  // It made a request for several resources: one of them is not what this submission asks for.
  if (made.bundleId) {
    const message = 'This submission already made a request for several resources at once. To ask for something else, start a new one.';
    return refuse('invalid_input', message, { fields: { resource: message }, detail: { bundleId: made.bundleId } });
  }
  ctx.logger.info({ accessRequestId: made.id }, 'the same request form was submitted again; the request it made stands');
  return {
    ok: true,
    requestId: made.id,
    autoApprovedBy: made.breakGlass ? null : made.decidedByRule,
    breakGlass: made.breakGlass && made.reviewDueAt ? { reviewDueAt: made.reviewDueAt } : null,
    resubmitted: true,
  };
}
