-- The provider settings a grant was made with (type and settings, which name environment
-- variables and never hold secrets): its access stays revocable after its resource leaves the policy.
ALTER TABLE "grants" ADD COLUMN "provider_settings" JSONB;
