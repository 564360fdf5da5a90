/**
 * The Pinduoduo connector against its sandbox over real HTTP: the sandbox checks signatures,
 * skew, windows and paging with its own code, so the two sides check each other.
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
} from '../contract.js';
import { installLeakGuard } from '../testing/leak-guard.js';
import { PddClient } from './client.js';
import { type PinduoduoConfigInput, pinduoduoConfigSchema } from './config.js';
import { createPinduoduoConnector } from './connector.js';
import { decodeCursor } from './pagination.js';
import { PddSandbox, type PddSandboxOptions } from './sandbox.js';

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

async function sandbox(options: PddSandboxOptions): Promise<PddSandbox> {
  const s = new PddSandbox({ throttle: { capacity: 100_000, refillPerSecond: 10_000 }, ...options });
  await s.start();
  cleanups.push(() => s.stop());
  return s;
}

function configFor(s: PddSandbox, patch: Partial<PinduoduoConfigInput> = {}) {
  return pinduoduoConfigSchema.parse({
    mallId: s.mallId,
    clientId: s.clientId,
    clientSecret: s.clientSecret,
    accessToken: s.accessToken,
    gatewayUrl: s.gatewayUrl,
    relaySecret: s.relaySecret,
    logisticsIds: { YTO: 85 },
    pageSize: 4,
    initialLookbackDays: 1,
    maxPagesPerPull: 10_000,
    ...patch,
  });
}

function connect(s: PddSandbox, clock: Clock, patch: Partial<PinduoduoConfigInput> = {}): Connector {
  return createPinduoduoConnector(configFor(s, patch), {
    http: axios.create(),
    log: pino({ level: 'silent' }),
    clock,
  });
}

async function pullAll(c: Connector, cursor: string | null) {
  const pages: OrderPage[] = [];
  for await (const p of c.pullOrders(cursor)) pages.push(p);
  return pages;
}

describe('pinduoduo connector against the sandbox', () => {
  it('pulls every generated order exactly once across many windows and pages, all adding up', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs, seed: 7 });
    const generated = s.generateOrders(150);
    const c = connect(s, t.clock);
    const pages = await pullAll(c, null);
    const ids = pages.flatMap((p) => p.orders.map((o) => o.platformOrderId));
    expect(ids).toHaveLength(new Set(ids).size);
    expect(new Set(ids)).toEqual(new Set(generated));
    expect(pages.flatMap((p) => p.rejects)).toEqual([]);
    expect(pages.at(-1)!.caughtUp).toBe(true);
    // Many windows, each within PDD's 30 minutes, and pages read backwards within them.
    const lists = s.calls.filter((x) => x.type === 'pdd.order.number.list.increment.get');
    expect(
      lists.every((x) => Number(x.params.end_updated_at) - Number(x.params.start_updated_at) <= 1800),
    ).toBe(true);
    expect(new Set(lists.map((x) => x.params.start_updated_at)).size).toBeGreaterThan(10);
    expect(lists.some((x) => Number(x.params.page) > 2)).toBe(true);
    expect(lists.every((x) => Number(x.params.end_updated_at) <= t.nowMs() / 1000 - 180)).toBe(true);
    expect(s.calls.filter((x) => x.code !== undefined)).toEqual([]);

    const orders = pages.flatMap((p) => p.orders);
    for (const o of orders) expect(apportionOrder(o).issues, o.platformOrderId).toEqual([]);
    const statuses = new Set(orders.map((o) => o.status));
    expect(statuses).toEqual(new Set(['paid', 'shipped', 'completed', 'cancelled']));
    expect(orders.some((o) => o.lines.some((l) => l.gift))).toBe(true);
    expect(orders.some((o) => o.promotions.some((p) => p.kind === 'platform_subsidy'))).toBe(true);
    expect(orders.some((o) => o.promotions.some((p) => p.kind === 'fixed' && p.funding === 'seller'))).toBe(
      true,
    );
    expect(orders.some((o) => o.refunds.some((r) => r.status === 'succeeded'))).toBe(true);
    expect(orders.some((o) => o.refunds.some((r) => r.status === 'requested'))).toBe(true);

    // Later: one order ships, ten new ones arrive; a pull from the stored cursor sees exactly those.
    t.advance(20 * 60_000);
    const open = (id: string) => {
      const o = JSON.parse(s.orderJson(id)!) as Record<string, number>;
      return o.order_status === 1 && o.confirm_status === 1 && o.refund_status === 1;
    };
    const sn = generated.find(open)!;
    await expect(
      c.confirmShipment({ platformOrderId: sn, carrier: 'YTO', trackingNumber: 'YT9001' }),
    ).resolves.toMatchObject({
      ok: true,
    });
    const fresh = s.generateOrders(10);
    for (const id of fresh) s.touch(id);
    t.advance(6 * 60_000);
    const again = await pullAll(c, pages.at(-1)!.nextCursor);
    const seen = again.flatMap((p) => p.orders);
    const seenIds = seen.map((o) => o.platformOrderId);
    expect(seenIds).toHaveLength(new Set(seenIds).size);
    for (const id of [...fresh, sn]) expect(seenIds).toContain(id);
    expect(again.at(-1)!.caughtUp).toBe(true);
    expect(seen.find((o) => o.platformOrderId === sn)?.status).toBe('shipped');
  });

  it('resumes from every intermediate cursor without losing an order', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs, seed: 11 });
    const generated = s.generateOrders(40);
    const c = connect(s, t.clock, { pageSize: 3 });
    const got = new Set<string>();
    let cursor: string | null = null;
    // One page per pull, always resuming from the last stored cursor.
    for (let i = 0; i < 500; i++) {
      const gen: AsyncGenerator<OrderPage> = c.pullOrders(cursor);
      const first = await gen.next();
      await gen.return(undefined);
      if (first.done) break;
      for (const o of first.value.orders) got.add(o.platformOrderId);
      cursor = first.value.nextCursor;
      expect(decodeCursor(cursor)).toBeDefined();
      if (first.value.caughtUp) break;
    }
    expect(got).toEqual(new Set(generated));
  });

  it('the sandbox enforces the 30-minute window, signatures, the token and its throttle', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs, throttle: { capacity: 1, refillPerSecond: 0.001 } });
    const deps = { http: axios.create(), log: pino({ level: 'silent' }), clock: t.clock };
    const end = Math.floor(t.nowMs() / 1000) - 300;
    const ok = new PddClient(configFor(s), deps);
    await expect(
      ok.call('pdd.order.number.list.increment.get', { start_updated_at: end - 1801, end_updated_at: end }),
    ).rejects.toMatchObject({ action: 'config_error', code: '50001|50001' });
    await expect(
      new PddClient(configFor(s, { clientSecret: 'wrong' }), deps).call('pdd.order.information.get', {
        order_sn: 'x',
      }),
    ).rejects.toBeInstanceOf(ConnectorConfigError);
    await expect(
      ok.call('pdd.order.number.list.increment.get', { start_updated_at: end - 60, end_updated_at: end }),
    ).rejects.toBeInstanceOf(RateLimitedError);
    const s2 = await sandbox({ now: t.nowMs });
    await expect(
      new PddClient(configFor(s2, { accessToken: 'expired' }), deps).call('pdd.order.information.get', {
        order_sn: 'x',
      }),
    ).rejects.toMatchObject({ action: 'refresh_token' });
    const skewed = { ...deps, clock: { now: () => new Date(t.nowMs() + 11 * 60_000) } };
    await expect(
      new PddClient(configFor(s2), skewed).call('pdd.order.information.get', { order_sn: 'x' }),
    ).rejects.toMatchObject({ action: 'config_error', code: '10001|10001' });
  });

  it('records stock pushes per SKU; an unknown SKU fails alone', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs });
    const [a, b] = s.listings();
    const r = await connect(s, t.clock).pushStock([
      { listing: { listingId: a!.listingId }, quantity: 7 },
      { listing: { listingId: '612000000001:999' }, quantity: 1 },
      { listing: { listingId: b!.listingId }, quantity: 0 },
    ]);
    expect(r.map((x) => x.status)).toEqual(['ok', 'failed', 'ok']);
    expect(s.pushes.map((p) => [`${p.goodsId}:${p.skuId}`, p.quantity, p.updateType])).toEqual([
      [a!.listingId, 7, 1],
      [b!.listingId, 0, 1],
    ]);
  });

  it('reads back what was pushed, one pdd.goods.detail.get per goods; a sale shows as a decrement', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs });
    // Listings come goods by goods, three SKUs each: a and b share a goods, d is the next goods.
    const [a, b, , d] = s.listings().map((l) => ({ listingId: l.listingId }));
    const goodsOf = (l: { listingId: string }) => l.listingId.split(':')[0]!;
    const c = connect(s, t.clock);
    await c.pushStock([
      { listing: a!, quantity: 9 },
      { listing: d!, quantity: 4 },
    ]);
    await expect(c.readStock!([a!, d!])).resolves.toEqual([
      { listing: a, ok: true, quantity: 9 },
      { listing: d, ok: true, quantity: 4 },
    ]);
    s.sell(a!.listingId, 2);
    const before = s.calls.length;
    const unknownSku = { listingId: `${goodsOf(a!)}:999` };
    const unknownGoods = { listingId: '612999999999:1' };
    const r = await c.readStock!([a!, unknownGoods, d!, b!, unknownSku]);
    expect(r.slice(0, 4)).toEqual([
      { listing: a, ok: true, quantity: 7 },
      { listing: unknownGoods, ok: false, error: expect.stringContaining('52101') },
      { listing: d, ok: true, quantity: 4 },
      { listing: b, ok: true, quantity: 100 },
    ]);
    expect(r[4]).toEqual({ listing: unknownSku, ok: false, error: expect.stringContaining('SKU 999') });
    expect(s.calls.slice(before).map((x) => [x.type, x.params.goods_id, x.code])).toEqual([
      ['pdd.goods.detail.get', goodsOf(a!), undefined],
      ['pdd.goods.detail.get', '612999999999', 52101],
      ['pdd.goods.detail.get', goodsOf(d!), undefined],
    ]);
    expect(s.quantity(a!.listingId)).toBe(7);
  });

  it('delivers a signed PMC message that verifies; a tampered one is rejected', async () => {
    const got: { headers: http.IncomingHttpHeaders; body: Buffer }[] = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        got.push({ headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(200).end();
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
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs, webhookUrl: `http://127.0.0.1:${port}/hooks/pinduoduo` });
    const [sn] = s.generateOrders(1);
    await expect(s.deliverMessage('pdd_refund_RefundCreated', sn!)).resolves.toBe(200);
    const c = connect(s, t.clock);
    const raw = got[0]!;
    const r = c.parseWebhook({ headers: raw.headers, body: raw.body });
    expect(r).toMatchObject({ ok: true, topic: 'pdd_refund_RefundCreated', shop: s.mallId });
    if (r.ok)
      expect(r.events).toEqual([{ kind: 'refetch_order', platformOrderId: sn, reason: expect.any(String) }]);
    const tampered = Buffer.from(raw.body.toString('utf8').replace(sn!, `${sn!.slice(0, -1)}9`));
    expect(c.parseWebhook({ headers: raw.headers, body: tampered })).toMatchObject({
      ok: false,
      status: 401,
    });
    await expect(c.fetchOrder(sn!)).resolves.toMatchObject({ platformOrderId: sn });
  });
});
