/**
 * The JD connector against its sandbox over real HTTP: the sandbox checks signatures, the
 * timestamp tolerance, windows and paging with its own code, so the two sides check each other.
 */
import http from 'node:http';
import axios from 'axios';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { apportionOrder } from '../../src/domain/promotions.js';
import {
  type Clock,
  type Connector,
  ConnectorConfigError,
  type OrderPage,
  RateLimitedError,
  RefreshTokenError,
} from '../contract.js';
import { installLeakGuard } from '../testing/leak-guard.js';
import { JdClient } from './client.js';
import { type JdConfigInput, jdConfigSchema } from './config.js';
import { createJdConnector } from './connector.js';
import { decodeCursor } from './pagination.js';
import { JdSandbox, type JdSandboxOptions } from './sandbox.js';

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

async function sandbox(options: JdSandboxOptions): Promise<JdSandbox> {
  const s = new JdSandbox({ throttle: { capacity: 100_000, refillPerSecond: 10_000 }, ...options });
  await s.start();
  cleanups.push(() => s.stop());
  return s;
}

function configFor(s: JdSandbox, patch: Partial<JdConfigInput> = {}) {
  return jdConfigSchema.parse({
    venderId: s.venderId,
    appKey: s.appKey,
    appSecret: s.appSecret,
    accessToken: s.accessToken,
    gatewayUrl: s.gatewayUrl,
    relaySecret: s.relaySecret,
    pageSize: 7,
    windowMinutes: 30,
    initialLookbackDays: 1,
    maxPagesPerPull: 10_000,
    ...patch,
  });
}

function connect(s: JdSandbox, clock: Clock, patch: Partial<JdConfigInput> = {}): Connector {
  return createJdConnector(configFor(s, patch), {
    http: axios.create(),
    log: pino({ level: 'silent' }),
    clock,
  });
}

async function pullAll(c: Connector, cursor: string | null) {
  const pages: OrderPage[] = [];
  for await (const p of c.pullOrders(cursor)) pages.push(p);
  const orders = pages.flatMap((p) => p.orders);
  return { pages, orders, ids: orders.map((o) => o.platformOrderId), cursor: pages.at(-1)!.nextCursor };
}

async function receiver() {
  const got: { headers: http.IncomingHttpHeaders; body: Buffer }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { got, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/webhooks/jd` };
}

describe('JD sandbox over HTTP', () => {
  it('pulls every generated order exactly once across many pages and windows; a later pull sees changes', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs, seed: 11 });
    const generated = s.generateOrders(120);
    const c = connect(s, t.clock);
    const first = await pullAll(c, null);
    expect(first.ids).toHaveLength(new Set(first.ids).size);
    expect(new Set(first.ids)).toEqual(new Set(generated));
    expect(first.pages.flatMap((p) => p.rejects)).toEqual([]);
    expect(first.pages.length).toBeGreaterThan(48); // 48 half-hour windows, busy ones paged
    const windows = new Set(
      s.calls.filter((x) => x.method === 'jingdong.pop.order.search').map((x) => `${x.params.start_date}`),
    );
    expect(windows.size).toBeGreaterThanOrEqual(48);
    expect(s.calls.some((x) => Number(x.params.page) > 1)).toBe(true);
    for (const o of first.orders) expect(apportionOrder(o).issues, o.platformOrderId).toEqual([]);
    const kinds = new Set(
      first.orders.flatMap((o) => o.promotions.map((p) => `${p.kind}/${'funding' in p ? p.funding : '-'}`)),
    );
    expect(kinds).toEqual(new Set(['fixed/seller', 'coupon/platform', 'gift/-']));
    const statuses = new Set(first.orders.map((o) => o.status));
    expect(statuses).toEqual(new Set(['paid', 'shipped', 'completed', 'cancelled']));
    expect(first.orders.some((o) => o.lines.some((l) => l.lineDiscounts.length > 0))).toBe(true);

    // Twenty minutes later two orders changed; a pull from the cursor sees them (plus the overlap).
    t.advance(20 * 60_000);
    const [a, b] = generated as [string, string];
    s.touch(a, 'FINISHED_L');
    s.touch(b, 'TRADE_CANCELED');
    t.advance(2 * 60_000);
    const second = await pullAll(c, first.cursor);
    expect(second.ids).toEqual(expect.arrayContaining([a, b]));
    expect(second.orders.find((o) => o.platformOrderId === b)?.status).toBe('cancelled');
    expect(second.ids.length).toBeLessThan(20);
    expect(second.pages.at(-1)!.caughtUp).toBe(true);
  });

  it('re-reads a window whose orderTotal changed mid-scan, so no order slips past', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs, seed: 5, spreadMs: 50 * 60_000 });
    const generated = s.generateOrders(15);
    const c = connect(s, t.clock, { pageSize: 3, windowMinutes: 120, initialLookbackDays: 1 });
    let touched = false;
    s.afterSearch = (page, listed) => {
      if (touched || page !== 1 || listed.length < 3) return;
      // The first order of a busy window changes while page 1 is on its way back: it leaves the
      // window and every order behind it moves one place towards page 1.
      touched = true;
      s.touch(listed[0]!);
    };
    const { ids } = await pullAll(c, null);
    expect(touched).toBe(true);
    expect(new Set(ids)).toEqual(new Set(generated));
    const pages = s.calls
      .filter((x) => x.method === 'jingdong.pop.order.search')
      .map((x) => Number(x.params.page));
    const windows = new Set(s.calls.map((x) => x.params.start_date)).size;
    expect(pages.filter((p) => p === 1).length).toBe(windows + 1);
  });

  it('records stock pushes; an unknown SKU fails alone', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs });
    const c = connect(s, t.clock);
    const [x, y] = s.listings() as [{ skuId: string; quantity: number }, { skuId: string; quantity: number }];
    const results = await c.pushStock([
      { listing: { listingId: x.skuId }, quantity: 4 },
      { listing: { listingId: '123' }, quantity: 4 },
      { listing: { listingId: y.skuId, locationId: '7' }, quantity: 0 },
    ]);
    expect(results.map((r) => r.status)).toEqual(['ok', 'failed', 'ok']);
    expect(results[1]).toMatchObject({ action: 'config_error', code: '10100010' });
    expect(s.pushes.map((p) => [p.skuId, p.storeId, p.quantity])).toEqual([
      [x.skuId, undefined, 4],
      [y.skuId, '7', 0],
    ]);
    expect(s.listings().find((l) => l.skuId === x.skuId)?.quantity).toBe(4);
  });

  it('reads back pushed stock and a sale; unknown SKUs fail alone; reads go through the gateway rules', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs });
    const c = connect(s, t.clock);
    const [x, y] = s.listings() as [{ skuId: string; quantity: number }, { skuId: string; quantity: number }];
    const atStore = { listingId: y.skuId, locationId: '7' };
    await c.pushStock([
      { listing: { listingId: x.skuId }, quantity: 6 },
      { listing: atStore, quantity: 9 },
    ]);
    const listings = [
      { listingId: x.skuId },
      { listingId: '123' },
      atStore,
      { listingId: y.skuId, locationId: '8' },
    ];
    expect(await c.readStock!(listings)).toEqual([
      { listing: listings[0], ok: true, quantity: 6 },
      { listing: listings[1], ok: false, error: expect.stringMatching(/^sku 123: .*10100010/) },
      { listing: atStore, ok: true, quantity: 9 },
      { listing: listings[3], ok: false, error: `sku ${y.skuId} at store 8 not found on JD` },
    ]);
    expect(
      s.calls.filter((k) => k.method === 'jingdong.stock.read.findSkuStock').map((k) => k.params),
    ).toEqual([x.skuId, '123', y.skuId, y.skuId].map((skuId) => ({ skuId })));

    s.sell(x.skuId, 4);
    expect(await c.readStock!([{ listingId: x.skuId }])).toEqual([
      { listing: { listingId: x.skuId }, ok: true, quantity: 2 },
    ]);

    // Same gateway as every method: a bad secret is refused, the call limit applies.
    await expect(
      connect(s, t.clock, { appSecret: 'wrong' }).readStock!([{ listingId: x.skuId }]),
    ).rejects.toMatchObject({ action: 'config_error', code: '12' });
    const limited = await sandbox({ now: t.nowMs, throttle: { capacity: 1, refillPerSecond: 0 } });
    const read = await connect(limited, t.clock).readStock!(
      limited
        .listings()
        .slice(0, 2)
        .map((l) => ({ listingId: l.skuId })),
    );
    expect(read.map((r) => (r.ok ? r.quantity : r.error))).toEqual([
      100,
      expect.stringMatching(/ -> 2: JOS call limit/),
    ]);
  });

  it('delivers a signed message the connector verifies; a tampered copy is rejected', async () => {
    const t = manualClock();
    const r = await receiver();
    const s = await sandbox({ now: t.nowMs, webhookUrl: r.url });
    const [id] = s.generateOrders(1) as [string];
    expect(await s.deliverMessage('jos_order_change', id)).toBe(200);
    const c = connect(s, t.clock);
    const raw = r.got[0]!;
    const ok = c.parseWebhook({ headers: raw.headers, body: raw.body });
    expect(ok).toMatchObject({ ok: true, topic: 'jos_order_change', shop: s.venderId });
    expect(ok.ok && ok.events).toEqual([
      { kind: 'refetch_order', platformOrderId: id, reason: 'JD message jos_order_change is a hint only' },
    ]);
    expect(ok.ok && ok.dedupeKey).toBe(`jd:msg:${s.messages[0]!.id}`);
    const tampered = Buffer.from(raw.body.toString('utf8').replace(id, String(Number(id) + 1)));
    expect(c.parseWebhook({ headers: raw.headers, body: tampered })).toMatchObject({
      ok: false,
      status: 401,
    });
    const forged = s.messageFor('jos_order_change', id, 'someone-elses-secret-0123');
    expect(c.parseWebhook({ headers: forged.headers, body: forged.body })).toMatchObject({
      ok: false,
      status: 401,
    });
    await expect(c.fetchOrder(id)).resolves.toMatchObject({ platformOrderId: id });
  });

  it('confirms a shipment once; the order then has nothing to ship; unknown orders are not found', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs, seed: 2 });
    const ids = s.generateOrders(30);
    const open = ids.find((i) => s.orderState(i) === 'WAIT_SELLER_STOCK_OUT')!;
    const c = connect(s, t.clock);
    const ship = { platformOrderId: open, carrier: '2087', trackingNumber: 'JDV000123' };
    await expect(c.confirmShipment(ship)).resolves.toMatchObject({ ok: true });
    expect(s.trackingNumbers(open)).toContain('JDV000123');
    expect(s.orderState(open)).toBe('WAIT_GOODS_RECEIVE_CONFIRM');
    await expect(c.confirmShipment(ship)).resolves.toMatchObject({ ok: false, reason: 'nothing_to_ship' });
    await expect(c.confirmShipment({ ...ship, platformOrderId: '999999999999' })).resolves.toMatchObject({
      ok: false,
      reason: 'order_not_found',
    });
  });

  it('answers like JOS: throttling, wrong secret, expired token, clock skew, over-long window', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs, throttle: { capacity: 2, refillPerSecond: 0 } });
    const c = connect(s, t.clock);
    await expect(c.checkConnection()).resolves.toMatchObject({ ok: true });
    await expect(c.fetchOrder('1')).resolves.toBeNull();
    await expect(c.fetchOrder('1')).rejects.toBeInstanceOf(RateLimitedError);

    const s2 = await sandbox({ now: t.nowMs });
    await expect(connect(s2, t.clock, { appSecret: 'wrong' }).fetchOrder('1')).rejects.toMatchObject({
      action: 'config_error',
      code: '12',
    });
    await expect(connect(s2, t.clock, { accessToken: 'expired' }).fetchOrder('1')).rejects.toBeInstanceOf(
      RefreshTokenError,
    );
    const skewed: Clock = { now: () => new Date(t.nowMs() - 7 * 60_000) };
    await expect(connect(s2, skewed).fetchOrder('1')).rejects.toMatchObject({
      action: 'config_error',
      code: '8',
    });

    const client = new JdClient(configFor(s2), {
      http: axios.create(),
      log: pino({ level: 'silent' }),
      clock: t.clock,
    });
    const res = await client.call('jingdong.pop.order.search', {
      start_date: '2025-09-01 00:00:00',
      end_date: '2025-11-01 00:00:00',
      order_state: 'FINISHED_L',
      optional_fields: 'orderId',
    });
    const result = res.searchorderinfo_result as { apiResult: unknown };
    expect(() => client.checkApiResult('jingdong.pop.order.search', result.apiResult as never)).toThrow(
      ConnectorConfigError,
    );
    // The cursor after a full pull is a plain watermark at "now - lag".
    const { cursor } = await pullAll(connect(s2, t.clock, { lagMs: 0 }), null);
    expect(decodeCursor(cursor)).toEqual({ watermark: new Date(t.nowMs()).toISOString() });
  });
});
