import type { Database } from './database.ts';

/** Where one of a request's messages is in Slack: the columns that say it, by message. */
export type MessageLocation =
  | { kind: 'approval'; ts: string }
  | { kind: 'requester'; channelId: string | null; ts: string }
  | { kind: 'security'; ts: string };

// messages_seq: the request's messages are known to be up to date only as far as the oldest of
// them (LEAST skips the NULL of a request with no message yet); see services/messages-shown.ts.
const UPDATES: Record<MessageLocation['kind'], string> = {
  approval: 'UPDATE access_requests SET approval_message_ts = $2, messages_seq = LEAST(messages_seq, $3::bigint), updated_at = now() WHERE id = $1',
  requester: 'UPDATE access_requests SET requester_channel_id = $4, requester_message_ts = $2, messages_seq = LEAST(messages_seq, $3::bigint), updated_at = now() WHERE id = $1',
  security: 'UPDATE access_requests SET security_message_ts = $2, messages_seq = LEAST(messages_seq, $3::bigint), updated_at = now() WHERE id = $1',
};

/**
 * Stores where a request's message is, and that it shows the request as of audit event `shownSeq`,
 * in one statement that reads nothing back.
 */
export async function storeMessageLocation(db: Database, requestId: string, location: MessageLocation, shownSeq: bigint): Promise<void> {
  const values = [requestId, location.ts, shownSeq.toString()];
  await db.pool.query(UPDATES[location.kind], location.kind === 'requester' ? [...values, location.channelId] : values);
}
