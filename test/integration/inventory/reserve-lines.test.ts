// The batch reservation statement (stock_reserve_lines, with stock_reserve_bundle_line for bundle
// lines) against the general path it stands in for: for any batch of lines, simple and bundle
// ones (nested, a component reached twice), the same results and the same database state as the
// general path taking them one by one in input order (the order intake's arrival order); and
// batches racing on the same SKUs. Runs on PGlite, or on PostgreSQL with TEST_DATABASE_URL.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../../src/db/client.js';
import { ValidationError } from '../../../src/domain/errors.js';
import { createInventory, type Inventory } from '../../../src/inventory/index.js';
import type { ReserveInput } from '../../../src/inventory/reservations.js';
import { createTestDb, onPostgres, type TestDb } from '../../support/db.js';

async function rows<T>(db: Db, text: string, values: unknown[] = []): Promise<T[]> {
  return db.transaction((tx) => tx.query<T>({ text, values }));
}

describe('stock_reserve_lines with bundle lines and the general path (property)', () => {
  let a: TestDb;
  let b: TestDb;
  let batch: Inventory;
  let general: Inventory;
  let whs: number[];
  let run = 0;
  /** What the batches reached, so the comparison is known not to be vacuous. */
  const seen = new Set<string>();

  const both = async <T>(fn: (inv: Inventory) => Promise<T>): Promise<[T, T]> => [
    await fn(batch),
    await fn(general),
  ];

  beforeAll(async () => {
    a = await createTestDb();
    b = await createTestDb();
    batch = createInventory(a.db);
    general = createInventory(b.db, { lineStatement: false });
    const [w1] = await both((inv) => inv.catalog.putWarehouse({ code: 'B1', name: 'one' }));
    const [w2] = await both((inv) => inv.catalog.putWarehouse({ code: 'B2', name: 'two' }));
    const [w3] = await both((inv) => inv.catalog.putWarehouse({ code: 'B3', name: 'off', active: false }));
    whs = [w1.id, w2.id, w3.id];
  });
  afterAll(async () => {
    await batch?.idle();
    await general?.idle();
    await a?.drop();
    await b?.drop();
  });

  /**
   * Per run: 3 simple SKUs, SET = 2 x S0 + S1, BIG = SET + S2 + S0 (S0 three times), and a simple
   * S3 no bundle holds (index 5).
   */
  async function catalog(): Promise<number[]> {
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) {
      const [x, y] = await both((inv) => inv.catalog.putSku({ code: `L${run}-${i}`, name: `l ${i}` }));
      expect(x.id).toBe(y.id);
      ids.push(x.id);
    }
    const put = async (code: string, components: { code: string; quantity: number }[]) => {
      const [x, y] = await both((inv) => inv.catalog.putBundle({ code, name: code, components }));
      expect(x.id).toBe(y.id);
      ids.push(x.id);
    };
    await put(`L${run}-SET`, [
      { code: `L${run}-0`, quantity: 2 },
      { code: `L${run}-1`, quantity: 1 },
    ]);
    // Components listed in another order than their ids: the recipe goes by id.
    await put(`L${run}-BIG`, [
      { code: `L${run}-2`, quantity: 1 },
      { code: `L${run}-SET`, quantity: 1 },
      { code: `L${run}-0`, quantity: 1 },
    ]);
    const [x, y] = await both((inv) => inv.catalog.putSku({ code: `L${run}-3`, name: 'l 3' }));
    expect(x.id).toBe(y.id);
    ids.push(x.id);
    return ids;
  }

  async function snapshot(db: Db) {
    const skuIds = (
      await rows<{ id: number }>(db, 'SELECT id FROM sku WHERE code LIKE $1', [`L${run}-%`])
    ).map((r) => r.id);
    return {
      levels: await rows(
        db,
        `SELECT sku_id, warehouse_id, on_hand, reserved FROM stock_level WHERE sku_id = ANY($1::int[])
         ORDER BY sku_id, warehouse_id`,
        [skuIds],
      ),
      reservations: await rows(
        db,
        `SELECT line_key, line_sku_id, sku_id, warehouse_id, units_per_line, quantity, status::text
         FROM reservation WHERE sku_id = ANY($1::int[]) ORDER BY line_key, id`,
        [skuIds],
      ),
      operations: await rows(
        db,
        `SELECT key, kind, request_hash, result FROM inventory_operation WHERE key LIKE $1 ORDER BY key`,
        [`l${run}-%`],
      ),
    };
  }

  const simple = [0, 1, 2, 5];
  const lineArb = fc.record({
    sku: fc.constantFrom(0, 1, 2, 3, 4, 5, 5), // 0-2 and 5 simple, 3 SET, 4 BIG
    qty: fc.integer({ min: 1, max: 6 }),
    whs: fc.constantFrom([0], [1], [0], [1], [0, 1], [1, 0]),
  });
  const stepArb = fc.oneof(
    {
      weight: 3,
      arbitrary: fc
        .record({ lines: fc.array(lineArb, { minLength: 1, maxLength: 8 }), replay: fc.boolean() })
        .map(({ lines, replay }) => ({ lines, replay })),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        receive: fc.constantFrom(0, 1, 2, 5),
        wh: fc.nat(1),
        qty: fc.integer({ min: 1, max: 8 }),
      }),
    },
  );

  it('gives the same results and database state as the general path, line by line in input order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 12 }), async (steps) => {
        run++;
        const skus = await catalog();
        for (const [i, sku] of [0, 1, 2, 5].map((k) => skus[k]!).entries())
          for (const [w, wh] of whs.slice(0, 2).entries())
            await both((inv) =>
              inv.ledger.receive({
                key: `l${run}-open${i}.${w}`,
                skuId: sku,
                warehouseId: wh,
                quantity: 3 + 2 * i,
              }),
            );
        let n = 0;
        let previous: ReserveInput | undefined;
        for (const step of steps) {
          n++;
          if ('receive' in step) {
            await both((inv) =>
              inv.ledger.receive({
                key: `l${run}-in${n}`,
                skuId: skus[step.receive]!,
                warehouseId: whs[step.wh]!,
                quantity: step.qty,
              }),
            );
            continue;
          }
          const inputs: ReserveInput[] = step.lines.map((l, k) => ({
            key: `l${run}-r${n}.${k}`,
            mode: 'partial',
            lines: [{ lineKey: `l${run}-line${n}.${k}`, skuId: skus[l.sku]!, quantity: l.qty }],
            warehouseIds: l.whs.map((w) => whs[w]!),
          }));
          // A key used by an earlier batch, sent again among new ones: replayed.
          const replayed = step.replay && previous ? 1 : 0;
          if (replayed) inputs.unshift(previous!);
          previous = inputs[replayed];
          const got = await batch.transaction((tx) => batch.reservations.reserveLines(tx, inputs));
          const want: unknown[] = [];
          for (const input of inputs) want.push(await general.reservations.reserve(input));
          expect(got).toEqual(want);
          if (replayed) seen.add('replayed');
          // The lines the statement takes together: a simple SKU no bundle line of the batch
          // reaches (BIG reaches S0-S2, SET S0 and S1), every line of it from one warehouse.
          const reached = new Set(
            step.lines.flatMap((l) => (l.sku === 4 ? [0, 1, 2] : l.sku === 3 ? [0, 1] : [])),
          );
          const together = (sku: number) =>
            simple.includes(sku) &&
            !reached.has(sku) &&
            step.lines.every((l) => l.sku !== sku || l.whs.length === 1);
          for (const [k, r] of got.slice(replayed).entries()) {
            const line = step.lines[k]!;
            const kind = simple.includes(line.sku) ? 'simple' : 'bundle';
            // Split: a SKU taken from both warehouses.
            const split = new Set(r!.allocations.map((x) => x.skuId)).size < r!.allocations.length;
            seen.add(`${kind} ${r!.status}${split ? ' split' : ''}`);
            if (together(line.sku))
              seen.add(
                `together ${r!.status}${step.lines.filter((l) => l.sku === line.sku).length > 1 ? ' shared' : ''}`,
              );
          }
        }
        expect(await snapshot(a.db)).toEqual(await snapshot(b.db));
      }),
      {
        numRuns: onPostgres ? 30 : 20,
        // Sequences that reach every outcome the random ones are checked for. The first (fresh
        // stock: S0 3 + 3, S1 5 + 5): a SET split over both warehouses, a simple line, a SET
        // short, a simple line short, then a receipt and a SET from one warehouse.
        examples: [
          [
            [
              { lines: [{ sku: 3, qty: 2, whs: [0, 1] }], replay: false },
              { lines: [{ sku: 0, qty: 1, whs: [1] }], replay: false },
              { lines: [{ sku: 3, qty: 1, whs: [1] }], replay: false },
              { lines: [{ sku: 0, qty: 6, whs: [1] }], replay: false },
              { receive: 0, wh: 0, qty: 8 },
              { lines: [{ sku: 3, qty: 1, whs: [0] }], replay: false },
            ],
          ],
          // S3 (9 + 9 fresh) taken together: two lines sharing one warehouse's units, then the
          // same lines again short of them (one by one, partial), alongside a replayed key.
          [
            [
              {
                lines: [
                  { sku: 5, qty: 4, whs: [0] },
                  { sku: 5, qty: 5, whs: [0] },
                  { sku: 5, qty: 2, whs: [1] },
                  { sku: 0, qty: 1, whs: [0] },
                ],
                replay: false,
              },
              {
                lines: [
                  { sku: 5, qty: 6, whs: [1] },
                  { sku: 5, qty: 3, whs: [1] },
                  { sku: 3, qty: 1, whs: [0] },
                ],
                replay: true,
              },
            ],
          ],
          // A SKU with a line from two warehouses is not taken together: the earlier line has
          // first call on warehouse 0's units (8 of 9), the later one gets the 1 left.
          [
            [
              {
                lines: [
                  { sku: 5, qty: 8, whs: [0, 1] },
                  { sku: 5, qty: 3, whs: [0] },
                ],
                replay: false,
              },
            ],
          ],
        ],
      },
    );
    expect((await batch.verify()).ok).toBe(true);
    expect((await general.verify()).ok).toBe(true);
    expect([...seen].sort()).toEqual(
      expect.arrayContaining([
        'bundle partial',
        'bundle reserved',
        'bundle reserved split',
        'simple partial',
        'simple reserved',
        'together reserved',
        'together reserved shared',
        'together partial shared',
        'replayed',
      ]),
    );
  });

  it('replays a bundle line by its key, refuses an inactive warehouse and writes nothing then', async () => {
    run++;
    const skus = await catalog();
    for (const sku of skus.slice(0, 3))
      await batch.ledger.receive({ key: `l${run}-o${sku}`, skuId: sku, warehouseId: whs[0]!, quantity: 10 });
    const input: ReserveInput = {
      key: `l${run}-set`,
      mode: 'partial',
      lines: [{ lineKey: `l${run}-set:1`, skuId: skus[3]!, quantity: 2 }],
      warehouseIds: [whs[0]!],
    };
    const [first] = await batch.transaction((tx) => batch.reservations.reserveLines(tx, [input]));
    expect(first).toMatchObject({ status: 'reserved', lines: [{ reserved: 2, missing: 0 }] });
    const [again] = await batch.transaction((tx) => batch.reservations.reserveLines(tx, [input]));
    expect(again).toEqual(first);
    const before = await snapshot(a.db);
    const refused = await batch
      .transaction((tx) =>
        batch.reservations.reserveLines(tx, [
          {
            ...input,
            key: `l${run}-set-off`,
            lines: [{ lineKey: `l${run}-off:1`, skuId: skus[4]!, quantity: 1 }],
            warehouseIds: [whs[0]!, whs[2]!],
          },
        ]),
      )
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ValidationError);
    expect(await snapshot(a.db)).toEqual(before);
  });
});

// Batches racing on one database (on PostgreSQL, from four connections): lines of the same hot
// SKUs in different orders, some from two warehouses, some bundles whose components' ids run
// against the bundle's. No batch may deadlock or fail, no unit may be reserved twice or lost,
// and a line short of units must have found none left where it looked.
describe('stock_reserve_lines, concurrent batches', () => {
  let t: TestDb;
  let inv: Inventory;

  beforeAll(async () => {
    t = await createTestDb();
    inv = createInventory(t.db);
  });
  afterAll(async () => {
    await inv?.idle();
    await t?.drop();
  });

  it('12 batches of 30 lines on 5 hot SKUs: all applied, every unit accounted for once', async () => {
    const w1 = (await inv.catalog.putWarehouse({ code: 'C1', name: 'one' })).id;
    const w2 = (await inv.catalog.putWarehouse({ code: 'C2', name: 'two' })).id;
    const hot: number[] = [];
    for (let i = 0; i < 5; i++)
      hot.push((await inv.catalog.putSku({ code: `C-H${i}`, name: `hot ${i}` })).id);
    const bundle = (
      await inv.catalog.putBundle({
        code: 'C-PAIR',
        name: 'pair',
        components: [
          { code: 'C-H4', quantity: 1 },
          { code: 'C-H0', quantity: 2 },
        ],
      })
    ).id;
    for (const [i, sku] of hot.entries()) {
      await inv.ledger.receive({ key: `c-o${i}.1`, skuId: sku, warehouseId: w1, quantity: 50 });
      await inv.ledger.receive({ key: `c-o${i}.2`, skuId: sku, warehouseId: w2, quantity: 20 });
    }
    const clients: Inventory[] = [inv];
    if (onPostgres) for (let i = 0; i < 3; i++) clients.push(createInventory(await t.openReplica()));

    let seed = 7;
    const random = () => {
      seed = (seed * 48271) % 2147483647;
      return seed / 2147483647;
    };
    const batches: ReserveInput[][] = Array.from({ length: 12 }, (_, b) =>
      Array.from({ length: 30 }, (_, k): ReserveInput => {
        const sku = b % 3 === 0 && k % 10 === 0 ? bundle : hot[Math.floor(random() ** 2 * hot.length)]!;
        const whs = k % 7 === 3 ? [w2, w1] : random() < 0.5 ? [w1] : [w2];
        const qty = 1 + Math.floor(random() * 3);
        return {
          key: `c-b${b}.${k}`,
          mode: 'partial',
          lines: [{ lineKey: `c-b${b}.${k}:1`, skuId: sku, quantity: qty }],
          warehouseIds: whs,
        };
      }).sort(() => random() - 0.5),
    );
    const settled = await Promise.allSettled(
      batches.map((inputs, b) => {
        const c = clients[b % clients.length]!;
        return c.transaction((tx) => c.reservations.reserveLines(tx, inputs));
      }),
    );
    expect(settled.filter((s) => s.status === 'rejected')).toEqual([]);
    const results = settled.flatMap((s) => (s.status === 'fulfilled' ? s.value : []));
    expect(results).toHaveLength(360);

    const levels = await inv.transaction((tx) =>
      tx.query<{ sku_id: number; warehouse_id: number; on_hand: number; reserved: number }>({
        text: 'SELECT sku_id, warehouse_id, on_hand, reserved FROM stock_level WHERE sku_id = ANY($1::int[])',
        values: [hot],
      }),
    );
    const free = new Map(levels.map((l) => [`${l.sku_id}/${l.warehouse_id}`, l.on_hand - l.reserved]));
    // What the results hand out is what the balances hold, and never more than was there.
    const allocated = new Map<string, number>();
    for (const r of results)
      for (const a of r!.allocations)
        allocated.set(
          `${a.skuId}/${a.warehouseId}`,
          (allocated.get(`${a.skuId}/${a.warehouseId}`) ?? 0) + a.quantity,
        );
    for (const l of levels) {
      expect(l.reserved).toBe(allocated.get(`${l.sku_id}/${l.warehouse_id}`) ?? 0);
      expect(l.reserved).toBeLessThanOrEqual(l.on_hand);
    }
    // Sold out: a simple line short of units found none left in any warehouse it named.
    let short = 0;
    for (const [i, r] of results.entries()) {
      const input = batches[Math.floor(i / 30)]![i % 30]!;
      expect(r!.key).toBe(input.key);
      if (r!.status !== 'partial' || input.lines[0]!.skuId === bundle) continue;
      short++;
      for (const wh of input.warehouseIds!) expect(free.get(`${input.lines[0]!.skuId}/${wh}`)).toBe(0);
    }
    expect(short).toBeGreaterThan(0);
    expect(await inv.verify()).toMatchObject({ ok: true });
    for (const c of clients.slice(1)) await c.idle();
  });
});
