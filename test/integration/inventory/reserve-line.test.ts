// The single-line reservation statement (stock_reserve_line) against the general path it
// stands in for: the same results, errors and database state for any sequence of requests, and
// the guarantees that matter under concurrency. Runs on PGlite, or on PostgreSQL with
// TEST_DATABASE_URL.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../../src/db/client.js';
import { sql } from '../../../src/db/sql.js';
import {
  DomainError,
  IdempotencyConflictError,
  InsufficientStockError,
  NotFoundError,
  ValidationError,
} from '../../../src/domain/errors.js';
import { createInventory, type Inventory } from '../../../src/inventory/index.js';
import { createTestDb, onPostgres, type TestDb } from '../../support/db.js';
import { type InventoryFixture, inventoryFixture } from '../../support/inventory.js';

async function rows<T>(db: Db, text: string, values: unknown[] = []): Promise<T[]> {
  return db.transaction((tx) => tx.query<T>({ text, values }));
}

describe('stock_reserve_line', () => {
  let f: InventoryFixture;
  let main: number;
  let backup: number;
  const level = async (skuId: number, warehouseId = main) =>
    (
      await rows<{ on_hand: number; reserved: number }>(
        f.t.db,
        'SELECT on_hand, reserved FROM stock_level WHERE sku_id = $1 AND warehouse_id = $2',
        [skuId, warehouseId],
      )
    )[0];
  const opCount = async (key: string) =>
    (await rows(f.t.db, 'SELECT 1 FROM inventory_operation WHERE key = $1', [key])).length;
  const reservationRows = async (skuId: number) =>
    rows<{ line_key: string; warehouse_id: number; quantity: number; status: string }>(
      f.t.db,
      'SELECT line_key, warehouse_id, quantity, status::text FROM reservation WHERE sku_id = $1 ORDER BY id',
      [skuId],
    );

  beforeAll(async () => {
    f = await inventoryFixture();
    main = await f.warehouse('RL-MAIN');
    backup = await f.warehouse('RL-BACKUP');
  });
  afterAll(async () => {
    await f.close();
  });

  it('reserves one line in one statement, with no transaction around it', async () => {
    const s = await f.sku('RL-ONE');
    await f.receive(s, main, 5);
    let statements = 0;
    let transactions = 0;
    const counted: Db = {
      ...f.t.db,
      statement: (q) => {
        statements++;
        return f.t.db.statement(q);
      },
      transaction: (fn, o) => {
        transactions++;
        return f.t.db.transaction(fn, o);
      },
    };
    const inv = createInventory(counted);
    const r = await inv.reservations.reserve({
      key: 'rl-one',
      lines: [{ lineKey: 'rl-one:1', skuId: s, quantity: 2 }],
      warehouseIds: [main],
    });
    expect(r).toEqual({
      key: 'rl-one',
      status: 'reserved',
      lines: [{ lineKey: 'rl-one:1', skuId: s, requested: 2, reserved: 2, missing: 0 }],
      allocations: [{ lineKey: 'rl-one:1', skuId: s, warehouseId: main, quantity: 2 }],
      shortfalls: [],
    });
    expect({ statements, transactions }).toEqual({ statements: 1, transactions: 0 });
    expect(await level(s)).toEqual({ on_hand: 5, reserved: 2 });
    expect(await reservationRows(s)).toEqual([
      { line_key: 'rl-one:1', warehouse_id: main, quantity: 2, status: 'active' },
    ]);
    const [stored] = await rows<{ result: unknown }>(
      f.t.db,
      `SELECT result FROM inventory_operation WHERE key = 'rl-one'`,
    );
    expect(stored!.result).toEqual(r);
    // The balance trigger marked the SKU for the push planner.
    expect(await rows(f.t.db, 'SELECT sku_id FROM stock_dirty ORDER BY id DESC LIMIT 1', [])).toEqual([
      { sku_id: s },
    ]);
    await inv.idle();
  });

  it('replays the first result, also once stock ran out or the warehouse was deactivated', async () => {
    const s = await f.sku('RL-REPLAY');
    const wh = await f.warehouse('RL-CLOSING');
    await f.receive(s, wh, 3);
    const req = {
      key: 'rl-replay',
      lines: [{ lineKey: 'rl-replay:1', skuId: s, quantity: 3 }],
      warehouseIds: [wh],
    };
    const first = await f.inv.reservations.reserve(req);
    expect(first.status).toBe('reserved');
    expect(await f.inv.reservations.reserve(req)).toEqual(first);
    await f.inv.catalog.putWarehouse({ code: 'RL-CLOSING', name: 'closing', active: false });
    expect(await f.inv.reservations.reserve(req)).toEqual(first);
    expect(await level(s, wh)).toEqual({ on_hand: 3, reserved: 3 });
    expect(await reservationRows(s)).toHaveLength(1);
  });

  it('refuses a known key with a different request and writes nothing', async () => {
    const s = await f.sku('RL-CLASH');
    await f.receive(s, main, 10);
    await f.inv.reservations.reserve({
      key: 'rl-clash',
      lines: [{ lineKey: 'rl-clash:1', skuId: s, quantity: 1 }],
      warehouseIds: [main],
    });
    for (const other of [
      { lines: [{ lineKey: 'rl-clash:1', skuId: s, quantity: 2 }], warehouseIds: [main] },
      { lines: [{ lineKey: 'rl-clash:1', skuId: s, quantity: 1 }], warehouseIds: [main, backup] },
      {
        lines: [{ lineKey: 'rl-clash:1', skuId: s, quantity: 1 }],
        warehouseIds: [main],
        mode: 'partial' as const,
      },
    ]) {
      await expect(f.inv.reservations.reserve({ key: 'rl-clash', ...other })).rejects.toBeInstanceOf(
        IdempotencyConflictError,
      );
    }
    // A key used by another kind of operation is another request too.
    await f.inv.ledger.receive({ key: 'rl-clash-receipt', skuId: s, warehouseId: main, quantity: 1 });
    await expect(
      f.inv.reservations.reserve({
        key: 'rl-clash-receipt',
        lines: [{ lineKey: 'x', skuId: s, quantity: 1 }],
        warehouseIds: [main],
      }),
    ).rejects.toBeInstanceOf(IdempotencyConflictError);
    expect(await level(s)).toEqual({ on_hand: 11, reserved: 1 });
    expect(await reservationRows(s)).toHaveLength(1);
  });

  it('insufficient stock: every unit counted, nothing written, and the key stays free', async () => {
    const s = await f.sku('RL-SHORT');
    await f.receive(s, main, 2);
    await f.receive(s, backup, 1);
    const req = {
      key: 'rl-short',
      lines: [{ lineKey: 'rl-short:1', skuId: s, quantity: 4 }],
      warehouseIds: [main, backup],
    };
    const err = await f.inv.reservations.reserve(req).catch((e) => e);
    expect(err).toBeInstanceOf(InsufficientStockError);
    expect(err.shortfalls).toEqual([{ skuId: s, skuCode: 'RL-SHORT', requested: 4, available: 3 }]);
    const one = await f.inv.reservations
      .reserve({ ...req, key: 'rl-short-1', warehouseIds: [main] })
      .catch((e) => e);
    expect(one.shortfalls).toEqual([{ skuId: s, skuCode: 'RL-SHORT', requested: 4, available: 2 }]);
    expect(await opCount('rl-short')).toBe(0);
    expect(await opCount('rl-short-1')).toBe(0);
    expect(await level(s)).toEqual({ on_hand: 2, reserved: 0 });
    expect(await reservationRows(s)).toEqual([]);
    await f.receive(s, backup, 1);
    const ok = await f.inv.reservations.reserve(req);
    expect(ok.allocations).toEqual([
      { lineKey: 'rl-short:1', skuId: s, warehouseId: main, quantity: 2 },
      { lineKey: 'rl-short:1', skuId: s, warehouseId: backup, quantity: 2 },
    ]);
  });

  it('partial mode in one warehouse takes what exists when the whole quantity is not there', async () => {
    const s = await f.sku('RL-PARTIAL');
    await f.receive(s, main, 3);
    const r = await f.inv.reservations.reserve({
      key: 'rl-partial',
      mode: 'partial',
      lines: [{ lineKey: 'rl-partial:1', skuId: s, quantity: 5 }],
      warehouseIds: [main],
    });
    expect(r).toEqual({
      key: 'rl-partial',
      status: 'partial',
      lines: [{ lineKey: 'rl-partial:1', skuId: s, requested: 5, reserved: 3, missing: 2 }],
      allocations: [{ lineKey: 'rl-partial:1', skuId: s, warehouseId: main, quantity: 3 }],
      shortfalls: [{ skuId: s, skuCode: 'RL-PARTIAL', requested: 5, available: 3 }],
    });
    const none = await f.inv.reservations.reserve({
      key: 'rl-partial-2',
      mode: 'partial',
      lines: [{ lineKey: 'rl-partial-2:1', skuId: s, quantity: 1 }],
      warehouseIds: [main],
    });
    expect(none).toMatchObject({ status: 'partial', allocations: [], lines: [{ reserved: 0, missing: 1 }] });
    const [stored] = await rows<{ result: unknown }>(
      f.t.db,
      `SELECT result FROM inventory_operation WHERE key = 'rl-partial'`,
    );
    expect(stored!.result).toEqual(r);
    expect(await level(s)).toEqual({ on_hand: 3, reserved: 3 });
  });

  it('names unknown SKUs and warehouses and refuses inactive ones, writing nothing', async () => {
    const s = await f.sku('RL-BAD');
    await f.receive(s, main, 5);
    const off = await f.warehouse('RL-OFF');
    await f.inv.catalog.putWarehouse({ code: 'RL-OFF', name: 'off', active: false });
    const attempt = (key: string, skuId: number, warehouseIds: number[]) =>
      f.inv.reservations
        .reserve({ key, lines: [{ lineKey: `${key}:1`, skuId, quantity: 1 }], warehouseIds })
        .catch((e) => e);
    const sku = await attempt('rl-bad-1', 987_654, [main, 888_001]);
    expect(sku).toBeInstanceOf(NotFoundError);
    expect(sku).toMatchObject({ entity: 'sku', refs: [987_654] });
    const whs = await attempt('rl-bad-2', s, [888_002, main, off, 888_001]);
    expect(whs).toBeInstanceOf(NotFoundError);
    expect(whs).toMatchObject({ entity: 'warehouse', refs: [888_002, 888_001] });
    const inactive = await attempt('rl-bad-3', s, [main, off]);
    expect(inactive).toBeInstanceOf(ValidationError);
    expect(inactive.message).toBe(`warehouse ${off} is inactive`);
    for (const key of ['rl-bad-1', 'rl-bad-2', 'rl-bad-3']) expect(await opCount(key)).toBe(0);
    expect(await level(s)).toEqual({ on_hand: 5, reserved: 0 });
  });

  it('leaves a bundle line to the general path', async () => {
    const cup = await f.sku('RL-CUP');
    const lid = await f.sku('RL-LID');
    await f.receive(cup, main, 4);
    await f.receive(lid, main, 4);
    const set = await f.inv.catalog.putBundle({
      code: 'RL-SET',
      name: 'set',
      components: [
        { code: 'RL-CUP', quantity: 2 },
        { code: 'RL-LID', quantity: 1 },
      ],
    });
    const req = {
      key: 'rl-set',
      lines: [{ lineKey: 'rl-set:1', skuId: set.id, quantity: 2 }],
      warehouseIds: [main],
    };
    const r = await f.inv.reservations.reserve(req);
    expect(r.allocations).toEqual([
      { lineKey: 'rl-set:1', skuId: cup, warehouseId: main, quantity: 4 },
      { lineKey: 'rl-set:1', skuId: lid, warehouseId: main, quantity: 2 },
    ]);
    expect(await f.inv.reservations.reserve(req)).toEqual(r);
    expect(await level(cup)).toEqual({ on_hand: 4, reserved: 4 });
  });

  it("inside a caller's transaction: commits and rolls back with it, and an error leaves it usable", async () => {
    const s = await f.sku('RL-JOIN');
    await f.receive(s, main, 2);
    const req = (key: string, quantity: number) => ({
      key,
      lines: [{ lineKey: `${key}:1`, skuId: s, quantity }],
      warehouseIds: [main],
    });
    await expect(
      f.inv.transaction(async (tx) => {
        await f.inv.reservations.reserve(req('rl-join-rollback', 1), tx);
        throw new Error('caller failed');
      }),
    ).rejects.toThrow('caller failed');
    expect(await opCount('rl-join-rollback')).toBe(0);
    expect(await level(s)).toEqual({ on_hand: 2, reserved: 0 });

    const got = await f.inv.transaction(async (tx) => {
      const short = await f.inv.reservations.reserve(req('rl-join-short', 3), tx).catch((e) => e);
      expect(short).toBeInstanceOf(InsufficientStockError);
      const unknown = await f.inv.reservations
        .reserve({ ...req('rl-join-unknown', 1), warehouseIds: [main, 888_003] }, tx)
        .catch((e) => e);
      expect(unknown).toBeInstanceOf(NotFoundError);
      const ok = await f.inv.reservations.reserve(req('rl-join-ok', 2), tx);
      await tx.execute(sql`SELECT 1`);
      return ok;
    });
    expect(got.status).toBe('reserved');
    expect(await opCount('rl-join-short')).toBe(0);
    expect(await opCount('rl-join-unknown')).toBe(0);
    expect(await opCount('rl-join-ok')).toBe(1);
    expect(await level(s)).toEqual({ on_hand: 2, reserved: 2 });
  });

  it('copies of one request racing for the last units all get the one success', async () => {
    const s = await f.sku('RL-DUP');
    await f.receive(s, main, 3);
    const req = {
      key: 'rl-dup',
      lines: [{ lineKey: 'rl-dup:1', skuId: s, quantity: 3 }],
      warehouseIds: [main],
    };
    const results = await Promise.all(Array.from({ length: 30 }, () => f.inv.reservations.reserve(req)));
    for (const r of results) expect(r).toEqual(results[0]);
    expect(results[0]!.status).toBe('reserved');
    expect(await level(s)).toEqual({ on_hand: 3, reserved: 3 });
    expect(await reservationRows(s)).toHaveLength(1);
  });

  it('500 single-line reservations racing for 100 units across two warehouses: exactly 100, no lost update', async () => {
    const s = await f.sku('RL-RACE');
    await f.receive(s, main, 60);
    await f.receive(s, backup, 40);
    const replicas: Inventory[] = [f.inv];
    if (onPostgres) replicas.push(createInventory(await f.t.openReplica()));
    const settled = await Promise.allSettled(
      Array.from({ length: 500 }, (_, i) =>
        replicas[i % replicas.length]!.reservations.reserve({
          key: `rl-race-${i}`,
          mode: i % 3 === 0 ? 'partial' : 'all',
          lines: [{ lineKey: `rl-race-${i}:1`, skuId: s, quantity: 1 }],
          warehouseIds: i % 2 ? [main, backup] : [backup, main],
        }),
      ),
    );
    const reserved = settled
      .filter((x) => x.status === 'fulfilled')
      .reduce((n, x) => n + x.value.lines[0]!.reserved, 0);
    const other = settled.filter(
      (x) => x.status === 'rejected' && !(x.reason instanceof InsufficientStockError),
    );
    expect(other).toEqual([]);
    expect(reserved).toBe(100);
    expect(await level(s, main)).toEqual({ on_hand: 60, reserved: 60 });
    expect(await level(s, backup)).toEqual({ on_hand: 40, reserved: 40 });
    const held = await reservationRows(s);
    expect(held).toHaveLength(100);
    expect(held.every((r) => r.quantity === 1 && r.status === 'active')).toBe(true);
    expect(await f.inv.verify()).toMatchObject({ ok: true });
    for (const r of replicas.slice(1)) await r.idle();
  });
});

// Any sequence of requests gives the same answers and leaves the same database through the
// statement as through the general path: two databases built alike, one inventory on each.
describe('stock_reserve_line and the general path (property)', () => {
  let a: TestDb;
  let b: TestDb;
  let fast: Inventory;
  let general: Inventory;
  let whs: number[];
  let run = 0;
  /** What the sequences reached, so the comparison is known not to be vacuous. */
  const seen = new Set<string>();

  const both = async <T>(fn: (inv: Inventory) => Promise<T>): Promise<[T, T]> => [
    await fn(fast),
    await fn(general),
  ];

  beforeAll(async () => {
    a = await createTestDb();
    b = await createTestDb();
    fast = createInventory(a.db);
    general = createInventory(b.db, { lineStatement: false });
    const [w1] = await both((inv) => inv.catalog.putWarehouse({ code: 'P1', name: 'one' }));
    const [w2] = await both((inv) => inv.catalog.putWarehouse({ code: 'P2', name: 'two' }));
    const [w3] = await both((inv) => inv.catalog.putWarehouse({ code: 'P3', name: 'off', active: false }));
    whs = [w1.id, w2.id, w3.id, 777_777];
  });
  afterAll(async () => {
    await fast?.idle();
    await general?.idle();
    await a?.drop();
    await b?.drop();
  });

  type Step =
    | {
        t: 'reserve';
        key: number;
        line: number;
        sku: number;
        qty: number;
        whs: readonly number[];
        partial: boolean;
        /** Inside a caller's transaction (the order intake's way) rather than on its own. */
        joined: boolean;
      }
    | { t: 'receive'; sku: number; wh: number; qty: number }
    | { t: 'release'; line: number };

  const stepArb: fc.Arbitrary<Step> = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        t: fc.constant('reserve' as const),
        key: fc.nat(7),
        line: fc.nat(3),
        sku: fc.nat(4), // 0-2 simple, 3 the bundle, 4 unknown
        qty: fc.integer({ min: 1, max: 6 }),
        whs: fc.constantFrom([0], [1], [0, 1], [1, 0], [2], [0, 2], [3], [1, 3], [3, 2]),
        partial: fc.boolean(),
        joined: fc.boolean(),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        t: fc.constant('receive' as const),
        sku: fc.nat(2),
        wh: fc.nat(1),
        qty: fc.integer({ min: 1, max: 5 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('release' as const), line: fc.nat(3) }) },
  );

  /** One sequence that reaches every outcome the random ones should reach too. */
  const reserveStep = (
    s: Omit<Extract<Step, { t: 'reserve' }>, 't' | 'line' | 'joined'>,
    joined = false,
  ): Step => ({
    t: 'reserve',
    line: s.key % 4,
    joined,
    ...s,
  });
  const covering: Step[] = [
    reserveStep({ key: 0, sku: 0, qty: 1, whs: [0], partial: false }),
    reserveStep({ key: 1, sku: 1, qty: 4, whs: [0, 1], partial: false }, true),
    reserveStep({ key: 2, sku: 0, qty: 6, whs: [1], partial: true }),
    reserveStep({ key: 3, sku: 0, qty: 5, whs: [1, 0], partial: true }, true),
    reserveStep({ key: 4, sku: 1, qty: 6, whs: [0], partial: false }),
    reserveStep({ key: 0, sku: 0, qty: 2, whs: [0], partial: false }),
    reserveStep({ key: 5, sku: 4, qty: 1, whs: [0], partial: false }),
    reserveStep({ key: 6, sku: 1, qty: 1, whs: [0, 2], partial: false }, true),
  ];

  const outcome = (p: Promise<unknown>) =>
    p.then(
      (value) => ({ ok: value }),
      (e) => {
        if (!(e instanceof DomainError)) throw e;
        return { error: e.name, message: e.message, detail: { ...e } };
      },
    );

  async function snapshot(db: Db, run: number) {
    const skuIds = (
      await rows<{ id: number }>(db, 'SELECT id FROM sku WHERE code LIKE $1', [`Q${run}-%`])
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
         FROM reservation WHERE sku_id = ANY($1::int[]) ORDER BY id`,
        [skuIds],
      ),
      operations: await rows(
        db,
        `SELECT key, kind, request_hash, result FROM inventory_operation WHERE key LIKE $1 ORDER BY key`,
        [`q${run}-%`],
      ),
      movements: await rows(
        db,
        `SELECT sku_id, warehouse_id, kind::text, quantity, idempotency_key FROM stock_movement
         WHERE sku_id = ANY($1::int[]) ORDER BY id`,
        [skuIds],
      ),
      dirty: await rows(
        db,
        'SELECT DISTINCT sku_id FROM stock_dirty WHERE sku_id = ANY($1::int[]) ORDER BY 1',
        [skuIds],
      ),
    };
  }

  it('gives the same results, errors and database state', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 30 }), async (steps) => {
        run++;
        const skus: number[] = [];
        for (let i = 0; i < 3; i++) {
          const [x, y] = await both((inv) => inv.catalog.putSku({ code: `Q${run}-${i}`, name: `q ${i}` }));
          expect(x.id).toBe(y.id);
          skus.push(x.id);
        }
        const [bundle] = await both((inv) =>
          inv.catalog.putBundle({
            code: `Q${run}-SET`,
            name: 'set',
            components: [
              { code: `Q${run}-0`, quantity: 2 },
              { code: `Q${run}-1`, quantity: 1 },
            ],
          }),
        );
        skus.push(bundle.id, 999_999);
        for (const [i, sku] of skus.slice(0, 3).entries()) {
          for (const [w, wh] of whs.slice(0, 2).entries()) {
            await both((inv) =>
              inv.ledger.receive({
                key: `q${run}-open${i}.${w}`,
                skuId: sku,
                warehouseId: wh,
                quantity: 2 + i,
              }),
            );
          }
        }
        let n = 0;
        for (const step of steps) {
          n++;
          let call: (inv: Inventory) => Promise<unknown>;
          if (step.t === 'reserve') {
            const req = {
              key: `q${run}-r${step.key}`,
              mode: step.partial ? ('partial' as const) : ('all' as const),
              lines: [{ lineKey: `q${run}-line${step.line}`, skuId: skus[step.sku]!, quantity: step.qty }],
              warehouseIds: step.whs.map((w) => whs[w]!),
            };
            call = (inv) =>
              step.joined
                ? inv.transaction((tx) => inv.reservations.reserve(req, tx))
                : inv.reservations.reserve(req);
          } else if (step.t === 'receive') {
            call = (inv) =>
              inv.ledger.receive({
                key: `q${run}-in${n}`,
                skuId: skus[step.sku]!,
                warehouseId: whs[step.wh]!,
                quantity: step.qty,
              });
          } else {
            call = (inv) =>
              inv.reservations.release({ key: `q${run}-rel${n}`, lineKey: `q${run}-line${step.line}` });
          }
          const [x, y] = await both((inv) => outcome(call(inv)));
          expect(x).toEqual(y);
          if (step.t === 'reserve') {
            seen.add('error' in x ? x.error : `${(x.ok as { status: string }).status}${step.whs.length}`);
          }
        }
        const [sa, sb] = [await snapshot(a.db, run), await snapshot(b.db, run)];
        expect(sa).toEqual(sb);
      }),
      { numRuns: onPostgres ? 40 : 25, examples: [[covering]] },
    );
    expect((await fast.verify()).ok).toBe(true);
    expect((await general.verify()).ok).toBe(true);
    expect([...seen].sort()).toEqual([
      'IdempotencyConflictError',
      'InsufficientStockError',
      'NotFoundError',
      'ValidationError',
      'partial1',
      'partial2',
      'reserved1',
      'reserved2',
    ]);
  });
});
