import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BundleCycleError,
  NotFoundError,
  StockConflictError,
  ValidationError,
} from '../../../src/domain/errors.js';
import { type InventoryFixture, inventoryFixture } from '../../support/inventory.js';

let f: InventoryFixture;
let a: number;
let b: number;

beforeAll(async () => {
  f = await inventoryFixture();
  a = await f.warehouse('A');
  b = await f.warehouse('B');
});
afterAll(async () => {
  await f.close();
});

const at = async (skuId: number, warehouseId: number) =>
  (await f.inv.availability.ats({ skuIds: [skuId], warehouseIds: [warehouseId] }))[0]!;

describe('ledger', () => {
  it('adjusts, returns and transfers with one movement per change, and refuses to dip below reserved', async () => {
    const s = await f.sku('LEDGER-1');
    await f.receive(s, a, 10);
    await f.inv.ledger.adjust({
      key: 'adj-1',
      skuId: s,
      warehouseId: a,
      delta: -2,
      reason: 'damaged in storage',
    });
    await f.inv.ledger.returnStock({
      key: 'ret-1',
      skuId: s,
      warehouseId: a,
      quantity: 1,
      reference: 'RMA-7',
    });
    await f.inv.reservations.reserve({
      key: 'l-res',
      lines: [{ lineKey: 'l:1', skuId: s, quantity: 6 }],
      warehouseIds: [a],
    });
    expect(await at(s, a)).toMatchObject({ onHand: 9, reserved: 6 });

    // Only 3 are free: a transfer of 4 or an adjustment of -4 would eat reserved units.
    await expect(
      f.inv.ledger.transfer({ key: 'tr-big', skuId: s, fromWarehouseId: a, toWarehouseId: b, quantity: 4 }),
    ).rejects.toBeInstanceOf(StockConflictError);
    await expect(
      f.inv.ledger.adjust({ key: 'adj-big', skuId: s, warehouseId: a, delta: -4, reason: 'lost' }),
    ).rejects.toThrow(/less on hand than reserved/);

    const t = await f.inv.ledger.transfer({
      key: 'tr-1',
      skuId: s,
      fromWarehouseId: a,
      toWarehouseId: b,
      quantity: 3,
    });
    expect(t.movements.map((m) => m.quantity)).toEqual([-3, 3]);
    expect(await at(s, a)).toMatchObject({ onHand: 6, reserved: 6 });
    expect(await at(s, b)).toMatchObject({ onHand: 3, reserved: 0 });
    expect(await f.inv.verify()).toMatchObject({ ok: true });
  });

  it('a stocktake books the difference to the count, and refuses a count below reserved for all lines', async () => {
    const x = await f.sku('COUNT-X');
    const y = await f.sku('COUNT-Y');
    const z = await f.sku('COUNT-Z');
    await f.receive(x, a, 10);
    await f.receive(y, a, 5);
    await f.inv.reservations.reserve({
      key: 'st-res',
      lines: [{ lineKey: 'st:1', skuId: y, quantity: 4 }],
      warehouseIds: [a],
    });
    await expect(
      f.inv.ledger.stocktake({
        key: 'st-bad',
        warehouseId: a,
        counts: [
          { skuId: x, counted: 8 },
          { skuId: y, counted: 3 },
        ],
      }),
    ).rejects.toThrow(/COUNT-Y counted 3, reserved 4/);
    expect((await at(x, a)).onHand).toBe(10);

    const r = await f.inv.ledger.stocktake({
      key: 'st-1',
      warehouseId: a,
      counts: [
        { skuId: x, counted: 8 },
        { skuId: y, counted: 5 },
        { skuId: z, counted: 2 },
      ],
    });
    expect(r.lines).toEqual([
      { skuId: x, before: 10, counted: 8, delta: -2 },
      { skuId: y, before: 5, counted: 5, delta: 0 },
      { skuId: z, before: 0, counted: 2, delta: 2 },
    ]);
    expect(r.movements).toHaveLength(2);
    expect((await at(x, a)).onHand).toBe(8);
    expect((await at(z, a)).onHand).toBe(2);
    expect(await f.inv.verify()).toMatchObject({ ok: true });
  });

  it('refuses stock on a bundle SKU, unknown SKUs and unknown warehouses', async () => {
    await f.sku('PART');
    const bundle = await f.inv.catalog.putBundle({
      code: 'KIT',
      name: 'kit',
      components: [{ code: 'PART', quantity: 2 }],
    });
    await expect(
      f.inv.ledger.receive({ key: 'kit-rcv', skuId: bundle.id, warehouseId: a, quantity: 1 }),
    ).rejects.toBeInstanceOf(ValidationError);
    await expect(
      f.inv.ledger.receive({ key: 'nosku', skuId: 424242, warehouseId: a, quantity: 1 }),
    ).rejects.toBeInstanceOf(NotFoundError);
    const s = await f.sku('REAL');
    await expect(
      f.inv.ledger.receive({ key: 'nowh', skuId: s, warehouseId: 424242, quantity: 1 }),
    ).rejects.toThrow(/unknown warehouse: 424242/);
  });

  it('the ledger is append-only in the database itself', async () => {
    const s = await f.sku('APPEND');
    await f.receive(s, a, 1);
    await expect(
      f.t.db.prisma.$executeRaw`UPDATE stock_movement SET quantity = 5 WHERE sku_id = ${s}`,
    ).rejects.toThrow(/append-only/);
    await expect(f.t.db.prisma.$executeRaw`DELETE FROM stock_movement WHERE sku_id = ${s}`).rejects.toThrow(
      /append-only/,
    );
  });

  it('the database refuses balances that break the bounds even when the service is bypassed', async () => {
    const s = await f.sku('BOUNDS');
    await f.receive(s, a, 2);
    await expect(
      f.t.db.prisma
        .$executeRaw`UPDATE stock_level SET reserved = 3 WHERE sku_id = ${s} AND warehouse_id = ${a}`,
    ).rejects.toThrow(/stock_level_reserved_le_on_hand_check/);
    await expect(
      f.t.db.prisma
        .$executeRaw`UPDATE stock_level SET on_hand = -1, reserved = 0 WHERE sku_id = ${s} AND warehouse_id = ${a}`,
    ).rejects.toThrow(/check/);
  });
});

describe('catalog', () => {
  it('refuses a bundle cycle, naming its path, and writes nothing', async () => {
    await f.sku('LEAF');
    await f.inv.catalog.putBundle({
      code: 'OUTER',
      name: 'outer',
      components: [{ code: 'LEAF', quantity: 1 }],
    });
    await f.inv.catalog.putBundle({
      code: 'INNER',
      name: 'inner',
      components: [{ code: 'OUTER', quantity: 1 }],
    });
    const err = await f.inv.catalog
      .putBundle({ code: 'OUTER', name: 'outer v2', components: [{ code: 'INNER', quantity: 1 }] })
      .catch((e) => e);
    expect(err).toBeInstanceOf(BundleCycleError);
    expect(err.message).toMatch(/OUTER -> INNER -> OUTER/);
    const outer = await f.inv.catalog.getSku('OUTER');
    expect(outer.name).toBe('outer');
    expect(outer.components).toEqual([{ skuId: expect.any(Number), code: 'LEAF', quantity: 1 }]);
    await expect(
      f.inv.catalog.putBundle({ code: 'SELF', name: 'self', components: [{ code: 'SELF', quantity: 1 }] }),
    ).rejects.toBeInstanceOf(NotFoundError);
  });

  it('nested bundles reserve their leaf components', async () => {
    const leaf = await f.sku('NEST-LEAF');
    await f.receive(leaf, a, 12);
    await f.inv.catalog.putBundle({
      code: 'NEST-2',
      name: 'pair',
      components: [{ code: 'NEST-LEAF', quantity: 2 }],
    });
    const box = await f.inv.catalog.putBundle({
      code: 'NEST-BOX',
      name: 'box of 3 pairs',
      components: [{ code: 'NEST-2', quantity: 3 }],
    });
    expect((await at(box.id, a)).ats).toBe(2);
    await f.inv.reservations.reserve({
      key: 'nest-r',
      lines: [{ lineKey: 'n:1', skuId: box.id, quantity: 2 }],
      warehouseIds: [a],
    });
    expect((await at(leaf, a)).reserved).toBe(12);
  });

  it('a changed safety stock or bundle recipe marks the SKU for the stock push planner', async () => {
    const marked = async (id: number) =>
      (
        await f.t.db.prisma.$queryRaw<
          { n: number }[]
        >`SELECT COUNT(*)::int AS n FROM stock_dirty WHERE sku_id = ${id}`
      )[0]!.n;
    const part = await f.inv.catalog.putSku({ code: 'MARK-PART', name: 'part' });
    await f.t.db.prisma.$executeRaw`DELETE FROM stock_dirty`;
    await f.inv.catalog.putSku({ code: 'MARK-PART', name: 'part', safetyStock: 3 });
    expect(await marked(part.id)).toBe(1);
    const kit = await f.inv.catalog.putBundle({
      code: 'MARK-KIT',
      name: 'kit',
      components: [{ code: 'MARK-PART', quantity: 2 }],
    });
    expect(await marked(kit.id)).toBe(1);
  });

  it('concurrent puts of one new code all succeed and leave one SKU', async () => {
    const views = await Promise.all(
      Array.from({ length: 12 }, (_, i) => f.inv.catalog.putSku({ code: 'RACE-PUT', name: `name ${i}` })),
    );
    expect(new Set(views.map((v) => v.id)).size).toBe(1);
    const [row] = await f.t.db.prisma.$queryRaw<
      { n: number }[]
    >`SELECT COUNT(*)::int AS n FROM sku WHERE code = 'RACE-PUT'`;
    expect(row!.n).toBe(1);
  });

  it('puts are idempotent on code, and a barcode belongs to one SKU', async () => {
    const first = await f.inv.catalog.putSku({ code: 'PUT', name: 'put', barcode: '690000000001' });
    const again = await f.inv.catalog.putSku({ code: 'PUT', name: 'put', barcode: '690000000001' });
    expect(again).toEqual(first);
    await expect(
      f.inv.catalog.putSku({ code: 'PUT-2', name: 'other', barcode: '690000000001' }),
    ).rejects.toThrow(/barcode 690000000001 already belongs to SKU PUT/);
    await expect(f.inv.catalog.putSku({ code: '', name: 'x' })).rejects.toBeInstanceOf(ValidationError);
    await expect(f.inv.catalog.putSku({ code: 'X', name: 'x', safetyStock: -1 } as never)).rejects.toThrow(
      /safetyStock/,
    );
  });
});
