import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainError } from '../../../src/domain/errors.js';
import { type InventoryFixture, inventoryFixture } from '../../support/inventory.js';

// Random sequences of stock operations run on the real database next to a plain in-memory
// model. After every sequence the balances must equal the model's, and verify() must find
// on_hand == sum(movements), reserved == sum(active reservations), 0 <= reserved <= on_hand.

const SKUS = 3;
const WHS = 2;

type Op =
  | { t: 'receive'; sku: number; wh: number; qty: number }
  | { t: 'adjust'; sku: number; wh: number; delta: number }
  | { t: 'reserve'; sku: number; qty: number; whOrder: readonly number[]; partial: boolean }
  | { t: 'consume' | 'release'; line: number; qty: number | null }
  | { t: 'transfer'; sku: number; from: number; qty: number }
  | { t: 'replay'; back: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    t: fc.constant('receive' as const),
    sku: fc.nat(SKUS - 1),
    wh: fc.nat(WHS - 1),
    qty: fc.integer({ min: 1, max: 8 }),
  }),
  fc.record({
    t: fc.constant('adjust' as const),
    sku: fc.nat(SKUS - 1),
    wh: fc.nat(WHS - 1),
    delta: fc.integer({ min: -6, max: 6 }).filter((d) => d !== 0),
  }),
  fc.record({
    t: fc.constant('reserve' as const),
    sku: fc.nat(SKUS - 1),
    qty: fc.integer({ min: 1, max: 6 }),
    whOrder: fc.constantFrom([0, 1], [1, 0], [0], [1]),
    partial: fc.boolean(),
  }),
  fc.record({
    t: fc.constantFrom('consume' as const, 'release' as const),
    line: fc.nat(20),
    qty: fc.option(fc.integer({ min: 1, max: 4 })),
  }),
  fc.record({
    t: fc.constant('transfer' as const),
    sku: fc.nat(SKUS - 1),
    from: fc.nat(WHS - 1),
    qty: fc.integer({ min: 1, max: 5 }),
  }),
  fc.record({ t: fc.constant('replay' as const), back: fc.nat(10) }),
);

class Model {
  onHand = new Map<string, number>();
  reserved = new Map<string, number>();
  lines: { lineKey: string; sku: number; rows: { wh: number; qty: number }[] }[] = [];
  get(m: Map<string, number>, s: number, w: number) {
    return m.get(`${s}:${w}`) ?? 0;
  }
  add(m: Map<string, number>, s: number, w: number, d: number) {
    m.set(`${s}:${w}`, this.get(m, s, w) + d);
  }
  free(s: number, w: number) {
    return this.get(this.onHand, s, w) - this.get(this.reserved, s, w);
  }
}

let f: InventoryFixture;
let warehouses: number[];
let run = 0;

beforeAll(async () => {
  f = await inventoryFixture();
  warehouses = [await f.warehouse('P-A'), await f.warehouse('P-B')];
});
afterAll(async () => {
  await f.close();
});

describe('ledger arithmetic (property)', () => {
  it('any sequence of receipts, reservations, consumptions, releases, adjustments and transfers keeps every invariant', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), async (ops) => {
        run++;
        const skus: number[] = [];
        for (let i = 0; i < SKUS; i++) skus.push(await f.sku(`PROP-${run}-${i}`));
        const model = new Model();
        const done: (() => Promise<unknown>)[] = [];
        let n = 0;
        for (const op of ops) {
          const key = `prop-${run}-${n++}`;
          let call: () => Promise<unknown>;
          let expectOk: boolean;
          let apply = () => {};
          switch (op.t) {
            case 'receive':
              call = () =>
                f.inv.ledger.receive({
                  key,
                  skuId: skus[op.sku]!,
                  warehouseId: warehouses[op.wh]!,
                  quantity: op.qty,
                });
              expectOk = true;
              apply = () => model.add(model.onHand, op.sku, op.wh, op.qty);
              break;
            case 'adjust':
              call = () =>
                f.inv.ledger.adjust({
                  key,
                  skuId: skus[op.sku]!,
                  warehouseId: warehouses[op.wh]!,
                  delta: op.delta,
                  reason: 'prop',
                });
              expectOk = op.delta > 0 || model.free(op.sku, op.wh) + op.delta >= 0;
              apply = () => model.add(model.onHand, op.sku, op.wh, op.delta);
              break;
            case 'transfer': {
              const to = 1 - op.from;
              call = () =>
                f.inv.ledger.transfer({
                  key,
                  skuId: skus[op.sku]!,
                  fromWarehouseId: warehouses[op.from]!,
                  toWarehouseId: warehouses[to]!,
                  quantity: op.qty,
                });
              expectOk = model.free(op.sku, op.from) >= op.qty;
              apply = () => {
                model.add(model.onHand, op.sku, op.from, -op.qty);
                model.add(model.onHand, op.sku, to, op.qty);
              };
              break;
            }
            case 'reserve': {
              const lineKey = `${key}:line`;
              const total = op.whOrder.reduce((s, w) => s + model.free(op.sku, w), 0);
              const units = op.partial ? Math.min(op.qty, total) : op.qty;
              expectOk = op.partial || total >= op.qty;
              call = () =>
                f.inv.reservations.reserve({
                  key,
                  mode: op.partial ? 'partial' : 'all',
                  lines: [{ lineKey, skuId: skus[op.sku]!, quantity: op.qty }],
                  warehouseIds: op.whOrder.map((w) => warehouses[w]!),
                });
              apply = () => {
                let left = units;
                const rows: { wh: number; qty: number }[] = [];
                for (const w of op.whOrder) {
                  const take = Math.min(left, model.free(op.sku, w));
                  if (take > 0) {
                    rows.push({ wh: w, qty: take });
                    model.add(model.reserved, op.sku, w, take);
                    left -= take;
                  }
                }
                model.lines.push({ lineKey, sku: op.sku, rows });
              };
              break;
            }
            case 'consume':
            case 'release': {
              const line = model.lines[op.line % Math.max(1, model.lines.length)];
              const rows = line?.rows ?? [];
              const held = rows.reduce((sum, r) => sum + r.qty, 0);
              const qty = op.qty ?? held;
              expectOk = held > 0 && qty <= held;
              call = () =>
                f.inv.reservations[op.t]({
                  key,
                  lineKey: line?.lineKey ?? 'no-such-line',
                  ...(op.qty === null ? {} : { quantity: op.qty }),
                });
              apply = () => {
                let left = qty;
                for (const r of rows) {
                  const take = Math.min(left, r.qty);
                  r.qty -= take;
                  left -= take;
                  model.add(model.reserved, line!.sku, r.wh, -take);
                  if (op.t === 'consume') model.add(model.onHand, line!.sku, r.wh, -take);
                }
              };
              break;
            }
            case 'replay': {
              const prev = done[done.length - 1 - (op.back % Math.max(1, done.length))];
              call = prev ?? (async () => undefined);
              expectOk = true;
              break;
            }
          }
          const outcome = await call().then(
            () => 'ok' as const,
            (e) => {
              if (!(e instanceof DomainError)) throw e;
              return 'refused' as const;
            },
          );
          expect(outcome, `${op.t} ${JSON.stringify(op)}`).toBe(expectOk ? 'ok' : 'refused');
          if (outcome === 'ok') {
            apply();
            if (op.t !== 'replay') done.push(call);
          }
        }
        const ats = await f.inv.availability.ats({ skuIds: skus });
        for (let s = 0; s < SKUS; s++) {
          const onHand = warehouses.reduce((sum, _w, i) => sum + model.get(model.onHand, s, i), 0);
          const reserved = warehouses.reduce((sum, _w, i) => sum + model.get(model.reserved, s, i), 0);
          expect(ats[s]).toMatchObject({ onHand, reserved });
        }
        const report = await f.inv.verify();
        expect(report.violations).toEqual([]);
      }),
      { numRuns: 30, endOnFailure: true },
    );
  });
});
