-- Dirty marks become an append-only log: one row per change, no key per SKU.
--
-- With one row per SKU, every writer of a balance upserted that row, and the upsert waited for
-- any transaction holding it: the push planner, which deletes the marks it plans while it plans
-- them, and every other transaction that changed the same (hot) SKU, until they committed. At a
-- 双11 peak the order intake then queued behind the planner and behind itself on the hottest
-- SKUs' marks. An insert into a log conflicts with nothing.
--
-- What the old row lock guaranteed still holds: a mark is seen by the planner only once the
-- change that wrote it has committed (an uncommitted row is invisible), so the planner never
-- plans from a balance older than the mark. The planner takes marks in id order with SKIP
-- LOCKED, deletes them, and plans each SKU once however many marks it had; the oldest mark's
-- time is the first unplanned change (push latency is measured from it).
ALTER TABLE "stock_dirty" DROP CONSTRAINT "stock_dirty_pkey";
ALTER TABLE "stock_dirty" ADD COLUMN "id" BIGSERIAL;
ALTER TABLE "stock_dirty" ADD CONSTRAINT "stock_dirty_pkey" PRIMARY KEY ("id");

CREATE OR REPLACE FUNCTION "stock_level_mark_dirty"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "stock_dirty" ("sku_id") VALUES (NEW."sku_id");
  RETURN NULL;
END;
$$;
