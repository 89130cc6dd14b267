-- A request may ask for access from a later time (a maintenance window); the duration counts from it.
ALTER TABLE "access_requests" ADD COLUMN "starts_at" TIMESTAMPTZ(3);

-- Grants name the access they give, so overlapping grants of the same role to the same principal
-- can be found without a join, under the lock that serialises them. Backfilled from the request.
ALTER TABLE "grants" ADD COLUMN "resource_id" TEXT;
ALTER TABLE "grants" ADD COLUMN "role" TEXT;
UPDATE "grants" g SET "resource_id" = r."resource_id", "role" = r."role" FROM "access_requests" r WHERE r."id" = g."request_id";
ALTER TABLE "grants" ALTER COLUMN "resource_id" SET NOT NULL;
ALTER TABLE "grants" ALTER COLUMN "role" SET NOT NULL;

-- When someone asked for the access to end before its expiry ("I'm done", "Revoke now").
ALTER TABLE "grants" ADD COLUMN "end_requested_at" TIMESTAMPTZ(3);

CREATE INDEX "grants_access_idx" ON "grants"("resource_id", "role", "principal");
