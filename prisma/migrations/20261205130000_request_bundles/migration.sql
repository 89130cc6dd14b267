-- One request for several resources at once: each item stays its own request (grant, audit
-- trail, state), linked to the item whose approval card shows them all, in the order asked.
ALTER TABLE "access_requests" ADD COLUMN "bundle_id" UUID,
ADD COLUMN "bundle_position" INTEGER;

-- CreateIndex
CREATE INDEX "access_requests_bundle_id_idx" ON "access_requests"("bundle_id");
