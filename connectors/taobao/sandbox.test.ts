/**
 * The Taobao connector against its sandbox over real HTTP: the sandbox checks signatures, skew,
 * windows and paging with its own code, so the two sides check each other.
 */
import http from 'node:http';
import axios, { type AxiosInstance } from 'axios';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { CanonicalOrder } from '../../src/domain/order.js';
import { apportionOrder } from '../../src/domain/promotions.js';
import { type Clock, type Connector, type OrderPage, RateLimitedError } from '../contract.js';
import { installLeakGuard } from '../testing/leak-guard.js';
import { TopClient } from './client.js';
import { type TaobaoConfigInput, taobaoConfigSchema } from './config.js';
import { createTaobaoConnector } from './connector.js';
import { decodeCursor } from './pagination.js';
import { TaobaoSandbox, type TaobaoSandboxOptions } from './sandbox.js';

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

async function sandbox(options: TaobaoSandboxOptions): Promise<TaobaoSandbox> {
  const s = new TaobaoSandbox({
    throttle: { capacity: 100_000, refillPerSecond: 10_000, banSeconds: 1 },
    ...options,
  });
  await s.start();
  cleanups.push(() => s.stop());
  return s;
}

function connect(
  s: TaobaoSandbox,
  clock: Clock,
  patch: Partial<TaobaoConfigInput> = {},
  httpClient: AxiosInstance = axios.create(),
): Connector {
  const config = taobaoConfigSchema.parse({
    sellerNick: s.sellerNick,
    appKey: s.appKey,
    appSecret: s.appSecret,
    session: s.session,
    gatewayUrl: s.gatewayUrl,
    relaySecret: s.relaySecret,
    pageSize: 7,
    windowMinutes: 30,
    initialLookbackDays: 1,
    maxPagesPerPull: 10_000,
    ...patch,
  });
  return createTaobaoConnector(config, { http: httpClient, log: pino({ level: 'silent' }), clock });
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
  return { got, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks/taobao` };
}

/** The list calls of one pull, grouped by window, as page_no sequences. */
function pagingByWindow(s: TaobaoSandbox, from = 0): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const c of s.calls.slice(from)) {
    if (c.method !== 'taobao.trades.sold.increment.get' || c.params.use_has_next) continue;
    const key = `${c.params.start_modified}..${c.params.end_modified}`;
    out.set(key, [...(out.get(key) ?? []), Number(c.params.page_no)]);
  }
  return out;
}

describe('incremental pull against the sandbox', () => {
  it('pulls every generated order exactly once across many windows and backward pages', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs, seed: 7 });
    const made = s.generateOrders(150);
    const c = connect(s, t.clock);
    const { pages, orders, ids, cursor } = await pullAll(c, null);
    expect(pages.flatMap((p) => p.rejects)).toEqual([]);
    expect(ids).toHaveLength(150);
    expect(new Set(ids)).toEqual(new Set(made));
    expect(pages.at(-1)!.caughtUp).toBe(true);
    expect(decodeCursor(cursor)).toEqual({ watermark: '2025-11-11T04:00:00.000Z' });

    // One day plus the 10-minute overlap in 30-minute windows = 49; a window of n > 1 pages is
    // read 1 (probe), n, n-1, ..., 1.
    const paging = pagingByWindow(s);
    expect(paging.size).toBe(49);
    let multi = 0;
    for (const seq of paging.values()) {
      if (seq.length === 1) expect(seq).toEqual([1]);
      else {
        multi++;
        const n = seq.length - 1;
        expect(seq).toEqual([1, ...Array.from({ length: n }, (_, i) => n - i)]);
      }
    }
    expect(multi).toBeGreaterThan(3);
    // Each page reports the requests it took (list calls, one trade.fullinfo.get per listed
    // trade, refund.get per refund), so the core can count them: together, every call served.
    expect(pages.reduce((n, p) => n + (p.requests ?? 1), 0)).toBe(s.calls.length);
    expect(pages.some((p) => (p.requests ?? 1) > 7)).toBe(true);

    // Every order adds up, and the generator's mix is all there.
    for (const o of orders) expect(apportionOrder(o).issues, o.platformOrderId).toEqual([]);
    const has = (f: (o: CanonicalOrder) => boolean) => orders.some(f);
    expect(
      has((o) => o.promotions.some((p) => p.kind === 'threshold' && (p.allocations?.length ?? 0) > 1)),
    ).toBe(true);
    expect(has((o) => o.promotions.some((p) => p.kind === 'coupon'))).toBe(true);
    expect(has((o) => o.lines.some((l) => l.gift && !l.lineId.startsWith('gift-')))).toBe(true);
    expect(has((o) => o.lines.some((l) => l.lineId.startsWith('gift-')))).toBe(true);
    expect(has((o) => o.lines.some((l) => l.lineDiscounts.some((d) => d.kind === 'manual_adjustment')))).toBe(
      true,
    );
    expect(has((o) => o.status === 'cancelled' && o.refunds.length > 0)).toBe(true);
    expect(has((o) => o.status === 'cancelled' && o.refunds.length === 0)).toBe(true);
    expect(has((o) => o.status === 'paid' && o.refunds.some((r) => r.status === 'succeeded'))).toBe(true);
    expect(has((o) => o.refunds.some((r) => r.status === 'requested' && r.goodsReturn === 'expected'))).toBe(
      true,
    );
    expect(has((o) => o.status === 'partially_shipped')).toBe(true);
    for (const st of ['pending_payment', 'paid', 'shipped', 'completed'] as const) {
      expect(
        has((o) => o.status === st),
        st,
      ).toBe(true);
    }
  });

  it('a trade modified while its window is read backwards is not lost (it moves to the next pull)', async () => {
    const t = manualClock();
    // Everything in the last 20 minutes: one busy window of many pages.
    const s = await sandbox({ now: t.nowMs, seed: 11, spreadMs: 20 * 60_000 });
    const made = s.generateOrders(40, { lifecycle: false });
    let moved: string | undefined;
    const httpClient = axios.create();
    httpClient.interceptors.response.use((res) => {
      const body = String(res.config.data ?? '');
      const f = new URLSearchParams(body);
      // After the first backward read (the last page), move the newest trade (page 1) out of the window.
      if (!moved && f.get('method') === 'taobao.trades.sold.increment.get' && f.get('page_no') !== '1') {
        const newest = made
          .map((tid) => ({ tid, json: JSON.parse(s.tradeJson(tid)!.replace(/"tid":(\d+)/, '"tid":"$1"')) }))
          .sort((a, b) => (a.json.trade.modified < b.json.trade.modified ? 1 : -1))[0]!;
        t.advance(2000);
        s.touch(newest.tid, 'TRADE_CLOSED_BY_TAOBAO');
        moved = newest.tid;
      }
      return res;
    });
    const c = connect(s, t.clock, { pageSize: 5, overlapMs: 0 }, httpClient);
    const first = await pullAll(c, new Date(t.nowMs() - 30 * 60_000).toISOString());
    expect(moved).toBeDefined();
    // Every other trade arrived exactly once in spite of the shift.
    expect(new Set(first.ids)).toEqual(new Set(made.filter((x) => x !== moved)));
    expect(first.ids).toHaveLength(39);
    t.advance(1000);
    const second = await pullAll(c, first.cursor);
    expect(second.ids).toEqual([moved]);
    expect(second.orders[0]!.status).toBe('cancelled');
  });

  it('the next pull reads what changed since the cursor plus the overlap; a clock jumping back loses nothing', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs, seed: 5, spreadMs: 20 * 60_000 });
    s.generateOrders(20);
    const c = connect(s, t.clock);
    const first = await pullAll(c, null);
    expect(first.ids).toHaveLength(20);
    t.advance(3600_000);
    const fresh = s.generateOrders(6);
    const second = await pullAll(c, first.cursor);
    expect(second.ids).toEqual(expect.arrayContaining(fresh));
    const overlapStart = Date.parse(decodeCursor(first.cursor)!.watermark) - 600_000;
    for (const o of second.orders) {
      if (!fresh.includes(o.platformOrderId))
        expect(Date.parse(o.platformModifiedAt!)).toBeGreaterThanOrEqual(overlapStart);
    }
    t.advance(-7200_000);
    const back = await pullAll(c, second.cursor);
    expect(back.ids).toEqual([]);
    expect(back.pages.at(-1)!.caughtUp).toBe(true);
    expect(back.cursor).toBe(second.cursor);
  });
});

describe('the sandbox enforces TOP rules; the connector classifies its answers', () => {
  it('accepts md5, hmac and hmac-sha256 signatures; rejects a wrong secret (25), a bad session (27), a skewed clock (31)', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs });
    for (const signMethod of ['md5', 'hmac', 'hmac-sha256'] as const) {
      await expect(connect(s, t.clock, { signMethod }).checkConnection()).resolves.toMatchObject({
        ok: true,
      });
    }
    await expect(
      connect(s, t.clock, { appSecret: 'not-the-secret' }).checkConnection(),
    ).resolves.toMatchObject({
      ok: false,
      action: 'config_error',
      error: expect.stringContaining('25|'),
    });
    await expect(connect(s, t.clock, { session: 'expired' }).checkConnection()).resolves.toMatchObject({
      ok: false,
      action: 'refresh_token',
    });
    const skewed: Clock = { now: () => new Date(t.nowMs() + 11 * 60_000) };
    await expect(connect(s, skewed).checkConnection()).resolves.toMatchObject({
      ok: false,
      action: 'config_error',
      error: expect.stringContaining('31|'),
    });
    const nineMinutes: Clock = { now: () => new Date(t.nowMs() - 9 * 60_000) };
    await expect(connect(s, nineMinutes).checkConnection()).resolves.toMatchObject({ ok: true });
  });

  it('refuses a window longer than one day', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs });
    const cfg = taobaoConfigSchema.parse({
      sellerNick: s.sellerNick,
      appKey: s.appKey,
      appSecret: s.appSecret,
      session: s.session,
      gatewayUrl: s.gatewayUrl,
      relaySecret: s.relaySecret,
    });
    const client = new TopClient(cfg, {
      http: axios.create(),
      log: pino({ level: 'silent' }),
      clock: t.clock,
    });
    await expect(
      client.call('taobao.trades.sold.increment.get', {
        fields: 'tid',
        start_modified: '2025-11-10 00:00:00',
        end_modified: '2025-11-11 00:00:01',
      }),
    ).rejects.toMatchObject({ action: 'config_error', code: '41|isv.invalid-parameter:start_modified' });
  });

  it('throttles with code 7 and a ban message; the connector waits as told', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs, throttle: { capacity: 2, refillPerSecond: 1, banSeconds: 3 } });
    const [tid] = s.generateOrders(1);
    const c = connect(s, t.clock);
    await c.fetchOrder(tid!);
    await c.fetchOrder(tid!);
    const err = await c.fetchOrder(tid!).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).toBe(3000);
    t.advance(1000);
    await expect(c.fetchOrder(tid!)).rejects.toMatchObject({ retryAfterMs: 2000 });
    t.advance(2000);
    await expect(c.fetchOrder(tid!)).resolves.toMatchObject({ platformOrderId: tid });
  });

  it('serves the docs worked example, mapped with its 1.99 / 3.01 split', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs });
    const tid = s.createWorkedExample();
    const o = await connect(s, t.clock).fetchOrder(tid);
    expect(o?.buyerPaidTotal).toBe(19800);
    const p = o?.promotions[0];
    expect(p?.kind !== 'gift' && p?.allocations?.map((a) => a.amount)).toEqual([199, 301]);
    expect(apportionOrder(o!).lines.map((l) => l.buyerPaid)).toEqual([7701, 11599]);
  });
});

describe('stock push against the sandbox', () => {
  it('records absolute sets per SKU and item; an unknown SKU in a batch fails alone', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs });
    const c = connect(s, t.clock);
    const item = s.items[0]!;
    const plain = s.items.find((i) => i.skus.length === 0)!;
    const results = await c.pushStock([
      { listing: { listingId: `${item.numIid}:${item.skus[0]!.skuId}` }, quantity: 5 },
      { listing: { listingId: `${item.numIid}:999` }, quantity: 6 },
      { listing: { listingId: `${item.numIid}:${item.skus[2]!.skuId}` }, quantity: 0 },
      { listing: { listingId: plain.numIid }, quantity: 42 },
      { listing: { listingId: '600999999999' }, quantity: 1 },
    ]);
    expect(results.map((r) => r.status)).toEqual(['ok', 'failed', 'ok', 'ok', 'failed']);
    expect(results[1]).toMatchObject({ action: 'config_error', code: '15|isv.sku-not-exist' });
    expect(results[4]).toMatchObject({ action: 'config_error', code: '15|isv.item-not-exist' });
    expect(s.pushes.map((p) => [p.skuId ?? p.numIid, p.quantity, p.method])).toEqual([
      [item.skus[0]!.skuId, 5, 'taobao.item.quantity.update'],
      [item.skus[2]!.skuId, 0, 'taobao.item.quantity.update'],
      [plain.numIid, 42, 'taobao.item.quantity.update'],
    ]);
    // A clean batch goes in one skus.quantity.update call.
    const before = s.calls.length;
    await c.pushStock(
      item.skus.map((k, i) => ({ listing: { listingId: `${item.numIid}:${k.skuId}` }, quantity: 10 + i })),
    );
    expect(s.calls.slice(before).map((x) => x.method)).toEqual(['taobao.skus.quantity.update']);
    expect(item.skus.map((k) => s.quantity(`${item.numIid}:${k.skuId}`))).toEqual([10, 11, 12]);
  });
});

describe('stock read against the sandbox', () => {
  it('reads back pushed quantities in one call; sales and edits show; unknown listings fail alone', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs });
    const c = connect(s, t.clock);
    const item = s.items[0]!;
    const plain = s.items.find((i) => i.skus.length === 0)!;
    const sku0 = `${item.numIid}:${item.skus[0]!.skuId}`;
    const pushed = await c.pushStock([
      { listing: { listingId: sku0 }, quantity: 5 },
      { listing: { listingId: plain.numIid }, quantity: 42 },
    ]);
    expect(pushed.map((r) => r.status)).toEqual(['ok', 'ok']);
    const before = s.calls.length;
    const read = await c.readStock!(
      [sku0, plain.numIid, `${item.numIid}:999`, '600999999999', item.numIid].map((listingId) => ({
        listingId,
      })),
    );
    // The item listing reads the item's num: the sum of its SKUs (5 + 100 + 100).
    expect(read.map((r) => (r.ok ? r.quantity : null))).toEqual([5, 42, null, null, 205]);
    expect(s.calls.slice(before)).toEqual([
      {
        method: 'taobao.items.seller.list.get',
        params: expect.objectContaining({
          num_iids: `${item.numIid},${plain.numIid},600999999999`,
          fields: 'num_iid,num,sku',
        }),
      },
    ]);

    s.sell(sku0, 2);
    s.sell(plain.numIid, 40);
    s.setQuantity(`${item.numIid}:${item.skus[1]!.skuId}`, 7);
    const after = await c.readStock!(
      [sku0, plain.numIid, `${item.numIid}:${item.skus[1]!.skuId}`].map((listingId) => ({ listingId })),
    );
    expect(after.map((r) => (r.ok ? r.quantity : null))).toEqual([3, 2, 7]);

    s.faults({ rate429: 1 });
    await expect(c.readStock!([{ listingId: sku0 }])).rejects.toBeInstanceOf(RateLimitedError);
    s.faults(null);
  });
});

describe('multi-line buyer trades in the sandbox', () => {
  it('sellLines places one paid trade of a sub-order per line, or nothing and takes no units', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs });
    const c = connect(s, t.clock);
    const [a, b, d] = s.listings();
    const have = () => [a, b, d].map((x) => s.quantity(x!.listingId));
    const before = have();
    const tid = s.sellLines([
      { listingId: a!.listingId, quantity: 2 },
      { listingId: b!.listingId, quantity: 1 },
    ]);
    const fetched = await c.fetchOrder(tid);
    expect(fetched?.status).toBe('paid');
    expect(
      fetched?.lines.map((l) => [
        `${l.platformItemId}${l.platformSkuId ? `:${l.platformSkuId}` : ''}`,
        l.quantity,
      ]),
    ).toEqual([
      [a!.listingId, 2],
      [b!.listingId, 1],
    ]);
    expect(have()).toEqual([before[0]! - 2, before[1]! - 1, before[2]]);
    expect(() =>
      s.sellLines([
        { listingId: d!.listingId, quantity: 1 },
        { listingId: b!.listingId, quantity: before[1]! },
      ]),
    ).toThrow(/cannot sell/);
    expect(have()).toEqual([before[0]! - 2, before[1]! - 1, before[2]]);
  });
});

describe('TMC hints from the sandbox', () => {
  it('delivers a signed hint that verifies and names the trade; tampered or foreign copies are rejected', async () => {
    const t = manualClock();
    const rx = await receiver();
    const s = await sandbox({ now: t.nowMs, webhookUrl: rx.url });
    const c = connect(s, t.clock);
    const [tid] = s.generateOrders(1);
    const h = await s.deliverHint('taobao_trade_TradeBuyerPay', tid!);
    expect(h.status).toBe(200);
    const raw = rx.got[0]!;
    const r = c.parseWebhook({ headers: raw.headers, body: raw.body });
    expect(r).toMatchObject({
      ok: true,
      topic: 'taobao_trade_TradeBuyerPay',
      dedupeKey: `taobao:tmc:${h.messageId}`,
      shop: s.sellerNick,
      events: [{ kind: 'refetch_order', platformOrderId: tid }],
    });
    await expect(c.fetchOrder(tid!)).resolves.toMatchObject({ platformOrderId: tid });

    const tampered = Buffer.from(raw.body);
    tampered.writeUInt8(tampered.readUInt8(20) ^ 1, 20);
    expect(c.parseWebhook({ headers: raw.headers, body: tampered })).toMatchObject({
      ok: false,
      status: 401,
    });
    const foreign = s.hintFor('taobao_trade_TradeBuyerPay', tid!, 'somebody-elses-secret');
    expect(c.parseWebhook({ headers: foreign.headers, body: foreign.body })).toMatchObject({
      ok: false,
      status: 401,
    });
    const other = s.hintFor('taobao_item_ItemUpdate', tid!);
    expect(c.parseWebhook(other)).toMatchObject({ ok: true, events: [] });
  });
});

describe('shipment against the sandbox', () => {
  it('ships a paid trade (recorded, now shipped); again -> nothing_to_ship; unknown -> order_not_found; partial by sub-order', async () => {
    const t = manualClock();
    const s = await sandbox({ now: t.nowMs, seed: 3 });
    const c = connect(s, t.clock);
    const paid = s.generateOrders(30).filter((tid) => s.tradeStatus(tid) === 'WAIT_SELLER_SEND_GOODS');
    const [a] = paid;
    await expect(
      c.confirmShipment({ platformOrderId: a!, carrier: 'YTO', trackingNumber: 'YT0001' }),
    ).resolves.toMatchObject({
      ok: true,
    });
    expect(s.trackingNumbers(a!)).toEqual(['YT0001']);
    expect((await c.fetchOrder(a!))?.status).toBe('shipped');
    await expect(
      c.confirmShipment({ platformOrderId: a!, carrier: 'YTO', trackingNumber: 'YT0002' }),
    ).resolves.toMatchObject({
      ok: false,
      reason: 'nothing_to_ship',
    });
    await expect(
      c.confirmShipment({ platformOrderId: '4100000000000000001', carrier: 'YTO', trackingNumber: 'x' }),
    ).resolves.toMatchObject({ ok: false, reason: 'order_not_found' });

    let partial: CanonicalOrder | null = null;
    for (const tid of paid.slice(1)) {
      const o = await c.fetchOrder(tid);
      const open = o!.lines.filter((l) => !l.gift && l.shippedQuantity === 0);
      if (open.length < 2) continue;
      const r = await c.confirmShipment({
        platformOrderId: tid,
        carrier: 'ZTO',
        trackingNumber: 'ZT0001',
        lines: [{ platformLineId: open[0]!.lineId }],
      });
      expect(r.ok).toBe(true);
      partial = await c.fetchOrder(tid);
      break;
    }
    expect(partial?.status).toBe('partially_shipped');
  });
});
