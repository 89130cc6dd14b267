-- "One approval from each of these groups": fixed on the request when it is made, and each vote
-- records which of those groups its approver was in, so the tally needs no lookup later.
ALTER TABLE "access_requests" ADD COLUMN "required_groups" TEXT[] DEFAULT ARRAY[]::TEXT[];
ALTER TABLE "approvals" ADD COLUMN "approver_groups" TEXT[] DEFAULT ARRAY[]::TEXT[];
