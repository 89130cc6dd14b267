/**
 * The AccessRequest state machine. pending → approved → active → revoked; pending → denied |
 * cancelled | expired; approved → cancelled before its access is granted (a later start called
 * off); approved | active → failed when a provider gives up. Break-glass requests
 * are created active. The use cases ask `canTransition` before each change of state, so no code
 * path can skip a state (re-activate a denied request, approve an expired one).
 */
export const REQUEST_STATES = ['pending', 'approved', 'active', 'revoked', 'denied', 'cancelled', 'expired', 'failed'] as const;
export type RequestState = (typeof REQUEST_STATES)[number];

const TRANSITIONS: Readonly<Record<RequestState, readonly RequestState[]>> = {
  pending: ['approved', 'denied', 'cancelled', 'expired'],
  approved: ['active', 'failed', 'revoked', 'cancelled'],
  active: ['revoked', 'failed'],
  revoked: [],
  denied: [],
  cancelled: [],
  expired: [],
  failed: [],
};

export function canTransition(from: RequestState, to: RequestState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** A request in one of these states will never change again. */
export function isFinal(state: RequestState): boolean {
  return TRANSITIONS[state].length === 0;
}
