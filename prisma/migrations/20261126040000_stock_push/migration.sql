-- CreateEnum
CREATE TYPE "PushStatus" AS ENUM ('pending', 'synced', 'failed');

-- AlterTable
ALTER TABLE "listing" ADD COLUMN     "stock_location" TEXT,
ADD COLUMN     "stock_ref" TEXT;

-- CreateTable
CREATE TABLE "stock_dirty" (
    "sku_id" INTEGER NOT NULL,
    "marked_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "stock_dirty_pkey" PRIMARY KEY ("sku_id")
);

-- CreateTable
CREATE TABLE "stock_push" (
    "listing_id" INTEGER NOT NULL,
    "desired" INTEGER NOT NULL,
    "desired_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "pushed" INTEGER,
    "pushed_at" TIMESTAMPTZ(3),
    "status" "PushStatus" NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_error" TEXT,

    CONSTRAINT "stock_push_pkey" PRIMARY KEY ("listing_id")
);

-- CreateIndex
CREATE INDEX "stock_push_status_next_attempt_at_idx" ON "stock_push"("status", "next_attempt_at");

-- AddForeignKey
ALTER TABLE "stock_push" ADD CONSTRAINT "stock_push_listing_id_fkey" FOREIGN KEY ("listing_id") REFERENCES "listing"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Checks Prisma cannot express.
ALTER TABLE "stock_push" ADD CONSTRAINT "stock_push_desired_check" CHECK ("desired" >= 0);

-- Every change of a balance marks its SKU for the push planner, in the same transaction, whoever
-- wrote it: nothing can change stock without the platforms hearing of it.
CREATE FUNCTION "stock_level_mark_dirty"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "stock_dirty" ("sku_id") VALUES (NEW."sku_id") ON CONFLICT ("sku_id") DO NOTHING;
  RETURN NULL;
END;
$$;
CREATE TRIGGER "stock_level_mark_dirty" AFTER INSERT OR UPDATE OF "on_hand", "reserved" ON "stock_level"
  FOR EACH ROW EXECUTE FUNCTION "stock_level_mark_dirty"();
