import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';

/**
 * The audit trail is a hash chain: each event's hash covers its own content and the previous
 * event's hash, so altering, removing, inserting or reordering any event breaks every hash after
 * it. The content is serialised with RFC 8785 canonical JSON, so the hash does not depend on key
 * order or on how a database returns JSON.
 */
export const GENESIS_HASH = '0'.repeat(64);

export interface AuditContent {
  seq: bigint;
  at: Date;
  actor: string;
  action: string;
  requestId: string | null;
  data: unknown;
  prevHash: string;
}

export function auditHash(event: AuditContent): string {
  const canonical = canonicalize({
    seq: event.seq.toString(),
    at: event.at.toISOString(),
    actor: event.actor,
    action: event.action,
    requestId: event.requestId,
    data: event.data ?? null,
    prevHash: event.prevHash,
  });
  if (canonical === undefined) throw new Error('audit event content cannot be serialised');
  return createHash('sha256').update(canonical).digest('hex');
}
