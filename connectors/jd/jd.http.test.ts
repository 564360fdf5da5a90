/**
 * The JD connector at its HTTP edge, against nock: JOS's documented request form and response
 * shapes, net connect disabled, every scope asserted done.
 */
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
  RateLimitedError,
  RefreshTokenError,
  RetryableError,
} from '../contract.js';
import { verifyRelaySignature } from '../relay-webhook.js';
import { installLeakGuard } from '../testing/leak-guard.js';
import { JdClient, paramJson, signJd } from './client.js';
import { type JdConfigInput, jdConfigSchema } from './config.js';
import { createJdConnector } from './connector.js';
import { decodeCursor, encodeCursor, splitWindows } from './pagination.js';
import { formatJdTime, formatJdTimestamp, parseJdTime } from './time.js';

installLeakGuard();

const GW = 'https://api.jd.com';
const NOW = new Date('2024-11-10T16:00:05.000Z'); // 2024-11-11 00:00:05 GMT+8
const clock: Clock = { now: () => NOW };
const deps = (c: Clock = clock) => ({ http: axios.create(), log: pino({ level: 'silent' }), clock: c });
const config = (patch: Partial<JdConfigInput> = {}) =>
  jdConfigSchema.parse({
    venderId: '10086001',
    appKey: 'TESTAPPKEY',
    appSecret: 'helloworld',
    accessToken: 'TESTTOKEN',
    relaySecret: 'relay-secret-0123456789',
    lagMs: 0,
    overlapMs: 0,
    ...patch,
  });
const connector = (patch: Partial<JdConfigInput> = {}, c: Clock = clock): Connector =>
  createJdConnector(config(patch), deps(c));

/** The form nock hands us (it may or may not have parsed it). */
const form = (body: unknown): Record<string, string> =>
  typeof body === 'string' ? Object.fromEntries(new URLSearchParams(body)) : (body as Record<string, string>);
const biz = (body: unknown): Record<string, unknown> => JSON.parse(form(body)['360buy_param_json'] ?? '{}');
const is = (method: string) => (body: unknown) => form(body).method === method;
const wrap = (method: string, payload: unknown) => ({
  [`${method.replace(/\./g, '_')}_responce`]: { code: '0', ...(payload as object) },
});
const searchReply = (orders: unknown[], total: number) =>
  wrap('jingdong.pop.order.search', {
    searchorderinfo_result: {
      apiResult: { success: true, numberCode: 0, chineseErrCode: '', englishErrCode: '' },
      orderTotal: total,
      orderInfoList: orders,
    },
  });
const fail = (code: string, en: string, zh = '') => ({ error_response: { code, en_desc: en, zh_desc: zh } });

const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/order-search-page.json', import.meta.url), 'utf8'),
);
const [OPEN] = fixture.jingdong_pop_order_search_responce.searchorderinfo_result.orderInfoList as Record<
  string,
  unknown
>[];
const order = (id: number, modified = '2024-11-10 23:30:00') => ({ ...OPEN, orderId: String(id), modified });

async function collect(gen: AsyncGenerator<OrderPage>): Promise<OrderPage[]> {
  const pages: OrderPage[] = [];
  for await (const p of gen) pages.push(p);
  return pages;
}
const ids = (pages: OrderPage[]) => pages.flatMap((p) => p.orders.map((o) => o.platformOrderId));

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());
afterAll(() => {
  nock.enableNetConnect();
  nock.restore();
});

describe('JOS signing and time', () => {
  // Vectors computed independently in the shell (python3 json.dumps(sort_keys=True,
  // separators=(',',':'), ensure_ascii=False) + hashlib.md5; the first cross-checked with
  //   printf '%s' "helloworld${J}helloworld" | openssl dgst -md5
  // where J = '360buy_param_json<json>access_tokenTESTTOKENapp_keyTESTAPPKEYmethod<m>'
  //           'timestamp2024-11-11 00:00:05.000+0800v2.0'), uppercased.
  const search = {
    start_date: '2024-11-10 23:00:00',
    end_date: '2024-11-11 00:00:00',
    order_state: 'WAIT_SELLER_STOCK_OUT',
    optional_fields: 'orderId,modified',
    page: 1,
    page_size: 50,
    dateType: 0,
  };
  const params = (method: string, json: string) => ({
    '360buy_param_json': json,
    access_token: 'TESTTOKEN',
    app_key: 'TESTAPPKEY',
    method,
    timestamp: '2024-11-11 00:00:05.000+0800',
    v: '2.0',
  });

  it('builds the compact sorted business JSON and matches the independently computed MD5 vectors', () => {
    const json = paramJson(search);
    expect(json).toBe(
      '{"dateType":0,"end_date":"2024-11-11 00:00:00","optional_fields":"orderId,modified","order_state":"WAIT_SELLER_STOCK_OUT","page":1,"page_size":50,"start_date":"2024-11-10 23:00:00"}',
    );
    expect(signJd(params('jingdong.pop.order.search', json), 'helloworld')).toBe(
      '23F87E71D432C2411FC5226C2BCB3C2F',
    );
    const ship = paramJson({ order_id: '300000000001', logiCoprId: '京东快递', logiNo: 'JDV0001' });
    expect(signJd(params('jingdong.pop.order.shipment', ship), 'helloworld')).toBe(
      '864F5B683D6BCEDAF309D26782C8FA4E',
    );
    expect(signJd({ ...params('jingdong.pop.order.search', json), sign: 'x' }, 'helloworld')).toBe(
      '23F87E71D432C2411FC5226C2BCB3C2F',
    );
  });

  it('formats GMT+8 times from the clock, whatever the machine zone', () => {
    expect(formatJdTimestamp(NOW.getTime())).toBe('2024-11-11 00:00:05.000+0800');
    expect(formatJdTime(NOW.getTime() + 999)).toBe('2024-11-11 00:00:05');
    expect(parseJdTime('2024-11-11 00:00:05')).toBe(NOW.getTime());
    expect(parseJdTime('2024-02-30 00:00:00')).toBeUndefined();
    expect(parseJdTime('2024-11-11T00:00:05')).toBeUndefined();
  });

  it('the client POSTs the system parameters, the exact JSON it signed, and that signature', async () => {
    let sent: Record<string, string> = {};
    const scope = nock(GW)
      .post('/routerjson', (b) => {
        sent = form(b);
        return true;
      })
      .reply(200, searchReply([], 0));
    const client = new JdClient(config(), deps());
    await client.call('jingdong.pop.order.search', search);
    expect(scope.isDone()).toBe(true);
    expect(sent).toEqual({
      ...params('jingdong.pop.order.search', paramJson(search)),
      sign: '23F87E71D432C2411FC5226C2BCB3C2F',
    });
  });
});

describe('incremental pull', () => {
  const from = (minutesBack: number) =>
    encodeCursor({ watermark: new Date(NOW.getTime() - minutesBack * 60_000).toISOString() });

  it('pages forwards with page/page_size, asks for modified time and every state, and advances the watermark at the end', async () => {
    const seen: Record<string, unknown>[] = [];
    const scope = nock(GW)
      .post(
        '/routerjson',
        (b) => is('jingdong.pop.order.search')(b) && seen.push(biz(b)) > 0 && biz(b).page === 1,
      )
      .reply(200, searchReply([order(1), order(2)], 3))
      .post(
        '/routerjson',
        (b) => is('jingdong.pop.order.search')(b) && seen.push(biz(b)) > 0 && biz(b).page === 2,
      )
      .reply(200, searchReply([order(3)], 3));
    const pages = await collect(connector({ pageSize: 2 }).pullOrders(from(60)));
    expect(scope.isDone()).toBe(true);
    expect(ids(pages)).toEqual(['1', '2', '3']);
    expect(pages.map((p) => p.caughtUp)).toEqual([false, true]);
    expect(decodeCursor(pages[0]!.nextCursor)).toEqual({
      watermark: '2024-11-10T15:00:05.000Z',
      resume: { start: '2024-11-10T15:00:05.000Z', end: '2024-11-10T16:00:05.000Z', page: 2, total: 3 },
    });
    expect(decodeCursor(pages[1]!.nextCursor)).toEqual({ watermark: '2024-11-10T16:00:05.000Z' });
    expect(seen[0]).toMatchObject({
      start_date: '2024-11-10 23:00:05',
      end_date: '2024-11-11 00:00:05',
      page: 1,
      page_size: 2,
      dateType: 0,
      order_state:
        'WAIT_SELLER_STOCK_OUT,WAIT_SELLER_DELIVERY,WAIT_GOODS_RECEIVE_CONFIRM,FINISHED_L,TRADE_CANCELED,LOCKED,PAUSE,POP_ORDER_PAUSE',
    });
    expect(String(seen[0]!.optional_fields)).toContain('couponDetailList');
  });

  it('resumes a part-read window exactly at the stored page, without overlap', async () => {
    const cursor = encodeCursor({
      watermark: '2024-11-10T15:00:05.000Z',
      resume: { start: '2024-11-10T15:00:05.000Z', end: '2024-11-10T16:00:05.000Z', page: 2, total: 3 },
    });
    const scope = nock(GW)
      .post('/routerjson', (b) => biz(b).page === 2 && biz(b).start_date === '2024-11-10 23:00:05')
      .reply(200, searchReply([order(3)], 3));
    const pages = await collect(connector({ pageSize: 2, overlapMs: 600_000 }).pullOrders(cursor));
    expect(scope.isDone()).toBe(true);
    expect(ids(pages)).toEqual(['3']);
    expect(pages.at(-1)!.caughtUp).toBe(true);
  });

  it('splits a long span into windows of windowMinutes, re-reading the overlap, staying lagMs behind now', async () => {
    expect(splitWindows(0, 150 * 60_000, 60 * 60_000)).toEqual([
      { start: 0, end: 3_600_000 },
      { start: 3_600_000, end: 7_200_000 },
      { start: 7_200_000, end: 9_000_000 },
    ]);
    const windows: string[] = [];
    const scope = nock(GW)
      .post('/routerjson', (b) => windows.push(`${biz(b).start_date}..${biz(b).end_date}`) > 0)
      .times(3)
      .reply(200, searchReply([], 0));
    const pages = await collect(
      connector({ windowMinutes: 60, overlapMs: 10 * 60_000, lagMs: 5 * 60_000 }).pullOrders(from(135)),
    );
    expect(scope.isDone()).toBe(true);
    // watermark 21:45:05 GMT+8, minus 10 min overlap; end = now - 5 min.
    expect(windows).toEqual([
      '2024-11-10 21:35:05..2024-11-10 22:35:05',
      '2024-11-10 22:35:05..2024-11-10 23:35:05',
      '2024-11-10 23:35:05..2024-11-10 23:55:05',
    ]);
    expect(pages.map((p) => p.caughtUp)).toEqual([false, false, true]);
    expect(decodeCursor(pages.at(-1)!.nextCursor)?.watermark).toBe('2024-11-10T15:55:05.000Z');
  });

  const HALVING_CALLS = 9;
  it('halves a window that needs more than maxPagesPerWindow pages before reading it', async () => {
    // Orders every 6 minutes across the hour; 2 per page, at most 2 pages per window.
    const all = Array.from({ length: 10 }, (_, i) => ({
      id: 10 + i,
      at: NOW.getTime() - 60 * 60_000 + (i * 6 + 3) * 60_000,
    }));
    const requests: string[] = [];
    const scope = nock(GW)
      .post('/routerjson')
      .times(HALVING_CALLS)
      .reply(200, (_uri, body) => {
        const b = biz(body);
        const s = parseJdTime(b.start_date)!;
        const e = parseJdTime(b.end_date)!;
        const hits = all.filter((o) => o.at >= s && o.at <= e);
        const page = Number(b.page);
        requests.push(`${String(b.start_date).slice(11)}-${String(b.end_date).slice(11)}#${page}`);
        return searchReply(
          hits.slice((page - 1) * 2, page * 2).map((o) => order(o.id, formatJdTime(o.at))),
          hits.length,
        );
      });
    const pages = await collect(connector({ pageSize: 2, maxPagesPerWindow: 2 }).pullOrders(from(60)));
    expect(scope.isDone()).toBe(true);
    expect(ids(pages).sort()).toEqual(all.map((o) => String(o.id)).sort());
    expect(new Set(ids(pages)).size).toBe(10);
    // 10 hits need 5 pages: halved to 30 minutes (5 hits, 3 pages), then 15 minutes (3 hits, 2 pages).
    // The next window starts where the halved one ended and is probed (and halved) afresh.
    expect(requests).toEqual([
      '23:00:05-00:00:05#1',
      '23:00:05-23:30:05#1',
      '23:00:05-23:15:05#1',
      '23:00:05-23:15:05#2',
      '23:15:05-00:00:05#1',
      '23:15:05-23:37:35#1',
      '23:15:05-23:37:35#2',
      '23:37:35-00:00:05#1',
      '23:37:35-00:00:05#2',
    ]);
    expect(pages.at(-1)!.caughtUp).toBe(true);
  });

  it('re-reads a window from page 1 when orderTotal changes while paging (an order moved out)', async () => {
    const pagesAsked: number[] = [];
    const scope = nock(GW)
      .post('/routerjson', (b) => pagesAsked.push(Number(biz(b).page)) > 0)
      .reply(200, searchReply([order(1), order(2)], 3))
      .post('/routerjson', (b) => pagesAsked.push(Number(biz(b).page)) > 0)
      // order 2 was modified meanwhile and left the window: order 3 slid onto page 1
      .reply(200, searchReply([], 2))
      .post('/routerjson', (b) => pagesAsked.push(Number(biz(b).page)) > 0)
      .reply(200, searchReply([order(1), order(3)], 2));
    const pages = await collect(connector({ pageSize: 2 }).pullOrders(from(60)));
    expect(scope.isDone()).toBe(true);
    expect(pagesAsked).toEqual([1, 2, 1]);
    expect(ids(pages)).toEqual(['1', '2', '3']);
    expect(decodeCursor(pages[1]!.nextCursor)?.resume).toMatchObject({ page: 1, total: 2 });
    expect(pages.at(-1)!.caughtUp).toBe(true);
  });

  it('reads the detail with pop.order.get when a listed order is partial', async () => {
    const scope = nock(GW)
      .post('/routerjson', is('jingdong.pop.order.search'))
      .reply(
        200,
        searchReply([{ orderId: '1', modified: '2024-11-10 23:30:00', orderState: 'FINISHED_L' }], 1),
      )
      .post('/routerjson', (b) => is('jingdong.pop.order.get')(b) && biz(b).order_id === '1')
      .reply(
        200,
        wrap('jingdong.pop.order.get', {
          orderDetailInfo: {
            apiResult: { success: true },
            orderInfo: { ...order(1), orderState: 'FINISHED_L' },
          },
        }),
      );
    const pages = await collect(connector().pullOrders(from(60)));
    expect(scope.isDone()).toBe(true);
    expect(pages[0]!.orders[0]).toMatchObject({ platformOrderId: '1', status: 'completed' });
  });

  it('stops at maxPagesPerPull with a resumable cursor and caughtUp false', async () => {
    const scope = nock(GW)
      .post('/routerjson')
      .reply(200, searchReply([order(1), order(2)], 6));
    const pages = await collect(connector({ pageSize: 2, maxPagesPerPull: 1 }).pullOrders(from(60)));
    expect(scope.isDone()).toBe(true);
    expect(pages).toHaveLength(1);
    expect(pages[0]!.caughtUp).toBe(false);
    expect(decodeCursor(pages[0]!.nextCursor)?.resume?.page).toBe(2);
  });

  it('refuses an unreadable cursor with a config error', async () => {
    await expect(collect(connector().pullOrders('{"v":9}'))).rejects.toBeInstanceOf(ConnectorConfigError);
  });
});

describe('error table', () => {
  const check = async (reply: () => nock.Scope) => {
    const scope = reply();
    const c = connector();
    const err = await c.fetchOrder('300012345678').catch((e: unknown) => e);
    expect(scope.isDone()).toBe(true);
    return err;
  };
  const gw = () => nock(GW).post('/routerjson');

  it('code 2 (App Call Limited) and HTTP 429 are rate limited', async () => {
    const e = await check(() => gw().reply(200, fail('2', 'App Call Limited', '限制时间内调用失败次数')));
    expect(e).toBeInstanceOf(RateLimitedError);
    expect((e as RateLimitedError).retryAfterMs).toBe(10_000);
    expect(await check(() => gw().reply(429, 'slow down', { 'Retry-After': '3' }))).toBeInstanceOf(
      RateLimitedError,
    );
  });

  it('an expired access_token asks for a refresh', async () => {
    const e = await check(() => gw().reply(200, fail('19', 'Invalid access_token', 'token已过期')));
    expect(e).toBeInstanceOf(RefreshTokenError);
    expect((e as RefreshTokenError).message).not.toContain('TESTTOKEN');
  });

  it('signature, timestamp, app key and business refusals are config errors', async () => {
    for (const code of ['12', '8', '10', '15', '10400004']) {
      expect(await check(() => gw().reply(200, fail(code, 'refused')))).toBeInstanceOf(ConnectorConfigError);
    }
    const refused = wrap('jingdong.pop.order.get', {
      orderDetailInfo: {
        apiResult: { success: false, numberCode: 10400009, chineseErrCode: 'order_id不合法' },
      },
    });
    expect(await check(() => gw().reply(200, refused))).toBeInstanceOf(ConnectorConfigError);
  });

  it('5xx, service unavailable, network errors and garbage are retried', async () => {
    expect(await check(() => gw().reply(502, 'bad gateway'))).toBeInstanceOf(RetryableError);
    expect(await check(() => gw().reply(200, fail('1', 'Service Unavailable')))).toBeInstanceOf(
      RetryableError,
    );
    expect(
      await check(() =>
        gw().replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })),
      ),
    ).toBeInstanceOf(RetryableError);
    expect(await check(() => gw().reply(200, '<html>'))).toBeInstanceOf(RetryableError);
    expect(await check(() => gw().reply(200, { other_responce: {} }))).toBeInstanceOf(RetryableError);
  });

  it('checkConnection reports the action instead of throwing', async () => {
    const scope = gw().reply(200, fail('19', 'Invalid access_token'));
    await expect(connector().checkConnection()).resolves.toMatchObject({
      ok: false,
      action: 'refresh_token',
    });
    expect(scope.isDone()).toBe(true);
  });

  it('fetchOrder returns null for an order JD does not know', async () => {
    const scope = gw().reply(
      200,
      wrap('jingdong.pop.order.get', { orderDetailInfo: { apiResult: { success: true }, orderInfo: null } }),
    );
    await expect(connector().fetchOrder('999999999999')).resolves.toBeNull();
    expect(scope.isDone()).toBe(true);
  });
});

describe('stock push', () => {
  const stock = (skuId: string) => (b: unknown) =>
    is('jingdong.stock.write.updateSkuStock')(b) && String(biz(b).skuId) === skuId;
  const ok = wrap('jingdong.stock.write.updateSkuStock', { success: true });

  it('sets absolute stock one SKU per call; a bad SKU fails alone; storeId from locationId', async () => {
    let third: Record<string, unknown> = {};
    const scope = nock(GW)
      .post('/routerjson', stock('100012345001'))
      .reply(200, ok)
      .post('/routerjson', stock('999'))
      .reply(200, fail('10100010', 'sku not exist', 'SKU不存在'))
      .post('/routerjson', (b) => {
        if (!stock('100012345002')(b)) return false;
        third = biz(b);
        return true;
      })
      .reply(200, ok);
    const results = await connector().pushStock([
      { listing: { listingId: '100012345001' }, quantity: 7 },
      { listing: { listingId: '999' }, quantity: 1 },
      { listing: { listingId: 'abc' }, quantity: 1 },
      { listing: { listingId: '100012345002', locationId: '55' }, quantity: 0 },
    ]);
    expect(scope.isDone()).toBe(true);
    expect(results.map((r) => r.status)).toEqual(['ok', 'failed', 'failed', 'ok']);
    expect(results[1]).toMatchObject({ action: 'config_error', code: '10100010' });
    expect(third).toEqual({ skuId: '100012345002', stockNum: 0, storeId: '55' });
  });

  it('throws when the first call fails as a whole; later whole-call failures mark the rest without sending', async () => {
    const first = nock(GW).post('/routerjson').reply(200, fail('2', 'App Call Limited'));
    await expect(
      connector().pushStock([{ listing: { listingId: '1' }, quantity: 1 }]),
    ).rejects.toBeInstanceOf(RateLimitedError);
    expect(first.isDone()).toBe(true);
    const later = nock(GW)
      .post('/routerjson', stock('1'))
      .reply(200, ok)
      .post('/routerjson', stock('2'))
      .reply(200, fail('2', 'App Call Limited'));
    const results = await connector().pushStock([
      { listing: { listingId: '1' }, quantity: 1 },
      { listing: { listingId: '2' }, quantity: 2 },
      { listing: { listingId: '3' }, quantity: 3 },
    ]);
    expect(later.isDone()).toBe(true);
    expect(results.map((r) => (r.status === 'failed' ? r.action : r.status))).toEqual([
      'ok',
      'rate_limited',
      'rate_limited',
    ]);
  });
});

describe('stock read', () => {
  const READ = 'jingdong.stock.read.findSkuStock';
  const reading = (skuId: string) => (b: unknown) => is(READ)(b) && String(biz(b).skuId) === skuId;
  const stocks = (...entries: Record<string, unknown>[]) => wrap(READ, { skuStocks: entries });

  it('reads one SKU per call (skuId, signed); picks the store; unknown or malformed ids fail alone', async () => {
    const sent: Record<string, string>[] = [];
    const keep = (skuId: string) => (b: unknown) => {
      if (!reading(skuId)(b)) return false;
      sent.push(form(b));
      return true;
    };
    const scope = nock(GW)
      .post('/routerjson', keep('100012345001'))
      .reply(200, stocks({ skuId: 100012345001, stockNum: 17 }))
      .post('/routerjson', keep('999'))
      .reply(200, fail('10100010', 'sku not exist', 'SKU不存在'))
      .post('/routerjson', keep('100012345002'))
      .reply(
        200,
        stocks(
          { skuId: 100012345002, storeId: 54, stockNum: 3 },
          { skuId: 100012345002, storeId: 55, stockNum: '8' },
        ),
      )
      .post('/routerjson', keep('100012345003'))
      .reply(200, stocks());
    const listings = [
      { listingId: '100012345001' },
      { listingId: '999' },
      { listingId: 'abc' },
      { listingId: '100012345002', locationId: '55' },
      { listingId: '100012345003' },
    ];
    const results = await connector().readStock!(listings);
    expect(scope.isDone()).toBe(true);
    expect(results).toEqual([
      { listing: listings[0], ok: true, quantity: 17 },
      {
        listing: listings[1],
        ok: false,
        error: expect.stringMatching(/^sku 999: .*10100010.*sku not exist/),
      },
      { listing: listings[2], ok: false, error: 'listing id must be a JD skuId, got "abc"' },
      { listing: listings[3], ok: true, quantity: 8 },
      { listing: listings[4], ok: false, error: 'sku 100012345003 not found on JD' },
    ]);
    expect(sent).toHaveLength(4);
    for (const f of sent) {
      const { sign, ...rest } = f;
      expect(rest).toMatchObject({
        method: READ,
        app_key: 'TESTAPPKEY',
        access_token: 'TESTTOKEN',
        v: '2.0',
      });
      expect(sign).toBe(signJd(rest, 'helloworld'));
    }
    expect(sent.map((f) => f['360buy_param_json'])).toEqual([
      '{"skuId":"100012345001"}',
      '{"skuId":"999"}',
      '{"skuId":"100012345002"}',
      '{"skuId":"100012345003"}',
    ]);
  });

  it('without a locationId: the only entry, else the one without a store; several stores fail', async () => {
    const scope = nock(GW)
      .post('/routerjson', reading('1'))
      .reply(200, stocks({ skuId: 1, storeId: 0, stockNum: 4 }, { skuId: 1, storeId: 9, stockNum: 2 }))
      .post('/routerjson', reading('2'))
      .reply(200, stocks({ skuId: 2, storeId: 8, stockNum: 1 }, { skuId: 2, storeId: 9, stockNum: 2 }));
    const results = await connector().readStock!([{ listingId: '1' }, { listingId: '2' }]);
    expect(scope.isDone()).toBe(true);
    expect(results).toEqual([
      { listing: { listingId: '1' }, ok: true, quantity: 4 },
      {
        listing: { listingId: '2' },
        ok: false,
        error: "sku 2: JD lists several stores; set the listing's locationId",
      },
    ]);
  });

  it('throws when the first call fails as a whole; a later failure marks that listing and the rest', async () => {
    const first = nock(GW).post('/routerjson').reply(200, fail('19', 'Invalid access_token'));
    const e = await connector().readStock!([{ listingId: '1' }, { listingId: '2' }]).catch(
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(RefreshTokenError);
    expect(e).toMatchObject({ action: 'refresh_token', code: '19' });
    expect(first.isDone()).toBe(true);

    const later = nock(GW)
      .post('/routerjson', reading('1'))
      .reply(200, stocks({ skuId: 1, stockNum: 5 }))
      .post('/routerjson', reading('2'))
      .reply(200, fail('2', 'App Call Limited'));
    const results = await connector().readStock!([
      { listingId: '1' },
      { listingId: '2' },
      { listingId: '3' },
    ]);
    expect(later.isDone()).toBe(true);
    expect(results).toEqual([
      { listing: { listingId: '1' }, ok: true, quantity: 5 },
      {
        listing: { listingId: '2' },
        ok: false,
        error: expect.stringMatching(/^sku 2: JOS .* -> 2: JOS call limit/),
      },
      {
        listing: { listingId: '3' },
        ok: false,
        error: expect.stringMatching(/^sku 3: JOS .* -> 2: JOS call limit/),
      },
    ]);
  });
});

describe('shipment', () => {
  const reply = (success: boolean, zh = '') =>
    wrap('jingdong.pop.order.shipment', { sopjosshipment_result: { success, chineseErrCode: zh } });

  it('confirms with order_id, logiCoprId and logiNo; maps refusals', async () => {
    let sent: Record<string, unknown> = {};
    const scope = nock(GW)
      .post('/routerjson', (b) => {
        sent = biz(b);
        return true;
      })
      .reply(200, reply(true))
      .post('/routerjson')
      .reply(200, reply(false, '订单不存在'))
      .post('/routerjson')
      .reply(200, reply(false, '订单状态不允许出库'));
    const c = connector();
    const s = { platformOrderId: '300012345678', carrier: '2087', trackingNumber: 'JDV0001' };
    await expect(c.confirmShipment(s)).resolves.toEqual({
      ok: true,
      platformShipmentId: '300012345678:JDV0001',
    });
    expect(sent).toEqual({ order_id: '300012345678', logiCoprId: '2087', logiNo: 'JDV0001' });
    await expect(c.confirmShipment(s)).resolves.toMatchObject({ ok: false, reason: 'order_not_found' });
    await expect(c.confirmShipment(s)).resolves.toMatchObject({ ok: false, reason: 'nothing_to_ship' });
    expect(scope.isDone()).toBe(true);
  });
});

describe('relayed JD messages', () => {
  // Signature computed in the shell:
  //   printf '1731254404\n%s' "$(cat body)" | openssl dgst -sha256 -hmac 'relay-secret-0123456789'
  const body = Buffer.from(
    '{"id":"m-1","topic":"jos_order_change","venderId":"10086001","timestamp":"2024-11-11 00:00:03","content":"{\\"orderId\\":\\"300012345678\\"}"}',
    'utf8',
  );
  const SIG = '5883FBB75E272F963131ADE91E999E98B6FF087A4E8C6662FBE2DB025A8C1C50';
  const headers = { 'X-Jd-Relay-Signature': SIG, 'x-jd-relay-timestamp': '1731254404' };

  it('verifies the independently computed MAC and yields a refetch hint with a stable dedupe key', () => {
    expect(verifyRelaySignature(body, '1731254404', SIG, ['relay-secret-0123456789'])).toBe(true);
    const r = connector().parseWebhook({ headers, body });
    expect(r).toEqual({
      ok: true,
      dedupeKey: 'jd:msg:m-1',
      topic: 'jos_order_change',
      shop: '10086001',
      triggeredAt: new Date('2024-11-10T16:00:03.000Z'),
      events: [
        {
          kind: 'refetch_order',
          platformOrderId: '300012345678',
          reason: 'JD message jos_order_change is a hint only',
        },
      ],
    });
  });

  it('rejects tampering, stale timestamps, missing headers; accepts a rotated secret', () => {
    const tampered = Buffer.from(body);
    tampered[10] = tampered[10]! ^ 1;
    expect(connector().parseWebhook({ headers, body: tampered })).toMatchObject({ ok: false, status: 401 });
    const later: Clock = { now: () => new Date(NOW.getTime() + 301_000) };
    expect(connector({}, later).parseWebhook({ headers, body })).toMatchObject({ ok: false, status: 401 });
    expect(connector().parseWebhook({ headers: { 'x-jd-relay-signature': SIG }, body })).toMatchObject({
      status: 401,
    });
    const rotated = connector({
      relaySecret: 'new-relay-secret-0123456',
      previousRelaySecrets: ['relay-secret-0123456789'],
    });
    expect(rotated.parseWebhook({ headers, body }).ok).toBe(true);
    expect(
      connector({ maxWebhookBytes: 1024 }).parseWebhook({ headers, body: Buffer.alloc(2048) }),
    ).toMatchObject({
      status: 413,
    });
  });
});
