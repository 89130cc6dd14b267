import type { Database } from './database.ts';

/** Where one of a request's messages is in Slack: the columns that say it, by message. */
export type MessageLocation =
  | { kind: 'approval'; ts: string }
  | { kind: 'requester'; channelId: string | null; ts: string }
  | { kind: 'security'; ts: string };

const UPDATES: Record<MessageLocation['kind'], string> = {
  approval: 'UPDATE access_requests SET approval_message_ts = $2, updated_at = now() WHERE id = $1',
  requester: 'UPDATE access_requests SET requester_channel_id = $3, requester_message_ts = $2, updated_at = now() WHERE id = $1',
  security: 'UPDATE access_requests SET security_message_ts = $2, updated_at = now() WHERE id = $1',
};

/** Stores where a request's message is, in one statement that reads nothing back. */
export async function storeMessageLocation(db: Database, requestId: string, location: MessageLocation): Promise<void> {
  await db.pool.query(UPDATES[location.kind], location.kind === 'requester' ? [requestId, location.ts, location.channelId] : [requestId, location.ts]);
}
