-- What the standing-access scan found: role holders without a grant covering them.
CREATE TABLE "standing_access_findings" (
    "id" UUID NOT NULL,
    "resource_id" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "principal" TEXT NOT NULL,
    "first_seen_at" TIMESTAMPTZ(3) NOT NULL,
    "last_seen_at" TIMESTAMPTZ(3) NOT NULL,
    "resolved_at" TIMESTAMPTZ(3),

    CONSTRAINT "standing_access_findings_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "standing_access_findings_open_idx" ON "standing_access_findings"("resolved_at", "resource_id", "role");
