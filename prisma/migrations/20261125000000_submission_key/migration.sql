-- The form submission a request came from: the same form submitted twice makes one request.
ALTER TABLE "access_requests" ADD COLUMN "submission_key" TEXT;

CREATE UNIQUE INDEX "access_requests_submission_key_key" ON "access_requests"("submission_key");
