-- The units a listing's own platform took through imported orders (the re-inflation guard's
-- `own_since_push`) are appended to a log by the order intake and folded into `stock_push` by
-- the pusher when it claims the listing (and by the planner and reconciliation for the rest).
--
-- Updated in place, the count made every order's transaction wait for the `stock_push` rows of
-- its listings, which the planner (upserting quantities) and the pusher (claiming, recording
-- results) hold too: at a 双11 peak the intake queued there while holding its hot stock rows.
-- An insert into a log waits for nobody. A sale is still counted atomically with its order (the
-- row commits with it); a push planned before the sale was folded treats it as unexplained and
-- holds it back, and the fold then takes it off the held-back units, as an order arriving after
-- a push always did.
CREATE TABLE "stock_push_sale" (
    "id" BIGSERIAL NOT NULL,
    "listing_id" INTEGER NOT NULL,
    "n" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "stock_push_sale_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "stock_push_sale_listing_id_idx" ON "stock_push_sale"("listing_id");

ALTER TABLE "stock_push_sale" ADD CONSTRAINT "stock_push_sale_listing_id_fkey" FOREIGN KEY ("listing_id") REFERENCES "listing"("id") ON DELETE CASCADE ON UPDATE CASCADE;
