import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.js';
import { lineKeyOf, Orders, type ShopSettings } from '../../../src/orders/index.js';
import { type OrdersFixture, order, ordersFixture } from '../../support/orders.js';

// 拍下减库存 with a time limit: an unpaid order holds stock for unpaidHoldMinutes, then gives it
// back; paying later reserves again. The clock is injected.

const SHOP: ShopSettings = {
  id: 'douyin-flash',
  platform: 'douyin',
  warehouses: ['SH'],
  reserveOn: 'created',
  unpaidHoldMinutes: 30,
  restockOn: 'receipt',
  matchOuterId: true,
};

let f: OrdersFixture;
let now = new Date('2026-11-11T00:01:00Z');
let orders: Orders;

beforeAll(async () => {
  f = await ordersFixture([SHOP]);
  orders = new Orders(f.inv, [SHOP], createLogger({ level: 'silent', pretty: false }), {
    clock: { now: () => now },
  });
  const sh = await f.warehouse('SH');
  await f.receive(await f.sku('TEA'), sh, 10);
});
afterAll(async () => {
  await f.close();
});

async function deliver(o: ReturnType<typeof order>) {
  await orders.receive({ shopId: SHOP.id, source: 'webhook', payload: { order: o } });
  while ((await orders.processBatch(10)).claimed > 0) {}
}

describe('unpaid hold expiry', () => {
  it('holds an unpaid order until its time is up, releases it once, and reserves again on payment', async () => {
    const unpaid = order({
      shopId: SHOP.id,
      platform: 'douyin',
      status: 'pending_payment',
      platformCreatedAt: '2026-11-11T00:00:00Z',
    });
    const key = lineKeyOf(SHOP.id, unpaid.platformOrderId, 'L1');
    await deliver(unpaid);
    expect((await f.lineState(key)).active).toBe(2);

    now = new Date('2026-11-11T00:29:00Z');
    expect(await orders.expireUnpaid()).toBe(0);
    expect((await f.lineState(key)).active).toBe(2);

    now = new Date('2026-11-11T00:31:00Z');
    expect(await orders.expireUnpaid()).toBe(1);
    expect(await f.lineState(key)).toEqual({ active: 0, consumed: 0, released: 2 });
    expect(await orders.expireUnpaid()).toBe(0);
    // A redelivery of the same unpaid revision does not take the stock back.
    await deliver({ ...unpaid });
    await orders.reapply(SHOP.id, unpaid.platformOrderId);
    expect((await f.lineState(key)).active).toBe(0);

    await deliver({ ...unpaid, status: 'paid', platformModifiedAt: '2026-11-11T00:40:00.000Z' });
    expect((await f.lineState(key)).active).toBe(2);
    expect(await f.inv.verify()).toMatchObject({ ok: true });
  });
});
