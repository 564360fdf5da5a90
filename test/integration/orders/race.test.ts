import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInventory } from '../../../src/inventory/index.js';
import { createLogger } from '../../../src/log.js';
import { lineKeyOf, Orders } from '../../../src/orders/index.js';
import { onPostgres } from '../../support/db.js';
import { type OrdersFixture, order, ordersFixture, SHOP } from '../../support/orders.js';

// 1,000 orders on 20 hot SKUs with too little stock, processed by several processors at once
// (on PostgreSQL two of them are separate clients, i.e. replicas). No SKU may be over-reserved,
// and every order short of stock must carry an oversell exception with its exact shortfall.

const ORDERS = 1000;
const SKUS = 20;
const STOCK = 40;

let f: OrdersFixture;
beforeAll(async () => {
  f = await ordersFixture();
});
afterAll(async () => {
  await f.close();
});

describe('orders racing on hot SKUs', () => {
  it('never over-reserves, and flags every short order with its exact shortfall', {
    timeout: 180_000,
  }, async () => {
    const sh = await f.warehouse('SH');
    await f.warehouse('BJ');
    const skus: number[] = [];
    for (let i = 0; i < SKUS; i++) {
      skus.push(await f.sku(`HOT-${i}`));
      await f.receive(skus[i]!, sh, STOCK);
    }
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const placed = Array.from({ length: ORDERS }, (_, i) => {
      const sku = rand(SKUS);
      const quantity = 1 + rand(3);
      return order({
        platformOrderId: `RACE-${i}`,
        lines: [
          { lineId: 'L1', platformItemId: `I${sku}`, outerSkuId: `HOT-${sku}`, quantity, unitListPrice: 100 },
        ],
        buyerPaidTotal: 100 * quantity,
      });
    });
    await Promise.all(
      placed.map((o) => f.orders.receive({ shopId: SHOP.id, source: 'webhook', payload: { order: o } })),
    );

    const processors = [f.orders, f.orders];
    if (onPostgres) {
      for (let r = 0; r < 2; r++) {
        const inv = createInventory(await f.t.openReplica());
        processors.push(new Orders(inv, [SHOP], createLogger({ level: 'silent', pretty: false })));
      }
    }
    await Promise.all(
      processors.map(async (p) => {
        for (let i = 0; i < 200; i++) if ((await p.processBatch(25)).claimed === 0) return;
      }),
    );

    const [pending] = await f.t.db.prisma.$queryRaw<{ n: number }[]>`
      SELECT COUNT(*)::int AS n FROM inbox_event WHERE status <> 'done'`;
    expect(pending!.n).toBe(0);
    const levels = await f.inv.availability.ats({ skuIds: skus });
    for (const l of levels) {
      expect(l.onHand).toBe(STOCK);
      expect(l.reserved).toBeLessThanOrEqual(STOCK);
    }
    const exceptions = new Map((await f.openExceptions('oversell')).map((e) => [e.subject, e.quantity]));
    let demanded = 0;
    let held = 0;
    for (const o of placed) {
      const line = o.lines[0]!;
      const key = lineKeyOf(SHOP.id, o.platformOrderId, 'L1');
      const state = await f.lineState(key);
      demanded += line.quantity;
      held += state.active;
      const missing = line.quantity - state.active;
      expect(exceptions.get(key) ?? 0, key).toBe(missing);
    }
    const totalReserved = levels.reduce((s, l) => s + l.reserved, 0);
    expect(held).toBe(totalReserved);
    // Demand far exceeds stock, so every SKU that was asked for more than it had is sold out.
    expect(demanded).toBeGreaterThan(SKUS * STOCK);
    expect(exceptions.size).toBeGreaterThan(0);
    expect(await f.inv.verify()).toMatchObject({ ok: true });
  });
});
