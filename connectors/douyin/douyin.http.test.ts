/**
 * The Douyin connector at its HTTP edge, against nock: Doudian's documented request form
 * (notes §5.1) and response shapes, net connect disabled, every scope asserted done.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import axios from 'axios';
import nock from 'nock';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type Clock,
  type Connector,
  ConnectorConfigError,
  type OrderPage,
  type PushResult,
  RateLimitedError,
  RefreshTokenError,
  RetryableError,
} from '../contract.js';
import { installLeakGuard } from '../testing/leak-guard.js';
import { canonicalJson, parseDoudianJson, signDoudian } from './client.js';
import { type DouyinConfigInput, douyinConfigSchema } from './config.js';
import { createDouyinConnector } from './connector.js';
import { decodeCursor, splitWindows } from './pagination.js';
import { verifyPushSignature } from './webhook.js';

installLeakGuard();

const GW = 'https://openapi-fxg.jinritemai.com';
const NOW = new Date(1731254405 * 1000); // 2024-11-10T16:00:05Z
const clock: Clock = { now: () => NOW };
const config = (patch: Partial<DouyinConfigInput> = {}) =>
  douyinConfigSchema.parse({
    shopId: '77977',
    appKey: '7123456789',
    appSecret: 'test-secret',
    accessToken: 'tok',
    lagMs: 5000,
    overlapMs: 0,
    ...patch,
  });
const connector = (patch: Partial<DouyinConfigInput> = {}): Connector =>
  createDouyinConnector(config(patch), { http: axios.create(), log: pino({ level: 'silent' }), clock });
/** Watermark 15:00:00Z; with lag 5 s "now" is 16:00:00Z: exactly one one-hour window. */
const ONE_WINDOW = JSON.stringify({ v: 1, watermark: '2024-11-10T15:00:00.000Z' });

const fixtureText = readFileSync(new URL('./fixtures/search-list.json', import.meta.url), 'utf8');
const fixture = (parseDoudianJson(fixtureText) as { data: { shop_order_list: Record<string, unknown>[] } })
  .data.shop_order_list[0]!;
const orderWithId = (id: string, update = 1731251000) => ({ ...fixture, order_id: id, update_time: update });
const ok = (data: unknown) => ({
  code: 10000,
  msg: 'success',
  sub_code: '',
  sub_msg: '',
  log_id: 'l1',
  data,
});
const fail = (code: number, sub_code: string, sub_msg = '') => ({
  code,
  msg: 'fail',
  sub_code,
  sub_msg,
  log_id: 'l2',
  data: {},
});
const body = (b: unknown) =>
  typeof b === 'string' ? (JSON.parse(b) as Record<string, unknown>) : (b as Record<string, unknown>);

const outcome = (results: PushResult[]) => results.map((r) => (r.status === 'failed' ? r.action : r.status));

async function collect(gen: AsyncGenerator<OrderPage>): Promise<OrderPage[]> {
  const pages: OrderPage[] = [];
  for await (const p of gen) pages.push(p);
  return pages;
}

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());
afterAll(() => {
  nock.enableNetConnect();
  nock.restore();
});

describe('Doudian v2 signing', () => {
  // Vectors computed independently in the shell:
  //   PJ='{"order_asc":true,"order_by":"update_time","page":0,"size":100,"update_time_end":1731254400,"update_time_start":1731250800}'
  //   printf '%s' "test-secretapp_key7123456789methodorder.searchListparam_json${PJ}timestamp1731254405v2test-secret" \
  //     | openssl dgst -sha256 -hmac test-secret
  //   and python3: json.dumps(params, sort_keys=True, separators=(',',':'), ensure_ascii=False), then
  //   hmac.new(secret, secret+pattern+secret, sha256).hexdigest() for both vectors.
  it('matches the independently computed HMAC-SHA256 vectors', () => {
    const pj = canonicalJson({
      size: 100,
      page: 0,
      update_time_start: 1731250800,
      update_time_end: 1731254400,
      order_by: 'update_time',
      order_asc: true,
    });
    expect(pj).toBe(
      '{"order_asc":true,"order_by":"update_time","page":0,"size":100,"update_time_end":1731254400,"update_time_start":1731250800}',
    );
    const base = { appKey: '7123456789', appSecret: 'test-secret', timestamp: '1731254405' };
    expect(signDoudian({ ...base, method: 'order.searchList', paramJson: pj })).toBe(
      '1565bbc5286994e3347b10cc2740e72dc0bae85216cd5364b66bead20e271ca4',
    );
    // Keys sorted at every level, a bigint written bare, <, > and & not escaped, UTF-8 kept.
    const pj2 = canonicalJson({
      stock_num: 5,
      sku_id: 1730000000000,
      product_id: 3473196049974326307n,
      note: '<a&b> 绿茶',
      incremental: false,
    });
    expect(pj2).toBe(
      '{"incremental":false,"note":"<a&b> 绿茶","product_id":3473196049974326307,"sku_id":1730000000000,"stock_num":5}',
    );
    expect(signDoudian({ ...base, method: 'sku.syncStock', paramJson: pj2 })).toBe(
      'a92b86b6ae9f37873ba2dfd8bb514bcdf9b6137f9ad5a9ec7c2a01d520adf2ed',
    );
    expect(canonicalJson({ b: { z: 1, a: [{ y: 2, x: 1 }] }, a: null })).toBe(
      '{"a":null,"b":{"a":[{"x":1,"y":2}],"z":1}}',
    );
  });

  it('verifies the push md5 vector: md5(app_key + body + app_secret)', () => {
    // python3: hashlib.md5(b'7123456789' + body + b'test-secret').hexdigest()
    const raw = Buffer.from(
      '[{"tag":"110","msg_id":"m-1","data":"{\\"p_id\\":6920000000000000000,\\"order_status\\":2}"}]',
    );
    expect(verifyPushSignature(raw, 'df983902b98e8d36f153c02fbf34f02e', '7123456789', 'test-secret')).toBe(
      true,
    );
    expect(verifyPushSignature(raw, 'DF983902B98E8D36F153C02FBF34F02E', '7123456789', 'test-secret')).toBe(
      false,
    );
    const c = connector();
    const r = c.parseWebhook({
      headers: { 'app-id': '7123456789', 'event-sign': 'df983902b98e8d36f153c02fbf34f02e' },
      body: raw,
    });
    expect(r).toMatchObject({
      ok: true,
      dedupeKey: 'douyin:msg:m-1',
      topic: 'doudian_trade_TradePaid',
      events: [{ kind: 'refetch_order', platformOrderId: '6920000000000000000' }],
    });
  });
});

describe('incremental pull', () => {
  it('sends the documented request form and maps the page', async () => {
    let seenQuery: Record<string, string> = {};
    let seenBody = '';
    const scope = nock(GW)
      .post('/order/searchList', (b) => {
        seenBody = typeof b === 'string' ? b : JSON.stringify(b);
        return true;
      })
      .query((q) => {
        seenQuery = q as Record<string, string>;
        return true;
      })
      .reply(200, fixtureText, { 'content-type': 'application/json' });
    const pages = await collect(connector().pullOrders(ONE_WINDOW));
    expect(scope.isDone()).toBe(true);
    expect(seenQuery).toEqual({
      app_key: '7123456789',
      method: 'order.searchList',
      access_token: 'tok',
      timestamp: '1731254405',
      v: '2',
      sign_method: 'hmac-sha256',
      sign: '1565bbc5286994e3347b10cc2740e72dc0bae85216cd5364b66bead20e271ca4',
    });
    expect(JSON.parse(seenBody)).toEqual({
      order_asc: true,
      order_by: 'update_time',
      page: 0,
      size: 100,
      update_time_end: 1731254400,
      update_time_start: 1731250800,
    });
    expect(pages).toHaveLength(1);
    expect(pages[0]!.caughtUp).toBe(true);
    expect(pages[0]!.orders.map((o) => o.platformOrderId)).toEqual(['6920000000000001000']);
    // product_id above 2^53 survived exactly.
    expect(pages[0]!.orders[0]!.lines[0]!.platformItemId).toBe('3473196049974326307');
    expect(decodeCursor(pages[0]!.nextCursor)).toEqual({ watermark: '2024-11-10T16:00:00.000Z' });
  });

  it('pages forward from page 0 until the last page, then advances the watermark', async () => {
    const scope = nock(GW)
      .post('/order/searchList', (b) => body(b).page === 0)
      .query(true)
      .reply(200, ok({ page: 0, size: 2, total: 3, shop_order_list: [orderWithId('1'), orderWithId('2')] }))
      .post('/order/searchList', (b) => body(b).page === 1)
      .query(true)
      .reply(200, ok({ page: 1, size: 2, total: 3, shop_order_list: [orderWithId('3')] }));
    const pages = await collect(connector({ pageSize: 2 }).pullOrders(ONE_WINDOW));
    expect(scope.isDone()).toBe(true);
    expect(pages.map((p) => p.orders.map((o) => o.platformOrderId))).toEqual([['1', '2'], ['3']]);
    expect(pages.map((p) => p.caughtUp)).toEqual([false, true]);
    // The first page does not move the watermark past the unread page.
    expect(decodeCursor(pages[0]!.nextCursor)!.watermark).toBe('2024-11-10T15:00:00.000Z');
    expect(decodeCursor(pages[1]!.nextCursor)!.watermark).toBe('2024-11-10T16:00:00.000Z');
  });

  it('re-reads the window from page 0 when its total dropped mid-scan', async () => {
    const scope = nock(GW)
      .post('/order/searchList', (b) => body(b).page === 0)
      .query(true)
      .reply(200, ok({ total: 3, shop_order_list: [orderWithId('1'), orderWithId('2')] }))
      .post('/order/searchList', (b) => body(b).page === 1)
      .query(true)
      .reply(200, ok({ total: 2, shop_order_list: [] }))
      .post('/order/searchList', (b) => body(b).page === 0)
      .query(true)
      .reply(200, ok({ total: 2, shop_order_list: [orderWithId('2'), orderWithId('3')] }));
    const pages = await collect(connector({ pageSize: 2 }).pullOrders(ONE_WINDOW));
    expect(scope.isDone()).toBe(true);
    expect(pages.flatMap((p) => p.orders.map((o) => o.platformOrderId))).toEqual(['1', '2', '3']);
    expect(pages.at(-1)!.caughtUp).toBe(true);
  });

  it('splits a long span into one-hour windows', async () => {
    expect(splitWindows(0, 9000_000, 3600_000)).toEqual([
      { start: 0, end: 3600_000 },
      { start: 3600_000, end: 7200_000 },
      { start: 7200_000, end: 9000_000 },
    ]);
    const windows: [number, number][] = [];
    const scope = nock(GW)
      .post('/order/searchList', (b) => {
        const p = body(b);
        windows.push([p.update_time_start as number, p.update_time_end as number]);
        return true;
      })
      .query(true)
      .times(3)
      .reply(200, ok({ total: 0, shop_order_list: [] }));
    const cursor = JSON.stringify({ v: 1, watermark: '2024-11-10T13:30:00.000Z' });
    const pages = await collect(connector().pullOrders(cursor));
    expect(scope.isDone()).toBe(true);
    expect(windows).toEqual([
      [1731245400, 1731249000],
      [1731249000, 1731252600],
      [1731252600, 1731254400],
    ]);
    expect(pages.map((p) => p.caughtUp)).toEqual([false, false, true]);
  });

  it('halves a window that needs more pages than allowed', async () => {
    const spans: number[] = [];
    const scope = nock(GW)
      .post('/order/searchList')
      .query(true)
      .times(3)
      .reply((_uri, b) => {
        const p = body(b);
        spans.push((p.update_time_end as number) - (p.update_time_start as number));
        return [200, ok({ total: spans.length === 1 ? 500 : 0, shop_order_list: [] })];
      });
    await collect(connector({ pageSize: 10, maxPagesPerWindow: 2 }).pullOrders(ONE_WINDOW));
    expect(scope.isDone()).toBe(true);
    expect(spans).toEqual([3600, 1800, 1800]);
  });

  it('reads the detail when a listed order comes without its SKU orders', async () => {
    const { sku_order_list: _dropped, ...partial } = fixture;
    const scope = nock(GW)
      .post('/order/searchList')
      .query(true)
      .reply(200, ok({ total: 1, shop_order_list: [partial] }))
      .post('/order/orderDetail', (b) => body(b).shop_order_id === '6920000000000001000')
      .query((q) => q.method === 'order.orderDetail')
      .reply(200, ok({ shop_order_detail: fixture }));
    const pages = await collect(connector().pullOrders(ONE_WINDOW));
    expect(scope.isDone()).toBe(true);
    expect(pages[0]!.orders[0]!.lines).toHaveLength(3);
  });
});

describe('error table', () => {
  const detail = () => nock(GW).post('/order/orderDetail').query(true);

  it('429 with Retry-After -> rate_limited with the wait', async () => {
    const scope = detail().reply(429, 'slow down', { 'retry-after': '3' });
    const err = await connector()
      .fetchOrder('1')
      .catch((e: unknown) => e);
    expect(scope.isDone()).toBe(true);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).toBe(3000);
  });

  it('a QPS-limit sub-code -> rate_limited with the default wait', async () => {
    const scope = detail().reply(200, fail(50001, 'isv.app-qps-limit'));
    const err = await connector()
      .fetchOrder('1')
      .catch((e: unknown) => e);
    expect(scope.isDone()).toBe(true);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).toBe(1000);
  });

  it('an expired access_token -> refresh_token', async () => {
    const scope = detail().reply(200, fail(30001, 'isv.access-token-expired'));
    await expect(connector().fetchOrder('1')).rejects.toBeInstanceOf(RefreshTokenError);
    expect(scope.isDone()).toBe(true);
  });

  it('a refused signature -> config_error, without leaking the token', async () => {
    const scope = detail().reply(200, fail(40004, 'isv.sign-invalid', 'sign does not match'));
    const err = await connector()
      .fetchOrder('1')
      .catch((e: unknown) => e);
    expect(scope.isDone()).toBe(true);
    expect(err).toBeInstanceOf(ConnectorConfigError);
    expect(String((err as Error).message)).not.toContain('tok');
  });

  it('platform-side errors, 5xx and network failures -> retry', async () => {
    const scope = detail()
      .reply(200, fail(20000, 'isp.service-error'))
      .post('/order/orderDetail')
      .query(true)
      .reply(502, 'bad gateway')
      .post('/order/orderDetail')
      .query(true)
      .replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    for (let i = 0; i < 3; i++)
      await expect(connector().fetchOrder('1')).rejects.toBeInstanceOf(RetryableError);
    expect(scope.isDone()).toBe(true);
  });

  it('an unknown order -> ignore, and fetchOrder gives null; the old err_no envelope is accepted', async () => {
    const scope = detail()
      .reply(200, fail(50002, 'isv.business-failed:order-not-exist'))
      .post('/order/orderDetail')
      .query(true)
      .reply(200, { err_no: 0, message: 'success', data: { shop_order_detail: fixture } });
    await expect(connector().fetchOrder('999')).resolves.toBeNull();
    await expect(connector().fetchOrder('6920000000000001000')).resolves.toMatchObject({ status: 'paid' });
    expect(scope.isDone()).toBe(true);
  });
});

describe('stock push', () => {
  const P1 = '3473196049974326307';
  const P2 = '3473196049974327307';
  const bodies: string[] = [];
  const capture = (b: unknown) => {
    bodies.push(typeof b === 'string' ? b : JSON.stringify(b));
    return true;
  };

  it("sets one product's SKUs in one sku.syncStockBatch call, a lone SKU with sku.syncStock", async () => {
    bodies.length = 0;
    const scope = nock(GW)
      .post('/sku/syncStockBatch', capture)
      .query((q) => q.method === 'sku.syncStockBatch')
      .reply(200, ok({}))
      .post('/sku/syncStock', capture)
      .query((q) => q.method === 'sku.syncStock')
      .reply(200, ok({}));
    const results = await connector().pushStock([
      { listing: { listingId: `${P1}:1730000000000` }, quantity: 4 },
      { listing: { listingId: `${P2}:1730000000100` }, quantity: 7 },
      { listing: { listingId: 'nope' }, quantity: 1 },
      { listing: { listingId: `${P1}:1730000000001` }, quantity: 0 },
    ]);
    expect(scope.isDone()).toBe(true);
    expect(outcome(results)).toEqual(['ok', 'ok', 'config_error', 'ok']);
    expect(results[3]).toMatchObject({ status: 'ok', quantity: 0 });
    // nock hands a parsed body back re-serialised; the raw text is checked through the sign in the sandbox tests.
    const batch = JSON.parse(bodies[0]!) as Record<string, unknown>;
    expect(batch).toMatchObject({ incremental: false });
    expect((batch.sku_sync_list as { stock_num: number }[]).map((x) => x.stock_num)).toEqual([4, 0]);
    expect(bodies[1]).toContain('"stock_num":7');
  });

  it('a refused batch (all or nothing) is sent again SKU by SKU: one bad SKU fails alone', async () => {
    const scope = nock(GW)
      .post('/sku/syncStockBatch')
      .query(true)
      .reply(200, fail(50002, 'isv.business-failed:sku-not-exist'))
      .post('/sku/syncStock')
      .query(true)
      .reply(200, ok({}))
      .post('/sku/syncStock')
      .query(true)
      .reply(200, fail(50002, 'isv.business-failed:sku-not-exist'))
      .post('/sku/syncStock')
      .query(true)
      .reply(200, fail(30001, 'isv.access-token-expired'));
    const results = await connector().pushStock([
      { listing: { listingId: `${P1}:1730000000000` }, quantity: 4 },
      { listing: { listingId: `${P1}:1` }, quantity: 1 },
      { listing: { listingId: `${P1}:1730000000001` }, quantity: 0 },
    ]);
    expect(scope.isDone()).toBe(true);
    expect(outcome(results)).toEqual(['ok', 'config_error', 'refresh_token']);
  });

  it('a later request failing as a whole marks its items; a SKU given twice goes alone', async () => {
    const scope = nock(GW)
      .post('/sku/syncStockBatch')
      .query(true)
      .reply(200, ok({}))
      .post('/sku/syncStockBatch')
      .query(true)
      .reply(200, fail(50001, 'isv.app-qps-limit'))
      .post('/sku/syncStock')
      .query(true)
      .reply(200, ok({}));
    const results = await connector().pushStock([
      { listing: { listingId: `${P1}:11` }, quantity: 1 },
      { listing: { listingId: `${P1}:12` }, quantity: 2 },
      { listing: { listingId: `${P2}:21` }, quantity: 3 },
      { listing: { listingId: `${P2}:22` }, quantity: 4 },
      { listing: { listingId: `${P1}:11` }, quantity: 5 },
    ]);
    expect(scope.isDone()).toBe(true);
    expect(outcome(results)).toEqual(['ok', 'ok', 'rate_limited', 'rate_limited', 'ok']);
  });

  it("keys stock batches by product, so the pusher sends one product's SKUs per request", () => {
    const c = connector();
    expect(c.stockBatchKey!({ listingId: `${P1}:11` })).toBe(P1);
    expect(c.stockBatchKey!({ listingId: `${P1}:12` })).toBe(P1);
    expect(c.stockBatchKey!({ listingId: `${P2}:11` })).toBe(P2);
    expect(c.stockBatchKey!({ listingId: 'nope' })).not.toBe(c.stockBatchKey!({ listingId: 'nope2' }));
  });

  it('throws when the first call fails as a whole (nothing applied)', async () => {
    const scope = nock(GW).post('/sku/syncStock').query(true).reply(200, fail(50001, 'isv.app-qps-limit'));
    await expect(
      connector().pushStock([{ listing: { listingId: '3473196049974326307:1730000000000' }, quantity: 4 }]),
    ).rejects.toBeInstanceOf(RateLimitedError);
    expect(scope.isDone()).toBe(true);
  });
});

describe('stock push: incremental changes', () => {
  const P1 = '3473196049974326307';
  const P2 = '3473196049974327307';
  const bodies: Record<string, unknown>[] = [];
  /** Parsed request bodies in call order; a big product_id loses digits in the parse, the same each time. */
  const capture = (b: unknown) => {
    bodies.push(body(b));
    return true;
  };
  const anyStock = /^\/sku\/syncStock(Batch)?$/;
  /** The documented derivation, written out independently of stock.ts. */
  const idOf = (key: string, productId: string, ...skuIds: string[]) =>
    createHash('sha256')
      .update(JSON.stringify([key, productId, ...skuIds]))
      .digest('hex')
      .slice(0, 32);
  const change = (listingId: string, quantity: number, delta: number, key = 'k1') => ({
    listing: { listingId },
    quantity,
    change: { delta, key },
  });
  const ids = () => bodies.map((b) => b.idempotent_id);

  it('sends incremental=true, a derived idempotent_id and the delta as stock_num (batch and single)', async () => {
    bodies.length = 0;
    const scope = nock(GW)
      .post('/sku/syncStockBatch', capture)
      .query((q) => q.method === 'sku.syncStockBatch')
      .reply(200, ok({}))
      .post('/sku/syncStock', capture)
      .query((q) => q.method === 'sku.syncStock')
      .reply(200, ok({}));
    const results = await connector().pushStock([
      change(`${P1}:1730000000000`, 3, -2),
      change(`${P2}:21`, 0, -1),
      change(`${P1}:10`, 9, 5),
      change(`${P1}:9`, 1, 0),
    ]);
    expect(scope.isDone()).toBe(true);
    expect(results).toEqual([
      { listing: { listingId: `${P1}:1730000000000` }, status: 'ok', quantity: 3 },
      { listing: { listingId: `${P2}:21` }, status: 'ok', quantity: 0 },
      { listing: { listingId: `${P1}:10` }, status: 'ok', quantity: 9 },
      { listing: { listingId: `${P1}:9` }, status: 'ok', quantity: 1 },
    ]);
    // Vectors from the shell: python3 -c "import hashlib,json; print(hashlib.sha256(json.dumps(
    //   ['k1','3473196049974326307','9','10','1730000000000'],separators=(',',':')).encode()).hexdigest()[:32])"
    //   and the same over ['k1','3473196049974327307','21'].
    expect(bodies[0]).toMatchObject({
      incremental: true,
      idempotent_id: '2511669485291e3f9b66b067aeab9356',
      // Sorted by SKU id (numerically), whatever the input order; stock_num is each delta.
      sku_sync_list: [
        { sku_id: 9, stock_num: 0 },
        { sku_id: 10, stock_num: 5 },
        { sku_id: 1730000000000, stock_num: -2 },
      ],
    });
    expect(bodies[1]).toEqual({
      product_id: Number(P2),
      sku_id: 21,
      stock_num: -1,
      incremental: true,
      idempotent_id: '590be7bace37673cf9e571ba99b6239e',
    });
  });

  it('the same updates in another order with the same key make the same requests; a new key, new ids', async () => {
    bodies.length = 0;
    const scope = nock(GW).post(anyStock, capture).query(true).times(6).reply(200, ok({}));
    const updates = (key: string) => [
      change(`${P1}:11`, 5, 1, key),
      change(`${P1}:12`, 5, -1, key),
      change(`${P2}:21`, 5, 2, key),
      change(`${P1}:13`, 5, 3, key),
    ];
    const sorted = (from: number) =>
      bodies
        .slice(from, from + 2)
        .map((b) => JSON.stringify(b))
        .sort();
    const c = connector();
    await c.pushStock(updates('k1'));
    await c.pushStock(updates('k1').reverse());
    await c.pushStock(updates('k2'));
    expect(scope.isDone()).toBe(true);
    expect(sorted(2)).toEqual(sorted(0));
    expect(new Set(ids().slice(0, 2))).toEqual(
      new Set([idOf('k1', P1, '11', '12', '13'), idOf('k1', P2, '21')]),
    );
    expect(new Set(ids().slice(4))).toEqual(
      new Set([idOf('k2', P1, '11', '12', '13'), idOf('k2', P2, '21')]),
    );
    expect(ids().slice(4)).not.toContain(ids()[0]);
    expect(ids().slice(4)).not.toContain(ids()[1]);
  });

  it('a refused change batch is not re-sent SKU by SKU: every change of it is refused', async () => {
    bodies.length = 0;
    const belowZero = fail(40001, 'isv.parameter-invalid:stock_num', 'stock would drop below 0');
    const scope = nock(GW)
      .post('/sku/syncStockBatch', capture)
      .query(true)
      .reply(200, belowZero)
      .post('/sku/syncStockBatch', capture)
      .query(true)
      .reply(200, ok({}));
    const results = await connector().pushStock([
      change(`${P1}:13`, 4, -1),
      change(`${P1}:12`, 2, -5),
      change(`${P2}:21`, 9, 2),
      change(`${P2}:22`, 8, 3),
    ]);
    // One request per product; none SKU by SKU (a resend of the set would then apply some twice).
    expect(scope.isDone()).toBe(true);
    expect(ids()).toEqual([idOf('k1', P1, '12', '13'), idOf('k1', P2, '21', '22')]);
    // The platform held less than 2 - (-5) = 7 or 4 - (-1) = 5: the core reads both back.
    expect(results.slice(0, 2)).toEqual([
      expect.objectContaining({ status: 'compare_mismatch', expected: 5 }),
      expect.objectContaining({ status: 'compare_mismatch', expected: 7 }),
    ]);
    expect((results[1] as { message: string }).message).toContain('isv.parameter-invalid:stock_num');
    expect(results.slice(2)).toEqual([
      { listing: { listingId: `${P2}:21` }, status: 'ok', quantity: 9 },
      { listing: { listingId: `${P2}:22` }, status: 'ok', quantity: 8 },
    ]);
  });

  it('a lone change to a SKU Doudian does not know, or refused over access, is not a refused change', async () => {
    const scope = nock(GW)
      .post('/sku/syncStock')
      .query(true)
      .reply(200, fail(50002, 'isv.business-failed:sku-not-exist'))
      .post('/sku/syncStock')
      .query(true)
      .reply(200, fail(40003, 'isv.permission-denied'));
    const results = await connector().pushStock([change(`${P1}:11`, 0, -3), change(`${P2}:21`, 5, 1)]);
    expect(scope.isDone()).toBe(true);
    expect(results).toEqual([
      expect.objectContaining({
        status: 'failed',
        action: 'config_error',
        code: '50002|isv.business-failed:sku-not-exist',
      }),
      expect.objectContaining({
        status: 'failed',
        action: 'config_error',
        code: '40003|isv.permission-denied',
      }),
    ]);
  });

  it('a lone change refused below 0 is a compare_mismatch, even as the first request', async () => {
    const scope = nock(GW)
      .post('/sku/syncStock')
      .query(true)
      .reply(200, fail(40001, 'isv.parameter-invalid:stock_num'));
    const results = await connector().pushStock([change(`${P1}:11`, 0, -3)]);
    expect(scope.isDone()).toBe(true);
    expect(results).toEqual([
      {
        listing: { listingId: `${P1}:11` },
        status: 'compare_mismatch',
        expected: 3,
        message: expect.stringContaining('40001|isv.parameter-invalid:stock_num'),
      },
    ]);
  });

  it('an absolute and a change update of one product go in two requests', async () => {
    bodies.length = 0;
    const scope = nock(GW)
      .post('/sku/syncStockBatch', capture)
      .query(true)
      .reply(200, ok({}))
      .post('/sku/syncStock', capture)
      .query(true)
      .reply(200, ok({}));
    const results = await connector().pushStock([
      { listing: { listingId: `${P1}:11` }, quantity: 4 },
      change(`${P1}:12`, 2, -1),
      { listing: { listingId: `${P1}:13` }, quantity: 6 },
    ]);
    expect(scope.isDone()).toBe(true);
    expect(outcome(results)).toEqual(['ok', 'ok', 'ok']);
    expect(bodies[0]).toMatchObject({
      incremental: false,
      sku_sync_list: [
        { sku_id: 11, stock_num: 4 },
        { sku_id: 13, stock_num: 6 },
      ],
    });
    expect(bodies[0]).not.toHaveProperty('idempotent_id');
    expect(bodies[1]).toMatchObject({
      sku_id: 12,
      stock_num: -1,
      incremental: true,
      idempotent_id: idOf('k1', P1, '12'),
    });
  });

  it('a bad delta, key or quantity, or a listing repeated under one key, fails alone without a call', async () => {
    bodies.length = 0;
    const scope = nock(GW).post('/sku/syncStock', capture).query(true).reply(200, ok({}));
    const results = await connector().pushStock([
      change(`${P1}:11`, 3, 1.5),
      change(`${P1}:12`, 3, Number.NaN),
      change(`${P1}:13`, 3, 2 ** 53),
      change(`${P1}:14`, 3, 1, ''),
      change(`${P1}:15`, -1, 1),
      change(`${P1}:16`, 3, -2),
      change(`${P1}:16`, 3, -2),
    ]);
    expect(scope.isDone()).toBe(true);
    expect(bodies).toHaveLength(1);
    expect(bodies[0]).toMatchObject({ sku_id: 16, stock_num: -2 });
    expect(outcome(results)).toEqual([...Array(5).fill('config_error'), 'ok', 'config_error']);
    expect(results.map((r) => (r.status === 'failed' ? r.message : ''))).toEqual([
      'change.delta must be a safe integer, got 1.5',
      'change.delta must be a safe integer, got NaN',
      'change.delta must be a safe integer, got 9007199254740992',
      'change.key must be a non-empty string, got ""',
      'quantity must be a whole number >= 0, got -1',
      '',
      'listing given twice under change key k1',
    ]);
  });
});

describe('stock read', () => {
  const P1 = '3473196049974326307';
  const P2 = '3473196049974327307';
  /** `sku.list` answer as Doudian writes it: `data` an array, int64 ids as bare integers. */
  const skuList = (skus: string[]) =>
    `{"code":10000,"msg":"success","sub_code":"","sub_msg":"","log_id":"l3","data":[${skus.join(',')}]}`;
  const sku = (productId: string, id: string, stock: number, type = 0) =>
    `{"id":${id},"product_id":${productId},"product_id_str":"${productId}","code":"C-${id}","sku_type":${type},"stock_num":${stock},"prehold_stock_num":0,"stock_map":${type ? '{"WH1":5}' : 'null'}}`;

  it('reads stock_num with one sku.list per product; a SKU not returned or a bad id fails alone', async () => {
    const queries: Record<string, string>[] = [];
    const capture = (q: object) => {
      queries.push(q as Record<string, string>);
      return true;
    };
    const scope = nock(GW)
      .post('/sku/list')
      .query(capture)
      .reply(200, skuList([sku(P1, '1763516132390915', 12), sku(P1, '1730000000001', 0)]))
      .post('/sku/list')
      .query(capture)
      .reply(200, skuList([sku(P2, '1730000000100', 0, 1)]));
    const listings = [
      { listingId: `${P1}:1763516132390915` },
      { listingId: `${P2}:1730000000100` },
      { listingId: 'nope' },
      { listingId: `${P1}:1730000000001` },
      { listingId: `${P1}:1730000000999` },
    ];
    const readings = await connector().readStock!(listings);
    expect(scope.isDone()).toBe(true);
    // Sign over param_json {"product_id":3473196049974326307} (bare int64), computed in the shell:
    //   PJ='{"product_id":3473196049974326307}'
    //   printf '%s' "test-secretapp_key7123456789methodsku.listparam_json${PJ}timestamp1731254405v2test-secret" \
    //     | openssl dgst -sha256 -hmac test-secret   (python3 hmac agrees)
    expect(queries[0]).toEqual({
      app_key: '7123456789',
      method: 'sku.list',
      access_token: 'tok',
      timestamp: '1731254405',
      v: '2',
      sign_method: 'hmac-sha256',
      sign: 'f852d2843aa8843a07b617c7d4bf34d2abd742c59e8ba94e2898f183335ac680',
    });
    expect(queries[1]!.method).toBe('sku.list');
    expect(readings).toEqual([
      { listing: listings[0], ok: true, quantity: 12 },
      {
        listing: listings[1],
        ok: false,
        error: `listing ${P2}:1730000000100: regional stock (sku_type 1) is not read`,
      },
      { listing: listings[2], ok: false, error: 'listing id must be <product_id>:<sku_id>, got "nope"' },
      { listing: listings[3], ok: true, quantity: 0 },
      {
        listing: listings[4],
        ok: false,
        error: `listing ${P1}:1730000000999: sku.list of its product does not return this SKU`,
      },
    ]);
  });

  it('throws the classified error when the first call fails as a whole', async () => {
    const scope = nock(GW)
      .post('/sku/list')
      .query(true)
      .reply(200, fail(30001, 'isv.access-token-expired'))
      .post('/sku/list')
      .query(true)
      .reply(429, 'slow down', { 'retry-after': '2' });
    const read = () => connector().readStock!([{ listingId: `${P1}:1` }, { listingId: `${P2}:2` }]);
    await expect(read()).rejects.toBeInstanceOf(RefreshTokenError);
    const err = await read().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).toBe(2000);
    expect(scope.isDone()).toBe(true);
  });

  it('keeps earlier readings when a later call fails; an unknown product reads ok: false', async () => {
    const scope = nock(GW)
      .post('/sku/list')
      .query(true)
      .reply(200, fail(50002, 'isv.business-failed:product-not-exist', '商品不存在'))
      .post('/sku/list')
      .query(true)
      .reply(200, skuList([sku(P2, '1730000000100', 7)]))
      .post('/sku/list')
      .query(true)
      .reply(200, fail(50001, 'isv.app-qps-limit'));
    const readings = await connector().readStock!([
      { listingId: `${P1}:1730000000000` },
      { listingId: `${P2}:1730000000100` },
      { listingId: '3473196049974328307:1730000000200' },
    ]);
    expect(scope.isDone()).toBe(true);
    expect(readings.map((r) => (r.ok ? r.quantity : r.error))).toEqual([
      expect.stringMatching(
        /^listing 3473196049974326307:1730000000000: Doudian sku\.list -> 50002\|isv\.business-failed:product-not-exist: .*商品不存在/,
      ),
      7,
      expect.stringMatching(/^listing 3473196049974328307:1730000000200: .*isv\.app-qps-limit/),
    ]);
  });
});

describe('shipment', () => {
  it('sends order.logisticsAdd and maps a refusal to nothing_to_ship', async () => {
    const scope = nock(GW)
      .post(
        '/order/logisticsAdd',
        (b) =>
          body(b).order_id === '6920000000000001000' &&
          body(b).logistics_code === 'SF1' &&
          body(b).company_code === 'shunfeng',
      )
      .query(true)
      .reply(200, ok({}))
      .post('/order/logisticsAdd')
      .query(true)
      .reply(200, fail(50002, 'isv.business-failed:order-status-not-allowed'));
    const c = connector();
    await expect(
      c.confirmShipment({
        platformOrderId: '6920000000000001000',
        carrier: 'shunfeng',
        trackingNumber: 'SF1',
      }),
    ).resolves.toMatchObject({ ok: true });
    await expect(
      c.confirmShipment({
        platformOrderId: '6920000000000001000',
        carrier: 'shunfeng',
        trackingNumber: 'SF2',
      }),
    ).resolves.toMatchObject({ ok: false, reason: 'nothing_to_ship' });
    expect(scope.isDone()).toBe(true);
  });
});
