-- The audit trail is append-only: refuse UPDATE, DELETE and TRUNCATE on audit_events for every
-- role, the service's own included. Written by hand (Prisma's schema cannot express triggers);
-- `latch migrate --check` ignores triggers, so it stays in step with schema.prisma.
--
-- A table's owner can still disable triggers. For full protection run Latch as a role that does
-- not own the tables (README: "Protecting the audit trail").

CREATE FUNCTION latch_refuse_audit_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_append_only
  BEFORE UPDATE OR DELETE ON "audit_events"
  FOR EACH ROW EXECUTE FUNCTION latch_refuse_audit_change();

CREATE TRIGGER audit_events_no_truncate
  BEFORE TRUNCATE ON "audit_events"
  FOR EACH STATEMENT EXECUTE FUNCTION latch_refuse_audit_change();
