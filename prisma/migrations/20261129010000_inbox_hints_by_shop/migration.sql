-- Re-fetch hints are counted, claimed and settled per shop, several times a second per shop.
-- Their only index led with the status: when the statistics lagged a table growing fast (a
-- 双11 burst, a new database), the planner read a shop's hints through the (shop_id,
-- dedupe_key) index instead and filtered every event the shop ever sent. Measured on the
-- PostgreSQL peak run: up to 20,000 buffers and 90 ms for one count of due hints, a few
-- times a second. An index led by the shop and the hint conditions serves these lookups
-- whatever the statistics say. (The inbox worker's claim keeps the index it uses.)
CREATE INDEX "inbox_event_shop_hint_idx"
  ON "inbox_event"("shop_id", "status", "refetch_order_id", "next_attempt_at");
