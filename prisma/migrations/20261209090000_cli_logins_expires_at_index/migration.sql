-- `POST /logins` needs no token, so the logins waiting for a person are bounded in total
-- (LATCH_MAX_WAITING_LOGINS): each start counts them, under a lock, before inserting. A login waits
-- at most ten minutes, so the unexpired ones are few and this index finds them without reading the
-- rows of every login ever started.
CREATE INDEX "cli_logins_expires_at_idx" ON "cli_logins"("expires_at");
