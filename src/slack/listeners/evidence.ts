import type { Context } from '@slack/bolt';
import type { SlackRequestEvidence } from '../../domain/decision-evidence.ts';
import { EVIDENCE_PROPERTY } from '../slack-transport.ts';

/**
 * How the request a listener is handling reached Latch: over HTTP, the signed request itself,
 * which a person's decision keeps as evidence; in Socket Mode, only that (nothing is signed).
 * Undefined if the transport said nothing, and then the decision is recorded without evidence.
 */
export function evidenceOf(context: Context): SlackRequestEvidence | undefined {
  const evidence = context[EVIDENCE_PROPERTY] as SlackRequestEvidence | undefined;
  if (evidence?.transport === 'http' && evidence.rawBody instanceof Uint8Array) return evidence;
  if (evidence?.transport === 'socket-mode') return evidence;
  return undefined;
}
