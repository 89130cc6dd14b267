-- A slash command's risk read (src/store/risk-history.ts) takes the role's last 1,000 requests in
-- the lookback, newest first. Without this index PostgreSQL read every request for the resource
-- (access_requests_resource_state_idx) and sorted them, a cost that grew with the table; with it
-- the read walks the role's newest rows and stops at the limit.
CREATE INDEX "access_requests_resource_role_created_at_idx" ON "access_requests"("resource_id", "role", "created_at");
