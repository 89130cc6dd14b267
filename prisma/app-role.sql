-- The privileges of the role `latch start` runs as: exactly what the service needs, and no more.
-- The tables are owned by another role (the one `latch migrate` runs as): a table's owner can
-- switch off the audit trail's append-only triggers, the app role cannot.
--
-- This file is the one list. The README points here; `npm run demo` and docker-compose.yml apply
-- it after migrating; the tests check that Latch runs on it. Apply it as the tables' owner, after
-- every `latch migrate` (a new table needs its grant), to a role that already exists:
--
--   CREATE ROLE latch_app LOGIN PASSWORD '…';
--   psql "$OWNER_DATABASE_URL" -v ON_ERROR_STOP=1 -v app_role=latch_app -f prisma/app-role.sql
--
-- `:"app_role"` is psql's variable syntax (a quoted identifier); src/store/app-role.ts applies
-- the same file from Node with the same substitution.

GRANT USAGE ON SCHEMA public TO :"app_role";

-- State: Latch changes these rows.
GRANT SELECT, INSERT, UPDATE, DELETE ON access_requests, approvals, grants, standing_access_findings, machine_tokens, cli_logins TO :"app_role";

-- Append-only records: read and append, never rewrite (the triggers refuse UPDATE and DELETE to
-- everyone; without these privileges the app role is refused before the triggers are reached).
-- A new append-only table goes on this line.
GRANT SELECT, INSERT ON audit_events, decision_evidence TO :"app_role";

-- How audit events are appended: one call at the end of each transaction stages them, and a
-- trigger at COMMIT chains them into audit_events and empties the staging table (both run with the
-- caller's privileges: these and the INSERTs above). Only a running transaction's own staged rows
-- are ever there to read or delete.
GRANT EXECUTE ON FUNCTION latch_append_audit_events(TIMESTAMPTZ[], TEXT[], TEXT[], UUID[], JSONB[], TEXT[], TEXT[], TEXT[]) TO :"app_role";
GRANT USAGE ON SCHEMA latch_staging TO :"app_role";
GRANT SELECT, INSERT, DELETE ON latch_staging.audit_events TO :"app_role";
GRANT USAGE ON SEQUENCE latch_staging.audit_events_id_seq TO :"app_role";

-- Where decision evidence starts, set once by the migration: read by `latch audit verify`.
GRANT SELECT ON audit_evidence_start TO :"app_role";

-- `latch start` checks that every migration is applied before it serves.
GRANT SELECT ON _prisma_migrations TO :"app_role";
