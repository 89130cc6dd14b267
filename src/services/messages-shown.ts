import type { Database } from '../store/database.ts';
import { preparedStatement, runPrepared } from '../store/prepared-statement.ts';
import { MODEL_TYPES } from '../store/table-columns.ts';
import type { MessageLocations } from './load-request-view.ts';

/*
 * Whether a request's messages in Slack are up to date, told by the audit trail: every change a
 * message shows commits with an audit event of the request, so "the newest audit event of the
 * request" is the version of what its messages should show. A message is built from the request
 * read in the same statement as that event's seq (loadRequestView, one snapshot), so it shows that
 * version. `access_requests.messages_seq` keeps the version every message already in Slack shows
 * (at least): posting one lowers it to what that one shows (recordPostedMessage), a rewrite of all
 * of them that Slack took raises it (markMessagesShown). A request whose newest event is past it
 * has a message that may be out of date: the messages sweep rewrites it
 * (refresh-outdated-messages.ts), after a Slack refusal or a process that stopped in between.
 */

/** The seq of the request's newest audit event (0 before any): has the request changed since a read of it? */
export async function latestEventSeq(db: Database, requestId: string): Promise<bigint> {
  const { rows } = await runPrepared<{ seq: bigint | null }>(db.pool, LATEST_EVENT_SEQ, [requestId], MODEL_TYPES);
  return rows[0]?.seq ?? 0n;
}

/**
 * After Slack took a rewrite of every message at `locations`, built as of `shownSeq`: records that
 * they show it, unless a message was posted since (its poster answers for it) or the request
 * changed since (`latest` past `shownSeq`). Returns the request's newest event seq, read after
 * Slack's answers: when it is past `shownSeq`, a change committed while the messages were being
 * written, and its own rewrite may have reached Slack before this one, so the caller writes them
 * again from a fresh read. When it is not, any later change commits after this and its rewrite
 * reaches Slack after this one.
 */
export async function markMessagesShown(db: Database, requestId: string, locations: MessageLocations, shownSeq: bigint): Promise<{ latest: bigint }> {
  const { approvalMessageTs, requesterMessageTs, securityMessageTs } = locations;
  const { rows } = await runPrepared<{ latest: bigint | null }>(
    db.pool,
    MARK_MESSAGES_SHOWN,
    [requestId, shownSeq.toString(), approvalMessageTs, requesterMessageTs, securityMessageTs],
    MODEL_TYPES,
  );
  return { latest: rows[0]?.latest ?? 0n };
}

/**
 * For an item of a bundle (a request for several resources), whose messages show every item: the
 * newest audit event of any of them. Otherwise the request's own newest.
 */
export async function latestShownSeq(db: Database, requestId: string, bundleId: string | null | undefined): Promise<bigint> {
  if (!bundleId) return latestEventSeq(db, requestId);
  const { rows } = await db.pool.query<{ seq: bigint | null }>({ text: LATEST_BUNDLE_EVENT_SEQ, values: [bundleId], types: MODEL_TYPES });
  return rows[0]?.seq ?? 0n;
}

const LATEST_BUNDLE_EVENT_SEQ = 'SELECT max(e.seq) AS seq FROM audit_events AS e JOIN access_requests AS r ON r.id = e.request_id WHERE r.bundle_id = $1::uuid';

const LATEST_EVENT_SEQ = preparedStatement('latest_event_seq', 'SELECT max(seq) AS seq FROM audit_events WHERE request_id = $1::uuid');

const MARK_MESSAGES_SHOWN = preparedStatement(
  'mark_messages_shown',
  `
  WITH latest AS (SELECT max(seq) AS seq FROM audit_events WHERE request_id = $1::uuid),
  -- Runs although nothing reads it, as a data-modifying WITH does.
  marked AS (
    UPDATE access_requests SET messages_seq = $2::bigint
    WHERE id = $1::uuid
      AND approval_message_ts IS NOT DISTINCT FROM $3::text
      AND requester_message_ts IS NOT DISTINCT FROM $4::text
      AND security_message_ts IS NOT DISTINCT FROM $5::text
      AND (messages_seq IS NULL OR messages_seq < $2::bigint)
      AND $2::bigint >= coalesce((SELECT seq FROM latest), 0)
  )
  SELECT (SELECT seq FROM latest) AS latest`,
);
