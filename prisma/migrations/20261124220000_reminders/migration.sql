-- Where the break-glass alert lives, and the bookkeeping of reminders and escalation.
ALTER TABLE "access_requests" ADD COLUMN "security_message_ts" TEXT;
ALTER TABLE "access_requests" ADD COLUMN "last_reminded_at" TIMESTAMPTZ(3);
ALTER TABLE "access_requests" ADD COLUMN "escalated_at" TIMESTAMPTZ(3);
