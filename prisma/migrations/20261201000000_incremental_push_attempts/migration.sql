-- Pushes sent as changes (Douyin's incremental stock update) rather than absolute quantities.
--
-- `read_back_at`: when the pusher last read the platform's quantity before a push (and set it
-- right where it differed). Between read-backs a listing's pushes are changes sent without a
-- read; an absolute write erases the platform's own sales before it, and orders placed before
-- it and imported after are then counted as if sold after it, which only a read-back can see.
-- NULL on every existing row: the first push after this migration reads back.
--
-- `attempt_key`, `attempt_delta`: a push sent as a change rather than an absolute quantity:
-- the change and its idempotency key, kept until the result is booked. A change whose outcome is
-- unknown (a timeout) is sent again with the same key, which the platform applies at most once;
-- reading the quantity back cannot tell whether it landed (units sold there meanwhile look the
-- same as a change that did not land). Every row of one request carries the same key, so the
-- request can be rebuilt whole.
ALTER TABLE "stock_push"
  ADD COLUMN "read_back_at" TIMESTAMPTZ(3),
  ADD COLUMN "attempt_key" TEXT,
  ADD COLUMN "attempt_delta" INTEGER;

CREATE INDEX "stock_push_attempt_key_idx" ON "stock_push" ("attempt_key");
