-- AlterTable
ALTER TABLE "access_requests" ADD COLUMN "principal" TEXT;
