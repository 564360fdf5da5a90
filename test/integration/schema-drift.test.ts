/**
 * schema.prisma and prisma/migrations must describe the same database. `prisma migrate diff`
 * needs the schema engine, which cannot be downloaded on our machines, so this test compares
 * Prisma's own reading of schema.prisma (DMMF) with the catalog of a database built by our
 * migration runner. See test/support/schema-model.ts for what is compared.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlSession } from '../../src/db/client.js';
import { readMigrations } from '../../src/db/migrate.js';
import { createTestDb, type TestDb } from '../support/db.js';
import {
  checkConstraintNames,
  diffSchemaModels,
  introspectDatabase,
  type SchemaModel,
  schemaModelFromPrisma,
} from '../support/schema-model.js';

const SCHEMA_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../../prisma/schema.prisma');
const schemaText = readFileSync(SCHEMA_PATH, 'utf8');

/** schema.prisma with one exact piece of text replaced (which must be there). */
function alteredSchema(from: string, to: string): SchemaModel {
  expect(schemaText).toContain(from);
  return schemaModelFromPrisma(schemaText.replace(from, to));
}

/** Runs `ddl` in a transaction, introspects, and rolls back: the database is left as it was. */
async function introspectAfter(s: SqlSession, ddl: string): Promise<SchemaModel> {
  await s.exec('BEGIN');
  try {
    await s.exec(ddl);
    return await introspectDatabase(s);
  } finally {
    await s.exec('ROLLBACK');
  }
}

describe('schema.prisma vs the migrated database', () => {
  let t: TestDb;
  let expected: SchemaModel;
  let actual: SchemaModel;

  beforeAll(async () => {
    t = await createTestDb();
    expected = schemaModelFromPrisma(schemaText);
    actual = await t.db.withSession(introspectDatabase);
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('reads a non-trivial model from both sides', () => {
    // Guards against a vacuous pass (an empty model on both sides agrees with itself).
    const tables = expected.tables.map((x) => x.name).sort();
    expect(tables).toEqual([
      'bundle_component',
      'inbox_event',
      'inventory_operation',
      'listing',
      'order_exception',
      'replica',
      'reservation',
      'sales_order',
      'sales_order_line',
      'shop',
      'sku',
      'stock_dirty',
      'stock_level',
      'stock_movement',
      'stock_push',
      'stock_push_sale',
      'warehouse',
    ]);
    expect(actual.tables.map((x) => x.name).sort()).toEqual(tables);
    const sku = expected.tables.find((x) => x.name === 'sku')!;
    expect(sku.columns.find((c) => c.name === 'created_at')).toMatchObject({
      type: 'timestamp(3) with time zone',
      nullable: false,
      default: 'now()',
    });
    expect(sku.indexes.map((i) => i.name).sort()).toEqual(['sku_barcode_key', 'sku_code_key']);
    expect(expected.enums.map((e) => e.name).sort()).toEqual([
      'ExceptionKind',
      'ExceptionStatus',
      'InboxStatus',
      'MovementKind',
      'OrderStatus',
      'PushStatus',
      'ReservationStatus',
      'SkuKind',
    ]);
  });

  it('finds no drift', () => {
    expect(diffSchemaModels(expected, actual)).toEqual([]);
  });

  it('has every CHECK constraint the migrations declare, and the append-only trigger', async () => {
    // Our migrations add CHECKs as `ALTER TABLE "t" ADD CONSTRAINT "name" CHECK (...)`; an inline
    // CHECK in a CREATE TABLE would show up below as present but not declared.
    const declared = readMigrations().flatMap((m) =>
      [...m.sql.matchAll(/ALTER TABLE\s+"([^"]+)"\s+ADD CONSTRAINT\s+"([^"]+)"\s+CHECK\b/gi)].map(
        (x) => `${x[1]}.${x[2]}`,
      ),
    );
    expect(declared.length).toBeGreaterThanOrEqual(8);
    const present = await t.db.withSession(checkConstraintNames);
    expect(present).toEqual(expect.arrayContaining(declared));
    expect(present.filter((c) => !declared.includes(c))).toEqual([]);

    const triggers = await t.db.withSession((s) =>
      s.query<{ tgname: string }>(
        `SELECT tgname FROM pg_trigger WHERE tgrelid = '"stock_movement"'::regclass AND NOT tgisinternal`,
      ),
    );
    expect(triggers.map((r) => r.tgname)).toEqual(['stock_movement_append_only']);
  });
});

describe('the drift check reports', () => {
  let t: TestDb;
  let expected: SchemaModel;

  beforeAll(async () => {
    // A throwaway database: each case alters it inside a transaction and rolls back.
    t = await createTestDb();
    expected = schemaModelFromPrisma(schemaText);
  });
  afterAll(async () => {
    await t?.drop();
  });

  const dbCases: [string, string, string[]][] = [
    [
      'a column that became nullable',
      'ALTER TABLE "sku" ALTER COLUMN "name" DROP NOT NULL',
      ['sku.name (Sku.name): nullability: schema.prisma NOT NULL, database NULL'],
    ],
    [
      'a dropped index',
      'DROP INDEX "stock_movement_created_at_idx"',
      [
        'stock_movement index stock_movement_created_at_idx (StockMovement @@index([createdAt])): missing in the database',
      ],
    ],
    [
      'a renamed unique index',
      'ALTER INDEX "sku_code_key" RENAME TO "sku_code_unique"',
      [
        'sku index sku_code_key (Sku.code @unique): missing in the database; the database has the same index named sku_code_unique',
        'sku unique index sku_code_unique (code): in the database, not in schema.prisma',
      ],
    ],
    [
      'a unique index that is no longer unique',
      'DROP INDEX "sku_barcode_key"; CREATE INDEX "sku_barcode_key" ON "sku"("barcode")',
      ['sku index sku_barcode_key (Sku.barcode @unique): unique: schema.prisma true, database false'],
    ],
    [
      'a changed column type (timestamptz -> timestamp)',
      'ALTER TABLE "reservation" ALTER COLUMN "created_at" TYPE TIMESTAMP(3)',
      [
        'reservation.created_at (Reservation.createdAt): type: schema.prisma timestamp(3) with time zone, database timestamp(3) without time zone',
      ],
    ],
    [
      'jsonb replaced by json',
      'ALTER TABLE "inventory_operation" ALTER COLUMN "result" TYPE JSON',
      ['inventory_operation.result (InventoryOperation.result): type: schema.prisma jsonb, database json'],
    ],
    [
      'a changed default',
      'ALTER TABLE "stock_level" ALTER COLUMN "reserved" SET DEFAULT 1',
      ['stock_level.reserved (StockLevel.reserved): default: schema.prisma 0, database 1'],
    ],
    [
      'a lost BIGSERIAL default',
      'ALTER TABLE "stock_movement" ALTER COLUMN "id" DROP DEFAULT',
      ['stock_movement.id (StockMovement.id): default: schema.prisma autoincrement(), database none'],
    ],
    [
      'a changed ON DELETE action',
      `ALTER TABLE "bundle_component" DROP CONSTRAINT "bundle_component_bundle_id_fkey";
       ALTER TABLE "bundle_component" ADD CONSTRAINT "bundle_component_bundle_id_fkey"
         FOREIGN KEY ("bundle_id") REFERENCES "sku"("id") ON DELETE RESTRICT ON UPDATE CASCADE`,
      [
        'bundle_component foreign key bundle_component_bundle_id_fkey (BundleComponent.bundle @relation): ON DELETE: schema.prisma Cascade, database Restrict',
      ],
    ],
    [
      'a dropped foreign key',
      'ALTER TABLE "reservation" DROP CONSTRAINT "reservation_sku_id_fkey"',
      [
        'reservation foreign key reservation_sku_id_fkey (Reservation.sku @relation): missing in the database',
      ],
    ],
    [
      'a dropped primary key',
      'ALTER TABLE "stock_level" DROP CONSTRAINT "stock_level_pkey"',
      [
        'stock_level primary key stock_level_pkey (StockLevel @@id([skuId, warehouseId])): missing in the database',
      ],
    ],
    [
      'an extra enum value',
      `ALTER TYPE "MovementKind" ADD VALUE 'loss'`,
      [
        'enum type MovementKind (enum MovementKind): values: schema.prisma (receipt, shipment, adjustment, return, transfer, stocktake), database (receipt, shipment, adjustment, return, transfer, stocktake, loss)',
      ],
    ],
    [
      'an extra column and an extra table',
      'ALTER TABLE "warehouse" ADD COLUMN "region" TEXT; CREATE TABLE "stray" ("id" INTEGER)',
      [
        'warehouse.region: column in the database, not in schema.prisma (model Warehouse)',
        'table stray: in the database, not in schema.prisma',
      ],
    ],
  ];

  it.each(dbCases)('%s', async (_label, ddl, lines) => {
    const actual = await t.db.withSession((s) => introspectAfter(s, ddl));
    expect(diffSchemaModels(expected, actual)).toEqual(lines);
  });

  it('and nothing once every change above was rolled back', async () => {
    const actual = await t.db.withSession(introspectDatabase);
    expect(diffSchemaModels(expected, actual)).toEqual([]);
  });

  it('nothing for Prisma features our schema does not use yet, in the SQL Prisma writes for them', async () => {
    // Guards the mapping rules (maps, native types, literal/array/dbgenerated defaults, DESC and
    // HASH indexes, optional relations) against false alarms once schema.prisma starts using them.
    const edge = schemaModelFromPrisma(`
datasource db {
  provider = "postgresql"
}

enum Color {
  red   @map("RED")
  green

  @@map("color")
}

model Item {
  id      String   @id(map: "item_pk") @default(dbgenerated("gen_random_uuid()")) @db.Uuid
  n       Int      @default(-1)
  label   String   @default("it's") @db.VarChar(20)
  price   Decimal  @default(1.5) @db.Decimal(10, 2)
  big     BigInt   @default(7)
  ratio   Float?
  tags    String[] @default([])
  color   Color    @default(red)
  meta    Json     @default("{}")
  at      DateTime @default(now())
  ownerId Int?     @map("owner_id")
  owner   Owner?   @relation(fields: [ownerId], references: [id], onUpdate: NoAction)

  @@unique([n, label], map: "item_n_label_uq")
  @@index([label(sort: Desc)])
  @@index([ratio], type: Hash)
  @@map("item")
}

model Owner {
  id    Int    @id @default(autoincrement())
  items Item[]
}
`);
    const ddl = `
CREATE SCHEMA "edge";
SET LOCAL search_path TO "edge";
CREATE TYPE "color" AS ENUM ('RED', 'green');
CREATE TABLE "Owner" ("id" SERIAL NOT NULL, CONSTRAINT "Owner_pkey" PRIMARY KEY ("id"));
CREATE TABLE "item" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "n" INTEGER NOT NULL DEFAULT -1,
    "label" VARCHAR(20) NOT NULL DEFAULT 'it''s',
    "price" DECIMAL(10,2) NOT NULL DEFAULT 1.5,
    "big" BIGINT NOT NULL DEFAULT 7,
    "ratio" DOUBLE PRECISION,
    "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "color" "color" NOT NULL DEFAULT 'RED',
    "meta" JSONB NOT NULL DEFAULT '{}',
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "owner_id" INTEGER,
    CONSTRAINT "item_pk" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "item_n_label_uq" ON "item"("n", "label");
CREATE INDEX "item_label_idx" ON "item"("label" DESC);
CREATE INDEX "item_ratio_idx" ON "item" USING HASH ("ratio");
ALTER TABLE "item" ADD CONSTRAINT "item_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "Owner"("id")
  ON DELETE SET NULL ON UPDATE NO ACTION;`;
    const actual = await t.db.withSession((s) => introspectAfter(s, ddl));
    expect(diffSchemaModels(edge, actual)).toEqual([]);
    // ...and the rules are not vacuous: a different spelling of the same thing is reported.
    const changed = await t.db.withSession((s) =>
      introspectAfter(
        s,
        `${ddl}
ALTER TABLE "item" ALTER COLUMN "label" SET DEFAULT 'its', ALTER COLUMN "tags" SET DEFAULT ARRAY['a']::TEXT[];
DROP INDEX "item_label_idx"; CREATE INDEX "item_label_idx" ON "item"("label");
DROP INDEX "item_ratio_idx"; CREATE INDEX "item_ratio_idx" ON "item"("ratio");`,
      ),
    );
    expect(diffSchemaModels(edge, changed)).toEqual([
      "item.label (Item.label): default: schema.prisma 'it's', database 'its'",
      "item.tags (Item.tags): default: schema.prisma [], database ['a']",
      'item index item_label_idx (Item @@index([label])): descending: schema.prisma (true), database (false)',
      'item index item_ratio_idx (Item @@index([ratio])): method: schema.prisma hash, database btree',
    ]);
  });

  const schemaCases: [string, string, string, string[]][] = [
    [
      'a field made required in schema.prisma',
      'barcode     String?  @unique',
      'barcode     String   @unique',
      ['sku.barcode (Sku.barcode): nullability: schema.prisma NOT NULL, database NULL'],
    ],
    [
      'an index removed from schema.prisma',
      '  @@index([createdAt])\n',
      '',
      [
        'stock_movement index stock_movement_created_at_idx (created_at): in the database, not in schema.prisma',
      ],
    ],
    [
      'a referential action changed in schema.prisma',
      'onDelete: Cascade',
      'onDelete: Restrict',
      [
        'bundle_component foreign key bundle_component_bundle_id_fkey (BundleComponent.bundle @relation): ON DELETE: schema.prisma Restrict, database Cascade',
      ],
    ],
    [
      'a native type dropped in schema.prisma',
      'key         String   @id',
      'key         String   @id @db.VarChar(200)',
      [
        'inventory_operation.key (InventoryOperation.key): type: schema.prisma character varying(200), database text',
      ],
    ],
  ];

  it.each(schemaCases)('%s', async (_label, from, to, lines) => {
    const actual = await t.db.withSession(introspectDatabase);
    expect(diffSchemaModels(alteredSchema(from, to), actual)).toEqual(lines);
  });
});
