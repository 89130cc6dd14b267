import type { DecisionInteractions } from '../domain/decision-evidence.ts';
import { APPROVE, APPROVE_ALL, APPROVE_WITH_CHANGES_MODAL, CANCEL, DENY_MODAL, END_ACCESS, REVIEW_BREAK_GLASS } from './blocks/ids.ts';

/**
 * Which of Latch's buttons (action_id) or forms (callback_id) makes each audit event of a person's
 * decision: `latch audit verify` checks that a decision's signed Slack request is one of these.
 */
export const decisionInteractions: DecisionInteractions = (action, data) => {
  switch (action) {
    case 'approval.recorded':
      if (data.decision === 'deny') return [DENY_MODAL];
      // "Approve all" on a bundle's card votes on each item: its click is the evidence of each, and of nothing else.
      return typeof data.approvedAllOf === 'string' ? [APPROVE_ALL] : [APPROVE, APPROVE_WITH_CHANGES_MODAL];
    case 'request.approved':
      return typeof data.approvedAllOf === 'string' ? [APPROVE_ALL] : [APPROVE, APPROVE_WITH_CHANGES_MODAL];
    case 'request.changed':
      return [APPROVE_WITH_CHANGES_MODAL];
    case 'request.denied':
      return [DENY_MODAL];
    case 'request.cancelled':
      // The requester's Cancel, or a pending request for more time ended with the access it extends.
      return [CANCEL, END_ACCESS];
    case 'request.reviewed':
      return [REVIEW_BREAK_GLASS];
    case 'grant.end_requested':
      return [END_ACCESS];
    default:
      return [];
  }
};
