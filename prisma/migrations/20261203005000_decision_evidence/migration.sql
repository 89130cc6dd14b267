-- Decision evidence: the signed Slack request behind each person's decision (HTTP mode), kept
-- with the audit event it led to, so `latch audit verify` can check with the signing secret that
-- this person really pressed that button. Append-only like audit_events (the triggers below,
-- written by hand: Prisma's schema cannot express them); the app role gets SELECT, INSERT only.
-- `audit_seq` is the event's sequence number; no foreign key, which would make PostgreSQL refuse a
-- TRUNCATE of audit_events with its own error before the append-only trigger says why.
CREATE TABLE "decision_evidence" (
    "audit_seq" BIGINT NOT NULL,
    "slack_timestamp" TEXT NOT NULL,
    "slack_signature" TEXT NOT NULL,
    "raw_body" BYTEA NOT NULL,

    CONSTRAINT "decision_evidence_pkey" PRIMARY KEY ("audit_seq")
);

-- Where evidence starts: the chain's last event when this migration ran. People's decisions up to
-- it predate evidence; every later one must carry evidence or say how it came (Socket Mode). Set
-- here, by the role that owns the tables, so the app's role cannot move it.
CREATE TABLE "audit_evidence_start" (
    "after_seq" BIGINT NOT NULL,
    "recorded_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_evidence_start_pkey" PRIMARY KEY ("after_seq")
);

INSERT INTO "audit_evidence_start" ("after_seq") SELECT COALESCE(MAX("seq"), 0) FROM "audit_events";

CREATE FUNCTION latch_refuse_evidence_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER decision_evidence_append_only
  BEFORE UPDATE OR DELETE ON "decision_evidence"
  FOR EACH ROW EXECUTE FUNCTION latch_refuse_evidence_change();

CREATE TRIGGER decision_evidence_no_truncate
  BEFORE TRUNCATE ON "decision_evidence"
  FOR EACH STATEMENT EXECUTE FUNCTION latch_refuse_evidence_change();

CREATE TRIGGER audit_evidence_start_fixed
  BEFORE INSERT OR UPDATE OR DELETE ON "audit_evidence_start"
  FOR EACH ROW EXECUTE FUNCTION latch_refuse_evidence_change();

CREATE TRIGGER audit_evidence_start_no_truncate
  BEFORE TRUNCATE ON "audit_evidence_start"
  FOR EACH STATEMENT EXECUTE FUNCTION latch_refuse_evidence_change();
