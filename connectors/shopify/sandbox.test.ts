/**
 * The Shopify connector against its sandbox over real HTTP. The two share no code, so the
 * signing, pagination, compare-and-set and payload shapes of each are checked by the other.
 */
import http from 'node:http';
import axios from 'axios';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { apportionOrder } from '../../src/domain/promotions.js';
import { type Clock, type Connector, type OrderPage, RateLimitedError } from '../contract.js';
import { installLeakGuard } from '../testing/leak-guard.js';
import { type ShopifyConfigInput, shopifyConfigSchema } from './config.js';
import { createShopifyConnector } from './connector.js';
import { decodeCursor } from './pagination.js';
import { ShopifySandbox, type ShopifySandboxOptions } from './sandbox.js';

installLeakGuard();

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A clock both sides share; tests move it by hand. */
function manualClock(start = Date.parse('2025-11-11T00:00:00Z')) {
  let t = start;
  return {
    clock: { now: () => new Date(t) } satisfies Clock,
    nowMs: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

async function sandbox(options: ShopifySandboxOptions = {}): Promise<ShopifySandbox> {
  const s = new ShopifySandbox({ restBucket: { capacity: 10_000, leakPerSecond: 1000 }, ...options });
  await s.start();
  cleanups.push(() => s.stop());
  return s;
}

function connect(s: ShopifySandbox, clock: Clock, patch: Partial<ShopifyConfigInput> = {}): Connector {
  const config = shopifyConfigSchema.parse({
    shopDomain: s.shopDomain,
    baseUrl: s.url,
    accessToken: s.accessToken,
    apiSecret: s.apiSecret,
    locationId: String(s.locationIds[0]),
    pageSize: 7,
    ...patch,
  });
  return createShopifyConnector(config, { http: axios.create(), log: pino({ level: 'silent' }), clock });
}

async function pullAll(
  c: Connector,
  cursor: string | null,
): Promise<{ pages: OrderPage[]; ids: string[]; cursor: string }> {
  const pages: OrderPage[] = [];
  for await (const p of c.pullOrders(cursor)) pages.push(p);
  const last = pages.at(-1);
  if (!last) throw new Error('no page');
  return {
    pages,
    ids: pages.flatMap((p) => p.orders.map((o) => o.platformOrderId)),
    cursor: last.nextCursor,
  };
}

/** A local receiver that records raw webhook requests exactly as they arrive. */
async function receiver(answer: (n: number) => number = () => 200) {
  const got: { headers: http.IncomingHttpHeaders; body: Buffer }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(answer(got.length)).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address() as { port: number };
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${addr.port}/webhooks/shopify`, got };
}

describe('pull against the sandbox', () => {
  it('gets every generated order exactly once across many pages (Link rel=next after page 1)', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs });
    const made = s.generateOrders(100).map((o) => String(o.id));
    t.advance(1000);
    const c = connect(s, t.clock);
    const { pages, ids } = await pullAll(c, null);
    expect(pages.length).toBe(15); // ceil(100 / 7)
    expect(ids).toHaveLength(100);
    expect(new Set(ids)).toEqual(new Set(made));
    expect(pages.every((p) => p.rejects.length === 0)).toBe(true);
    expect(pages.at(-1)!.caughtUp).toBe(true);
    // From page 2 on the sandbox lists rel="previous" first: following it would re-read pages.
    const paged = s.requests.filter((r) => r.path.endsWith('/orders.json'));
    expect(paged).toHaveLength(15);
  });

  it('every order the sandbox makes maps, and its amounts add up to what Shopify says was paid', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs, seed: 7 });
    s.generateOrders(200);
    t.advance(1000);
    const { pages } = await pullAll(connect(s, t.clock, { pageSize: 250 }), null);
    const orders = pages.flatMap((p) => p.orders);
    expect(orders).toHaveLength(200);
    for (const o of orders) expect(apportionOrder(o).issues, `order ${o.platformOrderId}`).toEqual([]);
    // The generator's mix really is mixed.
    const statuses = new Set(orders.map((o) => o.status));
    expect([...statuses].sort()).toEqual([
      'cancelled',
      'completed',
      'paid',
      'partially_shipped',
      'pending_payment',
      'shipped',
    ]);
    expect(orders.some((o) => o.lines.some((l) => l.gift))).toBe(true);
    expect(orders.some((o) => o.refunds.length > 0)).toBe(true);
    expect(orders.some((o) => o.promotions.some((p) => p.kind === 'coupon' && p.allocations))).toBe(true);
  });

  it('a page bound stops the pull resumably; resuming delivers the rest, no order twice', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs });
    const made = s.generateOrders(50).map((o) => String(o.id));
    t.advance(1000);
    const c = connect(s, t.clock, { maxPagesPerPull: 2 });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pulls = 0;
    for (; pulls < 20; pulls++) {
      const r = await pullAll(c, cursor);
      seen.push(...r.ids);
      cursor = r.cursor;
      if (r.pages.at(-1)!.caughtUp) break;
    }
    expect(pulls + 1).toBe(4); // 8 pages of 7, two per pull
    expect(seen).toHaveLength(50);
    expect(new Set(seen)).toEqual(new Set(made));
  });

  it('the next pull reads only what changed since the cursor (minus the overlap)', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs });
    const old = s.generateOrders(20, { lifecycle: false });
    t.advance(600_000);
    const [marker] = s.generateOrders(1, { lifecycle: false });
    t.advance(1000);
    const c = connect(s, t.clock, { overlapMs: 60_000 });
    const first = await pullAll(c, null);
    expect(first.ids).toHaveLength(21);
    expect(decodeCursor(first.cursor)?.watermark).toBe('2025-11-11T00:10:00.000Z');

    t.advance(3_600_000);
    const fresh = s.generateOrders(5, { lifecycle: false }).map((o) => String(o.id));
    const paidId = old.find((o) => o.financial_status === 'paid')!.id;
    s.advance(paidId, 'fulfill');
    t.advance(1000);
    const second = await pullAll(c, first.cursor);
    // The marker is re-read (it sits at the watermark, inside the overlap); the other old orders are not.
    expect(new Set(second.ids)).toEqual(new Set([String(marker!.id), ...fresh, String(paidId)]));
    const shipped = second.pages.flatMap((p) => p.orders).find((o) => o.platformOrderId === String(paidId));
    expect(shipped?.status).toBe('shipped');
    expect(decodeCursor(second.cursor)?.watermark).toBe('2025-11-11T01:10:01.000Z');

    // Nothing changed: only the overlap is re-read, and the cursor stays where it was.
    t.advance(30_000);
    const third = await pullAll(c, second.cursor);
    expect(new Set(third.ids)).toEqual(new Set([...fresh, String(paidId)]));
    expect(third.cursor).toBe(second.cursor);
  });

  it('a clock that jumps backwards loses nothing', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs });
    s.generateOrders(3, { lifecycle: false });
    t.advance(1000);
    const c = connect(s, t.clock);
    const first = await pullAll(c, null);
    t.advance(-3_600_000);
    const back = await pullAll(c, first.cursor);
    expect(back.ids).toEqual([]);
    expect(back.cursor).toBe(first.cursor);
    t.advance(7_200_000);
    const made = s.generateOrders(2, { lifecycle: false }).map((o) => String(o.id));
    t.advance(1000);
    const after = (await pullAll(c, back.cursor)).ids;
    // The new orders arrive; the earlier ones may be re-read by the overlap, never lost.
    expect(after).toEqual(expect.arrayContaining(made));
    expect(after.every((id) => made.includes(id) || first.ids.includes(id))).toBe(true);
  });

  it('the sandbox throttles with 429 + Retry-After and the connector maps it to rate_limited', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs, restBucket: { capacity: 2, leakPerSecond: 2 } });
    const c = connect(s, t.clock);
    await c.fetchOrder('1');
    await c.fetchOrder('1');
    const err = await c.fetchOrder('1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).toBe(500);
    expect(s.requests.at(-1)).toMatchObject({ status: 429 });
    t.advance(500);
    await expect(c.fetchOrder('1')).resolves.toBeNull();
  });

  it('a wrong token is a config error (401 from the sandbox)', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs });
    const c = connect(s, t.clock, { accessToken: 'shpat_wrong' });
    await expect(c.checkConnection()).resolves.toMatchObject({ ok: false, action: 'config_error' });
    await expect(connect(s, t.clock).checkConnection()).resolves.toMatchObject({ ok: true });
  });
});

describe('stock push against the sandbox', () => {
  it('sets quantities, the sandbox records them; a stale compare is reported and not applied', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs });
    const c = connect(s, t.clock);
    const [a, b, d] = s.stocked();
    s.setQuantity(b!.inventoryItemId, b!.locationId, 61); // another app changed it
    const notStocked = s.variants.at(-1)!;
    const results = await c.pushStock([
      {
        listing: { listingId: String(a!.inventoryItemId), locationId: String(a!.locationId) },
        quantity: 17,
        expected: 100,
      },
      {
        listing: { listingId: String(b!.inventoryItemId), locationId: String(b!.locationId) },
        quantity: 3,
        expected: 100,
      },
      {
        listing: { listingId: String(notStocked.inventory_item_id), locationId: String(s.locationIds[1]) },
        quantity: 1,
      },
      {
        listing: {
          listingId: `gid://shopify/InventoryItem/${d!.inventoryItemId}`,
          locationId: `gid://shopify/Location/${d!.locationId}`,
        },
        quantity: 0,
      },
    ]);
    expect(results.map((r) => r.status)).toEqual(['ok', 'compare_mismatch', 'failed', 'ok']);
    expect(results[2]).toMatchObject({ action: 'config_error', code: 'ITEM_NOT_STOCKED_AT_LOCATION' });
    expect(s.pushes.map((p) => [p.inventoryItemId, p.locationId, p.quantity, p.reason])).toEqual([
      [a!.inventoryItemId, a!.locationId, 17, 'correction'],
      [d!.inventoryItemId, d!.locationId, 0, 'correction'],
    ]);
    expect(s.quantity(b!.inventoryItemId, b!.locationId)).toBe(61);

    // After a mismatch the engine re-reads and decides again.
    const [reading] = await c.readStock!([
      { listingId: String(b!.inventoryItemId), locationId: String(b!.locationId) },
    ]);
    expect(reading).toMatchObject({ ok: true, quantity: 61 });
    const retry = await c.pushStock([
      {
        listing: { listingId: String(b!.inventoryItemId), locationId: String(b!.locationId) },
        quantity: 3,
        expected: 61,
      },
    ]);
    expect(retry[0]?.status).toBe('ok');
    expect(s.quantity(b!.inventoryItemId, b!.locationId)).toBe(3);
  });

  it.each(['2025-10', '2026-04'])(
    'speaks the %s compare semantics the sandbox enforces',
    async (apiVersion) => {
      const t = manualClock();
      const s = await sandbox({ now: t.nowMs });
      const c = connect(s, t.clock, { apiVersion });
      const [a, b] = s.stocked();
      const results = await c.pushStock([
        {
          listing: { listingId: String(a!.inventoryItemId), locationId: String(a!.locationId) },
          quantity: 5,
          expected: 100,
        },
        {
          listing: { listingId: String(b!.inventoryItemId), locationId: String(b!.locationId) },
          quantity: 6,
        },
        {
          listing: { listingId: String(a!.inventoryItemId), locationId: String(a!.locationId) },
          quantity: 9,
          expected: 4,
        },
      ]);
      expect(results.map((r) => r.status)).toEqual(['ok', 'ok', 'compare_mismatch']);
      expect(s.pushes.map((p) => p.quantity).sort()).toEqual([5, 6]);
    },
  );

  it('GraphQL cost throttling maps to rate_limited', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs, graphqlBucket: { capacity: 15, restorePerSecond: 10 } });
    const c = connect(s, t.clock);
    const [a] = s.stocked();
    const update = [
      { listing: { listingId: String(a!.inventoryItemId), locationId: String(a!.locationId) }, quantity: 1 },
    ];
    await c.pushStock(update);
    await expect(c.pushStock(update)).rejects.toMatchObject({ action: 'rate_limited', retryAfterMs: 500 });
  });
});

describe('webhooks from the sandbox', () => {
  it('verifies a signed delivery received over HTTP and rejects tampered copies', async () => {
    const t = manualClock();
    const rx = await receiver();
    const s = await sandbox({ now: t.nowMs, webhookUrl: rx.url });
    const c = connect(s, t.clock);
    const [o] = s.generateOrders(1);
    const delivery = await s.deliver('orders/create', o!.id);
    expect(delivery).toMatchObject({ status: 200, attempts: 1 });
    const raw = rx.got[0]!;
    const r = c.parseWebhook({ headers: raw.headers, body: raw.body });
    expect(r).toMatchObject({
      ok: true,
      topic: 'orders/create',
      shop: s.shopDomain,
      dedupeKey: `shopify:event:${delivery.eventId}`,
    });
    expect(r.ok && r.events).toEqual([
      { kind: 'order', order: expect.objectContaining({ platformOrderId: String(o!.id) }) },
    ]);

    const tampered = Buffer.from(raw.body);
    tampered.writeUInt8(tampered.readUInt8(tampered.length - 2) ^ 1, tampered.length - 2);
    expect(c.parseWebhook({ headers: raw.headers, body: tampered })).toMatchObject({
      ok: false,
      status: 401,
    });
    const badSig = { ...raw.headers, 'x-shopify-hmac-sha256': s.sign(raw.body, 'not-the-secret') };
    expect(c.parseWebhook({ headers: badSig, body: raw.body })).toMatchObject({ ok: false, status: 401 });
    expect(
      connect(s, t.clock, { apiSecret: 'other' }).parseWebhook({ headers: raw.headers, body: raw.body }),
    ).toMatchObject({
      ok: false,
      status: 401,
    });
  });

  it('a failed delivery is retried with the same event id, so both dedupe to one key', async () => {
    const t = manualClock();
    const rx = await receiver((n) => (n === 1 ? 500 : 200));
    const s = await sandbox({ now: t.nowMs, webhookUrl: rx.url });
    const c = connect(s, t.clock);
    const [o] = s.generateOrders(1);
    const d = await s.deliver('orders/updated', o!.id);
    expect(d).toMatchObject({ status: 200, attempts: 2 });
    const keys = rx.got.map((g) => {
      const r = c.parseWebhook({ headers: g.headers, body: g.body });
      return r.ok ? r.dedupeKey : r.error;
    });
    expect(keys).toEqual([`shopify:event:${d.eventId}`, `shopify:event:${d.eventId}`]);
  });

  it('refunds/create from the sandbox becomes a re-fetch hint that fetchOrder serves', async () => {
    const t = manualClock();
    const rx = await receiver();
    const s = await sandbox({ now: t.nowMs, webhookUrl: rx.url });
    const c = connect(s, t.clock);
    const o = s.generateOrders(10, { lifecycle: false }).find((x) => x.financial_status === 'paid')!;
    s.advance(o.id, 'refund_one');
    await s.deliver('refunds/create', o.id);
    const r = c.parseWebhook({ headers: rx.got[0]!.headers, body: rx.got[0]!.body });
    expect(r).toMatchObject({ ok: true, events: [{ kind: 'refetch_order', platformOrderId: String(o.id) }] });
    const fetched = await c.fetchOrder(String(o.id));
    expect(fetched?.refunds).toHaveLength(1);
    expect(fetched?.refunds[0]).toMatchObject({ quantity: 1, status: 'succeeded' });
  });
});

describe('multi-line buyer orders in the sandbox', () => {
  it('sellLines places one paid order of every line, or nothing and takes no units', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs });
    const c = connect(s, t.clock);
    const loc = s.locationIds[0]!;
    const [a, b, d] = s.variants;
    const have = (v: typeof a) => s.quantity(v!.inventory_item_id, loc)!;
    const before = [have(a), have(b), have(d)];
    const o = s.sellLines([
      { inventoryItemId: a!.inventory_item_id, quantity: 2 },
      { inventoryItemId: b!.inventory_item_id, quantity: 1 },
    ]);
    const fetched = await c.fetchOrder(String(o.id));
    expect(fetched?.status).toBe('paid');
    expect(fetched?.lines.map((l) => [l.platformSkuId, l.quantity])).toEqual([
      [String(a!.id), 2],
      [String(b!.id), 1],
    ]);
    expect([have(a), have(b), have(d)]).toEqual([before[0]! - 2, before[1]! - 1, before[2]]);
    const ids = s.orderIds();
    expect(() =>
      s.sellLines([
        { inventoryItemId: d!.inventory_item_id, quantity: 1 },
        { inventoryItemId: b!.inventory_item_id, quantity: before[1]! },
      ]),
    ).toThrow(/cannot sell/);
    expect(s.orderIds()).toEqual(ids);
    expect([have(a), have(b), have(d)]).toEqual([before[0]! - 2, before[1]! - 1, before[2]]);
  });
});

describe('shipment confirmation against the sandbox', () => {
  it('creates a fulfillment with tracking; the order becomes shipped; a second call has nothing to ship', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs });
    const c = connect(s, t.clock);
    const o = s.generateOrders(10, { lifecycle: false }).find((x) => x.financial_status === 'paid')!;
    const r = await c.confirmShipment({
      platformOrderId: String(o.id),
      carrier: 'UPS',
      trackingNumber: '1Z999AA10123456784',
    });
    expect(r.ok).toBe(true);
    expect(s.trackingNumbers(o.id)).toEqual(['1Z999AA10123456784']);
    expect((await c.fetchOrder(String(o.id)))?.status).toBe('shipped');
    await expect(
      c.confirmShipment({ platformOrderId: String(o.id), carrier: 'UPS', trackingNumber: 'again' }),
    ).resolves.toMatchObject({
      ok: false,
      reason: 'nothing_to_ship',
    });
    await expect(
      c.confirmShipment({ platformOrderId: '42', carrier: 'UPS', trackingNumber: 'x' }),
    ).resolves.toMatchObject({
      ok: false,
      reason: 'order_not_found',
    });
  });

  it('ships one line partially', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs });
    const c = connect(s, t.clock);
    const o = s
      .generateOrders(30, { lifecycle: false })
      .find((x) => x.financial_status === 'paid' && x.line_items.length > 1)!;
    const line = o.line_items[0]!;
    const r = await c.confirmShipment({
      platformOrderId: String(o.id),
      carrier: 'DHL',
      trackingNumber: 'JD014600006281230704',
      lines: [{ platformLineId: String(line.id), quantity: 1 }],
    });
    expect(r.ok).toBe(true);
    expect((await c.fetchOrder(String(o.id)))?.status).toBe('partially_shipped');
  });
});

describe('sandbox lifecycle', () => {
  it('generates orders on a timer, delivers their webhooks, and stop() clears every timer', async () => {
    const rx = await receiver();
    const s = new ShopifySandbox({ ordersPerSecond: 50, webhookUrl: rx.url });
    await s.start();
    cleanups.push(() => s.stop());
    expect(await s.waitForOrders(10)).toBe(true);
    expect(s.activeTimers()).toBeGreaterThan(0);
    await s.stop();
    expect(s.activeTimers()).toBe(0);
    expect(await s.waitForOrders(1_000_000)).toBe(false);
  });
});
