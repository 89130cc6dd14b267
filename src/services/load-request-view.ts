import { readStoredScope } from '../domain/scope-rules.ts';
import type { RequestScope } from '../domain/request-scope.ts';
import { findMachine, machineIdOf } from '../domain/machine.ts';
import { describeOnCall } from '../domain/on-call.ts';
import { findResource, type Policy, type ResourcePolicy } from '../domain/policy.ts';
import type { Database } from '../store/database.ts';
import { readRequestForMessages } from '../store/request-reads.ts';
import { readBundleItems } from '../store/request-bundle-reads.ts';
import { findAccessChain, isLiveGrant, type ChainedRequest } from './access-chain.ts';
import type { RequestView, RiskFlagView } from './request-view.ts';
import { z } from 'zod';

/** Where a request's messages live in Slack, so they can be updated in place. */
export interface MessageLocations {
  approvalChannelId: string | null;
  approvalMessageTs: string | null;
  requesterChannelId: string | null;
  requesterMessageTs: string | null;
  /** The break-glass alert in the security channel. */
  securityMessageTs: string | null;
}

export interface LoadedRequest {
  view: RequestView;
  messages: MessageLocations;
  /**
   * The seq of the request's newest audit event as of this read (0 before any): the version of
   * the request its messages built from this read show (messages-shown.ts).
   */
  seq: bigint;
}

/**
 * Everything a message about one request shows, and where its messages already are, read fresh
 * from the database: messages are always rebuilt from the stored truth, never patched from what a
 * click or an event carried.
 */
export async function loadRequestView(db: Database, policy: Policy, requestId: string): Promise<LoadedRequest | null> {
  const loaded = await loadOneRequest(db, policy, requestId);
  if (!loaded?.bundleId) return loaded;
  return withBundle(db, policy, loaded, loaded.bundleId);
}

/**
 * An item of a bundle shows every item: its messages are the bundle's. Their version is the newest
 * event of any item, so a change to another item makes this one's messages out of date too.
 */
async function withBundle(db: Database, policy: Policy, loaded: LoadedRequest, bundleId: string): Promise<LoadedRequest> {
  const ids = (await readBundleItems(db, bundleId)).map((item) => item.id);
  const items: LoadedRequest[] = [];
  for (const id of ids) {
    const item = id === loaded.view.id ? loaded : await loadOneRequest(db, policy, id);
    if (item) items.push(item);
  }
  const seq = items.reduce((newest, item) => (item.seq > newest ? item.seq : newest), loaded.seq);
  return { ...loaded, view: { ...loaded.view, bundle: { cardRequestId: bundleId, items: items.map((item) => item.view) } }, seq };
}

async function loadOneRequest(db: Database, policy: Policy, requestId: string): Promise<(LoadedRequest & { bundleId: string | null }) | null> {
  const read = await readRequestForMessages(db, requestId);
  if (!read) return null;
  const { request, grant, decisions, changed, eventSeq } = read;
  // Only a request for more time, or one more time was asked on, has a chain to read (rarely).
  const chain = read.chained ? await findAccessChain(db, request.id) : [];
  const extended = request.extendsRequestId ? (chain.find((member) => member.id === request.extendsRequestId)?.grant ?? null) : null;
  const machineId = machineIdOf(request.requesterSlackId);
  const view: RequestView = {
    id: request.id,
    requesterId: request.requesterSlackId,
    machine: machineId === null ? null : { id: machineId, owner: findMachine(policy.machines, machineId)?.owner ?? null },
    resourceId: request.resourceId,
    // A resource removed from the policy since still needs its messages updated.
    resourceName: findResource(policy, request.resourceId)?.name ?? request.resourceId,
    role: request.role,
    principal: request.principal,
    durationSeconds: request.durationSeconds,
    reason: request.reason,
    ticket: request.ticket,
    scope: viewScope(request.scope),
    state: request.state,
    requiredApprovals: request.requiredApprovals,
    requiredGroups: request.requiredGroups,
    revision: request.revision,
    changed: changedOf(changed),
    decisions: decisions.map((d) => ({ approverId: d.approverSlackId, decision: d.decision, comment: d.comment, at: d.createdAt, groups: d.approverGroups })),
    createdAt: request.createdAt,
    pendingExpiresAt: request.pendingExpiresAt,
    decidedAt: request.decidedAt,
    outcomeReason: request.outcomeReason,
    decidedByRule: request.decidedByRule,
    startsAt: request.startsAt,
    grant: grant
      ? {
          grantedAt: grant.grantedAt,
          expiresAt: grant.expiresAt,
          revokedAt: grant.revokedAt,
          endedBy: grant.revokedBySlackId,
          overdueError: grant.overdueAlertedAt && !grant.revokedAt ? grant.lastError : null,
          effectiveEndLagSeconds: grant.effectiveEndLagSeconds,
        }
      : null,
    extension: request.extendsRequestId
      ? { extendsRequestId: request.extendsRequestId, currentEnd: extended && !extended.revokedAt ? extended.expiresAt : null }
      : null,
    continuedUntil: continuedUntil(chain, request.id),
    escalatedTo: request.escalatedAt ? (findResource(policy, request.resourceId)?.reminders?.escalateTo ?? []) : [],
    riskFlags: storedRiskFlags(request.riskFlags),
    onCallNote: request.onCallNote,
    onCallApprovers: onCallApproversOf(findResource(policy, request.resourceId)),
    breakGlass: request.breakGlass ? { reviewDueAt: request.reviewDueAt, reviewedBy: request.reviewedBySlackId, reviewedAt: request.reviewedAt } : null,
  };
  return {
    view,
    messages: {
      approvalChannelId: request.approvalChannelId,
      approvalMessageTs: request.approvalMessageTs,
      requesterChannelId: request.requesterChannelId,
      requesterMessageTs: request.requesterMessageTs,
      securityMessageTs: request.securityMessageTs,
    },
    seq: eventSeq,
    bundleId: request.bundleId,
  };
}

/** The end of the latest live grant among the requests for more time made after this one. */
function continuedUntil(chain: ChainedRequest[], requestId: string): Date | null {
  const self = chain.find((request) => request.id === requestId);
  if (!self) return null;
  const ends = chain
    .filter((request) => request.extendsRequestId !== null && request.createdAt >= self.createdAt && request.id !== requestId && isLiveGrant(request.grant))
    .map((request) => request.grant!.expiresAt!.getTime());
  return ends.length > 0 ? new Date(Math.max(...ends)) : null;
}

/** What the newest `request.changed` event says was asked before; null when none (or unreadable). */
function changedOf(changed: { by: string; data: unknown } | null): RequestView['changed'] {
  const from = changed && typeof changed.data === 'object' && changed.data !== null ? (changed.data as { from?: { role?: unknown; durationSeconds?: unknown } }).from : undefined;
  if (!changed || typeof from?.role !== 'string' || typeof from.durationSeconds !== 'number') return null;
  return { by: changed.by, fromRole: from.role, fromDurationSeconds: from.durationSeconds };
}

const storedRiskFlagsSchema = z.array(z.object({ signal: z.string(), explanation: z.string() }));

/** The flags stored with the request; a row that holds anything else shows none rather than fail the message. */
function storedRiskFlags(stored: unknown): RiskFlagView[] {
  const parsed = storedRiskFlagsSchema.safeParse(stored);
  return parsed.success ? parsed.data : [];
}

/** "schedule PSCHED1 in PagerDuty", when the resource lets whoever is on call there decide. */
function onCallApproversOf(resource: ResourcePolicy | undefined): string | null {
  const condition = resource?.approvers.onCall;
  return condition ? describeOnCall(condition) : null;
}

/** A stored scope for the messages; one that cannot be read is shown as such, never as the whole role. */
function viewScope(stored: unknown): RequestScope | null {
  const scope = readStoredScope(stored);
  return scope === 'invalid' ? { scope: ['(stored in a form Latch cannot read)'] } : scope;
}
