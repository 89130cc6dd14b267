-- A request for more time points at the request whose access it extends.
ALTER TABLE "access_requests" ADD COLUMN "extends_request_id" UUID;

CREATE INDEX "access_requests_extends_request_id_idx" ON "access_requests"("extends_request_id");

ALTER TABLE "access_requests" ADD CONSTRAINT "access_requests_extends_request_id_fkey" FOREIGN KEY ("extends_request_id") REFERENCES "access_requests"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
