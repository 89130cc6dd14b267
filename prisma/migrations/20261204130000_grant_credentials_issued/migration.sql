-- Dynamic credentials (a login Latch creates per request) are handed to their requester once:
-- the time they were, so a second fetch is refused. The password itself is never stored.
ALTER TABLE "grants" ADD COLUMN "credentials_issued_at" TIMESTAMPTZ(3);
