import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../../src/db/sql.js';
import type { CanonicalOrderInput } from '../../../src/domain/order.js';
import { claimDue } from '../../../src/orders/inbox.js';
import { lineKeyOf } from '../../../src/orders/index.js';
import { type OrdersFixture, order, ordersFixture, SHOP } from '../../support/orders.js';

let f: OrdersFixture;
let sh: number;
let tea: number;

beforeAll(async () => {
  f = await ordersFixture();
  sh = await f.warehouse('SH');
  await f.warehouse('BJ');
  tea = await f.sku('TEA');
  await f.receive(tea, sh, 100);
});
afterAll(async () => {
  await f.close();
});

const key = (o: CanonicalOrderInput, line = 'L1') => lineKeyOf(SHOP.id, o.platformOrderId, line);
const teaLevel = async () => (await f.inv.availability.ats({ skuIds: [tea] }))[0]!;

describe('order intake', () => {
  it('claims an event the moment it is due: due times are kept to the microsecond, as now() gives them', async () => {
    // An event due now() exactly must be claimed by a claim at that now(). Kept to the
    // millisecond, a due time rounded up half of the time (then waited for the loop's idle sleep).
    // (PostgreSQL shows it; PGlite's clock ticks in whole milliseconds, so there it cannot fail.)
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const stored = await f.orders.receive({
        shopId: SHOP.id,
        source: 'webhook',
        payload: { order: order({ platformOrderId: `DUE-NOW-${i}` }) },
      });
      ids.push(stored.id!);
      const claimed = await f.inv.transaction(async (tx) => {
        await tx.query(sql`UPDATE inbox_event SET next_attempt_at = now() WHERE id = ${stored.id}::bigint`);
        return claimDue(tx, 10, 60_000);
      });
      expect(claimed.map((e) => e.id)).toContain(stored.id);
    }
    await f.t.db.withSession((s) =>
      s.query(`UPDATE inbox_event SET next_attempt_at = now() WHERE id IN (${ids.join(',')})`),
    );
    await f.drain();
  });

  it('one order delivered 3 times by webhook and twice by pull, out of order, ends in its newest state', async () => {
    const created = order({ status: 'pending_payment', minute: 0 });
    const id = created.platformOrderId;
    const paid = { ...created, status: 'paid' as const, platformModifiedAt: '2026-11-11T00:05:00.000Z' };
    const cancelled = {
      ...created,
      status: 'cancelled' as const,
      platformModifiedAt: '2026-11-11T00:09:00.000Z',
    };
    const before = await teaLevel();
    // paid arrives first (webhook), then a pull with created, the cancel, a replayed paid...
    await f.deliver(paid, 'webhook', 'wh-paid');
    expect((await f.lineState(key(created))).active).toBe(2);
    await f.deliver(created, 'pull');
    expect((await f.lineState(key(created))).active).toBe(2);
    await f.deliver(cancelled, 'webhook', 'wh-cancel');
    await f.deliver(paid, 'pull');
    await f.deliver(paid, 'webhook', 'wh-paid'); // a redelivery: dropped by the inbox
    await f.deliver(created, 'webhook', 'wh-created');
    const [row] = await f.t.db.prisma.$queryRaw<{ n: number; status: string }[]>`
      SELECT COUNT(*)::int AS n, MIN(status::text) AS status FROM sales_order WHERE platform_order_id = ${id}`;
    expect(row).toEqual({ n: 1, status: 'cancelled' });
    expect(await f.lineState(key(created))).toEqual({ active: 0, consumed: 0, released: 2 });
    expect(await teaLevel()).toMatchObject({ onHand: before.onHand, reserved: before.reserved });
    const [inbox] = await f.t.db.prisma.$queryRaw<{ n: number }[]>`
      SELECT COUNT(*)::int AS n FROM inbox_event WHERE payload->'order'->>'platformOrderId' = ${id}`;
    expect(inbox!.n).toBe(5);
    expect(await f.inv.verify()).toMatchObject({ ok: true });
  });

  it('reserves on payment by default, ships, and restocks a return when it is received', async () => {
    const o = order({ status: 'pending_payment' });
    await f.deliver(o);
    expect((await f.lineState(key(o))).active).toBe(0);
    await f.deliver({ ...o, status: 'paid', platformModifiedAt: '2026-11-11T01:00:00.000Z' });
    expect((await f.lineState(key(o))).active).toBe(2);
    const onHand = (await teaLevel()).onHand;
    const shipped = { ...o, status: 'shipped' as const, platformModifiedAt: '2026-11-11T02:00:00.000Z' };
    await f.deliver(shipped);
    expect(await f.lineState(key(o))).toEqual({ active: 0, consumed: 2, released: 0 });
    expect((await teaLevel()).onHand).toBe(onHand - 2);
    const refund = {
      refundId: 'R1',
      lineId: 'L1',
      quantity: 1,
      amount: 5000,
      status: 'succeeded' as const,
      goodsReturn: 'expected' as const,
    };
    await f.deliver({ ...shipped, platformModifiedAt: '2026-11-11T03:00:00.000Z', refunds: [refund] });
    expect((await teaLevel()).onHand).toBe(onHand - 2);
    await f.deliver({
      ...shipped,
      platformModifiedAt: '2026-11-11T04:00:00.000Z',
      refunds: [{ ...refund, goodsReturn: 'received' as const }],
    });
    expect((await teaLevel()).onHand).toBe(onHand - 1);
    expect(await f.inv.verify()).toMatchObject({ ok: true });
  });

  it('a partial shipment and a partial refund of one line do exactly that', async () => {
    const o = order({
      lines: [{ lineId: 'L1', platformItemId: 'I1', outerSkuId: 'TEA', quantity: 5, unitListPrice: 1000 }],
      buyerPaidTotal: 5000,
    });
    await f.deliver(o);
    const part = {
      ...o,
      status: 'partially_shipped' as const,
      platformModifiedAt: '2026-11-11T05:00:00.000Z',
      lines: [{ ...o.lines[0]!, shippedQuantity: 2 }],
      refunds: [
        {
          refundId: 'R9',
          lineId: 'L1',
          quantity: 1,
          amount: 1000,
          status: 'succeeded' as const,
          goodsReturn: 'none' as const,
        },
      ],
    };
    await f.deliver(part);
    expect(await f.lineState(key(o))).toEqual({ active: 2, consumed: 2, released: 1 });
    expect(await f.inv.verify()).toMatchObject({ ok: true });
  });

  it('gift lines take stock and bundles reserve their components', async () => {
    const cup = await f.sku('CUP');
    await f.receive(cup, sh, 10);
    await f.inv.catalog.putBundle({
      code: 'SET',
      name: 'tea set',
      components: [
        { code: 'TEA', quantity: 2 },
        { code: 'CUP', quantity: 1 },
      ],
    });
    const before = await f.inv.availability.ats({ skuIds: [tea, cup] });
    const o = order({
      lines: [
        { lineId: 'L1', platformItemId: 'I9', outerSkuId: 'SET', quantity: 2, unitListPrice: 20000 },
        { lineId: 'G1', platformItemId: 'I8', outerSkuId: 'CUP', quantity: 1, unitListPrice: 0, gift: true },
      ],
      promotions: [{ kind: 'gift', giftLineIds: ['G1'] }],
      buyerPaidTotal: 40000,
    });
    await f.deliver(o);
    const after = await f.inv.availability.ats({ skuIds: [tea, cup] });
    expect(after[0]!.reserved - before[0]!.reserved).toBe(4);
    expect(after[1]!.reserved - before[1]!.reserved).toBe(3);
  });

  it('an unmapped line is held as an exception, and processed once a listing maps it', async () => {
    const o = order({
      lines: [
        { lineId: 'L1', platformItemId: 'NEW-ITEM', platformSkuId: 'V1', quantity: 3, unitListPrice: 100 },
      ],
      buyerPaidTotal: 300,
    });
    await f.deliver(o);
    expect(await f.openExceptions('unmapped_sku')).toEqual([
      { kind: 'unmapped_sku', subject: key(o), quantity: 3 },
    ]);
    expect((await f.lineState(key(o))).active).toBe(0);
    // A listing selling boxes of 6 TEA.
    const r = await f.orders.putListing({
      shopId: SHOP.id,
      platformItemId: 'NEW-ITEM',
      platformSkuId: 'V1',
      sku: 'TEA',
      unitsPerItem: 6,
    });
    expect(r.reapplied).toBe(1);
    expect((await f.lineState(key(o))).active).toBe(18);
    expect(await f.openExceptions('unmapped_sku')).toEqual([]);
  });

  it('short stock: the order is recorded, reserved as far as possible, and flagged with the exact shortfall', async () => {
    const rare = await f.sku('RARE');
    await f.receive(rare, sh, 3);
    const o = order({
      lines: [{ lineId: 'L1', platformItemId: 'I2', outerSkuId: 'RARE', quantity: 5, unitListPrice: 100 }],
      buyerPaidTotal: 500,
    });
    await f.deliver(o);
    expect((await f.lineState(key(o))).active).toBe(3);
    expect(await f.openExceptions('oversell')).toContainEqual({
      kind: 'oversell',
      subject: key(o),
      quantity: 2,
    });
    // Stock arrives; re-applying the order covers the rest and resolves the exception.
    await f.receive(rare, sh, 5);
    await f.orders.reapply(SHOP.id, o.platformOrderId);
    expect((await f.lineState(key(o))).active).toBe(5);
    expect((await f.openExceptions('oversell')).filter((e) => e.subject === key(o))).toEqual([]);
  });

  it('malformed and hostile payloads are parked with a clear error and change no stock', async () => {
    const before = await teaLevel();
    const bad: unknown[] = [
      {
        order: {
          ...order(),
          lines: [
            { lineId: 'L1', platformItemId: 'I1', outerSkuId: 'TEA', quantity: 10_000_000, unitListPrice: 1 },
          ],
        },
      },
      {
        order: {
          ...order(),
          lines: [{ lineId: 'L1', platformItemId: 'I1', outerSkuId: 'TEA', quantity: 1, unitListPrice: -5 }],
        },
      },
      { order: { ...order(), platformOrderId: '' } },
      { order: 'not an order' },
      { nothing: true },
    ];
    for (const [i, payload] of bad.entries()) {
      await f.orders.receive({ shopId: SHOP.id, source: 'webhook', dedupeKey: `bad-${i}`, payload });
    }
    const report = await f.orders.processBatch(50);
    expect(report).toMatchObject({ claimed: 5, applied: 0, parked: 5 });
    const errors = report.results.map((r) => ('error' in r ? r.error : ''));
    expect(errors[0]).toMatch(/quantity must be at most 100000/);
    expect(errors[1]).toMatch(/unitListPrice/);
    expect(errors[2]).toMatch(/platformOrderId/);
    expect(await teaLevel()).toMatchObject({ onHand: before.onHand, reserved: before.reserved });
    expect((await f.openExceptions('parked_event')).length).toBe(5);
    await expect(f.orders.receive({ shopId: 'nope', source: 'webhook', payload: {} })).rejects.toThrow(
      /unknown shop/,
    );
  });
});
