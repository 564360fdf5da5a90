-- CreateEnum
CREATE TYPE "SkuKind" AS ENUM ('simple', 'bundle');

-- CreateEnum
CREATE TYPE "MovementKind" AS ENUM ('receipt', 'shipment', 'adjustment', 'return', 'transfer', 'stocktake');

-- CreateEnum
CREATE TYPE "ReservationStatus" AS ENUM ('active', 'consumed', 'released');

-- CreateTable
CREATE TABLE "sku" (
    "id" SERIAL NOT NULL,
    "code" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "barcode" TEXT,
    "kind" "SkuKind" NOT NULL DEFAULT 'simple',
    "safety_stock" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "sku_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "bundle_component" (
    "bundle_id" INTEGER NOT NULL,
    "component_id" INTEGER NOT NULL,
    "quantity" INTEGER NOT NULL,

    CONSTRAINT "bundle_component_pkey" PRIMARY KEY ("bundle_id","component_id")
);

-- CreateTable
CREATE TABLE "warehouse" (
    "id" SERIAL NOT NULL,
    "code" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "warehouse_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "stock_level" (
    "sku_id" INTEGER NOT NULL,
    "warehouse_id" INTEGER NOT NULL,
    "on_hand" INTEGER NOT NULL DEFAULT 0,
    "reserved" INTEGER NOT NULL DEFAULT 0,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "stock_level_pkey" PRIMARY KEY ("sku_id","warehouse_id")
);

-- CreateTable
CREATE TABLE "stock_movement" (
    "id" BIGSERIAL NOT NULL,
    "sku_id" INTEGER NOT NULL,
    "warehouse_id" INTEGER NOT NULL,
    "kind" "MovementKind" NOT NULL,
    "quantity" INTEGER NOT NULL,
    "idempotency_key" TEXT NOT NULL,
    "reference" TEXT,
    "note" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "stock_movement_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "reservation" (
    "id" BIGSERIAL NOT NULL,
    "line_key" TEXT NOT NULL,
    "line_sku_id" INTEGER NOT NULL,
    "sku_id" INTEGER NOT NULL,
    "warehouse_id" INTEGER NOT NULL,
    "units_per_line" INTEGER NOT NULL DEFAULT 1,
    "quantity" INTEGER NOT NULL,
    "status" "ReservationStatus" NOT NULL DEFAULT 'active',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "reservation_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "inventory_operation" (
    "key" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "request_hash" TEXT NOT NULL,
    "result" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "inventory_operation_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE UNIQUE INDEX "sku_code_key" ON "sku"("code");

-- CreateIndex
CREATE UNIQUE INDEX "sku_barcode_key" ON "sku"("barcode");

-- CreateIndex
CREATE INDEX "bundle_component_component_id_idx" ON "bundle_component"("component_id");

-- CreateIndex
CREATE UNIQUE INDEX "warehouse_code_key" ON "warehouse"("code");

-- CreateIndex
CREATE INDEX "stock_level_warehouse_id_idx" ON "stock_level"("warehouse_id");

-- CreateIndex
CREATE UNIQUE INDEX "stock_movement_idempotency_key_key" ON "stock_movement"("idempotency_key");

-- CreateIndex
CREATE INDEX "stock_movement_sku_id_warehouse_id_idx" ON "stock_movement"("sku_id", "warehouse_id");

-- CreateIndex
CREATE INDEX "stock_movement_created_at_idx" ON "stock_movement"("created_at");

-- CreateIndex
CREATE INDEX "reservation_line_key_idx" ON "reservation"("line_key");

-- CreateIndex
CREATE INDEX "reservation_sku_id_warehouse_id_status_idx" ON "reservation"("sku_id", "warehouse_id", "status");

-- AddForeignKey
ALTER TABLE "bundle_component" ADD CONSTRAINT "bundle_component_bundle_id_fkey" FOREIGN KEY ("bundle_id") REFERENCES "sku"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "bundle_component" ADD CONSTRAINT "bundle_component_component_id_fkey" FOREIGN KEY ("component_id") REFERENCES "sku"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "stock_level" ADD CONSTRAINT "stock_level_sku_id_fkey" FOREIGN KEY ("sku_id") REFERENCES "sku"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "stock_level" ADD CONSTRAINT "stock_level_warehouse_id_fkey" FOREIGN KEY ("warehouse_id") REFERENCES "warehouse"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "stock_movement" ADD CONSTRAINT "stock_movement_sku_id_fkey" FOREIGN KEY ("sku_id") REFERENCES "sku"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "stock_movement" ADD CONSTRAINT "stock_movement_warehouse_id_fkey" FOREIGN KEY ("warehouse_id") REFERENCES "warehouse"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "reservation" ADD CONSTRAINT "reservation_line_sku_id_fkey" FOREIGN KEY ("line_sku_id") REFERENCES "sku"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "reservation" ADD CONSTRAINT "reservation_sku_id_fkey" FOREIGN KEY ("sku_id") REFERENCES "sku"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "reservation" ADD CONSTRAINT "reservation_warehouse_id_fkey" FOREIGN KEY ("warehouse_id") REFERENCES "warehouse"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Invariants the database enforces beyond what schema.prisma can express (Prisma's diff ignores these).
ALTER TABLE "sku" ADD CONSTRAINT "sku_safety_stock_check" CHECK ("safety_stock" >= 0);
ALTER TABLE "bundle_component" ADD CONSTRAINT "bundle_component_quantity_check" CHECK ("quantity" > 0);
ALTER TABLE "bundle_component" ADD CONSTRAINT "bundle_component_not_self_check" CHECK ("bundle_id" <> "component_id");
ALTER TABLE "stock_level" ADD CONSTRAINT "stock_level_on_hand_check" CHECK ("on_hand" >= 0);
ALTER TABLE "stock_level" ADD CONSTRAINT "stock_level_reserved_check" CHECK ("reserved" >= 0);
ALTER TABLE "stock_level" ADD CONSTRAINT "stock_level_reserved_le_on_hand_check" CHECK ("reserved" <= "on_hand");
ALTER TABLE "stock_movement" ADD CONSTRAINT "stock_movement_quantity_check" CHECK ("quantity" <> 0);
ALTER TABLE "reservation" ADD CONSTRAINT "reservation_quantity_check" CHECK ("quantity" > 0);
ALTER TABLE "reservation" ADD CONSTRAINT "reservation_units_per_line_check" CHECK ("units_per_line" > 0);

-- The ledger is append-only: corrections are new movements, never edits.
CREATE FUNCTION "stock_movement_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'stock_movement is append-only (% refused)', TG_OP USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER "stock_movement_append_only" BEFORE UPDATE OR DELETE ON "stock_movement"
  FOR EACH ROW EXECUTE FUNCTION "stock_movement_append_only"();
