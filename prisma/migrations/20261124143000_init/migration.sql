-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "request_state" AS ENUM ('pending', 'approved', 'active', 'revoked', 'denied', 'cancelled', 'expired', 'failed');

-- CreateEnum
CREATE TYPE "decision" AS ENUM ('approve', 'deny');

-- CreateTable
CREATE TABLE "access_requests" (
    "id" UUID NOT NULL,
    "requester_slack_id" TEXT NOT NULL,
    "slack_team_id" TEXT,
    "resource_id" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "duration_seconds" INTEGER NOT NULL,
    "reason" TEXT NOT NULL,
    "ticket" TEXT,
    "state" "request_state" NOT NULL DEFAULT 'pending',
    "break_glass" BOOLEAN NOT NULL DEFAULT false,
    "revision" INTEGER NOT NULL DEFAULT 1,
    "required_approvals" INTEGER NOT NULL DEFAULT 1,
    "policy_version" TEXT,
    "decided_by_rule" TEXT,
    "approval_channel_id" TEXT,
    "approval_message_ts" TEXT,
    "requester_channel_id" TEXT,
    "requester_message_ts" TEXT,
    "pending_expires_at" TIMESTAMPTZ(3),
    "decided_at" TIMESTAMPTZ(3),
    "ended_at" TIMESTAMPTZ(3),
    "outcome_reason" TEXT,
    "review_due_at" TIMESTAMPTZ(3),
    "reviewed_by_slack_id" TEXT,
    "reviewed_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "access_requests_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "approvals" (
    "id" UUID NOT NULL,
    "request_id" UUID NOT NULL,
    "request_revision" INTEGER NOT NULL,
    "approver_slack_id" TEXT NOT NULL,
    "decision" "decision" NOT NULL,
    "comment" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "approvals_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "grants" (
    "id" UUID NOT NULL,
    "request_id" UUID NOT NULL,
    "provider" TEXT NOT NULL,
    "principal" TEXT NOT NULL,
    "granted_at" TIMESTAMPTZ(3),
    "expires_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),
    "revoke_reason" TEXT,
    "revoked_by_slack_id" TEXT,
    "grant_attempts" INTEGER NOT NULL DEFAULT 0,
    "revoke_attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    "last_error_at" TIMESTAMPTZ(3),
    "overdue_alerted_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "grants_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "audit_events" (
    "seq" BIGINT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "request_id" UUID,
    "data" JSONB NOT NULL,
    "prev_hash" TEXT NOT NULL,
    "hash" TEXT NOT NULL,

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("seq")
);

-- CreateIndex
CREATE INDEX "access_requests_state_created_at_idx" ON "access_requests"("state", "created_at");

-- CreateIndex
CREATE INDEX "access_requests_requester_created_at_idx" ON "access_requests"("requester_slack_id", "created_at");

-- CreateIndex
CREATE INDEX "access_requests_resource_state_idx" ON "access_requests"("resource_id", "state");

-- CreateIndex
CREATE INDEX "access_requests_state_pending_expires_at_idx" ON "access_requests"("state", "pending_expires_at");

-- CreateIndex
CREATE INDEX "approvals_approver_created_at_idx" ON "approvals"("approver_slack_id", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "approvals_request_revision_approver_key" ON "approvals"("request_id", "request_revision", "approver_slack_id");

-- CreateIndex
CREATE UNIQUE INDEX "grants_request_id_key" ON "grants"("request_id");

-- CreateIndex
CREATE INDEX "grants_revoked_at_expires_at_idx" ON "grants"("revoked_at", "expires_at");

-- CreateIndex
CREATE INDEX "grants_provider_principal_idx" ON "grants"("provider", "principal");

-- CreateIndex
CREATE UNIQUE INDEX "audit_events_hash_key" ON "audit_events"("hash");

-- CreateIndex
CREATE INDEX "audit_events_at_idx" ON "audit_events"("at");

-- CreateIndex
CREATE INDEX "audit_events_request_seq_idx" ON "audit_events"("request_id", "seq");

-- AddForeignKey
ALTER TABLE "approvals" ADD CONSTRAINT "approvals_request_id_fkey" FOREIGN KEY ("request_id") REFERENCES "access_requests"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "grants" ADD CONSTRAINT "grants_request_id_fkey" FOREIGN KEY ("request_id") REFERENCES "access_requests"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_request_id_fkey" FOREIGN KEY ("request_id") REFERENCES "access_requests"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
