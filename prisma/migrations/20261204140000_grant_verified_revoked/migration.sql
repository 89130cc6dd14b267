-- A revocation is recorded as verified when the provider, looking at the target again after it
-- reported success, found the access gone: the time it did (the revocation's own time). Null for a
-- provider that cannot look (the webhook), for a grant closed while another covered the access,
-- and for every revocation made before this column.
ALTER TABLE "grants" ADD COLUMN "verified_revoked_at" TIMESTAMPTZ(3);
