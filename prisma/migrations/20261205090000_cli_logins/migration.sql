-- People's `latch login` (a device authorization, RFC 8628): started by the CLI, confirmed by the
-- person in Slack, then traded once for a short-lived token acting as them. Only hashes of the
-- device secret and of the token's secret are kept: a copy of this table lets nobody call the API.
CREATE TABLE "cli_logins" (
    "id" UUID NOT NULL,
    "device_secret_hash" TEXT NOT NULL,
    "user_code" TEXT NOT NULL,
    "client_address" TEXT NOT NULL,
    "client_name" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "slack_user_id" TEXT,
    "confirmed_at" TIMESTAMPTZ(3),
    "refused_at" TIMESTAMPTZ(3),
    "token_secret_hash" TEXT,
    "token_issued_at" TIMESTAMPTZ(3),
    "token_expires_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "cli_logins_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "cli_logins_device_secret_hash_key" ON "cli_logins"("device_secret_hash");

CREATE INDEX "cli_logins_user_code_idx" ON "cli_logins"("user_code");
