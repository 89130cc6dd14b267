-- Audit events chained at COMMIT. Written by hand: Prisma's schema cannot express triggers, and
-- the staging table lives in a schema of its own, latch_staging, which Prisma neither models nor
-- introspects (its schema engine cannot read a constraint trigger, and the drift check would fail
-- on one in public). `latch migrate` therefore needs CREATE on the database, as its owner has.
--
-- Before: latch_append_audit_events took the chain's lock and inserted the events as the
-- transaction's last statement, and the lock was held until the COMMIT that followed, a round trip
-- to Latch later. Every writer in every process takes turns on that lock, so under load it became
-- the queue decisions waited in: the decisions benchmark found it held in 79-84 % of its samples,
-- 8-10 ms each, bounding the whole system at about 50 decisions a second on a busy machine.
--
-- Now: latch_append_audit_events only stages the events in latch_staging.audit_events, without the lock.
-- A constraint trigger, deferred to COMMIT, takes the lock, reads the head, hashes and inserts
-- each staged event of the transaction in the order it wrote them (and the evidence beside
-- people's decisions), and deletes it from staging. The lock is held from there to the end of
-- the commit, inside PostgreSQL: no round trip. The events still exist if and only if the
-- transaction commits, and the chain's order is the order of commits, as before.
--
-- The same lock key as before, so writers of the previous release (which insert under the lock
-- and hold it to COMMIT) take turns with these during a rolling upgrade.
CREATE SCHEMA latch_staging;

CREATE TABLE latch_staging.audit_events (
    -- Orders a transaction's events as it wrote them.
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "request_id" UUID,
    "data" JSONB NOT NULL,
    "slack_timestamp" TEXT,
    "slack_signature" TEXT,
    "raw_body" BYTEA,

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("id")
);

-- Same signature and meaning as before, for every caller (both kinds of transaction, the
-- revocation's single statement): the events are the transaction's, in order.
CREATE OR REPLACE FUNCTION latch_append_audit_events(
  p_at TIMESTAMPTZ[], p_actor TEXT[], p_action TEXT[], p_request_id UUID[], p_data JSONB[],
  p_slack_timestamp TEXT[], p_slack_signature TEXT[], p_raw_body_hex TEXT[])
RETURNS VOID
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  -- One INSERT an event, in order: the ids order a transaction's events as written.
  FOR i IN 1 .. COALESCE(pg_catalog.array_length(p_at, 1), 0) LOOP
    INSERT INTO latch_staging.audit_events (at, actor, action, request_id, data, slack_timestamp, slack_signature, raw_body)
      VALUES (p_at[i]::TIMESTAMPTZ(3), p_actor[i], p_action[i], p_request_id[i], p_data[i], p_slack_timestamp[i], p_slack_signature[i],
        CASE WHEN p_raw_body_hex[i] IS NULL THEN NULL ELSE pg_catalog.decode(p_raw_body_hex[i], 'hex') END);
  END LOOP;
END;
$$;

-- Runs at COMMIT once per staged event, in the order they were staged: chains that one event and
-- takes it out of staging. Only its own row is touched, by its key, so however many dead rows the
-- staging table holds between vacuums, nothing scans them.
--
-- plpgsql runs each statement with a fresh snapshot (READ COMMITTED), so the head is read after
-- the lock is granted and sees the previous holder's committed events, and this transaction's own
-- events chained by the runs before this one: no fork. Built-ins are schema-qualified, as in
-- latch_audit_hash_input_v2.
CREATE FUNCTION latch_chain_pending_audit_events()
RETURNS TRIGGER
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  head_seq BIGINT;
  head_hash TEXT;
  event_hash TEXT;
BEGIN
  PERFORM pg_catalog.pg_advisory_xact_lock(4917320118);
  SELECT e.seq, e.hash INTO head_seq, head_hash FROM audit_events e ORDER BY e.seq DESC LIMIT 1;
  head_seq := COALESCE(head_seq, 0) + 1;
  head_hash := COALESCE(head_hash, pg_catalog.repeat('0', 64));
  event_hash := pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
    latch_audit_hash_input_v2(head_seq, NEW.at, NEW.actor, NEW.action, NEW.request_id, head_hash, NEW.data), 'UTF8')), 'hex');
  INSERT INTO audit_events (seq, at, actor, action, request_id, data, prev_hash, hash, hash_format)
    VALUES (head_seq, NEW.at, NEW.actor, NEW.action, NEW.request_id, NEW.data, head_hash, event_hash, 2);
  IF NEW.raw_body IS NOT NULL THEN
    INSERT INTO decision_evidence (audit_seq, slack_timestamp, slack_signature, raw_body)
      VALUES (head_seq, NEW.slack_timestamp, NEW.slack_signature, NEW.raw_body);
  END IF;
  DELETE FROM latch_staging.audit_events WHERE id = NEW.id;
  RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER chain_at_commit
  AFTER INSERT ON latch_staging.audit_events
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION latch_chain_pending_audit_events();
