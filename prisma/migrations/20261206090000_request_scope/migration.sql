-- What of a role a request asks for when the role declares scope parameters (issue 17), e.g.
-- {"customer": ["4711"]}: shown to approvers, granted by the provider, recorded in the audit event.
-- Null: the whole role, as every request before scopes.
ALTER TABLE "access_requests" ADD COLUMN "scope" JSONB;
