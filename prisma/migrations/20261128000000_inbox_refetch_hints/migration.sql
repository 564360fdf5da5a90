-- Re-fetch hints (webhooks naming an order without carrying it: Taobao, Douyin, PDD, JD, some
-- Shopify and WooCommerce topics) get their own column. They are resolved per shop, by the
-- replica holding the shop, through its API gate: one by one when few, by a pull of the shop
-- when many. The inbox worker applies only events that carry their order, so it never waits
-- for a platform's API. The index serves both claims (status, hint or not, due time) and a
-- pull settling the hints of the orders it read (status, order ids).
ALTER TABLE "inbox_event" ADD COLUMN "refetch_order_id" TEXT;

UPDATE "inbox_event" SET "refetch_order_id" = "payload"->>'refetch'
WHERE jsonb_typeof("payload"->'refetch') = 'string';

DROP INDEX "inbox_event_status_next_attempt_at_idx";

CREATE INDEX "inbox_event_status_refetch_order_id_next_attempt_at_idx"
  ON "inbox_event"("status", "refetch_order_id", "next_attempt_at");
