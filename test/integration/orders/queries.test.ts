import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '../../../src/domain/errors.js';
import { createLogger } from '../../../src/log.js';
import { lineKeyOf, Orders } from '../../../src/orders/index.js';
import { type OrdersFixture, order, ordersFixture, SHOP } from '../../support/orders.js';

let f: OrdersFixture;

beforeAll(async () => {
  f = await ordersFixture();
  const sh = await f.warehouse('SH');
  await f.warehouse('BJ');
  await f.receive(await f.sku('TEA'), sh, 100);
});
afterAll(async () => {
  await f.close();
});

describe('order queries', () => {
  it('lists orders newest first, filtered, page by page with a cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const o = order({ platformOrderId: `LIST-${i}` });
      ids.push(o.platformOrderId);
      await f.deliver(o);
    }
    await f.deliver(order({ platformOrderId: 'OTHER-1', status: 'pending_payment' }));
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page++) {
      const r = await f.orders.listOrders({ platformOrderId: 'LIST-', limit: 2, cursor });
      seen.push(...r.items.map((o) => o.platformOrderId));
      expect(r.items.length).toBe(page < 2 ? 2 : 1);
      if (!r.nextCursor) break;
      cursor = r.nextCursor;
    }
    expect(seen).toEqual([...ids].reverse());
    const first = (await f.orders.listOrders({ platformOrderId: 'LIST-4' })).items[0]!;
    expect(first).toMatchObject({
      shopId: SHOP.id,
      platform: 'taobao',
      status: 'paid',
      currency: 'CNY',
      buyerPaidTotal: 10000,
      lines: 1,
      openExceptions: 0,
    });
    expect(
      (await f.orders.listOrders({ status: 'pending_payment' })).items.map((o) => o.platformOrderId),
    ).toEqual(['OTHER-1']);
    expect((await f.orders.listOrders({ shopId: 'nobody' })).items).toEqual([]);
    await expect(f.orders.listOrders({ cursor: 'garbage' })).rejects.toBeInstanceOf(ValidationError);
    await expect(f.orders.listOrders({ limit: 201 })).rejects.toBeInstanceOf(ValidationError);
    await expect(f.orders.listOrders({ status: 'lost' as never })).rejects.toBeInstanceOf(ValidationError);
  });

  it('shows an order with its lines, amounts, SKUs, stock effects and exceptions', async () => {
    const o = order({
      platformOrderId: 'DETAIL-1',
      lines: [
        { lineId: 'L1', platformItemId: 'I1', outerSkuId: 'TEA', quantity: 3, unitListPrice: 1000 },
        { lineId: 'L2', platformItemId: 'GHOST', quantity: 1, unitListPrice: 500 },
      ],
      buyerPaidTotal: 3500,
    });
    await f.deliver(o);
    await f.deliver({
      ...o,
      status: 'shipped',
      platformModifiedAt: '2026-11-11T02:00:00.000Z',
      refunds: [
        {
          refundId: 'R1',
          lineId: 'L1',
          quantity: 1,
          amount: 1000,
          status: 'succeeded',
          goodsReturn: 'received',
        },
      ],
    });
    const d = await f.orders.getOrder(SHOP.id, 'DETAIL-1');
    expect(d).toMatchObject({ platformOrderId: 'DETAIL-1', status: 'shipped', buyerPaidTotal: 3500 });
    expect(d.order).toMatchObject({ platformOrderId: 'DETAIL-1', status: 'shipped' });
    expect(d.lines.map((l) => [l.lineId, l.sku, l.quantity])).toEqual([
      ['L1', 'TEA', 3],
      ['L2', null, 1],
    ]);
    expect(d.lines.reduce((s, l) => s + l.amounts.buyerPaid, 0)).toBe(3500);
    const [l1, l2] = d.lines;
    expect(l1!.lineKey).toBe(lineKeyOf(SHOP.id, 'DETAIL-1', 'L1'));
    expect(l1!.reservations).toEqual({
      active: [],
      consumed: [
        {
          sku: 'TEA',
          skuId: expect.any(Number),
          warehouse: 'SH',
          warehouseId: expect.any(Number),
          quantity: 3,
        },
      ],
      released: [],
    });
    expect(l1!.restocks).toEqual([
      expect.objectContaining({ sku: 'TEA', warehouse: 'SH', quantity: 1, key: expect.any(String) }),
    ]);
    expect(l2!.reservations).toEqual({ active: [], consumed: [], released: [] });
    expect(d.exceptions).toEqual([
      expect.objectContaining({ kind: 'unmapped_sku', lineId: 'L2', status: 'open', quantity: 1 }),
    ]);
    expect(d.openExceptions).toBe(1);
    await expect(f.orders.getOrder(SHOP.id, 'NO-SUCH')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('lists exceptions by status and kind, resolves one once, and pages by id', async () => {
    for (const id of ['EX-1', 'EX-2']) {
      await f.deliver(
        order({
          platformOrderId: id,
          lines: [{ lineId: 'L1', platformItemId: `UNKNOWN-${id}`, quantity: 1, unitListPrice: 100 }],
          buyerPaidTotal: 100,
        }),
      );
    }
    const open = await f.orders.listExceptions({ kind: 'unmapped_sku', shopId: SHOP.id });
    const mine = open.items.filter((e) => e.platformOrderId?.startsWith('EX-'));
    expect(mine.map((e) => e.platformOrderId)).toEqual(['EX-2', 'EX-1']);
    const page1 = await f.orders.listExceptions({ limit: 1 });
    const page2 = await f.orders.listExceptions({ limit: 1, cursor: page1.nextCursor! });
    expect(page2.items[0]!.id).toBeLessThan(page1.items[0]!.id);

    const target = mine[0]!;
    const resolved = await f.orders.resolveException(String(target.id), 'seller will map it tomorrow');
    expect(resolved).toMatchObject({
      id: target.id,
      status: 'resolved',
      resolution: 'seller will map it tomorrow',
    });
    expect(resolved.resolvedAt).toEqual(expect.any(String));
    await expect(f.orders.resolveException(String(target.id), 'again')).rejects.toBeInstanceOf(ConflictError);
    await expect(f.orders.resolveException('999999', 'x')).rejects.toBeInstanceOf(NotFoundError);
    await expect(f.orders.resolveException('abc', 'x')).rejects.toBeInstanceOf(ValidationError);
    await expect(f.orders.resolveException(String(target.id), '  ')).rejects.toBeInstanceOf(ValidationError);
    const openIds = (await f.orders.listExceptions({ limit: 200 })).items.map((e) => e.id);
    expect(openIds).not.toContain(target.id);
    const done = await f.orders.listExceptions({ status: 'resolved', limit: 200 });
    expect(done.items.map((e) => e.id)).toContain(target.id);
    const all = await f.orders.listExceptions({ status: 'all', limit: 200 });
    expect(all.items.length).toBe(openIds.length + done.items.length);
  });

  it('counts the inbox by status', async () => {
    const before = await f.orders.inboxCounts();
    await f.orders.receive({ shopId: SHOP.id, source: 'manual', payload: { order: order() } });
    const after = await f.orders.inboxCounts();
    expect(after).toMatchObject({ pending: before.pending + 1, due: before.due + 1, done: before.done });
    expect(after.oldestPendingAt).toEqual(expect.any(String));
    await f.drain();
    expect(await f.orders.inboxCounts()).toMatchObject({
      pending: 0,
      done: before.done + 1,
      oldestPendingAt: null,
    });
  });
});

/**
 * A poison event: what fails here is the database itself (a trigger raising on the order's
 * INSERT, standing in for an outage or a constraint that rejects one row), not the payload, so
 * the processor cannot tell it from a transient failure: it retries with growing delays and parks
 * the event after `maxAttempts`. The delays are checked against database timestamps around each
 * batch, and the clock is moved forward by making the event due (no sleeping). Once the cause is
 * gone an operator retries the parked event and it applies.
 */
describe('a poison event', () => {
  let g: OrdersFixture;
  let orders: Orders;
  const BASE = 10_000;

  beforeAll(async () => {
    g = await ordersFixture();
    const sh = await g.warehouse('SH');
    await g.warehouse('BJ');
    await g.receive(await g.sku('TEA'), sh, 10);
    orders = new Orders(g.inv, [SHOP], createLogger({ level: 'silent', pretty: false }), {
      maxAttempts: 3,
      retryBaseMs: BASE,
    });
    await g.t.db.prisma.$executeRawUnsafe(`
      CREATE FUNCTION test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.platform_order_id LIKE 'POISON%' THEN
          RAISE EXCEPTION 'simulated outage for %', NEW.platform_order_id;
        END IF;
        RETURN NEW;
      END $$`);
    await g.t.db.prisma.$executeRawUnsafe(
      'CREATE TRIGGER test_poison BEFORE INSERT ON sales_order FOR EACH ROW EXECUTE FUNCTION test_poison()',
    );
  });
  afterAll(async () => {
    await g.close();
  });

  const dbNow = async () =>
    (await g.t.db.prisma.$queryRaw<{ t: Date }[]>`SELECT clock_timestamp() AS t`)[0]!.t.getTime();
  const event = async (id: string) =>
    (
      await g.t.db.prisma.$queryRaw<
        { status: string; attempts: number; next: Date; last_error: string | null }[]
      >`
        SELECT status::text AS status, attempts, next_attempt_at AS next, last_error FROM inbox_event WHERE id = ${id}::bigint`
    )[0]!;
  const makeDue = (id: string) =>
    g.t.db.prisma.$executeRaw`UPDATE inbox_event SET next_attempt_at = now() WHERE id = ${id}::bigint`;

  it('is retried with exponential backoff, parked after maxAttempts without blocking others, then retried by hand', async () => {
    const poison = await orders.receive({
      shopId: SHOP.id,
      source: 'webhook',
      payload: { order: order({ platformOrderId: 'POISON-1' }) },
    });
    const id = poison.id!;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const healthy = order({ platformOrderId: `HEALTHY-${attempt}` });
      await orders.receive({ shopId: SHOP.id, source: 'webhook', payload: { order: healthy } });
      const t0 = await dbNow();
      const report = await orders.processBatch(10);
      const t1 = await dbNow();
      expect(report).toMatchObject({
        claimed: 2,
        applied: 1,
        retried: attempt < 3 ? 1 : 0,
        parked: attempt < 3 ? 0 : 1,
      });
      expect(report.results).toContainEqual({
        eventId: id,
        error: expect.stringMatching(/simulated outage for POISON-1/),
      });
      const e = await event(id);
      expect(e.attempts).toBe(attempt);
      expect(e.last_error).toMatch(/simulated outage/);
      if (attempt < 3) {
        expect(e.status).toBe('pending');
        // delay = BASE * 2^(attempt-1) * [0.5, 1), measured from a moment between t0 and t1.
        const full = BASE * 2 ** (attempt - 1);
        expect(e.next.getTime() - t0).toBeGreaterThanOrEqual(full / 2 - 1);
        expect(e.next.getTime() - t1).toBeLessThanOrEqual(full + 1);
        expect((await orders.processBatch(10)).claimed).toBe(0); // not due yet
        await makeDue(id);
      } else {
        expect(e.status).toBe('parked');
      }
    }
    const [parked] = (await orders.listExceptions({ kind: 'parked_event' })).items;
    expect(parked).toMatchObject({ subject: `inbox:${id}`, status: 'open' });
    expect(parked!.message).toMatch(/after 3 attempt\(s\): simulated outage/);
    expect((await orders.processBatch(10)).claimed).toBe(0); // parked stays parked
    expect(await orders.inboxCounts()).toMatchObject({ parked: 1, pending: 0, done: 3 });

    await g.t.db.prisma.$executeRawUnsafe('DROP TRIGGER test_poison ON sales_order');
    expect(await orders.retryParked(id)).toEqual({ id, status: 'pending' });
    expect(await event(id)).toMatchObject({ status: 'pending', attempts: 0 });
    expect(
      (await orders.listExceptions({ kind: 'parked_event', status: 'resolved' })).items[0],
    ).toMatchObject({
      subject: `inbox:${id}`,
      resolution: 'retried by an operator',
    });
    expect(await orders.processBatch(10)).toMatchObject({ claimed: 1, applied: 1 });
    expect((await orders.getOrder(SHOP.id, 'POISON-1')).lines[0]!.reservations.active).toEqual([
      expect.objectContaining({ sku: 'TEA', quantity: 2 }),
    ]);
    await expect(orders.retryParked(id)).rejects.toBeInstanceOf(ConflictError);
    await expect(orders.retryParked('424242')).rejects.toBeInstanceOf(NotFoundError);
  });
});
