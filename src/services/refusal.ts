/**
 * Why a use case will not do what a person asked: the one shape every use case answers a person
 * with. Expected, and nothing changed because of it (an unexpected failure is thrown instead).
 *
 * - `code` says which refusal it is, for the log, metrics and tests: a message may be reworded,
 *   a code is not.
 * - `message` is fit to show the person as it is: plain sentences, already naming what they need.
 * - `detail` is for the log only, never shown: what the message leaves out (the state found, the
 *   policy's reason code).
 * - `fields`: form fields the refusal is about (`invalid_input`), each with its own message, so a
 *   form can show each beside its field.
 */
export interface Refusal {
  readonly code: RefusalCode;
  readonly message: string;
  readonly detail?: Readonly<Record<string, unknown>>;
  readonly fields?: Readonly<Record<string, string>>;
}

export type RefusalCode =
  /** The request (or the access it belongs to) does not exist. */
  | 'not_found'
  /** The form's answers do not make a valid request; `fields` says which and why. */
  | 'invalid_input'
  /** The policy does not name this person for what they tried. */
  | 'not_allowed'
  /** A decider who is not an approver of the resource. */
  | 'not_approver'
  /** Deciding or reviewing what one asked for oneself. */
  | 'own_request'
  /** A decision on a request no longer waiting for one. */
  | 'not_pending'
  /** A second vote by the same approver on the same revision. */
  | 'already_decided'
  /** The request changed after the person saw it. */
  | 'stale'
  /** The policy in force no longer allows the request (it may have been closed because of it). */
  | 'no_longer_fits'
  /** The person already has as many requests waiting as the policy allows. */
  | 'limit_reached'
  /** Latch will not grant to the account the person's identity resolves to, or cannot tell it. */
  | 'identity_refused'
  /** The person's Slack account may not decide: deactivated, a bot, a guest, another workspace's. */
  | 'account_refused'
  /** Slack could not say who the person is just now; asking again later may work. */
  | 'profile_unavailable'
  /** The target could not say just now whether it can grant the scope asked for; asking again later may work. */
  | 'scope_unavailable'
  /** A cancellation of a request that is past being called off. */
  | 'not_cancellable'
  /** Latch has begun granting: too late to cancel, the access is ended instead. */
  | 'already_granting'
  /** Ending access that is not live. */
  | 'not_active'
  /** A second request for more time while one waits for its decision. */
  | 'already_asked'
  /** More time for access that has already ended. */
  | 'already_ended'
  /** A review of a request that is not break-glass. */
  | 'not_break_glass'
  /** A second review of the same break-glass use. */
  | 'already_reviewed'
  /** Credentials asked of a resource that grants roles to existing accounts (it makes no logins). */
  | 'no_credentials'
  /** Credentials asked for before the access is granted. */
  | 'not_granted'
  /** A second fetch of credentials that are handed out once. */
  | 'credentials_issued'
  /** The target could not set the credentials just now; asking again later may work. */
  | 'credentials_unavailable';

/** A use case's answer when it refuses: `{ ok: false, refusal }`, with whatever else callers need beside it. */
export type Refused = { ok: false; refusal: Refusal };

export function refuse(code: RefusalCode, message: string, more: { detail?: Record<string, unknown>; fields?: Record<string, string> } = {}): Refused {
  return { ok: false, refusal: { code, message, ...more } };
}

/** Form errors as one refusal: each field keeps its message, and `message` says them all at once. */
export function invalidInput(fields: Readonly<Record<string, string | undefined>>): Refused {
  const given = Object.fromEntries(Object.entries(fields).filter((entry): entry is [string, string] => entry[1] !== undefined));
  return refuse('invalid_input', Object.values(given).join(' '), { fields: given });
}
