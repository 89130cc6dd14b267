import type { Logger } from '../logging/logger.ts';

/**
 * What happened, as the use cases say it after their transaction commits. Each event names the
 * rows it is about, never their content: whoever tells people reads the truth fresh, so a late or
 * repeated event shows what is, not what was.
 */
export type LatchEvent =
  /** A request was stored (pending, approved by policy, or break-glass): its messages are due. */
  | { type: 'request.created'; requestId: string }
  /** A pending request whose approval message never reached Slack, found by the re-announce sweep. */
  | { type: 'request.unannounced'; requestId: string }
  /** An approver voted and the request still waits for more votes. */
  | { type: 'vote.recorded'; requestId: string }
  /** The request left `pending` by a decision: approvers' votes, or the policy in force denying it. */
  | { type: 'request.decided'; requestId: string; outcome: 'approved' | 'denied' }
  /** Nobody decided in time (the sweep, or a vote that came too late). */
  | { type: 'request.expired'; requestId: string }
  /** Called off before any access existed. */
  | { type: 'request.cancelled'; requestId: string }
  /** An undecided request was escalated to the resource's escalation groups. */
  | { type: 'request.escalated'; requestId: string }
  /** An undecided request waited long enough for its approvers to be reminded (claimed once). */
  | { type: 'reminder.due'; requestId: string }
  /** Someone ended this access (or the request for more time on it) before its expiry. */
  | { type: 'access.end_requested'; requestId: string }
  /** The provider gave the access. */
  | { type: 'access.granted'; requestId: string; grantId: string }
  /** Latch gave up granting: the request is failed. */
  | { type: 'grant.failed'; requestId: string }
  /** The access is gone (revoked, or closed under a covering grant). */
  | { type: 'access.ended'; requestId: string; grantId: string }
  /** A revocation keeps failing: access that should be gone still exists. */
  | { type: 'revocation.overdue'; requestId: string; grantId: string }
  /** A revocation that was overdue finally happened. */
  | { type: 'revocation.recovered'; requestId: string; grantId: string }
  /**
   * A message of the request may show an older state than the request's (Slack did not take an
   * update, or a process stopped before making it), found by the messages sweep.
   */
  | { type: 'messages.outdated'; requestId: string }
  /** Someone reviewed a break-glass use. */
  | { type: 'break_glass.reviewed'; requestId: string }
  /** A break-glass use is still unreviewed past its review time (claimed once per reminder). */
  | { type: 'break_glass.review_overdue'; requestId: string }
  /** The standing-access scan found role holders without a grant, or found earlier ones gone. */
  | { type: 'standing_access.changed'; found: StandingAccess[]; resolved: StandingAccess[] }
  /**
   * A digest of the policy is due: it covers the last period its schedule had ended by `at`.
   * Nothing was stored, so it is published as is, and a digest Slack refused fails its job (retried).
   */
  | { type: 'digest.due'; name: string; at: Date };

/** The events about one request (every one but the scan's and the digests'). */
export type RequestEvent = Extract<LatchEvent, { requestId: string }>;

/** Is it about one request (and so names it)? */
export function isRequestEvent(event: LatchEvent): event is RequestEvent {
  return 'requestId' in event;
}

/** A role holder the standing-access scan found without a grant covering them. */
export interface StandingAccess {
  resourceId: string;
  role: string;
  principal: string;
}

/** Where use cases say what happened; the Slack notifier in production, a recorder in tests. */
export interface LatchEventPublisher {
  publish(event: LatchEvent): Promise<void>;
}

/** For contexts where nobody is told anything (the seed's simulated history). */
export const unheardEvents: LatchEventPublisher = { publish: async () => undefined };

/**
 * Publishes after a commit. Telling people never undoes nor retries what was stored: a failure
 * is logged, and the database stays the truth the next message is built from.
 */
export async function publishCommitted(ctx: { events: LatchEventPublisher; logger: Logger }, event: LatchEvent): Promise<void> {
  try {
    await ctx.events.publish(event);
  } catch (error) {
    ctx.logger.error({ err: error, event: event.type }, `could not tell people of ${event.type}`);
  }
}
