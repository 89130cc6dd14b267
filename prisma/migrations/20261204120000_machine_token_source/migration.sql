-- Where a machine token came from: `latch token create` (operator) or the exchange of a workload's
-- OIDC token at POST /api/v1/oidc/token (oidc). A token is accepted only for a machine that still
-- authenticates the way it was issued; an exchanged one also records the OIDC token's subject, and
-- the issuer, audiences and claims it was given for, which the machine's rules in force must still
-- accept at every call.
CREATE TYPE "machine_token_source" AS ENUM ('operator', 'oidc');

ALTER TABLE "machine_tokens" ADD COLUMN "source" "machine_token_source" NOT NULL DEFAULT 'operator',
ADD COLUMN "oidc_subject" TEXT,
ADD COLUMN "oidc_workload" JSONB;
