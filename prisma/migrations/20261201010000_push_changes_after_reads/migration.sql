-- Where pushes are changes (Douyin), a push that reads the platform first sends a change too
-- (what it should show minus what it showed), never an absolute quantity: a sale made between
-- the read and the write then stays sold there. Only a listing's first push writes an absolute
-- quantity, and `erased_at` says when: orders placed before it and imported after it are counted
-- as if sold after it, so the listing is read back regularly while that can still happen.
--
-- `attempt_dheld`, `attempt_dgiven`: what a change read first moves `held_back` and `given_back`
-- by, kept with the change until it is booked (a change of unknown outcome is sent again).
-- `attempt_read`: the change was read first (its booking is a read-back).
ALTER TABLE "stock_push"
  ADD COLUMN "erased_at" TIMESTAMPTZ(3),
  ADD COLUMN "attempt_dheld" INTEGER,
  ADD COLUMN "attempt_dgiven" INTEGER,
  ADD COLUMN "attempt_read" BOOLEAN;

-- Existing listings were written absolutely at their last push.
UPDATE "stock_push" SET "erased_at" = "pushed_at" WHERE "pushed_at" IS NOT NULL;
