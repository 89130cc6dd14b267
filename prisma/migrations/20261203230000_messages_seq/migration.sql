-- How far a request's Slack messages are known to be up to date: the seq of the newest audit
-- event of the request that every message of it already in Slack shows (or a later one). A
-- request with an audit event past it has a message that may still show an older state (an update
-- Slack refused, a process that stopped between its commit and its update): the messages sweep
-- rewrites those. Null: none of its messages is in Slack yet.
ALTER TABLE "access_requests" ADD COLUMN "messages_seq" BIGINT;

-- Messages already posted are taken as up to date, so the first sweep does not rewrite them all.
UPDATE "access_requests" AS r
SET "messages_seq" = (SELECT max(e."seq") FROM "audit_events" AS e WHERE e."request_id" = r."id")
WHERE r."approval_message_ts" IS NOT NULL OR r."requester_message_ts" IS NOT NULL OR r."security_message_ts" IS NOT NULL;
