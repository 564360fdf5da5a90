-- Sync engine: shop pause/throttle state, replica heartbeats (fair share of shop leases),
-- per-listing push exclusion, and what the pusher needs to measure latency, avoid re-inflation
-- and report drift.

-- AlterTable
ALTER TABLE "shop" ADD COLUMN     "paused_at" TIMESTAMPTZ(3),
ADD COLUMN     "paused_reason" TEXT,
ADD COLUMN     "paused_by" TEXT,
ADD COLUMN     "throttled_until" TIMESTAMPTZ(3);

-- AlterTable
ALTER TABLE "listing" ADD COLUMN     "push_excluded" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "stock_push" ADD COLUMN     "pending_since" TIMESTAMPTZ(3),
ADD COLUMN     "latency_ms" INTEGER,
ADD COLUMN     "buffer" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "own_since_push" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "held_back" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "given_back" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "held_back_at" TIMESTAMPTZ(3),
ADD COLUMN     "attempt_qty" INTEGER,
ADD COLUMN     "attempt_own" INTEGER,
ADD COLUMN     "claimed_until" TIMESTAMPTZ(3),
ADD COLUMN     "platform_qty" INTEGER,
ADD COLUMN     "read_at" TIMESTAMPTZ(3),
ADD COLUMN     "drift" INTEGER,
ADD COLUMN     "drift_at" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "replica" (
    "id" TEXT NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "replica_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "reservation_sku_id_created_at_idx" ON "reservation"("sku_id", "created_at");

-- CreateIndex
CREATE INDEX "stock_push_pushed_at_idx" ON "stock_push"("pushed_at");

-- Checks Prisma cannot express.
ALTER TABLE "stock_push" ADD CONSTRAINT "stock_push_buffer_check" CHECK ("buffer" >= 0);
ALTER TABLE "stock_push" ADD CONSTRAINT "stock_push_held_back_check" CHECK ("held_back" >= 0);
ALTER TABLE "stock_push" ADD CONSTRAINT "stock_push_given_back_check" CHECK ("given_back" >= 0);

-- A dirty mark keeps the time of the first change not yet planned (push latency is measured
-- from it); DO UPDATE still locks the mark until the change commits.
CREATE OR REPLACE FUNCTION "stock_level_mark_dirty"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "stock_dirty" ("sku_id") VALUES (NEW."sku_id")
    ON CONFLICT ("sku_id") DO UPDATE SET "marked_at" = "stock_dirty"."marked_at";
  RETURN NULL;
END;
$$;
