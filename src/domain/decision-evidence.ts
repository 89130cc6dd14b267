import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { AuditContent } from './audit-hash.ts';
import { isMachineRequester } from './machine.ts';

/**
 * How a person's decision reached Latch, recorded with its audit event. Over HTTP Slack signs
 * each request with the app's signing secret; keeping the exact bytes it signed lets anyone with
 * that secret check later that this person pressed that button, which the database's credentials
 * alone cannot forge. Socket Mode carries no signature; the seeder writes simulated history.
 */
export type DecisionTransport = 'http' | 'socket-mode' | 'seed';

export type SlackRequestEvidence =
  | {
      transport: 'http';
      /** The request body exactly as Slack signed it. */
      rawBody: Uint8Array;
      /** X-Slack-Request-Timestamp and X-Slack-Signature as they came. */
      timestamp: string;
      signature: string;
    }
  | { transport: 'socket-mode' }
  | { transport: 'seed' };

/** The audit event's data key naming the transport (part of the hashed content). */
export const TRANSPORT_KEY = 'transport';

/** Audit actions that record a person's decision; made by a Slack user, each needs evidence. */
export const PERSON_DECISION_ACTIONS = ['approval.recorded', 'request.changed', 'request.approved', 'request.denied', 'request.cancelled', 'request.reviewed', 'grant.end_requested'] as const;

/** The Slack interactions (action_id or view callback_id) that can make an audit event. */
export type DecisionInteractions = (action: string, data: Record<string, unknown>) => readonly string[];

/** An audit event as the chain hashes it, without its link to the one before. */
export type EvidenceEvent = Omit<AuditContent, 'prevHash'>;

export interface StoredEvidence {
  slackTimestamp: string;
  slackSignature: string;
  rawBody: Uint8Array;
}

export type EvidenceVerdict =
  | { kind: 'not-a-decision' }
  /** The signed request is this person doing this; `signatureChecked` false when no secret was given. */
  | { kind: 'signed'; signatureChecked: boolean }
  | { kind: 'unsigned'; why: 'socket-mode' | 'seed' | 'predates-evidence' }
  | { kind: 'problem'; message: string };

export interface EvidenceRules {
  /** People's decisions up to this event predate evidence. */
  evidenceStartsAfter: bigint;
  /** Null: signatures are not checked (the rest is). */
  signingSecret: string | null;
  interactions: DecisionInteractions;
}

/**
 * What the audit chain (verified intact) says of the request an "Approve all" vote is on, read by
 * the caller from the events, never from the state rows, which DATABASE_URL can UPDATE. The click
 * names only the card: which requests are its items is this.
 */
export interface ApproveAllFacts {
  /** The bundle the request's first `request.created` event put it in, and that event's seq; null: in none. */
  itemOf: { bundleId: string; createdSeq: bigint } | null;
  /** The seq of the first event that carries the vote's signed click. */
  clickFirstSeq: bigint;
}

/** Slack refuses a request more than five minutes old; the decision follows within seconds. */
const MAX_SECONDS_AFTER_SIGNING = 6 * 60;
const MAX_CLOCK_SKEW_SECONDS = 60;

/**
 * What a machine may do itself through the API, authenticated by its token, not by Slack: end its
 * own access early (cancelling a pending extension of it). Any other decision with a machine as
 * its actor still needs a person's signed Slack request, so it is reported: machines never decide.
 */
const MACHINE_ACTIONS: readonly string[] = ['grant.end_requested', 'request.cancelled'];

/**
 * What a person may do from their terminal with the token of a `latch login` (its id in the
 * event's `tokenId`), authenticated by that token rather than a Slack signature: the same as a
 * machine, only ending or calling off their own access, which takes privilege away and gives
 * none. Anything else a person does still needs their signed Slack request.
 */
const isEndedWithToken = (event: Pick<EvidenceEvent, 'action' | 'data'>) => MACHINE_ACTIONS.includes(event.action) && typeof recordOf(event.data).tokenId === 'string';

export function isPersonDecision(event: Pick<EvidenceEvent, 'actor' | 'action' | 'data'>): boolean {
  if (isMachineRequester(event.actor) && MACHINE_ACTIONS.includes(event.action)) return false;
  if (isEndedWithToken(event)) return false;
  return (PERSON_DECISION_ACTIONS as readonly string[]).includes(event.action) && event.actor !== 'latch' && !event.actor.startsWith('policy:');
}

/**
 * Does this event of a person's decision come with evidence that it is what they did?
 * `approveAll`: needed for a vote given through "Approve all" (absent, it is taken for a request in no bundle).
 */
export function checkDecisionEvidence(event: EvidenceEvent, evidence: StoredEvidence | null, rules: EvidenceRules, approveAll?: ApproveAllFacts): EvidenceVerdict {
  if (!isPersonDecision(event)) return { kind: 'not-a-decision' };
  const data = recordOf(event.data);
  const transport = data[TRANSPORT_KEY];
  if (transport === undefined && event.seq <= rules.evidenceStartsAfter) return { kind: 'unsigned', why: 'predates-evidence' };
  if (transport === 'socket-mode' || transport === 'seed') return { kind: 'unsigned', why: transport };
  if (transport !== 'http') return problem(event, 'has no evidence: no signed Slack request records it');
  if (!evidence) return problem(event, 'has no evidence: its signed Slack request is missing');
  if (rules.signingSecret !== null && !signatureHolds(evidence, rules.signingSecret)) {
    return problem(event, 'has evidence whose Slack signature does not verify (altered or not signed by Slack)');
  }
  const signedAt = Number(evidence.slackTimestamp) * 1000;
  const delay = (event.at.getTime() - signedAt) / 1000;
  if (!Number.isFinite(signedAt) || delay > MAX_SECONDS_AFTER_SIGNING || delay < -MAX_CLOCK_SKEW_SECONDS) {
    return problem(event, `has evidence signed at another time (${Number.isFinite(signedAt) ? new Date(signedAt).toISOString() : evidence.slackTimestamp})`);
  }
  const interaction = readInteraction(evidence.rawBody);
  if (!interaction) return problem(event, 'has evidence that is not a Slack interaction');
  if (interaction.userId !== event.actor) return problem(event, `has evidence of another person (${interaction.userId}) acting`);
  const expected = rules.interactions(event.action, data);
  if (!expected.includes(interaction.id)) return problem(event, `has evidence of another action (${interaction.id})`);
  // approvedAllOf: the card an "Approve all" was clicked on, the one request its click names;
  // endedWith: the access an "I'm done" was clicked on.
  const card = typeof data.approvedAllOf === 'string' ? data.approvedAllOf : null;
  const requestIds = card !== null ? [card] : [event.requestId, ...(typeof data.endedWith === 'string' ? [data.endedWith] : [])];
  if (!interaction.requestId || !requestIds.includes(interaction.requestId)) {
    return problem(event, `has evidence of an action on another request (${interaction.requestId ?? 'none'})`);
  }
  if (card !== null) {
    const item = approveAll?.itemOf;
    // Anyone holding DATABASE_URL can append a vote on any request naming any card: only the card's items count.
    if (!approveAll || item?.bundleId !== card) return problem(event, `has evidence of "Approve all" on a request that is not an item of its card (${card})`);
    // Every item is created before its card is posted, so before any click on it; one appended afterwards naming the card is not an item.
    if (item.createdSeq >= approveAll.clickFirstSeq) {
      return problem(event, `has evidence of "Approve all" on a request created (event ${item.createdSeq}) after that click was first used (event ${approveAll.clickFirstSeq})`);
    }
  }
  return { kind: 'signed', signatureChecked: rules.signingSecret !== null };
}

/** The bundle a `request.created` event's data puts its request in (`bundle.id`), or null. */
export function bundleCreatedIn(data: unknown): string | null {
  const bundle = recordOf(recordOf(data).bundle);
  return typeof bundle.id === 'string' ? bundle.id : null;
}

/** Slack's scheme: `v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<raw body>`, compared in constant time. */
export function slackSignature(signingSecret: string, timestamp: string, rawBody: Uint8Array): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:`).update(rawBody).digest('hex')}`;
}

function signatureHolds(evidence: StoredEvidence, signingSecret: string): boolean {
  const expected = Buffer.from(slackSignature(signingSecret, evidence.slackTimestamp, evidence.rawBody));
  const given = Buffer.from(evidence.slackSignature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

const interactionSchema = z.object({
  user: z.object({ id: z.string() }),
  actions: z.array(z.object({ action_id: z.string(), value: z.string().optional() })).min(1).optional(),
  view: z.object({ callback_id: z.string().optional(), private_metadata: z.string().optional() }).optional(),
  type: z.string(),
});

/** Who did what to which request, as the signed payload says (a button click or a form submission). */
export function readInteraction(rawBody: Uint8Array): { userId: string; id: string; requestId: string | null } | null {
  const payload = new URLSearchParams(Buffer.from(rawBody).toString('utf8')).get('payload');
  if (payload === null) return null;
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch {
    return null;
  }
  const parsed = interactionSchema.safeParse(json);
  if (!parsed.success) return null;
  const { user, actions, view, type } = parsed.data;
  if (type === 'block_actions' && actions) return { userId: user.id, id: actions[0]!.action_id, requestId: actions[0]!.value ?? null };
  if (type === 'view_submission' && view?.callback_id) return { userId: user.id, id: view.callback_id, requestId: view.private_metadata ?? null };
  return null;
}

function problem(event: EvidenceEvent, what: string): EvidenceVerdict {
  return { kind: 'problem', message: `event ${event.seq} (${event.action} by ${event.actor}) ${what}` };
}

function recordOf(data: unknown): Record<string, unknown> {
  return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : {};
}
