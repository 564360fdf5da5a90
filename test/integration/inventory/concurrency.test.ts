import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BusyError, InsufficientStockError } from '../../../src/domain/errors.js';
import { createInventory } from '../../../src/inventory/index.js';
import { sqlState } from '../../../src/inventory/tx.js';
import { onPostgres } from '../../support/db.js';
import { type InventoryFixture, inventoryFixture } from '../../support/inventory.js';

describe('concurrent reservations never oversell', () => {
  let f: InventoryFixture;
  beforeAll(async () => {
    f = await inventoryFixture();
  });
  afterAll(async () => {
    await f.close();
  });

  async function race(reserve: (i: number) => Promise<unknown>, n: number) {
    const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => reserve(i)));
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const short = results.filter(
      (r) => r.status === 'rejected' && r.reason instanceof InsufficientStockError,
    );
    const other = results.filter(
      (r) => r.status === 'rejected' && !(r.reason instanceof InsufficientStockError),
    );
    return { ok, short: short.length, other: other.map((r) => (r as PromiseRejectedResult).reason) };
  }

  it('500 one-unit reservations against 100 on hand: exactly 100 succeed, 400 report shortfall', async () => {
    const sku = await f.sku('HOT-1');
    const wh = await f.warehouse('MAIN');
    await f.receive(sku, wh, 100);
    const r = await race(
      (i) =>
        f.inv.reservations.reserve({
          key: `order-${i}`,
          lines: [{ lineKey: `o${i}:1`, skuId: sku, quantity: 1 }],
          warehouseIds: [wh],
        }),
      500,
    );
    expect(r.other).toEqual([]);
    expect(r).toMatchObject({ ok: 100, short: 400 });
    const [level] = await f.inv.availability.ats({ skuIds: [sku], warehouseIds: [wh] });
    expect(level).toMatchObject({ onHand: 100, reserved: 100, ats: 0 });
    expect(await f.inv.verify()).toMatchObject({ ok: true, violations: [] });
  });

  it.skipIf(!onPostgres)(
    'two replicas (separate Prisma clients and pools) racing on the same rows',
    async () => {
      const sku = await f.sku('HOT-2');
      const wh = await f.warehouse('MAIN');
      await f.receive(sku, wh, 100);
      const other = createInventory(await f.t.openReplica());
      const replicas = [f.inv, other];
      const r = await race(
        (i) =>
          replicas[i % 2]!.reservations.reserve({
            key: `replica-order-${i}`,
            lines: [{ lineKey: `r${i}:1`, skuId: sku, quantity: 1 }],
            warehouseIds: [wh],
          }),
        500,
      );
      expect(r.other).toEqual([]);
      expect(r).toMatchObject({ ok: 100, short: 400 });
      const [level] = await other.availability.ats({ skuIds: [sku], warehouseIds: [wh] });
      expect(level).toMatchObject({ onHand: 100, reserved: 100 });
      expect(await f.inv.verify()).toMatchObject({ ok: true });
      await other.idle();
    },
  );

  it('the same reservation key sent many times at once is applied once', async () => {
    const sku = await f.sku('HOT-3');
    const wh = await f.warehouse('MAIN');
    await f.receive(sku, wh, 10);
    const req = {
      key: 'dup-order',
      lines: [{ lineKey: 'dup:1', skuId: sku, quantity: 3 }],
      warehouseIds: [wh],
    };
    const results = await Promise.all(Array.from({ length: 20 }, () => f.inv.reservations.reserve(req)));
    for (const r of results) expect(r).toEqual(results[0]);
    const [level] = await f.inv.availability.ats({ skuIds: [sku], warehouseIds: [wh] });
    expect(level!.reserved).toBe(3);
    expect(await f.inv.verify()).toMatchObject({ ok: true });
  });

  it.skipIf(!onPostgres)(
    'a writer waits at most lock_timeout for a row another session holds, then retries',
    async () => {
      const sku = await f.sku('LOCKED');
      const wh = await f.warehouse('MAIN');
      await f.receive(sku, wh, 5);
      const impatient = createInventory(f.t.db, { lockTimeoutMs: 50, maxRetries: 0 });
      const patient = createInventory(f.t.db, { lockTimeoutMs: 50, maxRetries: 6 });
      const req = (key: string) => ({
        key,
        lines: [{ lineKey: `${key}:1`, skuId: sku, quantity: 1 }],
        warehouseIds: [wh],
      });
      let release!: () => void;
      const held = new Promise<void>((r) => {
        release = r;
      });
      const holder = f.t.db.withSession(async (s) => {
        await s.exec('BEGIN');
        await s.query('SELECT * FROM stock_level WHERE sku_id = $1 FOR UPDATE', [sku]);
        await held;
        await s.exec('COMMIT');
      });
      await new Promise((r) => setTimeout(r, 50));
      const err = await impatient.reservations.reserve(req('lock-1')).catch((e) => e);
      expect(err).toBeInstanceOf(BusyError);
      expect(sqlState(err.cause)).toBe('55P03');
      // Retries with backoff outlast a short hold: the lock is released while they wait.
      const waiting = patient.reservations.reserve(req('lock-2'));
      setTimeout(release, 150);
      await expect(waiting).resolves.toMatchObject({ status: 'reserved' });
      await holder;
      expect(await f.inv.verify()).toMatchObject({ ok: true });
    },
  );
});
