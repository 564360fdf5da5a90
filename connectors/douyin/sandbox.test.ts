/**
 * The Douyin connector against its sandbox over real HTTP: the sandbox checks signatures, skew,
 * windows and paging with its own code, so the two sides check each other.
 */
import http from 'node:http';
import axios from 'axios';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { CanonicalOrder } from '../../src/domain/order.js';
import { apportionOrder } from '../../src/domain/promotions.js';
import {
  type Clock,
  type Connector,
  type OrderPage,
  RateLimitedError,
  RefreshTokenError,
} from '../contract.js';
import { installLeakGuard } from '../testing/leak-guard.js';
import { type DouyinConfigInput, douyinConfigSchema } from './config.js';
import { createDouyinConnector } from './connector.js';
import { decodeCursor } from './pagination.js';
import { DouyinSandbox, type DouyinSandboxOptions } from './sandbox.js';

installLeakGuard();

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function manualClock(start = Date.parse('2025-11-11T04:00:00.000Z')) {
  let t = start;
  return {
    nowMs: () => t,
    clock: { now: () => new Date(t) } as Clock,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

async function sandbox(options: DouyinSandboxOptions): Promise<DouyinSandbox> {
  const s = new DouyinSandbox({ throttle: { capacity: 100_000, refillPerSecond: 10_000 }, ...options });
  await s.start();
  cleanups.push(() => s.stop());
  return s;
}

function connect(s: DouyinSandbox, clock: Clock, patch: Partial<DouyinConfigInput> = {}): Connector {
  const config = douyinConfigSchema.parse({
    shopId: s.shopId,
    appKey: s.appKey,
    appSecret: s.appSecret,
    accessToken: s.accessToken,
    gatewayUrl: s.url,
    pageSize: 7,
    windowMinutes: 60,
    initialLookbackDays: 1,
    lagMs: 0,
    maxPagesPerPull: 10_000,
    ...patch,
  });
  return createDouyinConnector(config, { http: axios.create(), log: pino({ level: 'silent' }), clock });
}

async function collect(gen: AsyncGenerator<OrderPage>): Promise<OrderPage[]> {
  const pages: OrderPage[] = [];
  for await (const p of gen) pages.push(p);
  return pages;
}

describe('douyin connector against the sandbox', () => {
  it('pulls every generated order exactly once across many pages and one-hour windows', async () => {
    const mc = manualClock();
    const s = await sandbox({ now: mc.nowMs, seed: 7 });
    const ids = s.generateOrders(150);
    const c = connect(s, mc.clock);
    const pages = await collect(c.pullOrders(null));
    const orders = pages.flatMap((p) => p.orders);
    expect(pages.flatMap((p) => p.rejects)).toEqual([]);
    expect(orders.map((o) => o.platformOrderId).sort()).toEqual([...ids].sort());
    expect(pages.length).toBeGreaterThan(24);
    const searches = s.calls.filter((x) => x.method === 'order.searchList');
    for (const call of searches) {
      const p = call.params as {
        update_time_start: number;
        update_time_end: number;
        size: number;
        page: number;
      };
      expect(p.update_time_end - p.update_time_start).toBeLessThanOrEqual(3600);
      expect(p.size).toBe(7);
    }
    expect(searches.some((x) => (x.params as { page: number }).page >= 2)).toBe(true);
    for (const o of orders) expect(apportionOrder(o).issues, o.platformOrderId).toEqual([]);
    // Every status and a gift, a platform-funded discount and a refund appear.
    expect(new Set(orders.map((o) => o.status))).toEqual(
      new Set(['pending_payment', 'paid', 'partially_shipped', 'shipped', 'completed', 'cancelled']),
    );
    expect(orders.some((o) => o.lines.some((l) => l.gift))).toBe(true);
    expect(
      orders.some((o) => o.lines.some((l) => l.lineDiscounts.some((d) => d.funding === 'platform'))),
    ).toBe(true);
    expect(orders.some((o) => o.refunds.some((r) => r.status === 'succeeded'))).toBe(true);

    // Later: one order changes; a pull from the stored cursor sees it (and nothing is lost).
    const last = pages.at(-1)!;
    expect(last.caughtUp).toBe(true);
    mc.advance(20 * 60_000);
    const paid = orders.find((o) => o.status === 'paid')!;
    s.touch(paid.platformOrderId, 3);
    const again = await collect(c.pullOrders(last.nextCursor));
    const changed = again.flatMap((p) => p.orders).find((o) => o.platformOrderId === paid.platformOrderId);
    expect(changed?.status).toBe('shipped');
    expect(Date.parse(decodeCursor(again.at(-1)!.nextCursor)!.watermark)).toBe(mc.nowMs());
  });

  it('re-reads a window whose total dropped while it was paged (an order moved out mid-scan)', async () => {
    const mc = manualClock();
    const s = await sandbox({ now: mc.nowMs, seed: 11, spreadMs: 50 * 60_000 });
    const ids = s.generateOrders(30);
    const c = connect(s, mc.clock, { pageSize: 5, windowMinutes: 60, initialLookbackDays: 1 });
    const seen: CanonicalOrder[] = [];
    let moved = false;
    for await (const p of c.pullOrders(null)) {
      seen.push(...p.orders);
      if (!moved && p.orders.length === 5) {
        // An order already read is modified now: it leaves the window, the rest shift towards page 0.
        s.touch(p.orders[0]!.platformOrderId);
        moved = true;
      }
    }
    expect(moved).toBe(true);
    expect(new Set(seen.map((o) => o.platformOrderId))).toEqual(new Set(ids));
  });

  it('pushes stock (absolute) and the sandbox records it; a bad listing fails alone', async () => {
    const mc = manualClock();
    const s = await sandbox({ now: mc.nowMs });
    const c = connect(s, mc.clock);
    const [a, b] = s.listings();
    const results = await c.pushStock([
      { listing: { listingId: a!.listingId }, quantity: 7 },
      { listing: { listingId: '3473196049974326300:1' }, quantity: 3 },
      { listing: { listingId: b!.listingId }, quantity: 0 },
    ]);
    expect(results.map((r) => r.status)).toEqual(['ok', 'failed', 'ok']);
    expect(results[1]).toMatchObject({
      action: 'config_error',
      code: '50002|isv.business-failed:sku-not-exist',
    });
    expect(s.pushes.map((p) => [`${p.productId}:${p.skuId}`, p.quantity])).toEqual([
      [a!.listingId, 7],
      [b!.listingId, 0],
    ]);
    // product_id arrived exactly (above 2^53), as a JSON integer.
    expect(a!.listingId.split(':')[0]!.length).toBe(19);
  });

  it("sets one product's SKUs in one batch call; a batch with an unknown SKU applies nothing and is split", async () => {
    const mc = manualClock();
    const s = await sandbox({ now: mc.nowMs });
    const c = connect(s, mc.clock);
    const [a, b, third] = s.listings();
    const product = a!.listingId.split(':')[0]!;
    expect(third!.listingId.split(':')[0]).toBe(product);
    const ok = await c.pushStock([
      { listing: { listingId: a!.listingId }, quantity: 5 },
      { listing: { listingId: b!.listingId }, quantity: 6 },
      { listing: { listingId: third!.listingId }, quantity: 0 },
    ]);
    expect(ok.map((r) => r.status)).toEqual(['ok', 'ok', 'ok']);
    expect(s.calls.map((x) => x.method)).toEqual(['sku.syncStockBatch']);
    expect([a, b, third].map((l) => s.quantity(l!.listingId))).toEqual([5, 6, 0]);

    s.calls.length = 0;
    const split = await c.pushStock([
      { listing: { listingId: a!.listingId }, quantity: 8 },
      { listing: { listingId: `${product}:1` }, quantity: 3 },
      { listing: { listingId: b!.listingId }, quantity: 9 },
    ]);
    expect(split.map((r) => r.status)).toEqual(['ok', 'failed', 'ok']);
    expect(split[1]).toMatchObject({
      action: 'config_error',
      code: '50002|isv.business-failed:sku-not-exist',
    });
    expect(s.calls.map((x) => [x.method, x.subCode])).toEqual([
      ['sku.syncStockBatch', 'isv.business-failed:sku-not-exist'],
      ['sku.syncStock', undefined],
      ['sku.syncStock', 'isv.business-failed:sku-not-exist'],
      ['sku.syncStock', undefined],
    ]);
    expect([a, b].map((l) => s.quantity(l!.listingId))).toEqual([8, 9]);
  });

  it('pushes a change once per key: the same updates resent with the same key change the stock once', async () => {
    const mc = manualClock();
    const s = await sandbox({ now: mc.nowMs });
    const c = connect(s, mc.clock);
    const [a, b, , d] = s.listings();
    expect(a!.listingId.split(':')[0]).toBe(b!.listingId.split(':')[0]);
    expect(d!.listingId.split(':')[0]).not.toBe(a!.listingId.split(':')[0]);
    const have = () => [a, b, d].map((l) => s.quantity(l!.listingId));
    const [qa, qb, qd] = have();
    const updates = (key: string, times: number) => [
      { listing: { listingId: a!.listingId }, quantity: qa! - 2 * times, change: { delta: -2, key } },
      { listing: { listingId: b!.listingId }, quantity: qb! + 3 * times, change: { delta: 3, key } },
      { listing: { listingId: d!.listingId }, quantity: qd! + times, change: { delta: 1, key } },
    ];
    const first = await c.pushStock(updates('k1', 1));
    expect(first.map((r) => r.status)).toEqual(['ok', 'ok', 'ok']);
    expect(have()).toEqual([qa! - 2, qb! + 3, qd! + 1]);
    // Resent (a push of unknown outcome): the sandbox answers OK and applies nothing again.
    const again = await c.pushStock(updates('k1', 1));
    expect(again).toEqual(first);
    expect(have()).toEqual([qa! - 2, qb! + 3, qd! + 1]);
    expect(s.calls.map((x) => [x.method, x.code])).toEqual([
      ['sku.syncStockBatch', undefined],
      ['sku.syncStock', undefined],
      ['sku.syncStockBatch', undefined],
      ['sku.syncStock', undefined],
    ]);
    expect(s.calls[2]!.params.idempotent_id).toBe(s.calls[0]!.params.idempotent_id);
    // A new key is a new change.
    await expect(c.pushStock(updates('k2', 2))).resolves.toMatchObject([
      { status: 'ok', quantity: qa! - 4 },
      { status: 'ok', quantity: qb! + 6 },
      { status: 'ok', quantity: qd! + 2 },
    ]);
    expect(have()).toEqual([qa! - 4, qb! + 6, qd! + 2]);
  });

  it('a change that would go below 0 comes back compare_mismatch, with its batch, and nothing applies', async () => {
    const mc = manualClock();
    const s = await sandbox({ now: mc.nowMs });
    const c = connect(s, mc.clock);
    const [a, b] = s.listings();
    // Sold on the platform meanwhile: the core believes 5, the platform holds 1.
    s.setQuantity(a!.listingId, 1);
    const qb = s.quantity(b!.listingId)!;
    const results = await c.pushStock([
      { listing: { listingId: a!.listingId }, quantity: 2, change: { delta: -3, key: 'k1' } },
      { listing: { listingId: b!.listingId }, quantity: qb + 1, change: { delta: 1, key: 'k1' } },
    ]);
    // The batch is refused as a whole and not re-sent SKU by SKU: both changes come back
    // refused (the core reads them back and sets them absolutely); neither applied.
    expect(results).toEqual([
      {
        listing: { listingId: a!.listingId },
        status: 'compare_mismatch',
        expected: 5,
        message: expect.stringContaining('isv.parameter-invalid:stock_num'),
      },
      expect.objectContaining({
        listing: { listingId: b!.listingId },
        status: 'compare_mismatch',
        expected: qb,
      }),
    ]);
    expect(s.calls.map((x) => [x.method, x.subCode])).toEqual([
      ['sku.syncStockBatch', 'isv.parameter-invalid:stock_num'],
    ]);
    expect(s.quantity(a!.listingId)).toBe(1);
    expect(s.quantity(b!.listingId)).toBe(qb);
    // Alone, a change below 0 is refused the same way.
    const [alone] = await c.pushStock([
      { listing: { listingId: a!.listingId }, quantity: 0, change: { delta: -2, key: 'k2' } },
    ]);
    expect(alone).toMatchObject({ status: 'compare_mismatch', expected: 2 });
    expect(s.quantity(a!.listingId)).toBe(1);
  });

  it('reads back pushed stock with sku.list, and a sale taken on the platform', async () => {
    const mc = manualClock();
    const s = await sandbox({ now: mc.nowMs });
    const c = connect(s, mc.clock);
    const [a, b, , d] = s.listings().map((l) => ({ listingId: l.listingId }));
    expect(a!.listingId.split(':')[0]).toBe(b!.listingId.split(':')[0]);
    expect(d!.listingId.split(':')[0]).not.toBe(a!.listingId.split(':')[0]);
    await c.pushStock([
      { listing: a!, quantity: 9 },
      { listing: b!, quantity: 0 },
      { listing: d!, quantity: 4 },
    ]);
    const before = s.calls.length;
    const unknownSku = { listingId: `${a!.listingId.split(':')[0]}:1` };
    const unknownProduct = { listingId: '3473196049974399999:1' };
    const readings = await c.readStock!([a!, unknownProduct, b!, d!, unknownSku]);
    expect(readings.map((r) => (r.ok ? r.quantity : r.error))).toEqual([
      9,
      expect.stringContaining('isv.business-failed:product-not-exist'),
      0,
      4,
      `listing ${unknownSku.listingId}: sku.list of its product does not return this SKU`,
    ]);
    expect(readings.map((r) => r.listing)).toEqual([a, unknownProduct, b, d, unknownSku]);
    // One call per product, product_id arrived exactly (above 2^53) and the sign held.
    expect(
      s.calls.slice(before).map((x) => [x.method, String(x.params.product_id).replace(/\D/g, ''), x.code]),
    ).toEqual([
      ['sku.list', a!.listingId.split(':')[0], undefined],
      ['sku.list', '3473196049974399999', 50002],
      ['sku.list', d!.listingId.split(':')[0], undefined],
    ]);

    s.sell(a!.listingId, 3);
    s.setQuantity(d!.listingId, 17);
    expect(await c.readStock!([a!, d!])).toEqual([
      { listing: a, ok: true, quantity: 6 },
      { listing: d, ok: true, quantity: 17 },
    ]);
  });

  it('a read goes through the gateway: a throttled first call throws rate_limited', async () => {
    const mc = manualClock();
    const s = await sandbox({ now: mc.nowMs, throttle: { capacity: 1, refillPerSecond: 1 } });
    const c = connect(s, mc.clock);
    const [a] = s.listings();
    await expect(c.readStock!([{ listingId: a!.listingId }])).resolves.toEqual([
      { listing: { listingId: a!.listingId }, ok: true, quantity: 100 },
    ]);
    await expect(c.readStock!([{ listingId: a!.listingId }])).rejects.toBeInstanceOf(RateLimitedError);
  });

  it('sellLines places one paid order of a SKU order per line, or nothing and takes no units', async () => {
    const mc = manualClock();
    const s = await sandbox({ now: mc.nowMs });
    const c = connect(s, mc.clock);
    const [a, b, d] = s.listings();
    const have = () => [a, b, d].map((x) => s.quantity(x!.listingId));
    const before = have();
    const id = s.sellLines([
      { listingId: a!.listingId, quantity: 2 },
      { listingId: b!.listingId, quantity: 1 },
    ]);
    const fetched = await c.fetchOrder(id);
    expect(fetched?.status).toBe('paid');
    expect(fetched?.lines.map((l) => [`${l.platformItemId}:${l.platformSkuId}`, l.quantity])).toEqual([
      [a!.listingId, 2],
      [b!.listingId, 1],
    ]);
    expect(new Set(fetched?.lines.map((l) => l.lineId)).size).toBe(2);
    expect(have()).toEqual([before[0]! - 2, before[1]! - 1, before[2]]);
    expect(() =>
      s.sellLines([
        { listingId: d!.listingId, quantity: 1 },
        { listingId: b!.listingId, quantity: before[1]! },
      ]),
    ).toThrow(/cannot sell/);
    expect(have()).toEqual([before[0]! - 2, before[1]! - 1, before[2]]);
  });

  it('confirms a shipment on an awaiting-shipment order; refuses a cancelled one', async () => {
    const mc = manualClock();
    const s = await sandbox({ now: mc.nowMs, seed: 5 });
    const ids = s.generateOrders(40);
    const c = connect(s, mc.clock);
    const open = ids.find((id) => s.orderStatus(id) === 2)!;
    const cancelled = ids.find((id) => s.orderStatus(id) === 4)!;
    await expect(
      c.confirmShipment({ platformOrderId: open, carrier: 'shunfeng', trackingNumber: 'SF123' }),
    ).resolves.toMatchObject({
      ok: true,
    });
    expect(s.trackingNumbers(open)).toEqual(['SF123']);
    await expect(
      c.confirmShipment({ platformOrderId: cancelled, carrier: 'shunfeng', trackingNumber: 'SF9' }),
    ).resolves.toMatchObject({
      ok: false,
      reason: 'nothing_to_ship',
    });
    await expect(c.fetchOrder(open)).resolves.toMatchObject({ status: 'shipped' });
  });

  it('receives a signed push message and verifies it; a tampered one is rejected', async () => {
    const got: { headers: http.IncomingHttpHeaders; body: Buffer }[] = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (x: Buffer) => chunks.push(x));
      req.on('end', () => {
        got.push({ headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"code":0,"msg":"success"}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(
      () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    );
    const port = (server.address() as { port: number }).port;
    const mc = manualClock();
    const s = await sandbox({ now: mc.nowMs, webhookUrl: `http://127.0.0.1:${port}/hooks/douyin` });
    const [id] = s.generateOrders(1);
    const c = connect(s, mc.clock);
    const rec = await s.deliverPush('110', id!);
    expect(rec.status).toBe(200);
    const raw = got[0]!;
    const ok = c.parseWebhook({ headers: raw.headers, body: raw.body });
    expect(ok).toMatchObject({
      ok: true,
      dedupeKey: `douyin:msg:${rec.msgId}`,
      topic: 'doudian_trade_TradePaid',
      events: [{ kind: 'refetch_order', platformOrderId: id }],
    });
    const tampered = Buffer.from(raw.body.toString('utf8').replace('biz', 'bIz'));
    expect(c.parseWebhook({ headers: raw.headers, body: tampered })).toMatchObject({
      ok: false,
      status: 401,
    });
    expect(c.parseWebhook({ headers: { ...raw.headers, 'app-id': 'other' }, body: raw.body })).toMatchObject({
      ok: false,
      status: 401,
    });
    const forged = s.pushFor('110', id!, 'not-the-secret');
    expect(c.parseWebhook({ headers: forged.headers, body: forged.body })).toMatchObject({
      ok: false,
      status: 401,
    });
  });

  it('maps the sandbox throttle to rate_limited and a bad token to refresh_token', async () => {
    const mc = manualClock();
    const s = await sandbox({ now: mc.nowMs, throttle: { capacity: 2, refillPerSecond: 1 } });
    s.generateOrders(3);
    const c = connect(s, mc.clock);
    await c.fetchOrder(s.orderIds()[0]!);
    await c.fetchOrder(s.orderIds()[0]!);
    await expect(c.fetchOrder(s.orderIds()[0]!)).rejects.toBeInstanceOf(RateLimitedError);
    mc.advance(5000);
    const bad = connect(s, mc.clock, { accessToken: 'expired' });
    await expect(bad.fetchOrder(s.orderIds()[0]!)).rejects.toBeInstanceOf(RefreshTokenError);
    await expect(bad.checkConnection()).resolves.toMatchObject({ ok: false, action: 'refresh_token' });
  });
});
