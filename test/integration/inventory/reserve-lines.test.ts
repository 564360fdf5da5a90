// The batch reservation statement (stock_reserve_lines, with stock_reserve_bundle_line for bundle
// lines) against the general path it stands in for: for any batch of lines, simple and bundle
// ones (nested, a component reached twice), the same results and the same database state as the
// general path taking them one by one in input order (the order intake's arrival order). Runs on
// PGlite, or on PostgreSQL with TEST_DATABASE_URL.
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

  /** Per run: 3 simple SKUs, SET = 2 x S0 + S1, BIG = SET + S2 + S0 (S0 three times), EMPTY (no components). */
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

  const lineArb = fc.record({
    sku: fc.nat(4), // 0-2 simple, 3 SET, 4 BIG
    qty: fc.integer({ min: 1, max: 6 }),
    whs: fc.constantFrom([0], [1], [0, 1], [1, 0]),
  });
  const stepArb = fc.oneof(
    { weight: 3, arbitrary: fc.array(lineArb, { minLength: 1, maxLength: 6 }).map((lines) => ({ lines })) },
    {
      weight: 1,
      arbitrary: fc.record({ receive: fc.nat(2), wh: fc.nat(1), qty: fc.integer({ min: 1, max: 8 }) }),
    },
  );

  it('gives the same results and database state as the general path, line by line in input order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 12 }), async (steps) => {
        run++;
        const skus = await catalog();
        for (const [i, sku] of skus.slice(0, 3).entries())
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
          const got = await batch.transaction((tx) => batch.reservations.reserveLines(tx, inputs));
          const want: unknown[] = [];
          for (const input of inputs) want.push(await general.reservations.reserve(input));
          expect(got).toEqual(want);
          for (const [k, r] of got.entries()) {
            const kind = step.lines[k]!.sku >= 3 ? 'bundle' : 'simple';
            // Split: a SKU taken from both warehouses.
            const split = new Set(r!.allocations.map((x) => x.skuId)).size < r!.allocations.length;
            seen.add(`${kind} ${r!.status}${split ? ' split' : ''}`);
          }
        }
        expect(await snapshot(a.db)).toEqual(await snapshot(b.db));
      }),
      {
        numRuns: onPostgres ? 30 : 20,
        // One sequence that reaches every outcome the random ones are checked for (fresh stock:
        // S0 3 + 3, S1 5 + 5): a SET split over both warehouses, a simple line, a SET short,
        // a simple line short, then a receipt and a SET from one warehouse.
        examples: [
          [
            [
              { lines: [{ sku: 3, qty: 2, whs: [0, 1] }] },
              { lines: [{ sku: 0, qty: 1, whs: [1] }] },
              { lines: [{ sku: 3, qty: 1, whs: [1] }] },
              { lines: [{ sku: 0, qty: 6, whs: [1] }] },
              { receive: 0, wh: 0, qty: 8 },
              { lines: [{ sku: 3, qty: 1, whs: [0] }] },
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
