-- AlterTable
ALTER TABLE "shop" ADD COLUMN     "last_pull_at" TIMESTAMPTZ(3),
ADD COLUMN     "last_pull_error" TEXT,
ADD COLUMN     "lease_owner" TEXT,
ADD COLUMN     "lease_until" TIMESTAMPTZ(3),
ADD COLUMN     "pull_cursor" TEXT;
