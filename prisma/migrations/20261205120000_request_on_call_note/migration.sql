-- Why an on-call auto-approval rule could not judge a request (PagerDuty or Opsgenie down, slow or
-- rate-limiting): people decide instead, and the approval card tells them why.
ALTER TABLE "access_requests" ADD COLUMN "on_call_note" TEXT;
