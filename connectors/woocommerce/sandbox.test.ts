/**
 * The WooCommerce connector against its sandbox over real HTTP: every generated order pulled
 * exactly once across many pages, windows and pulls; a window that shrinks while paging;
 * throttling; stock pushes recorded; signed webhooks and the ping delivered to a real receiver,
 * tampered copies rejected; shipments; refund details.
 */
import http from 'node:http';
import axios from 'axios';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { canonicalOrderSchema } from '../../src/domain/order.js';
import { apportionOrder } from '../../src/domain/promotions.js';
import {
  type Clock,
  type Connector,
  ConnectorConfigError,
  type OrderPage,
  RateLimitedError,
  type RawWebhook,
} from '../contract.js';
import { installLeakGuard } from '../testing/leak-guard.js';
import { type WooConfigInput, woocommerceConfigSchema } from './config.js';
import { createWooConnector } from './connector.js';
import { WooSandbox, type WooSandboxOptions } from './sandbox.js';

installLeakGuard();

const T0 = Date.parse('2026-03-02T12:00:00.000Z');
let now = T0;
const clock: Clock = { now: () => new Date(now) };
const sandboxes: WooSandbox[] = [];

async function start(options: WooSandboxOptions = {}): Promise<{ sandbox: WooSandbox; url: string }> {
  const sandbox = new WooSandbox({
    now: () => now,
    throttle: { capacity: 1e6, refillPerSecond: 1e6 },
    ...options,
  });
  sandboxes.push(sandbox);
  return { sandbox, url: await sandbox.start() };
}

function connect(sandbox: WooSandbox, url: string, patch: Partial<WooConfigInput> = {}): Connector {
  const config = woocommerceConfigSchema.parse({
    storeUrl: url,
    allowInsecureHttp: true,
    consumerKey: sandbox.consumerKey,
    consumerSecret: sandbox.consumerSecret,
    webhookSecret: sandbox.webhookSecret,
    initialLookbackDays: 1,
    ...patch,
  });
  return createWooConnector(config, { http: axios.create(), log: pino({ level: 'silent' }), clock });
}

async function pullAll(c: Connector, cursor: string | null, maxPulls = 100) {
  const pages: OrderPage[] = [];
  let pulls = 0;
  let cur = cursor;
  for (; pulls < maxPulls; pulls++) {
    let last: OrderPage | undefined;
    for await (const p of c.pullOrders(cur)) {
      pages.push(p);
      last = p;
    }
    if (!last) break;
    cur = last.nextCursor;
    if (last.caughtUp) break;
  }
  return { pages, cursor: cur, pulls: pulls + 1 };
}

afterEach(() => {
  now = T0;
});
afterAll(async () => {
  for (const s of sandboxes) await s.stop();
});

describe('pull against the sandbox', () => {
  it('pulls every order exactly once across many pages, windows and page-bounded pulls', async () => {
    const { sandbox, url } = await start({ seed: 7 });
    const ids = sandbox.generateOrders(120).map(String);
    const c = connect(sandbox, url, { pageSize: 4, windowMs: 30 * 60_000, maxPagesPerPull: 5 });
    const { pages, pulls } = await pullAll(c, null);
    const got = pages.flatMap((p) => p.orders.map((o) => o.platformOrderId));
    expect(got).toHaveLength(new Set(got).size);
    expect(new Set(got)).toEqual(new Set(ids));
    expect(pages.flatMap((p) => p.rejects)).toEqual([]);
    expect(pulls).toBeGreaterThan(5);
    const windows = new Set(
      sandbox.requests
        .filter((r) => r.path.endsWith('/orders'))
        .map((r) => new URLSearchParams(r.query).get('modified_after')),
    );
    expect(windows.size).toBeGreaterThan(10);
    for (const r of sandbox.requests.filter((x) => x.path.endsWith('/orders'))) {
      const q = new URLSearchParams(r.query);
      expect([q.get('orderby'), q.get('order'), q.get('dates_are_gmt'), q.get('per_page')]).toEqual([
        'id',
        'asc',
        'true',
        '4',
      ]);
    }
    for (const o of pages.flatMap((p) => p.orders)) {
      expect(canonicalOrderSchema.safeParse(o).success).toBe(true);
      expect(apportionOrder(o).issues).toEqual([]);
    }
    // Mix: promotions, gifts, cancellations, refunds with line detail.
    const orders = pages.flatMap((p) => p.orders);
    expect(orders.some((o) => o.promotions.some((p) => p.kind === 'coupon' && p.allocations))).toBe(true);
    expect(orders.some((o) => o.lines.some((l) => l.lineDiscounts.some((d) => d.kind === 'coupon')))).toBe(
      true,
    );
    expect(orders.some((o) => o.promotions.some((p) => p.kind === 'manual_adjustment'))).toBe(true);
    expect(orders.some((o) => o.lines.some((l) => l.gift))).toBe(true);
    expect(orders.some((o) => o.status === 'cancelled')).toBe(true);
    expect(orders.some((o) => o.refunds.some((r) => r.lineId !== undefined))).toBe(true);
    // Later: nothing new, one empty caught-up pull.
    now += 10 * 60_000;
    const again = await pullAll(c, pages.at(-1)!.nextCursor);
    expect(again.pages.at(-1)?.caughtUp).toBe(true);
  });

  it('an order modified while we page shrinks the window: re-read, nothing lost, the change comes next pull', async () => {
    const { sandbox, url } = await start({ seed: 11, spreadMs: 30 * 60_000 });
    const ids = sandbox.generateOrders(12).map(String);
    const c = connect(sandbox, url, { pageSize: 3, windowMs: 3600_000 });
    const seen: string[] = [];
    let cursor: string | null = null;
    let touched = false;
    let first = '';
    for await (const p of c.pullOrders(null)) {
      seen.push(...p.orders.map((o) => o.platformOrderId));
      cursor = p.nextCursor;
      if (!touched && p.orders.length > 0 && !p.caughtUp) {
        touched = true;
        first = p.orders[0]!.platformOrderId;
        sandbox.touchOrder(Number(first), 'completed');
      }
    }
    expect(new Set(seen)).toEqual(new Set(ids));
    // Some window was read from page 1 twice: the restart.
    const firstPages = new Map<string, number>();
    for (const r of sandbox.requests.filter((x) => x.path.endsWith('/orders'))) {
      const q = new URLSearchParams(r.query);
      if (q.get('page') !== '1') continue;
      const k = `${q.get('modified_after')}..${q.get('modified_before')}`;
      firstPages.set(k, (firstPages.get(k) ?? 0) + 1);
    }
    expect(Math.max(...firstPages.values())).toBe(2);
    now += 5 * 60_000;
    const next = await pullAll(c, cursor);
    // The touched order with its new state (plus whatever the overlap re-reads).
    const changed = next.pages.flatMap((p) => p.orders);
    expect(touched).toBe(true);
    expect(changed.find((o) => o.platformOrderId === first)?.status).toBe('completed');
  });

  it('the sandbox throttles like a host limiter: 429 + Retry-After -> RateLimitedError', async () => {
    const { sandbox, url } = await start({ throttle: { capacity: 2, refillPerSecond: 0.5 } });
    const c = connect(sandbox, url);
    await c.fetchOrder('1');
    await c.fetchOrder('2');
    const err = await c.fetchOrder('3').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).toBe(2000);
  });

  it('bad credentials and query-string auth', async () => {
    const { sandbox, url } = await start();
    await expect(
      connect(sandbox, url, { consumerSecret: 'cs_wrong' }).checkConnection(),
    ).resolves.toMatchObject({
      ok: false,
      action: 'config_error',
    });
    await expect(connect(sandbox, url, { authMode: 'query' }).checkConnection()).resolves.toMatchObject({
      ok: true,
    });
    expect(sandbox.requests.every((r) => !r.query.includes(sandbox.consumerSecret))).toBe(true);
  });

  it('fetchOrder reads refund details; unknown orders are null', async () => {
    const { sandbox, url } = await start({ seed: 5 });
    sandbox.generateOrders(40);
    const c = connect(sandbox, url);
    const withRefund = sandbox.orderIds().find((id) => sandbox.refundCount(id) > 0);
    expect(withRefund).toBeDefined();
    const o = await c.fetchOrder(String(withRefund));
    expect(o?.refunds.some((r) => r.lineId !== undefined && r.quantity > 0)).toBe(true);
    await expect(c.fetchOrder('99999')).resolves.toBeNull();
  });
});

describe('stock against the sandbox', () => {
  it('records simple and variation pushes; a bad listing fails alone', async () => {
    const { sandbox, url } = await start();
    const listings = sandbox.stocked();
    const simple = listings.find((l) => !l.listingId.includes(':'))!;
    const variation = listings.find((l) => l.listingId.includes(':'))!;
    const [parent] = variation.listingId.split(':');
    const r = await connect(sandbox, url).pushStock([
      { listing: { listingId: simple.listingId }, quantity: 7 },
      { listing: { listingId: variation.listingId }, quantity: 3 },
      { listing: { listingId: `${parent}:424242` }, quantity: 1 },
      { listing: { listingId: '424242' }, quantity: 1 },
    ]);
    expect(r.map((x) => x.status)).toEqual(['ok', 'ok', 'failed', 'failed']);
    expect(r[2]).toMatchObject({
      action: 'config_error',
      code: 'woocommerce_rest_product_variation_invalid_id',
    });
    expect(sandbox.pushes.map((p) => p.quantity)).toEqual([7, 3]);
    expect(sandbox.stocked().find((l) => l.listingId === variation.listingId)?.quantity).toBe(3);
  });

  it('reads back pushed quantities and, after a sale on the store, the decrement', async () => {
    const { sandbox, url } = await start();
    const c = connect(sandbox, url);
    const listings = sandbox.stocked();
    const simple = listings.find((l) => !l.listingId.includes(':'))!.listingId;
    const variation = listings.find((l) => l.listingId.includes(':'))!.listingId;
    const [parent, variationId] = variation.split(':');
    const pushed = await c.pushStock([
      { listing: { listingId: simple }, quantity: 7 },
      { listing: { listingId: variation }, quantity: 3 },
    ]);
    expect(pushed.map((p) => p.status)).toEqual(['ok', 'ok']);
    const refs = [simple, variation, parent!, `${parent}:424242`, variationId!].map((listingId) => ({
      listingId,
    }));
    expect(await c.readStock!(refs)).toEqual([
      { listing: refs[0], ok: true, quantity: 7 },
      { listing: refs[1], ok: true, quantity: 3 },
      {
        listing: refs[2],
        ok: false,
        error: `listing "${parent}": stock not managed (manage_stock false, stock_quantity null)`,
      },
      {
        listing: refs[3],
        ok: false,
        error: `listing "${parent}:424242": variation 424242 not found under that product`,
      },
      {
        listing: refs[4],
        ok: false,
        error: `listing "${variationId}": product ${variationId} not found (a variation needs "<product id>:<variation id>")`,
      },
    ]);

    sandbox.sell(Number(simple), 4);
    sandbox.sell(Number(variationId), 2);
    expect(await c.readStock!(refs.slice(0, 2))).toEqual([
      { listing: refs[0], ok: true, quantity: 3 },
      { listing: refs[1], ok: true, quantity: 1 },
    ]);
    const reads = sandbox.requests
      .filter((r) => r.method === 'GET')
      .map((r) => {
        const q = new URLSearchParams(r.query);
        return [r.path, q.get('include'), q.get('per_page'), r.status];
      });
    expect(reads).toEqual([
      ['/wp-json/wc/v3/products', `${simple},${parent},${variationId}`, '100', 200],
      [`/wp-json/wc/v3/products/${parent}/variations`, `${variationId},424242`, '100', 200],
      ['/wp-json/wc/v3/products', simple, '100', 200],
      [`/wp-json/wc/v3/products/${parent}/variations`, variationId, '100', 200],
    ]);
  });

  it('reads go through the same auth, throttle and fault injection as other calls', async () => {
    const { sandbox, url } = await start();
    const [listing] = sandbox.stocked();
    const refs = [{ listingId: listing!.listingId }];
    await expect(
      connect(sandbox, url, { consumerSecret: 'cs_wrong' }).readStock!(refs),
    ).rejects.toMatchObject({
      action: 'config_error',
      status: 401,
      code: 'woocommerce_rest_authentication_error',
    });
    sandbox.faults({ rate429: 1, retryAfterSeconds: 2 });
    const err = await connect(sandbox, url).readStock!(refs).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).toBe(2000);
    sandbox.faults(null);
    await expect(connect(sandbox, url, { authMode: 'query' }).readStock!(refs)).resolves.toEqual([
      { listing: refs[0], ok: true, quantity: listing!.quantity },
    ]);
    expect(sandbox.faultCounts()['429']).toBe(1);
  });

  it('a store with a lower batch limit answers 413: a config error, nothing applied', async () => {
    const { sandbox, url } = await start({ batchLimit: 2 });
    const ids = sandbox
      .stocked()
      .filter((l) => !l.listingId.includes(':'))
      .slice(0, 3);
    await expect(
      connect(sandbox, url).pushStock(ids.map((l) => ({ listing: { listingId: l.listingId }, quantity: 1 }))),
    ).rejects.toBeInstanceOf(ConnectorConfigError);
    expect(sandbox.pushes).toEqual([]);
  });
});

describe('webhooks and shipments against the sandbox', () => {
  let receiver: http.Server;
  let received: RawWebhook[] = [];
  let connector: Connector | undefined;
  let hookUrl = '';

  beforeAll(async () => {
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw: RawWebhook = { headers: req.headers, body: new Uint8Array(Buffer.concat(chunks)) };
        received.push(raw);
        const r = connector?.parseWebhook(raw);
        res.writeHead(r?.ok ? 200 : (r?.status ?? 500)).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hooks/woocommerce`;
  });
  afterAll(async () => {
    receiver.closeAllConnections();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });

  it('receives a signed order webhook, verifies it, rejects a tampered copy; the ping gets 200', async () => {
    const { sandbox, url } = await start({ webhookUrl: hookUrl, seed: 2 });
    const [id] = sandbox.generateOrders(1);
    connector = connect(sandbox, url);
    received = [];
    const d = await sandbox.deliver('order.updated', id!);
    expect(d.status).toBe(200);
    const r = connector.parseWebhook(received[0]!);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const ev = r.events[0]!;
    const orderId = ev.kind === 'order' ? ev.order.platformOrderId : ev.platformOrderId;
    expect(orderId).toBe(String(id));
    expect(r.dedupeKey).toMatch(new RegExp(`^woocommerce:17:order.updated:${id}@`));
    const body = Buffer.from(received[0]!.body);
    body[body.length - 3] = (body[body.length - 3] ?? 0) ^ 1;
    expect(connector.parseWebhook({ headers: received[0]!.headers, body })).toMatchObject({
      ok: false,
      status: 401,
    });

    const ping = await sandbox.ping();
    expect(ping.status).toBe(200);
    expect(connector.parseWebhook(received.at(-1)!)).toMatchObject({ ok: true, topic: 'ping', events: [] });
    // A receiver holding the wrong secret answers 401, as WooCommerce would count a failure.
    connector = connect(sandbox, url, { webhookSecret: 'not it' });
    expect((await sandbox.deliver('order.updated', id!)).status).toBe(401);
  });

  it('confirms a shipment with an order note and completes the order', async () => {
    const { sandbox, url } = await start({ seed: 4 });
    sandbox.generateOrders(20);
    const open = sandbox.orderIds().find((i) => sandbox.statusOf(i) === 'processing')!;
    const c = connect(sandbox, url);
    const r = await c.confirmShipment({
      platformOrderId: String(open),
      carrier: 'DHL',
      trackingNumber: 'JJD000390007',
    });
    expect(r).toMatchObject({ ok: true });
    expect(sandbox.notesOf(open)).toEqual(['Shipped with DHL, tracking number JJD000390007']);
    expect(sandbox.trackingNumbers(open)).toEqual(['JJD000390007']);
    expect(sandbox.statusOf(open)).toBe('completed');
    await expect(
      c.confirmShipment({ platformOrderId: String(open), carrier: 'DHL', trackingNumber: 'x' }),
    ).resolves.toMatchObject({
      ok: false,
      reason: 'nothing_to_ship',
    });
  });
});
