/**
 * Counts the votes cast on one revision of a request. Approvals count once per approver (a double
 * click is one approval); one deny decides the request. The requester's own vote is never counted
 * (the use case refuses it before it is stored; this is the second line of defence).
 */
export interface Vote {
  approverId: string;
  decision: 'approve' | 'deny';
}

export type Tally =
  | { outcome: 'approved'; approvers: string[] }
  | { outcome: 'denied'; deniedBy: string }
  | { outcome: 'pending'; approvers: string[]; remaining: number };

export function tallyVotes(votes: readonly Vote[], required: number, requesterId: string): Tally {
  const counted = votes.filter((vote) => vote.approverId !== requesterId);
  const denial = counted.find((vote) => vote.decision === 'deny');
  if (denial) return { outcome: 'denied', deniedBy: denial.approverId };
  const approvers = [...new Set(counted.map((vote) => vote.approverId))];
  if (approvers.length >= required) return { outcome: 'approved', approvers };
  return { outcome: 'pending', approvers, remaining: required - approvers.length };
}
