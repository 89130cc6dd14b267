-- Audit events in one statement at the end of their transaction, and a cheaper hash for new ones.
-- Written by hand (Prisma's schema cannot express functions); schema.prisma has the column.
--
-- hash_format says how an event's hash was computed, so every event verifies by the rule it was
-- written under: 1, RFC 8785 canonical JSON of the event (every event before this migration, and
-- any a Latch still running the old code appends during a rolling upgrade: hence the default);
-- 2, latch_audit_hash_input_v2 below. src/domain/audit-hash.ts defines both, for checking exports
-- without the database.
ALTER TABLE "audit_events" ADD COLUMN "hash_format" SMALLINT NOT NULL DEFAULT 1;

-- The text an event of format 2 hashes: a JSON array of its fields, as PostgreSQL writes jsonb
-- (", " and ": " separators, object keys ordered by byte length, then bytewise, numbers in plain
-- decimal), written out by concatenation: to_json of text escapes as jsonb's output does, and
-- data::text is jsonb's output. The database renders it from the stored row, so `latch audit verify` reads it ready
-- to hash instead of parsing and re-serialising every event's data, and the writer's hash is of
-- exactly what was stored. Built-ins are schema-qualified: a role that can create functions in
-- public cannot shadow them for the writer.
CREATE FUNCTION latch_audit_hash_input_v2(seq BIGINT, at TIMESTAMPTZ, actor TEXT, action TEXT, request_id UUID, prev_hash TEXT, data JSONB)
RETURNS TEXT
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT '["latch-audit-v2", "' || seq::text || '", "' || pg_catalog.to_char(pg_catalog.timezone('UTC', at), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '", ' ||
    pg_catalog.to_json(actor)::text || ', ' || pg_catalog.to_json(action)::text || ', ' || COALESCE(pg_catalog.to_json(request_id::text)::text, 'null') || ', ' ||
    pg_catalog.to_json(prev_hash)::text || ', ' || data::text || ']'
$$;

-- Appends a transaction's audit events (and the signed Slack requests behind people's decisions)
-- in one round trip, called last in the transaction, just before COMMIT: it takes the chain's
-- lock, reads the head, hashes and inserts every event in order, then inserts the evidence. The
-- lock is held from here to COMMIT only, one round trip. The same lock key as the code before it
-- (src/store/audit-log.ts), so old and new writers take turns during a rolling upgrade.
--
-- plpgsql runs each statement with a fresh snapshot (READ COMMITTED), so the head is read after
-- the lock is granted and sees the previous holder's committed events: no fork.
-- Evidence arrays are as long as the events; NULL where an event has none. Bodies are hex.
CREATE FUNCTION latch_append_audit_events(
  p_at TIMESTAMPTZ[], p_actor TEXT[], p_action TEXT[], p_request_id UUID[], p_data JSONB[],
  p_slack_timestamp TEXT[], p_slack_signature TEXT[], p_raw_body_hex TEXT[])
RETURNS VOID
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  head_seq BIGINT;
  head_hash TEXT;
  event_at TIMESTAMPTZ;
  event_hash TEXT;
BEGIN
  PERFORM pg_catalog.pg_advisory_xact_lock(4917320118);
  SELECT e.seq, e.hash INTO head_seq, head_hash FROM audit_events e ORDER BY e.seq DESC LIMIT 1;
  head_seq := COALESCE(head_seq, 0);
  head_hash := COALESCE(head_hash, pg_catalog.repeat('0', 64));
  FOR i IN 1 .. COALESCE(pg_catalog.array_length(p_at, 1), 0) LOOP
    head_seq := head_seq + 1;
    -- Hashed as stored: timestamptz(3) keeps milliseconds.
    event_at := p_at[i]::TIMESTAMPTZ(3);
    event_hash := pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
      latch_audit_hash_input_v2(head_seq, event_at, p_actor[i], p_action[i], p_request_id[i], head_hash, p_data[i]), 'UTF8')), 'hex');
    INSERT INTO audit_events (seq, at, actor, action, request_id, data, prev_hash, hash, hash_format)
      VALUES (head_seq, event_at, p_actor[i], p_action[i], p_request_id[i], p_data[i], head_hash, event_hash, 2);
    IF p_raw_body_hex[i] IS NOT NULL THEN
      INSERT INTO decision_evidence (audit_seq, slack_timestamp, slack_signature, raw_body)
        VALUES (head_seq, p_slack_timestamp[i], p_slack_signature[i], pg_catalog.decode(p_raw_body_hex[i], 'hex'));
    END IF;
    head_hash := event_hash;
  END LOOP;
END;
$$;
