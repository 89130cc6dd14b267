-- How long sessions may outlive a grant's revocation (an AWS permission set's session duration).
ALTER TABLE "grants" ADD COLUMN "effective_end_lag_seconds" INTEGER;
