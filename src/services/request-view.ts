import type { RequestScope } from '../domain/request-scope.ts';
import type { MachineOwner } from '../domain/machine.ts';

/**
 * What every message about one request shows (the read model), read fresh from the database by
 * `loadRequestView`. The Block Kit builders take only this, so they stay pure.
 */
export type RequestStateName = 'pending' | 'approved' | 'active' | 'revoked' | 'denied' | 'cancelled' | 'expired' | 'failed';
export interface DecisionView { approverId: string; decision: 'approve' | 'deny'; comment: string | null; at: Date; groups?: string[] }
export interface RequestView {
  id: string;                 // a UUID
  requesterId: string;        // Slack user id, or machine:<id> for a machine
  /** Set when a machine asked: its id and its owner in the policy in force (null once it left the policy). */
  machine?: { id: string; owner: MachineOwner | null } | null;
  resourceId: string;
  resourceName: string;
  role: string;
  /** The account the provider will grant to, when known. */
  principal: string | null;
  durationSeconds: number;
  reason: string;             // user text: ALWAYS escape
  ticket: string | null;      // user text: ALWAYS escape
  /** What of the role was asked for (values are user text: ALWAYS escape); null: the whole role. */
  scope?: RequestScope | null;
  state: RequestStateName;
  requiredApprovals: number;
  /** User groups that must each give one of the approvals. */
  requiredGroups: string[];
  /** Bumped when what approvers are shown changes; votes on an older revision do not count. */
  revision: number;
  /**
   * Set once an approver narrowed the request while approving it (the newest such change): who,
   * and what was asked before. `role` and `durationSeconds` above are what it is now.
   */
  changed: { by: string; fromRole: string; fromDurationSeconds: number } | null;
  decisions: DecisionView[];  // decisions on the current revision, oldest first
  createdAt: Date;
  pendingExpiresAt: Date | null;
  decidedAt: Date | null;
  outcomeReason: string | null;   // why denied/cancelled/expired/failed: user text when it comes from a person: escape
  decidedByRule: string | null;   // set when policy, not people, decided
  /** Asked-for later start, if any. */
  startsAt: Date | null;
  /** The grant, once the provider has been asked. */
  grant: GrantView | null;
  /** Set on a request for more time: the access it extends, and when that ends (null once ended). */
  extension: { extendsRequestId: string; currentEnd: Date | null } | null;
  /** Set when more time on this access was granted: the access runs on until then. */
  continuedUntil: Date | null;
  /** The user groups an undecided request was escalated to; empty until it is. */
  escalatedTo: string[];
  /** What was unusual about the request when it was made, each with its explanation (domain/risk-flags.ts). */
  riskFlags?: RiskFlagView[];
  /** Set when whoever is on call may decide too (approvers.onCall): what they are on call for. */
  onCallApprovers?: string | null;
  /** Why an on-call rule could not judge the request ("On-call could not be checked: …"): people decide. */
  onCallNote?: string | null;
  /** Set on break-glass access: when it must be reviewed by, and who reviewed it. */
  breakGlass: BreakGlassView | null;
  /** Set on an item of a request for several resources at once: all its items. */
  bundle?: BundleView | null;
}

/**
 * The items of a request for several resources at once, each a request of its own, shown together:
 * on one approval card (in the channel of `cardRequestId`, the strictest item) and one confirmation.
 */
export interface BundleView {
  cardRequestId: string;
  /** Every item, this one included, in the order asked. */
  items: RequestView[];
}

export interface BreakGlassView {
  reviewDueAt: Date | null;
  reviewedBy: string | null;
  reviewedAt: Date | null;
}

export interface GrantView {
  grantedAt: Date | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  /** Who ended it early (a Slack user id), if someone did. */
  endedBy: string | null;
  /** Set while a revocation keeps failing: the last error, fit to show. */
  overdueError: string | null;
  /**
   * How long sessions started from the access may keep working after it ends (the provider's
   * effectiveEndLag, in seconds), or null when nothing outlives the revocation. Absent: null.
   */
  effectiveEndLagSeconds?: number | null;
}

export interface RiskFlagView {
  signal: string;
  explanation: string;
}
