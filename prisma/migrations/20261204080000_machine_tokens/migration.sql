-- API tokens of machine principals (`latch token create`). Only a hash of each token's secret is
-- kept: a copy of this table lets nobody call the API. A token names its row by id, and its
-- secret's SHA-256 is compared in constant time with `secret_hash`.
CREATE TABLE "machine_tokens" (
    "id" UUID NOT NULL,
    "machine_id" TEXT NOT NULL,
    "secret_hash" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "machine_tokens_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "machine_tokens_machine_id_idx" ON "machine_tokens"("machine_id");
