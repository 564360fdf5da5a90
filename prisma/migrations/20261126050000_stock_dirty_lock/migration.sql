-- The dirty mark must survive until the stock change that set it commits. With ON CONFLICT DO
-- NOTHING an existing mark was left unlocked, so the push planner could claim and delete it
-- while the change was still uncommitted, read the old balance, and never see the new one.
-- DO UPDATE locks the mark until commit; the planner's SKIP LOCKED then passes over it and
-- takes it on a later round, when the new balance is visible.
CREATE OR REPLACE FUNCTION "stock_level_mark_dirty"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "stock_dirty" ("sku_id") VALUES (NEW."sku_id")
    ON CONFLICT ("sku_id") DO UPDATE SET "marked_at" = now();
  RETURN NULL;
END;
$$;
