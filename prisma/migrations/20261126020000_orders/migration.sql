-- CreateEnum
CREATE TYPE "InboxStatus" AS ENUM ('pending', 'done', 'parked');

-- CreateEnum
CREATE TYPE "OrderStatus" AS ENUM ('pending_payment', 'paid', 'partially_shipped', 'shipped', 'completed', 'cancelled');

-- CreateEnum
CREATE TYPE "ExceptionKind" AS ENUM ('unmapped_sku', 'oversell', 'amount_mismatch', 'parked_event');

-- CreateEnum
CREATE TYPE "ExceptionStatus" AS ENUM ('open', 'resolved');

-- CreateTable
CREATE TABLE "shop" (
    "id" TEXT NOT NULL,
    "platform" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "shop_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "listing" (
    "id" SERIAL NOT NULL,
    "shop_id" TEXT NOT NULL,
    "platform_item_id" TEXT NOT NULL,
    "platform_sku_id" TEXT NOT NULL DEFAULT '',
    "sku_id" INTEGER NOT NULL,
    "units_per_item" INTEGER NOT NULL DEFAULT 1,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "listing_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "inbox_event" (
    "id" BIGSERIAL NOT NULL,
    "shop_id" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "dedupe_key" TEXT NOT NULL,
    "topic" TEXT,
    "payload" JSONB NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "status" "InboxStatus" NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_error" TEXT,
    "processed_at" TIMESTAMPTZ(3),

    CONSTRAINT "inbox_event_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "sales_order" (
    "id" BIGSERIAL NOT NULL,
    "shop_id" TEXT NOT NULL,
    "platform" TEXT NOT NULL,
    "platform_order_id" TEXT NOT NULL,
    "status" "OrderStatus" NOT NULL,
    "currency" TEXT NOT NULL,
    "platform_modified_at" TIMESTAMPTZ(3),
    "platform_version" BIGINT,
    "buyer_paid_total" BIGINT NOT NULL,
    "data" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "sales_order_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "sales_order_line" (
    "id" BIGSERIAL NOT NULL,
    "order_id" BIGINT NOT NULL,
    "line_id" TEXT NOT NULL,
    "sku_id" INTEGER,
    "units_per_item" INTEGER NOT NULL DEFAULT 1,
    "quantity" INTEGER NOT NULL,
    "gift" BOOLEAN NOT NULL DEFAULT false,
    "list_amount" BIGINT NOT NULL,
    "seller_discount" BIGINT NOT NULL,
    "platform_discount" BIGINT NOT NULL,
    "buyer_paid" BIGINT NOT NULL,
    "seller_revenue" BIGINT NOT NULL,

    CONSTRAINT "sales_order_line_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "order_exception" (
    "id" BIGSERIAL NOT NULL,
    "kind" "ExceptionKind" NOT NULL,
    "subject" TEXT NOT NULL,
    "status" "ExceptionStatus" NOT NULL DEFAULT 'open',
    "shop_id" TEXT NOT NULL,
    "platform_order_id" TEXT,
    "line_id" TEXT,
    "quantity" INTEGER,
    "message" TEXT NOT NULL,
    "detail" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "resolved_at" TIMESTAMPTZ(3),
    "resolution" TEXT,

    CONSTRAINT "order_exception_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "listing_sku_id_idx" ON "listing"("sku_id");

-- CreateIndex
CREATE UNIQUE INDEX "listing_shop_id_platform_item_id_platform_sku_id_key" ON "listing"("shop_id", "platform_item_id", "platform_sku_id");

-- CreateIndex
CREATE INDEX "inbox_event_status_next_attempt_at_idx" ON "inbox_event"("status", "next_attempt_at");

-- CreateIndex
CREATE UNIQUE INDEX "inbox_event_shop_id_dedupe_key_key" ON "inbox_event"("shop_id", "dedupe_key");

-- CreateIndex
CREATE INDEX "sales_order_status_idx" ON "sales_order"("status");

-- CreateIndex
CREATE INDEX "sales_order_updated_at_idx" ON "sales_order"("updated_at");

-- CreateIndex
CREATE UNIQUE INDEX "sales_order_shop_id_platform_order_id_key" ON "sales_order"("shop_id", "platform_order_id");

-- CreateIndex
CREATE INDEX "sales_order_line_sku_id_idx" ON "sales_order_line"("sku_id");

-- CreateIndex
CREATE UNIQUE INDEX "sales_order_line_order_id_line_id_key" ON "sales_order_line"("order_id", "line_id");

-- CreateIndex
CREATE INDEX "order_exception_status_kind_idx" ON "order_exception"("status", "kind");

-- CreateIndex
CREATE UNIQUE INDEX "order_exception_kind_subject_key" ON "order_exception"("kind", "subject");

-- AddForeignKey
ALTER TABLE "listing" ADD CONSTRAINT "listing_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shop"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "listing" ADD CONSTRAINT "listing_sku_id_fkey" FOREIGN KEY ("sku_id") REFERENCES "sku"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "inbox_event" ADD CONSTRAINT "inbox_event_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shop"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "sales_order" ADD CONSTRAINT "sales_order_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shop"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "sales_order_line" ADD CONSTRAINT "sales_order_line_order_id_fkey" FOREIGN KEY ("order_id") REFERENCES "sales_order"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "sales_order_line" ADD CONSTRAINT "sales_order_line_sku_id_fkey" FOREIGN KEY ("sku_id") REFERENCES "sku"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Checks Prisma cannot express.
ALTER TABLE "listing" ADD CONSTRAINT "listing_units_per_item_check" CHECK ("units_per_item" > 0);
ALTER TABLE "sales_order_line" ADD CONSTRAINT "sales_order_line_quantity_check" CHECK ("quantity" > 0);
ALTER TABLE "sales_order_line" ADD CONSTRAINT "sales_order_line_units_per_item_check" CHECK ("units_per_item" > 0);
ALTER TABLE "order_exception" ADD CONSTRAINT "order_exception_quantity_check" CHECK ("quantity" IS NULL OR "quantity" >= 0);
