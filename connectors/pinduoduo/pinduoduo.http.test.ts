/**
 * The Pinduoduo connector at its HTTP edge, against nock: PDD's documented request form and
 * response shapes, net connect disabled, every scope asserted done.
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
  IgnorableError,
  type OrderPage,
  RateLimitedError,
  RefreshTokenError,
  RetryableError,
} from '../contract.js';
import { relayMac } from '../relay-webhook.js';
import { installLeakGuard } from '../testing/leak-guard.js';
import { PddClient, paramText, signPdd } from './client.js';
import { type PinduoduoConfigInput, pinduoduoConfigSchema } from './config.js';
import { createPinduoduoConnector } from './connector.js';
import { decodeCursor, splitWindows } from './pagination.js';

installLeakGuard();

const GW = 'https://gw-api.pinduoduo.com';
const NOW = new Date('2024-11-10T16:30:00.000Z'); // 2024-11-11 00:30:00 Beijing
const NOW_S = NOW.getTime() / 1000;
const clock: Clock = { now: () => NOW };
const deps = (c: Clock = clock) => ({ http: axios.create(), log: pino({ level: 'silent' }), clock: c });
const config = (patch: Partial<PinduoduoConfigInput> = {}) =>
  pinduoduoConfigSchema.parse({
    mallId: '880011',
    clientId: 'test_client',
    clientSecret: 'testsecret',
    accessToken: 'test_token',
    relaySecret: 'relay-secret-0123456789',
    logisticsIds: { YTO: 85 },
    ...patch,
  });
const connector = (patch: Partial<PinduoduoConfigInput> = {}, c: Clock = clock): Connector =>
  createPinduoduoConnector(config(patch), deps(c));

const form = (body: unknown): Record<string, string> =>
  typeof body === 'string' ? Object.fromEntries(new URLSearchParams(body)) : (body as Record<string, string>);
const is =
  (type: string, extra: Record<string, string> = {}) =>
  (body: unknown) => {
    const f = form(body);
    return f.type === type && Object.entries(extra).every(([k, v]) => f[k] === v);
  };
const fail = (error_code: number, error_msg: string, sub_msg?: string) => ({
  error_response: {
    error_code,
    error_msg,
    sub_code: String(error_code),
    sub_msg: sub_msg ?? error_msg,
    request_id: 'r2',
  },
});
const fixture = readFileSync(new URL('./fixtures/order-sn-increment.json', import.meta.url), 'utf8');
/** One order of the fixture as PDD writes it (bare numeric ids), with a new order_sn / updated_at. */
const fixtureOrders = (
  JSON.parse(fixture) as { order_sn_increment_get_response: { order_sn_list: object[] } }
).order_sn_increment_get_response.order_sn_list;
const orderText = (sn: string, updated = '2024-11-11 00:01:41') =>
  ({ ...(fixtureOrders[1] as object), order_sn: sn, updated_at: updated }) as Record<string, unknown>;
const listBody = (total: number, orders: Record<string, unknown>[]) => ({
  order_sn_increment_get_response: { total_count: total, order_sn_list: orders, request_id: 'r1' },
});

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

describe('PDD signing', () => {
  // Vectors computed independently in the shell:
  //   J='access_tokentest_tokenclient_idtest_clientdata_typeJSONgoods_id612000000001quantity5sku_id1234500000000timestamp1700000000typepdd.goods.quantity.updateupdate_type1'
  //   printf '%s' "testsecret${J}testsecret" | openssl dgst -md5        (uppercased: 1FF68330…)
  // and with python3 (hashlib.md5 over UTF-8, keys sorted) for a JSON-array parameter and
  // non-ASCII text: {'goods_id_list': '[612000000001,612000000002]', 'note': '绿茶 Thé', …}.
  it('signs MD5(secret + sorted k+v + secret), uppercase hex', () => {
    const params = {
      type: 'pdd.goods.quantity.update',
      client_id: 'test_client',
      access_token: 'test_token',
      timestamp: '1700000000',
      data_type: 'JSON',
      goods_id: '612000000001',
      sku_id: '1234500000000',
      quantity: '5',
      update_type: '1',
    };
    expect(signPdd(params, 'testsecret')).toBe('1FF68330EB7199FF02BA116F68CDF432');
    expect(signPdd({ ...params, sign: 'ignored' }, 'testsecret')).toBe('1FF68330EB7199FF02BA116F68CDF432');
  });

  it('signs array parameters as the JSON text that is sent', () => {
    const params = {
      type: 'pdd.example.get',
      client_id: 'test_client',
      timestamp: '1700000000',
      data_type: 'JSON',
      goods_id_list: paramText([612000000001, 612000000002]),
      note: '绿茶 Thé',
    };
    expect(params.goods_id_list).toBe('[612000000001,612000000002]');
    expect(signPdd(params, 'testsecret')).toBe('ACA50F9B3573CAE7068611043794BC6E');
  });

  it('sends the common parameters with the injected clock as UNIX seconds and a valid sign', async () => {
    let sent: Record<string, string> = {};
    const scope = nock(GW)
      .post('/api/router', (b) => {
        sent = form(b);
        return true;
      })
      .reply(200, { goods_quantity_update_response: { is_success: true, request_id: 'r' } });
    const client = new PddClient(config(), deps());
    await expect(
      client.call('pdd.goods.quantity.update', { goods_id: '1', sku_id: '2', quantity: 3, update_type: 1 }),
    ).resolves.toMatchObject({ is_success: true });
    expect(scope.isDone()).toBe(true);
    expect(sent).toMatchObject({
      type: 'pdd.goods.quantity.update',
      client_id: 'test_client',
      access_token: 'test_token',
      timestamp: String(NOW_S),
      data_type: 'JSON',
    });
    const { sign, ...rest } = sent;
    expect(sign).toBe(signPdd(rest, 'testsecret'));
  });

  it('unwraps through the lookup table, not the API name', async () => {
    const scope = nock(GW)
      .post('/api/router', is('pdd.order.number.list.increment.get'))
      // A wrapper named after the API (which PDD does not use) is not accepted.
      .reply(200, { order_number_list_increment_get_response: { total_count: 0 } });
    const client = new PddClient(config(), deps());
    await expect(
      client.call('pdd.order.number.list.increment.get', { start_updated_at: 1, end_updated_at: 2 }),
    ).rejects.toMatchObject({ code: 'NO_RESPONSE_KEY', action: 'retry' });
    expect(scope.isDone()).toBe(true);
  });
});

describe('PDD error table', () => {
  const call = () =>
    new PddClient(config(), deps()).call('pdd.order.information.get', { order_sn: '241111-384920175630481' });
  it.each([
    [fail(70031, '调用过于频繁，请调整调用频率'), RateLimitedError, '70031|70031'],
    [fail(20004, '签名验证失败'), ConnectorConfigError, '20004|20004'],
    [fail(10019, 'access_token已过期'), RefreshTokenError, '10019|10019'],
    [fail(50000, '系统内部错误'), RetryableError, '50000|50000'],
    [fail(10000, '参数错误', 'order_sn 不能为空'), ConnectorConfigError, '10000|10000'],
    [fail(50001, '业务服务错误', '订单不存在'), IgnorableError, '50001|50001|order_not_found'],
  ])('%j -> %o', async (body, cls, code) => {
    const scope = nock(GW).post('/api/router').reply(200, body);
    const err = await call().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(cls);
    expect(err).toMatchObject({ code, platform: 'pinduoduo' });
    expect((err as Error).message).not.toContain('testsecret');
    expect((err as Error).message).not.toContain('test_token');
    expect(scope.isDone()).toBe(true);
  });

  it('honours Retry-After on HTTP 429, retries 5xx and network failures', async () => {
    const scope = nock(GW)
      .post('/api/router')
      .reply(429, 'slow down', { 'Retry-After': '7' })
      .post('/api/router')
      .reply(503, 'busy')
      .post('/api/router')
      .replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    const a = await call().catch((e: unknown) => e);
    expect(a).toBeInstanceOf(RateLimitedError);
    expect((a as RateLimitedError).retryAfterMs).toBe(7000);
    await expect(call()).rejects.toBeInstanceOf(RetryableError);
    await expect(call()).rejects.toMatchObject({ action: 'retry', code: 'ECONNRESET' });
    expect(scope.isDone()).toBe(true);
  });

  it('retries a body that is not JSON', async () => {
    const scope = nock(GW).post('/api/router').reply(200, '<html>gateway</html>');
    await expect(call()).rejects.toMatchObject({ action: 'retry', code: 'BAD_JSON' });
    expect(scope.isDone()).toBe(true);
  });
});

describe('incremental pull', () => {
  it('splits a long span into <= 30-minute windows, ending lagMs behind now', () => {
    const end = NOW.getTime() - 240_000;
    const w = splitWindows(end - 75 * 60_000, end, 30 * 60_000);
    expect(w.map((x) => (x.end - x.start) / 60_000)).toEqual([30, 30, 15]);
    expect(w.at(-1)!.end).toBe(end);
  });

  it('walks the windows in order with exact UNIX-second bounds and the cursor after each', async () => {
    const end = NOW_S - 240;
    const from = new Date((end - 75 * 60) * 1000).toISOString();
    const bounds: [number, number][] = [
      [end - 4500, end - 2700],
      [end - 2700, end - 900],
      [end - 900, end],
    ];
    let scope = nock(GW);
    for (const [s, e] of bounds) {
      scope = scope
        .post(
          '/api/router',
          is('pdd.order.number.list.increment.get', {
            start_updated_at: String(s),
            end_updated_at: String(e),
            page: '1',
            page_size: '100',
          }),
        )
        .reply(200, listBody(1, [orderText(`241111-10000000000000${s % 10}`)]));
    }
    const pages = await collect(connector({ overlapMs: 0 }).pullOrders(from));
    expect(scope.isDone()).toBe(true);
    expect(pages.map((p) => p.caughtUp)).toEqual([false, false, true]);
    expect(pages.map((p) => decodeCursor(p.nextCursor)?.watermark)).toEqual(
      bounds.map(([, e]) => new Date(e * 1000).toISOString()),
    );
    expect(pages.flatMap((p) => p.rejects)).toEqual([]);
  });

  it('reads a busy window backwards from the last page, resumable mid-window, de-duplicating shifted orders', async () => {
    const end = NOW_S - 240;
    const start = end - 600;
    const from = new Date(start * 1000).toISOString();
    const p = (page: number) =>
      is('pdd.order.number.list.increment.get', {
        start_updated_at: String(start),
        end_updated_at: String(end),
        page: String(page),
        page_size: '2',
      });
    const scope = nock(GW)
      .post('/api/router', p(1))
      .reply(200, listBody(5, [orderText('241111-5'), orderText('241111-4')]))
      .post('/api/router', p(3))
      .reply(200, listBody(5, [orderText('241111-1')]))
      .post('/api/router', p(2))
      // An order updated during the scan shifted 241111-1 onto page 2: read twice, yielded once.
      .reply(200, listBody(5, [orderText('241111-2'), orderText('241111-1')]))
      .post('/api/router', p(1))
      .reply(200, listBody(5, [orderText('241111-4'), orderText('241111-3')]));
    const pages = await collect(connector({ overlapMs: 0, pageSize: 2 }).pullOrders(from));
    expect(scope.isDone()).toBe(true);
    expect(pages.map((x) => x.orders.map((o) => o.platformOrderId))).toEqual([
      ['241111-1'],
      ['241111-2'],
      ['241111-4', '241111-3'],
    ]);
    expect(decodeCursor(pages[0]!.nextCursor)).toEqual({
      watermark: new Date(start * 1000).toISOString(),
      resume: {
        start: new Date(start * 1000).toISOString(),
        end: new Date(end * 1000).toISOString(),
        page: 2,
      },
    });
    expect(pages.map((x) => x.caughtUp)).toEqual([false, false, true]);
    expect(decodeCursor(pages[2]!.nextCursor)).toEqual({ watermark: new Date(end * 1000).toISOString() });
  });

  it('resumes a half-read window exactly at the stored page', async () => {
    const end = NOW_S - 240;
    const cursor = JSON.stringify({
      v: 1,
      watermark: new Date((end - 600) * 1000).toISOString(),
      resume: {
        start: new Date((end - 600) * 1000).toISOString(),
        end: new Date(end * 1000).toISOString(),
        page: 1,
      },
    });
    const scope = nock(GW)
      .post(
        '/api/router',
        is('pdd.order.number.list.increment.get', { page: '1', end_updated_at: String(end) }),
      )
      .reply(200, listBody(1, [orderText('241111-9')]));
    const pages = await collect(connector({ overlapMs: 0 }).pullOrders(cursor));
    expect(scope.isDone()).toBe(true);
    expect(pages).toHaveLength(1);
    expect(pages[0]).toMatchObject({ caughtUp: true });
  });

  it('halves a window that would need more pages than maxPagesPerWindow', async () => {
    const end = NOW_S - 240;
    const start = end - 1800;
    const scope = nock(GW)
      .post(
        '/api/router',
        is('pdd.order.number.list.increment.get', { end_updated_at: String(end), page: '1' }),
      )
      .reply(200, listBody(500, []))
      .post(
        '/api/router',
        is('pdd.order.number.list.increment.get', { end_updated_at: String(start + 900), page: '1' }),
      )
      .reply(200, listBody(1, [orderText('241111-7')]))
      .post(
        '/api/router',
        is('pdd.order.number.list.increment.get', { start_updated_at: String(start + 900), page: '1' }),
      )
      .reply(200, listBody(0, []));
    const pages = await collect(
      connector({ overlapMs: 0, pageSize: 100, maxPagesPerWindow: 3 }).pullOrders(
        new Date(start * 1000).toISOString(),
      ),
    );
    expect(scope.isDone()).toBe(true);
    expect(pages.map((p) => p.orders.length)).toEqual([1, 0]);
  });

  it('stops at its page bound with caughtUp false, and fails loudly on a foreign cursor', async () => {
    const end = NOW_S - 240;
    const scope = nock(GW)
      .post('/api/router', is('pdd.order.number.list.increment.get'))
      .reply(200, listBody(0, []));
    const pages = await collect(
      connector({ overlapMs: 0, maxPagesPerPull: 1 }).pullOrders(new Date((end - 3600) * 1000).toISOString()),
    );
    expect(scope.isDone()).toBe(true);
    expect(pages.map((p) => p.caughtUp)).toEqual([false]);
    await expect(collect(connector().pullOrders('{"page_info":"x"}'))).rejects.toBeInstanceOf(
      ConnectorConfigError,
    );
  });

  it('never asks for orders newer than now - lagMs, even from a cursor in the future', async () => {
    const pages = await collect(connector().pullOrders(new Date(NOW.getTime() + 3600_000).toISOString()));
    expect(pages).toEqual([expect.objectContaining({ orders: [], caughtUp: true })]);
  });
});

describe('fetchOrder, stock, shipment', () => {
  it('reads one order through pdd.order.information.get; unknown -> null', async () => {
    const scope = nock(GW)
      .post('/api/router', is('pdd.order.information.get', { order_sn: '241110-384920175630480' }))
      .reply(200, {
        order_info_get_response: { order_info: orderText('241110-384920175630480'), request_id: 'r' },
      })
      .post('/api/router', is('pdd.order.information.get'))
      .reply(200, fail(50001, '业务服务错误', '订单不存在'));
    const c = connector();
    await expect(c.fetchOrder('241110-384920175630480')).resolves.toMatchObject({ status: 'shipped' });
    await expect(c.fetchOrder('241110-000000000000001')).resolves.toBeNull();
    await expect(c.fetchOrder('../etc')).resolves.toBeNull();
    expect(scope.isDone()).toBe(true);
  });

  it('pushes absolute quantities one SKU per call; a bad listing fails alone', async () => {
    const scope = nock(GW)
      .post(
        '/api/router',
        is('pdd.goods.quantity.update', { goods_id: '1', sku_id: '11', quantity: '5', update_type: '1' }),
      )
      .reply(200, { goods_quantity_update_response: { is_success: true } })
      .post('/api/router', is('pdd.goods.quantity.update', { sku_id: '12' }))
      .reply(200, fail(52101, '商品不存在'))
      .post('/api/router', is('pdd.goods.quantity.update', { sku_id: '13', quantity: '0' }))
      .reply(200, { goods_quantity_update_response: { is_success: true } });
    const r = await connector().pushStock([
      { listing: { listingId: '1:11' }, quantity: 5 },
      { listing: { listingId: '1:12' }, quantity: 6 },
      { listing: { listingId: 'nope' }, quantity: 1 },
      { listing: { listingId: '1:13' }, quantity: 0 },
    ]);
    expect(scope.isDone()).toBe(true);
    expect(r.map((x) => x.status)).toEqual(['ok', 'failed', 'failed', 'ok']);
    expect(r[1]).toMatchObject({ action: 'config_error', code: '52101|52101' });
  });

  it('throws when the first push fails as a whole; marks the rest failed when a later one does', async () => {
    nock(GW).post('/api/router').reply(200, fail(10019, 'access_token已过期'));
    await expect(
      connector().pushStock([{ listing: { listingId: '1:11' }, quantity: 1 }]),
    ).rejects.toBeInstanceOf(RefreshTokenError);
    const scope = nock(GW)
      .post('/api/router')
      .reply(200, { goods_quantity_update_response: { is_success: true } })
      .post('/api/router')
      .reply(200, fail(70031, '调用过于频繁'));
    const r = await connector().pushStock([
      { listing: { listingId: '1:11' }, quantity: 1 },
      { listing: { listingId: '1:12' }, quantity: 2 },
      { listing: { listingId: '1:13' }, quantity: 3 },
    ]);
    expect(scope.isDone()).toBe(true);
    expect(r.map((x) => [x.status, x.status === 'failed' ? x.action : ''])).toEqual([
      ['ok', ''],
      ['failed', 'rate_limited'],
      ['failed', 'rate_limited'],
    ]);
  });

  // goods_detail_get_response as PDD writes it (bare LONG ids; fields per the SDK types).
  const detail = (goodsId: string, skus: [string, number][]) =>
    `{"goods_detail_get_response":{"goods_id":${goodsId},"goods_name":"夏季纯棉T恤","status":1,` +
    `"sku_list":[${skus
      .map(
        ([id, q]) =>
          `{"sku_id":${id},"out_sku_sn":"SKU-${id}","is_onsale":1,"multi_price":990,"quantity":${q},"reserve_quantity":0}`,
      )
      .join(',')}],"request_id":"r"}}`;

  it('reads quantities with one signed pdd.goods.detail.get per goods, in input order', async () => {
    const sent: Record<string, string>[] = [];
    const record = (type: string) => (b: unknown) => {
      sent.push(form(b));
      return is(type)(b);
    };
    const scope = nock(GW)
      .post('/api/router', record('pdd.goods.detail.get'))
      .reply(
        200,
        detail('612000000001', [
          ['1234500000000', 7],
          ['1234500000001', 0],
        ]),
      )
      .post('/api/router', record('pdd.goods.detail.get'))
      .reply(200, fail(52101, '商品不存在'))
      .post('/api/router', record('pdd.goods.detail.get'))
      // A SKU id beyond 2^53 stays exact.
      .reply(200, detail('612000000002', [['9007199254740993', 42]]));
    const r = await connector().readStock!([
      { listingId: '612000000001:1234500000001' },
      { listingId: '612000000009:1' },
      { listingId: '612000000001:1234500000000' },
      { listingId: 'nope' },
      { listingId: '612000000001:1234500000099' },
      { listingId: '612000000002:9007199254740993' },
    ]);
    expect(scope.isDone()).toBe(true);
    expect(sent.map((f) => f.goods_id)).toEqual(['612000000001', '612000000009', '612000000002']);
    for (const { sign, ...rest } of sent) {
      expect(rest).toMatchObject({ type: 'pdd.goods.detail.get', access_token: 'test_token' });
      expect(sign).toBe(signPdd(rest, 'testsecret'));
    }
    expect(r.map((x) => x.listing.listingId)).toEqual([
      '612000000001:1234500000001',
      '612000000009:1',
      '612000000001:1234500000000',
      'nope',
      '612000000001:1234500000099',
      '612000000002:9007199254740993',
    ]);
    expect(r[0]).toEqual({ listing: { listingId: '612000000001:1234500000001' }, ok: true, quantity: 0 });
    expect(r[2]).toMatchObject({ ok: true, quantity: 7 });
    expect(r[5]).toMatchObject({ ok: true, quantity: 42 });
    expect(r[1]).toMatchObject({ ok: false, error: expect.stringMatching(/goods 612000000009: .*52101/) });
    expect(r[3]).toMatchObject({ ok: false, error: expect.stringContaining('"nope"') });
    expect(r[4]).toMatchObject({ ok: false, error: expect.stringContaining('1234500000099') });
  });

  it('throws when the first read fails as a whole; fails the rest when a later one does', async () => {
    const first = nock(GW)
      .post('/api/router', is('pdd.goods.detail.get'))
      .reply(200, fail(10019, 'access_token已过期'));
    await expect(
      connector().readStock!([{ listingId: '1:11' }, { listingId: '2:21' }]),
    ).rejects.toBeInstanceOf(RefreshTokenError);
    expect(first.isDone()).toBe(true);
    const scope = nock(GW)
      .post('/api/router', is('pdd.goods.detail.get', { goods_id: '1' }))
      .reply(200, detail('1', [['11', 5]]))
      .post('/api/router', is('pdd.goods.detail.get', { goods_id: '2' }))
      .reply(200, fail(70031, '调用过于频繁'));
    const r = await connector().readStock!([
      { listingId: '1:11' },
      { listingId: '2:21' },
      { listingId: '3:31' },
    ]);
    expect(scope.isDone()).toBe(true);
    expect(r.map((x) => (x.ok ? x.quantity : x.error.match(/goods \d+( not read)?/)?.[0]))).toEqual([
      5,
      'goods 2',
      'goods 3 not read',
    ]);
    expect(r.every((x) => x.ok || x.error.includes('70031'))).toBe(true);
  });

  it('confirms a shipment with the configured logistics_id; refusals are not errors', async () => {
    const scope = nock(GW)
      .post(
        '/api/router',
        is('pdd.logistics.online.send', {
          order_sn: '241111-1',
          logistics_id: '85',
          tracking_number: 'YT123',
        }),
      )
      .reply(200, { logistics_online_send_response: { is_success: true } })
      .post('/api/router', is('pdd.logistics.online.send'))
      .reply(200, fail(50001, '业务服务错误', '订单状态不允许发货'))
      .post('/api/router', is('pdd.logistics.online.send'))
      .reply(200, fail(50001, '业务服务错误', '订单不存在'));
    const c = connector();
    await expect(
      c.confirmShipment({ platformOrderId: '241111-1', carrier: 'YTO', trackingNumber: 'YT123' }),
    ).resolves.toEqual({
      ok: true,
      platformShipmentId: '241111-1:YT123',
    });
    await expect(
      c.confirmShipment({ platformOrderId: '241111-1', carrier: '85', trackingNumber: 'YT1' }),
    ).resolves.toMatchObject({
      ok: false,
      reason: 'nothing_to_ship',
    });
    await expect(
      c.confirmShipment({ platformOrderId: '241111-2', carrier: '85', trackingNumber: 'YT2' }),
    ).resolves.toMatchObject({
      ok: false,
      reason: 'order_not_found',
    });
    await expect(
      c.confirmShipment({ platformOrderId: '241111-3', carrier: 'DHL', trackingNumber: 'X' }),
    ).rejects.toBeInstanceOf(ConnectorConfigError);
    expect(scope.isDone()).toBe(true);
  });
});

describe('relayed PMC messages', () => {
  const body = Buffer.from(
    '{"id":9000000123,"commandType":"Common","time":1731256200000,"sendTime":1731256200000,' +
      '"message":{"type":"pdd_trade_TradeConfirmed","mallID":880011,"content":"{\\"tid\\":\\"241111-384920175630481\\",\\"mall_id\\":880011}"}}',
  );
  const ts = String(NOW_S);
  const sig = relayMac('relay-secret-0123456789', ts, body).toString('hex').toUpperCase();

  it('verifies the relay HMAC over the raw bytes and yields a re-fetch hint with a stable dedupe key', () => {
    const r = connector().parseWebhook({
      headers: { 'x-pdd-relay-signature': sig, 'X-Pdd-Relay-Timestamp': ts },
      body,
    });
    expect(r).toEqual({
      ok: true,
      dedupeKey: 'pinduoduo:pmc:9000000123',
      topic: 'pdd_trade_TradeConfirmed',
      shop: '880011',
      triggeredAt: new Date(1731256200000),
      events: [
        { kind: 'refetch_order', platformOrderId: '241111-384920175630481', reason: expect.any(String) },
      ],
    });
  });

  it('accepts a previous secret during rotation; rejects tampering, stale timestamps and oversize bodies', () => {
    const old = relayMac('old-relay-secret-0123456', ts, body).toString('hex').toUpperCase();
    const c = connector({ previousRelaySecrets: ['old-relay-secret-0123456'], maxWebhookBytes: 1024 });
    const h = (s: string, t = ts) => ({ 'x-pdd-relay-signature': s, 'x-pdd-relay-timestamp': t });
    expect(c.parseWebhook({ headers: h(old), body }).ok).toBe(true);
    const tampered = Buffer.from(body);
    tampered[20] = tampered[20]! ^ 1;
    expect(c.parseWebhook({ headers: h(sig), body: tampered })).toMatchObject({ ok: false, status: 401 });
    expect(c.parseWebhook({ headers: h(sig.toLowerCase()), body })).toMatchObject({ ok: false, status: 401 });
    const staleTs = String(NOW_S - 3600);
    const stale = relayMac('relay-secret-0123456789', staleTs, body).toString('hex').toUpperCase();
    expect(c.parseWebhook({ headers: h(stale, staleTs), body })).toMatchObject({ ok: false, status: 401 });
    expect(c.parseWebhook({ headers: h(sig), body: Buffer.alloc(2048) })).toMatchObject({
      ok: false,
      status: 413,
    });
  });
});
