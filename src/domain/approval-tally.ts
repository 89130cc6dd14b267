/**
 * Counts the votes cast on one revision of a request. Approvals count once per approver (a double
 * click is one approval); one deny decides the request. The requester's own vote is never counted
 * (the use case refuses it before it is stored; this is the second line of defence).
 *
 * With `oneFrom`, approval also needs, for each group listed, an approval from a member of it
 * ("2 of 3, one from security"). Membership is what the approver's vote recorded when it was cast.
 */
export interface Vote {
  approverId: string;
  decision: 'approve' | 'deny';
  /** Of the groups the request needs one approval from, those the approver belonged to. */
  groups?: readonly string[];
}

export type Tally =
  | { outcome: 'approved'; approvers: string[] }
  | { outcome: 'denied'; deniedBy: string }
  | { outcome: 'pending'; approvers: string[]; remaining: number; missingGroups: string[] };

export function tallyVotes(votes: readonly Vote[], required: number, requesterId: string, oneFrom: readonly string[] = []): Tally {
  const counted = votes.filter((vote) => vote.approverId !== requesterId);
  const denial = counted.find((vote) => vote.decision === 'deny');
  if (denial) return { outcome: 'denied', deniedBy: denial.approverId };
  const approvers = [...new Set(counted.map((vote) => vote.approverId))];
  const covered = new Set(counted.flatMap((vote) => vote.groups ?? []));
  const missingGroups = oneFrom.filter((group) => !covered.has(group));
  if (approvers.length >= required && missingGroups.length === 0) return { outcome: 'approved', approvers };
  // Each missing group needs an approver of its own unless one person covers several: at least one more.
  const remaining = Math.max(required - approvers.length, missingGroups.length > 0 ? 1 : 0);
  return { outcome: 'pending', approvers, remaining, missingGroups };
}

/**
 * Approvals a new request needs: the policy's count, and one more when the policy asks for it and
 * the request raised a risk flag. Fixed when the request is made, so the tally counts it.
 */
export function approvalsRequired(required: number, oneMoreWhenFlagged: boolean, riskFlagCount: number): number {
  return oneMoreWhenFlagged && riskFlagCount > 0 ? required + 1 : required;
}
