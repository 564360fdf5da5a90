import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  IdempotencyConflictError,
  InsufficientStockError,
  NotFoundError,
  StockConflictError,
  ValidationError,
} from '../../../src/domain/errors.js';
import { type InventoryFixture, inventoryFixture } from '../../support/inventory.js';

let f: InventoryFixture;
let main: number;
let backup: number;

beforeAll(async () => {
  f = await inventoryFixture();
  main = await f.warehouse('MAIN');
  backup = await f.warehouse('BACKUP');
});
afterAll(async () => {
  await f.close();
});

const level = async (skuId: number, warehouseIds = [main, backup]) =>
  (await f.inv.availability.ats({ skuIds: [skuId], warehouseIds }))[0]!;

async function movementCount(): Promise<number> {
  const [r] = await f.t.db.prisma.$queryRaw<{ n: number }[]>`SELECT COUNT(*)::int AS n FROM stock_movement`;
  return r!.n;
}

describe('reserve', () => {
  it('checks two lines of the same SKU against their summed demand and reports every short SKU', async () => {
    const a = await f.sku('SUM-A');
    const b = await f.sku('SUM-B');
    await f.receive(a, main, 5);
    await f.receive(b, main, 1);
    const err = await f.inv.reservations
      .reserve({
        key: 'sum-1',
        lines: [
          { lineKey: 's1:1', skuId: a, quantity: 3 },
          { lineKey: 's1:2', skuId: a, quantity: 3 },
          { lineKey: 's1:3', skuId: b, quantity: 2 },
        ],
        warehouseIds: [main],
      })
      .catch((e) => e);
    expect(err).toBeInstanceOf(InsufficientStockError);
    expect(err.shortfalls).toEqual([
      { skuId: a, skuCode: 'SUM-A', requested: 6, available: 5 },
      { skuId: b, skuCode: 'SUM-B', requested: 2, available: 1 },
    ]);
    expect((await level(a)).reserved).toBe(0);
    expect((await level(b)).reserved).toBe(0);
    // Nothing recorded under the key: once stock arrives the same request succeeds.
    await f.receive(a, main, 1);
    await f.receive(b, main, 1);
    const ok = await f.inv.reservations.reserve({
      key: 'sum-1',
      lines: [
        { lineKey: 's1:1', skuId: a, quantity: 3 },
        { lineKey: 's1:2', skuId: a, quantity: 3 },
        { lineKey: 's1:3', skuId: b, quantity: 2 },
      ],
      warehouseIds: [main],
    });
    expect(ok.status).toBe('reserved');
    expect((await level(a)).reserved).toBe(6);
  });

  it('takes warehouses in priority order and splits when the first is short', async () => {
    const s = await f.sku('SPLIT');
    await f.receive(s, main, 2);
    await f.receive(s, backup, 5);
    const r = await f.inv.reservations.reserve({
      key: 'split-1',
      lines: [{ lineKey: 'sp:1', skuId: s, quantity: 4 }],
      warehouseIds: [main, backup],
    });
    expect(r.allocations).toEqual([
      { lineKey: 'sp:1', skuId: s, warehouseId: main, quantity: 2 },
      { lineKey: 'sp:1', skuId: s, warehouseId: backup, quantity: 2 },
    ]);
    const r2 = await f.inv.reservations.reserve({
      key: 'split-2',
      lines: [{ lineKey: 'sp2:1', skuId: s, quantity: 1 }],
      warehouseIds: [backup, main],
    });
    expect(r2.allocations).toEqual([{ lineKey: 'sp2:1', skuId: s, warehouseId: backup, quantity: 1 }]);
    // A channel limited to MAIN sees none of BACKUP's stock.
    await expect(
      f.inv.reservations.reserve({
        key: 'split-3',
        lines: [{ lineKey: 'sp3:1', skuId: s, quantity: 1 }],
        warehouseIds: [main],
      }),
    ).rejects.toBeInstanceOf(InsufficientStockError);
    expect(await f.inv.verify()).toMatchObject({ ok: true });
  });

  it('partial mode reserves what exists and reports the missing units per line', async () => {
    const s = await f.sku('PARTIAL');
    await f.receive(s, main, 3);
    const r = await f.inv.reservations.reserve({
      key: 'partial-1',
      mode: 'partial',
      lines: [
        { lineKey: 'p:1', skuId: s, quantity: 2 },
        { lineKey: 'p:2', skuId: s, quantity: 2 },
      ],
      warehouseIds: [main],
    });
    expect(r.status).toBe('partial');
    expect(r.lines.map((l) => [l.lineKey, l.reserved, l.missing])).toEqual([
      ['p:1', 2, 0],
      ['p:2', 1, 1],
    ]);
    expect(r.shortfalls).toEqual([{ skuId: s, skuCode: 'PARTIAL', requested: 4, available: 3 }]);
    expect((await level(s)).reserved).toBe(3);
  });

  it('reserves a bundle as its components, and a bundle ATS is the minimum over components', async () => {
    const cup = await f.sku('CUP');
    const lid = await f.sku('LID');
    await f.receive(cup, main, 10);
    await f.receive(lid, main, 3);
    const set = await f.inv.catalog.putBundle({
      code: 'CUP-SET',
      name: 'two cups and a lid',
      components: [
        { code: 'CUP', quantity: 2 },
        { code: 'LID', quantity: 1 },
      ],
    });
    expect((await level(set.id)).ats).toBe(3);
    const r = await f.inv.reservations.reserve({
      key: 'bundle-1',
      lines: [
        { lineKey: 'b:1', skuId: set.id, quantity: 2 },
        { lineKey: 'b:2', skuId: cup, quantity: 1 },
      ],
      warehouseIds: [main],
    });
    expect(r.status).toBe('reserved');
    expect((await level(cup)).reserved).toBe(5);
    expect((await level(lid)).reserved).toBe(2);
    expect((await level(set.id)).ats).toBe(1);
    // Shipping one of the two bundles consumes 2 cups and 1 lid.
    const c = await f.inv.reservations.consume({ key: 'bundle-1-ship-1', lineKey: 'b:1', quantity: 1 });
    expect(c.settled.sort((x, y) => x.skuId - y.skuId)).toEqual([
      { skuId: cup, warehouseId: main, quantity: 2 },
      { skuId: lid, warehouseId: main, quantity: 1 },
    ]);
    expect(await level(cup)).toMatchObject({ onHand: 8, reserved: 3 });
    expect(await level(lid)).toMatchObject({ onHand: 2, reserved: 1 });
    // A bundle short on one component reports that component.
    const err = await f.inv.reservations
      .reserve({
        key: 'bundle-2',
        lines: [{ lineKey: 'b2:1', skuId: set.id, quantity: 2 }],
        warehouseIds: [main],
      })
      .catch((e) => e);
    expect(err).toBeInstanceOf(InsufficientStockError);
    expect(err.shortfalls).toEqual([{ skuId: lid, skuCode: 'LID', requested: 2, available: 1 }]);
    expect(await f.inv.verify()).toMatchObject({ ok: true });
  });

  it('safety stock lowers ATS but not what a sold order may reserve', async () => {
    const s = await f.sku('SAFE', { safetyStock: 4 });
    await f.receive(s, main, 5);
    expect((await level(s)).ats).toBe(1);
    await f.inv.reservations.reserve({
      key: 'safe-1',
      lines: [{ lineKey: 'sf:1', skuId: s, quantity: 3 }],
      warehouseIds: [main],
    });
    expect(await level(s)).toMatchObject({ reserved: 3, ats: 0 });
  });
});

describe('consume and release', () => {
  it('consume lowers on-hand and reserved with one shipment movement; release frees the rest', async () => {
    const s = await f.sku('SHIP');
    await f.receive(s, main, 10);
    await f.inv.reservations.reserve({
      key: 'ship-r',
      lines: [{ lineKey: 'sh:1', skuId: s, quantity: 4 }],
      warehouseIds: [main],
    });
    const before = await movementCount();
    const c = await f.inv.reservations.consume({ key: 'ship-c1', lineKey: 'sh:1', quantity: 3 });
    expect(c).toMatchObject({
      action: 'consume',
      quantity: 3,
      settled: [{ skuId: s, warehouseId: main, quantity: 3 }],
    });
    expect(await movementCount()).toBe(before + 1);
    expect(await level(s)).toMatchObject({ onHand: 7, reserved: 1 });
    const r = await f.inv.reservations.release({ key: 'ship-rel', lineKey: 'sh:1' });
    expect(r.quantity).toBe(1);
    expect(await level(s)).toMatchObject({ onHand: 7, reserved: 0, ats: 7 });
    await expect(f.inv.reservations.release({ key: 'ship-rel-2', lineKey: 'sh:1' })).rejects.toBeInstanceOf(
      NotFoundError,
    );
    expect(await f.inv.verify()).toMatchObject({ ok: true });
  });

  it('refuses to settle more than the line holds, and writes nothing', async () => {
    const s = await f.sku('OVER');
    await f.receive(s, main, 2);
    await f.inv.reservations.reserve({
      key: 'over-r',
      lines: [{ lineKey: 'ov:1', skuId: s, quantity: 2 }],
      warehouseIds: [main],
    });
    await expect(
      f.inv.reservations.consume({ key: 'over-c', lineKey: 'ov:1', quantity: 3 }),
    ).rejects.toBeInstanceOf(StockConflictError);
    expect(await level(s)).toMatchObject({ onHand: 2, reserved: 2 });
  });
});

describe('idempotency', () => {
  it('replaying reserve, consume, release and receipt with the same key changes nothing and returns the first result', async () => {
    const s = await f.sku('REPLAY');
    const receipt = { key: 'replay-rcv', skuId: s, warehouseId: main, quantity: 10 };
    const first = await f.inv.ledger.receive(receipt);
    expect(await f.inv.ledger.receive(receipt)).toEqual(first);

    const reserve = {
      key: 'replay-res',
      lines: [{ lineKey: 'rp:1', skuId: s, quantity: 5 }],
      warehouseIds: [main],
    };
    const r1 = await f.inv.reservations.reserve(reserve);
    expect(await f.inv.reservations.reserve(reserve)).toEqual(r1);

    const consume = { key: 'replay-con', lineKey: 'rp:1', quantity: 2 };
    const c1 = await f.inv.reservations.consume(consume);
    expect(await f.inv.reservations.consume(consume)).toEqual(c1);

    const release = { key: 'replay-rel', lineKey: 'rp:1' };
    const l1 = await f.inv.reservations.release(release);
    expect(await f.inv.reservations.release(release)).toEqual(l1);

    const moves = await movementCount();
    for (const op of [
      () => f.inv.ledger.receive(receipt),
      () => f.inv.reservations.reserve(reserve),
      () => f.inv.reservations.consume(consume),
      () => f.inv.reservations.release(release),
    ]) {
      await op();
    }
    expect(await movementCount()).toBe(moves);
    expect(await level(s)).toMatchObject({ onHand: 8, reserved: 0 });
    expect(await f.inv.verify()).toMatchObject({ ok: true });
  });

  it('refuses a known key with a different request', async () => {
    const s = await f.sku('KEYCLASH');
    await f.inv.ledger.receive({ key: 'clash', skuId: s, warehouseId: main, quantity: 1 });
    await expect(
      f.inv.ledger.receive({ key: 'clash', skuId: s, warehouseId: main, quantity: 2 }),
    ).rejects.toBeInstanceOf(IdempotencyConflictError);
    expect((await level(s)).onHand).toBe(1);
  });
});

describe('bad input gets a typed error and writes nothing', () => {
  it.each([
    [
      'negative quantity',
      (s: number) => ({
        key: 'bad-1',
        lines: [{ lineKey: 'x', skuId: s, quantity: -1 }],
        warehouseIds: [main],
      }),
      ValidationError,
    ],
    [
      'zero quantity',
      (s: number) => ({
        key: 'bad-2',
        lines: [{ lineKey: 'x', skuId: s, quantity: 0 }],
        warehouseIds: [main],
      }),
      ValidationError,
    ],
    [
      'fractional quantity',
      (s: number) => ({
        key: 'bad-3',
        lines: [{ lineKey: 'x', skuId: s, quantity: 1.5 }],
        warehouseIds: [main],
      }),
      ValidationError,
    ],
    [
      'missing key',
      (s: number) => ({ lines: [{ lineKey: 'x', skuId: s, quantity: 1 }], warehouseIds: [main] }),
      ValidationError,
    ],
    [
      'no warehouses',
      (s: number) => ({ key: 'bad-4', lines: [{ lineKey: 'x', skuId: s, quantity: 1 }], warehouseIds: [] }),
      ValidationError,
    ],
    [
      'unknown SKU',
      () => ({ key: 'bad-5', lines: [{ lineKey: 'x', skuId: 999_999, quantity: 1 }], warehouseIds: [main] }),
      NotFoundError,
    ],
    [
      'unknown warehouse',
      (s: number) => ({
        key: 'bad-6',
        lines: [{ lineKey: 'x', skuId: s, quantity: 1 }],
        warehouseIds: [888_888],
      }),
      NotFoundError,
    ],
  ])('%s', async (_name, make, type) => {
    const s = await f.sku(`BAD-${_name}`);
    await f.receive(s, main, 5);
    const moves = await movementCount();
    const err = await f.inv.reservations.reserve(make(s) as never).catch((e) => e);
    expect(err).toBeInstanceOf(type);
    expect(err.message.length).toBeGreaterThan(10);
    expect((await level(s)).reserved).toBe(0);
    expect(await movementCount()).toBe(moves);
    const [ops] = await f.t.db.prisma.$queryRaw<{ n: number }[]>`
      SELECT COUNT(*)::int AS n FROM inventory_operation WHERE key LIKE 'bad-%'`;
    expect(ops!.n).toBe(0);
  });

  it('names every unknown SKU at once', async () => {
    const err = await f.inv.reservations
      .reserve({
        key: 'bad-many',
        lines: [
          { lineKey: 'a', skuId: 777_001, quantity: 1 },
          { lineKey: 'b', skuId: 777_002, quantity: 1 },
        ],
        warehouseIds: [main],
      })
      .catch((e) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.refs).toEqual([777_001, 777_002]);
  });

  it('names the field path of a validation problem', async () => {
    const err = await f.inv.ledger
      .receive({ key: 'v', skuId: 1, warehouseId: main, quantity: -3 })
      .catch((e) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.issues.join()).toMatch(/^quantity: /);
  });
});
