-- What was unusual about a request when it was made (src/domain/risk-flags.ts): each flag's
-- signal and explanation, shown to approvers and audited with the decision.
ALTER TABLE "access_requests" ADD COLUMN "risk_flags" JSONB NOT NULL DEFAULT '[]';
