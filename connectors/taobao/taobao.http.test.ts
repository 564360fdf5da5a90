/**
 * The Taobao connector at its HTTP edge, against nock: TOP's documented request form and response
 * shapes, net connect disabled, every scope asserted done.
 */
import { createHmac } from 'node:crypto';
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
import { signTop, TopClient } from './client.js';
import { type TaobaoConfigInput, taobaoConfigSchema } from './config.js';
import { createTaobaoConnector } from './connector.js';
import { decodeCursor, splitWindows } from './pagination.js';

installLeakGuard();

const GW = 'https://eco.taobao.com';
const NOW = new Date('2024-11-10T16:00:05.000Z'); // 2024-11-11 00:00:05 GMT+8
const clock: Clock = { now: () => NOW };
const deps = (c: Clock = clock) => ({ http: axios.create(), log: pino({ level: 'silent' }), clock: c });
const config = (patch: Partial<TaobaoConfigInput> = {}) =>
  taobaoConfigSchema.parse({
    sellerNick: '示例店铺',
    appKey: '12345678',
    appSecret: 'helloworld',
    session: 'test',
    relaySecret: 'relay-secret-0123456789',
    ...patch,
  });
const connector = (patch: Partial<TaobaoConfigInput> = {}, c: Clock = clock): Connector =>
  createTaobaoConnector(config(patch), deps(c));

/** The form nock hands us (it may or may not have parsed it). */
const form = (body: unknown): Record<string, string> =>
  typeof body === 'string' ? Object.fromEntries(new URLSearchParams(body)) : (body as Record<string, string>);
const is =
  (method: string, extra: Record<string, string> = {}) =>
  (body: unknown) => {
    const f = form(body);
    return f.method === method && Object.entries(extra).every(([k, v]) => f[k] === v);
  };
const ok = (name: string, payload: unknown) => ({
  [`${name}_response`]: { ...(payload as object), request_id: 'r1' },
});
const fail = (code: number, msg: string, sub_code?: string, sub_msg?: string) => ({
  error_response: { code, msg, sub_code, sub_msg, request_id: 'r2' },
});
/** JSON as TOP writes it: ids as bare numbers, even 19-digit ones (beyond 2^53). */
const topText = (payload: unknown) =>
  JSON.stringify(payload).replace(/"(tid|oid|num_iid|sku_id)":"(\d+)"/g, '"$1":$2');
const example = readFileSync(new URL('./fixtures/trade-worked-example.json', import.meta.url), 'utf8');

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

describe('TOP signing', () => {
  // Vectors computed independently in the shell (python3 hashlib/hmac, and openssl for two):
  //   J='app_key12345678formatjsonmethodtaobao.item.quantity.updatenum_iid11223344quantity5sessiontestsign_method<m>timestamp2016-01-01 12:00:00title绿茶 Thév2.0'
  //   md5:         printf '%s' "helloworld${J}helloworld" | openssl dgst -md5          (uppercased)
  //   hmac-sha256: printf '%s' "$J" | openssl dgst -sha256 -hmac helloworld             (uppercased)
  //   hmac:        python3 -c "hmac.new(b'helloworld', J.encode(), hashlib.md5).hexdigest().upper()"
  // The empty `sku_id` is dropped before signing.
  const params = (m: string) => ({
    method: 'taobao.item.quantity.update',
    app_key: '12345678',
    session: 'test',
    timestamp: '2016-01-01 12:00:00',
    format: 'json',
    v: '2.0',
    sign_method: m,
    num_iid: '11223344',
    sku_id: '',
    quantity: '5',
    title: '绿茶 Thé',
  });

  it('md5, hmac and hmac-sha256 match the independently computed vectors', () => {
    expect(signTop(params('md5'), 'helloworld', 'md5')).toBe('2CBE15EC4F4E00768A4BC3C1D267C36F');
    expect(signTop(params('hmac'), 'helloworld', 'hmac')).toBe('D223DC30C70EBFC996A09ECC49AF056E');
    expect(signTop(params('hmac-sha256'), 'helloworld', 'hmac-sha256')).toBe(
      'E25ABE5DB155A52912230CDDFE2E432A9FE2964DE8AE533284F607BECDDE3309',
    );
    expect(signTop({ ...params('md5'), sign: 'ignored' }, 'helloworld', 'md5')).toBe(
      '2CBE15EC4F4E00768A4BC3C1D267C36F',
    );
  });

  it('the client sends the system parameters, GMT+8 timestamp from the injected clock, and that signature', async () => {
    let sent: Record<string, string> = {};
    const scope = nock(GW)
      .post('/router/rest', (b) => {
        sent = form(b);
        return true;
      })
      .reply(200, ok('item_quantity_update', { item: { num_iid: 11223344, num: 5 } }));
    const at: Clock = { now: () => new Date('2016-01-01T04:00:00.400Z') }; // 12:00:00 in GMT+8
    const client = new TopClient(config({ signMethod: 'md5' }), deps(at));
    const res = await client.call('taobao.item.quantity.update', {
      num_iid: '11223344',
      sku_id: '',
      quantity: 5,
      title: '绿茶 Thé',
    });
    expect(scope.isDone()).toBe(true);
    expect(res.item).toEqual({ num_iid: '11223344', num: 5 });
    expect(sent).toEqual({ ...params('md5'), sku_id: undefined, sign: '2CBE15EC4F4E00768A4BC3C1D267C36F' });
  });
});

describe('window splitting', () => {
  it('splits a span into windows of at most the configured length', () => {
    const t = Date.parse('2024-11-10T00:00:00Z');
    expect(splitWindows(t, t + 95 * 60_000, 30 * 60_000).map((w) => (w.end - w.start) / 60_000)).toEqual([
      30, 30, 30, 5,
    ]);
    expect(splitWindows(t, t, 30 * 60_000)).toEqual([]);
  });

  it('pulls two hours as four 30-minute windows, each probed once, with GMT+8 bounds', async () => {
    const windows: [string, string][] = [];
    const scope = nock(GW)
      .post('/router/rest', (b) => {
        const f = form(b);
        if (f.method !== 'taobao.trades.sold.increment.get') return false;
        windows.push([f.start_modified!, f.end_modified!]);
        return (
          f.page_no === '1' && f.page_size === '100' && f.fields === 'tid,status,modified' && !f.use_has_next
        );
      })
      .times(4)
      .reply(200, ok('trades_sold_increment_get', { total_results: 0 }));
    // Cursor 22:10:05 GMT+8 minus the 10-minute overlap = 22:00:05; now = 00:00:05.
    const pages = await collect(connector().pullOrders('2024-11-10T14:10:05.000Z'));
    expect(scope.isDone()).toBe(true);
    expect(windows).toEqual([
      ['2024-11-10 22:00:05', '2024-11-10 22:30:05'],
      ['2024-11-10 22:30:05', '2024-11-10 23:00:05'],
      ['2024-11-10 23:00:05', '2024-11-10 23:30:05'],
      ['2024-11-10 23:30:05', '2024-11-11 00:00:05'],
    ]);
    expect(pages.map((p) => p.caughtUp)).toEqual([false, false, false, true]);
    expect(decodeCursor(pages.at(-1)!.nextCursor)).toEqual({ watermark: '2024-11-10T16:00:05.000Z' });
  });

  it('halves a window whose result would need more than maxPagesPerWindow pages', async () => {
    const seen: string[] = [];
    const scope = nock(GW)
      .post('/router/rest', is('taobao.trades.sold.increment.get'))
      .times(5)
      .reply(200, (_uri, b) => {
        const f = form(b);
        seen.push(`${f.start_modified}..${f.end_modified}#${f.page_no}`);
        const minutes =
          (Date.parse(`${f.end_modified!.replace(' ', 'T')}+08:00`) -
            Date.parse(`${f.start_modified!.replace(' ', 'T')}+08:00`)) /
          60_000;
        const total = f.start_modified === '2024-11-10 23:30:05' ? (minutes === 30 ? 500 : 20) : 0;
        return ok('trades_sold_increment_get', { total_results: total });
      });
    const pages = await collect(
      connector({ pageSize: 10, maxPagesPerWindow: 3, overlapMs: 0 }).pullOrders('2024-11-10T15:30:05.000Z'),
    );
    expect(scope.isDone()).toBe(true);
    expect(seen).toEqual([
      '2024-11-10 23:30:05..2024-11-11 00:00:05#1', // 50 pages: too many
      '2024-11-10 23:30:05..2024-11-10 23:45:05#1', // halved: 2 pages
      '2024-11-10 23:30:05..2024-11-10 23:45:05#2',
      '2024-11-10 23:30:05..2024-11-10 23:45:05#1',
      '2024-11-10 23:45:05..2024-11-11 00:00:05#1',
    ]);
    expect(pages.map((p) => p.caughtUp)).toEqual([false, false, true]);
  });
});

describe('backward paging', () => {
  const trade = (n: number) => ({
    tid: String(4100000000000000000n + BigInt(n)),
    status: 'WAIT_SELLER_SEND_GOODS',
    modified: '2024-11-10 23:59:00',
  });

  it('probes page 1, then reads the last page first and page 1 last; resumes mid-window without re-probing', async () => {
    const order: string[] = [];
    const list = (page: string, trades: unknown[]) =>
      nock(GW)
        .post('/router/rest', (b) => {
          const f = form(b);
          if (f.method !== 'taobao.trades.sold.increment.get' || f.page_no !== page) return false;
          order.push(page);
          return true;
        })
        .reply(
          200,
          topText(ok('trades_sold_increment_get', { total_results: 5, trades: { trade: trades } })),
        );
    const fullinfo = nock(GW)
      .post('/router/rest', is('taobao.trade.fullinfo.get'))
      .times(5)
      .reply(200, example);
    const scopes = [list('1', [trade(1), trade(2)]), list('3', [trade(5)]), list('2', [trade(3), trade(4)])];
    // maxPagesPerPull 3: probe, page 3, page 2 -> stop with a resume cursor at page 1.
    const c = connector({ pageSize: 2, maxPagesPerPull: 3, overlapMs: 0 });
    const first = await collect(c.pullOrders('2024-11-10T15:59:00.000Z'));
    expect(order).toEqual(['1', '3', '2']);
    expect(first.map((p) => p.caughtUp)).toEqual([false, false]);
    expect(decodeCursor(first.at(-1)!.nextCursor)).toEqual({
      watermark: '2024-11-10T15:59:00.000Z',
      resume: { start: '2024-11-10T15:59:00.000Z', end: '2024-11-10T16:00:05.000Z', page: 1 },
    });
    const again = list('1', [trade(1), trade(2)]);
    const second = await collect(c.pullOrders(first.at(-1)!.nextCursor));
    expect(order).toEqual(['1', '3', '2', '1']);
    expect(second.map((p) => p.caughtUp)).toEqual([true]);
    expect(decodeCursor(second[0]!.nextCursor)).toEqual({ watermark: '2024-11-10T16:00:05.000Z' });
    for (const s of [...scopes, again]) expect(s.isDone()).toBe(true);
    // Every listed trade is read in full: the list is partial.
    expect(fullinfo.isDone()).toBe(true);
  });

  it('a trade listed twice in one pull (shifted onto the next page) is yielded once', async () => {
    const body = (trades: unknown[]) =>
      topText(ok('trades_sold_increment_get', { total_results: 3, trades: { trade: trades } }));
    // Read backwards: page 2 holds t; then x leaves the window and t shifts onto page 1.
    const t = {
      tid: '4100000000000000123',
      status: 'WAIT_SELLER_SEND_GOODS',
      modified: '2024-11-11 00:01:10',
    };
    const scope = nock(GW)
      .post('/router/rest', is('taobao.trades.sold.increment.get', { page_no: '1' }))
      .reply(200, body([{ ...t, tid: '4100000000000000001' }, t]))
      .post('/router/rest', is('taobao.trades.sold.increment.get', { page_no: '2' }))
      .reply(200, body([t]))
      .post('/router/rest', is('taobao.trades.sold.increment.get', { page_no: '1' }))
      .reply(200, body([t]))
      .post('/router/rest', is('taobao.trade.fullinfo.get', { tid: '4100000000000000123' }))
      .reply(200, example);
    const pages = await collect(
      connector({ pageSize: 2, overlapMs: 0 }).pullOrders('2024-11-10T15:59:00.000Z'),
    );
    expect(scope.isDone()).toBe(true);
    expect(pages.flatMap((p) => p.orders.map((o) => o.platformOrderId))).toEqual(['4100000000000000123']);
  });
});

describe('error table at the HTTP edge', () => {
  const call = (reply: unknown, status = 200) => {
    const scope = nock(GW)
      .post('/router/rest')
      .reply(status, reply as object);
    return { scope, c: new TopClient(config(), deps()) };
  };

  it('code 7 with a ban in sub_msg -> rate_limited for that long; without one -> the default', async () => {
    const a = call(
      fail(
        7,
        'App Call Limited',
        'accesscontrol.limited-by-app-access-count',
        'This ban will last for 23 more seconds',
      ),
    );
    const err = await a.c.call('taobao.trade.fullinfo.get', { tid: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).toBe(23_000);
    expect(a.scope.isDone()).toBe(true);
    const b = call(fail(7, 'App Call Limited'));
    await expect(b.c.call('taobao.trade.fullinfo.get', { tid: 1 })).rejects.toMatchObject({
      retryAfterMs: 5000,
    });
    expect(b.scope.isDone()).toBe(true);
  });

  it.each([
    [fail(25, 'Invalid Signature'), 'config_error'],
    [fail(26, 'Missing Session'), 'config_error'],
    [fail(27, 'Invalid session', 'invalid-sessionkey'), 'refresh_token'],
    [fail(29, 'Invalid App Key'), 'config_error'],
    [fail(31, 'Invalid Timestamp'), 'config_error'],
    [fail(15, 'Remote service error', 'isp.top-remote-connection-timeout'), 'retry'],
    [fail(15, 'Remote service error', 'isv.item-not-exist'), 'config_error'],
    [fail(15, 'Remote service error', 'isv.trade-not-exist'), 'ignore'],
    [fail(41, 'Invalid Arguments', 'isv.invalid-parameter:page_size'), 'config_error'],
    [fail(10, 'Service Currently Unavailable'), 'retry'],
  ])('%j -> %s', async (reply, action) => {
    const { scope, c } = call(reply);
    await expect(c.call('taobao.trade.fullinfo.get', { tid: 1 })).rejects.toMatchObject({ action });
    expect(scope.isDone()).toBe(true);
  });

  it('27 is a RefreshTokenError, 25 a ConnectorConfigError; messages never carry the secret or session', async () => {
    const a = call(fail(27, 'Invalid session'));
    const e27 = await a.c.call('taobao.trade.fullinfo.get', { tid: 1 }).catch((e: unknown) => e);
    expect(e27).toBeInstanceOf(RefreshTokenError);
    const b = call(fail(25, 'Invalid Signature'));
    const e25 = await b.c.call('taobao.trade.fullinfo.get', { tid: 1 }).catch((e: unknown) => e);
    expect(e25).toBeInstanceOf(ConnectorConfigError);
    expect(String((e25 as Error).message)).not.toMatch(/helloworld/);
  });

  it('HTTP 502, a network failure and a non-JSON body are retryable', async () => {
    const a = call('bad gateway', 502);
    await expect(a.c.call('taobao.trade.fullinfo.get', { tid: 1 })).rejects.toBeInstanceOf(RetryableError);
    const scope = nock(GW)
      .post('/router/rest')
      .replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    await expect(new TopClient(config(), deps()).call('x.y', {})).rejects.toBeInstanceOf(RetryableError);
    const c = call('<html>maintenance</html>');
    await expect(c.c.call('taobao.trade.fullinfo.get', { tid: 1 })).rejects.toMatchObject({
      action: 'retry',
    });
    for (const s of [a.scope, scope, c.scope]) expect(s.isDone()).toBe(true);
  });

  it('fetchOrder: unknown trade -> null; checkConnection reports the action', async () => {
    const scope = nock(GW)
      .post('/router/rest', is('taobao.trade.fullinfo.get'))
      .reply(200, fail(15, 'Remote service error', 'isv.trade-not-exist'))
      .post('/router/rest', is('taobao.trades.sold.increment.get', { use_has_next: 'true', page_size: '1' }))
      .reply(200, fail(27, 'Invalid session'));
    const c = connector();
    await expect(c.fetchOrder('4100000000000000999')).resolves.toBeNull();
    await expect(c.checkConnection()).resolves.toMatchObject({ ok: false, action: 'refresh_token' });
    expect(scope.isDone()).toBe(true);
  });
});

describe('stock push', () => {
  const upd = (listingId: string, quantity: number) => ({ listing: { listingId }, quantity });

  it('batches SKUs of one item by 20 with type=1; items without SKUs go one by one', async () => {
    const sent: Record<string, string>[] = [];
    const scope = nock(GW)
      .post('/router/rest', (b) => {
        sent.push(form(b));
        return true;
      })
      .times(3)
      .reply(200, (_u, b) => {
        const f = form(b);
        return ok(f.method!.replace(/^taobao\./, '').replace(/\./g, '_'), { item: { num_iid: f.num_iid } });
      });
    const skus = Array.from({ length: 22 }, (_, i) => upd(`600000000001:${5000000000100 + i}`, i));
    const results = await connector().pushStock([...skus, upd('600000000002', 7)]);
    expect(scope.isDone()).toBe(true);
    expect(results.every((r) => r.status === 'ok')).toBe(true);
    expect(sent.map((s) => [s.method, s.type, s.skuid_quantities?.split(';').length ?? s.quantity])).toEqual([
      ['taobao.skus.quantity.update', '1', 20],
      ['taobao.skus.quantity.update', '1', 2],
      ['taobao.item.quantity.update', '1', '7'],
    ]);
    expect(sent[0]!.skuid_quantities!.startsWith('5000000000100:0;5000000000101:1;')).toBe(true);
  });

  it('a batch refused for one bad SKU is re-sent SKU by SKU: only that SKU fails', async () => {
    const scope = nock(GW)
      .post('/router/rest', is('taobao.skus.quantity.update'))
      .reply(200, fail(15, 'Remote service error', 'isv.sku-not-exist'))
      .post('/router/rest', is('taobao.item.quantity.update', { sku_id: '1' }))
      .reply(200, ok('item_quantity_update', { item: {} }))
      .post('/router/rest', is('taobao.item.quantity.update', { sku_id: '2' }))
      .reply(200, fail(15, 'Remote service error', 'isv.sku-not-exist', 'SKU 2 不存在'))
      .post('/router/rest', is('taobao.item.quantity.update', { sku_id: '3' }))
      .reply(200, ok('item_quantity_update', { item: {} }));
    const r = await connector().pushStock([
      upd('600:1', 1),
      upd('600:2', 2),
      upd('600:3', 3),
      upd('bad id', 4),
    ]);
    expect(scope.isDone()).toBe(true);
    expect(r.map((x) => x.status)).toEqual(['ok', 'failed', 'ok', 'failed']);
    expect(r[1]).toMatchObject({ action: 'config_error', code: '15|isv.sku-not-exist' });
  });

  it('throttled on the first request: throws (nothing applied); on a later one: those items fail with the wait', async () => {
    const ban = fail(
      7,
      'App Call Limited',
      'accesscontrol.limited-by-app-access-count',
      'This ban will last for 3 more seconds',
    );
    const a = nock(GW).post('/router/rest').reply(200, ban);
    await expect(connector().pushStock([upd('600', 1), upd('601', 2)])).rejects.toBeInstanceOf(
      RateLimitedError,
    );
    expect(a.isDone()).toBe(true);
    const b = nock(GW)
      .post('/router/rest', is('taobao.item.quantity.update', { num_iid: '600' }))
      .reply(200, ok('item_quantity_update', { item: {} }))
      .post('/router/rest', is('taobao.item.quantity.update', { num_iid: '601' }))
      .reply(200, ban);
    const r = await connector().pushStock([upd('600', 1), upd('601', 2)]);
    expect(b.isDone()).toBe(true);
    expect(r).toEqual([
      { listing: { listingId: '600' }, status: 'ok', quantity: 1 },
      expect.objectContaining({ status: 'failed', action: 'rate_limited', retryAfterMs: 3000 }),
    ]);
  });
});

describe('stock read', () => {
  const ref = (listingId: string) => ({ listingId });
  const item = (numIid: string, num: number, skus?: [string, number][]) => ({
    num_iid: numIid,
    num,
    ...(skus
      ? { skus: { sku: skus.map(([sku_id, quantity]) => ({ sku_id, quantity, status: 'normal' })) } }
      : {}),
  });
  const listReply = (items: unknown[]) =>
    topText(ok('items_seller_list_get', items.length > 0 ? { items: { item: items } } : {}));

  it('one signed items.seller.list.get per 20 items: item num, SKU quantity (exact ids); missing ones fail alone, in order', async () => {
    let sent: Record<string, string> = {};
    const scope = nock(GW)
      .post('/router/rest', (b) => {
        sent = form(b);
        return true;
      })
      .reply(
        200,
        listReply([
          // 9007199254740993 is 2^53 + 1: as a JS number it would read ...992 and not match.
          item('600000000001', 10, [
            ['5000000000001', 7],
            ['9007199254740993', 3],
          ]),
          item('600000000002', 42),
        ]),
      );
    const listings = [
      '600000000001:5000000000001',
      '600000000002',
      '600000000001:5000000000999',
      'bad id',
      '600000000003',
      '600000000001:9007199254740993',
      '600000000001',
    ].map(ref);
    const r = await connector().readStock!(listings);
    expect(scope.isDone()).toBe(true);
    expect(sent).toMatchObject({
      method: 'taobao.items.seller.list.get',
      num_iids: '600000000001,600000000002,600000000003',
      fields: 'num_iid,num,sku',
      session: 'test',
      sign_method: 'hmac-sha256',
    });
    // The signature computed here, independently of signTop: HMAC-SHA256 over sorted key+value.
    const { sign, ...rest } = sent;
    const joined = Object.keys(rest)
      .sort()
      .map((k) => `${k}${rest[k]}`)
      .join('');
    expect(sign).toBe(createHmac('sha256', 'helloworld').update(joined, 'utf8').digest('hex').toUpperCase());
    expect(r.map((x) => x.listing)).toEqual(listings);
    expect(r.map((x) => (x.ok ? x.quantity : null))).toEqual([7, 42, null, null, null, 3, 10]);
    expect(r[2]).toMatchObject({
      ok: false,
      error: expect.stringMatching(/600000000001:5000000000999.*SKU not on the item/),
    });
    expect(r[3]).toMatchObject({ ok: false, error: expect.stringContaining('"bad id"') });
    expect(r[4]).toMatchObject({
      ok: false,
      error: expect.stringMatching(/600000000003.*item not returned/),
    });
  });

  it('45 items go in calls of 20, 20 and 5, each item once however many of its SKUs are read', async () => {
    const sent: string[][] = [];
    const scope = nock(GW)
      .post('/router/rest', is('taobao.items.seller.list.get'))
      .times(3)
      .reply(200, (_u, b) => {
        const ids = form(b).num_iids!.split(',');
        sent.push(ids);
        return listReply(
          ids.map((id) =>
            item(id, Number(id) % 1000, [
              [`${id}1`, 1],
              [`${id}2`, 2],
            ]),
          ),
        );
      });
    const ids = Array.from({ length: 45 }, (_, i) => String(600000000100 + i));
    const listings = [...ids.map(ref), ref(`${ids[0]}:${ids[0]}2`), ref(`${ids[44]}:${ids[44]}1`)];
    const r = await connector().readStock!(listings);
    expect(scope.isDone()).toBe(true);
    expect(sent.map((x) => x.length)).toEqual([20, 20, 5]);
    expect(sent.flat()).toEqual(ids);
    expect(r.map((x) => (x.ok ? x.quantity : null))).toEqual([...ids.map((_, i) => 100 + i), 2, 1]);
  });

  it('a failed first call throws its classified error; a failed later call fails only its listings', async () => {
    const first = nock(GW)
      .post('/router/rest', is('taobao.items.seller.list.get'))
      .reply(200, fail(27, 'Invalid session', 'invalid-sessionkey'))
      .post('/router/rest', is('taobao.items.seller.list.get'))
      .reply(
        200,
        fail(
          7,
          'App Call Limited',
          'accesscontrol.limited-by-app-access-count',
          'This ban will last for 3 more seconds',
        ),
      );
    await expect(connector().readStock!([ref('600')])).rejects.toMatchObject({
      action: 'refresh_token',
      code: '27|invalid-sessionkey',
    });
    const err = await connector().readStock!([ref('600')]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect(err).toMatchObject({ action: 'rate_limited', retryAfterMs: 3000 });
    expect(first.isDone()).toBe(true);

    const ids = Array.from({ length: 21 }, (_, i) => String(600000000200 + i));
    const scope = nock(GW)
      .post('/router/rest', is('taobao.items.seller.list.get', { num_iids: ids.slice(0, 20).join(',') }))
      .reply(200, listReply(ids.slice(0, 20).map((id) => item(id, 5))))
      .post('/router/rest', is('taobao.items.seller.list.get', { num_iids: ids[20]! }))
      .reply(502, 'Bad Gateway');
    const r = await connector().readStock!(ids.map(ref));
    expect(scope.isDone()).toBe(true);
    expect(r.slice(0, 20).every((x) => x.ok && x.quantity === 5)).toBe(true);
    expect(r[20]).toEqual({
      listing: ref(ids[20]!),
      ok: false,
      error: expect.stringContaining('TOP taobao.items.seller.list.get -> 502'),
    });
  });
});

describe('shipment', () => {
  it('logistics.offline.send with tid, out_sid, company_code; sub_tid for a partial shipment; refusals mapped', async () => {
    const scope = nock(GW)
      .post(
        '/router/rest',
        is('taobao.logistics.offline.send', {
          tid: '4100000000000000123',
          out_sid: 'YT123',
          company_code: 'YTO',
        }),
      )
      .reply(200, ok('logistics_offline_send', { shipping: { is_success: true } }))
      .post(
        '/router/rest',
        is('taobao.logistics.offline.send', { sub_tid: '4100000000000000124', is_split: '1' }),
      )
      .reply(
        200,
        fail(15, 'Remote service error', 'isv.logistics-offline-service-error:B04', '订单状态不允许发货'),
      )
      .post('/router/rest', is('taobao.logistics.offline.send'))
      .reply(200, fail(15, 'Remote service error', 'isv.trade-not-exist'));
    const c = connector();
    await expect(
      c.confirmShipment({ platformOrderId: '4100000000000000123', carrier: 'YTO', trackingNumber: 'YT123' }),
    ).resolves.toEqual({ ok: true, platformShipmentId: '4100000000000000123:YT123' });
    await expect(
      c.confirmShipment({
        platformOrderId: '4100000000000000123',
        carrier: 'YTO',
        trackingNumber: 'YT124',
        lines: [{ platformLineId: '4100000000000000124' }],
      }),
    ).resolves.toMatchObject({ ok: false, reason: 'nothing_to_ship' });
    await expect(
      c.confirmShipment({ platformOrderId: '1', carrier: 'YTO', trackingNumber: 'x' }),
    ).resolves.toMatchObject({
      ok: false,
      reason: 'order_not_found',
    });
    expect(scope.isDone()).toBe(true);
  });
});

describe('relayed TMC messages', () => {
  // Computed independently: printf '1731254405\n%s' "$BODY" | openssl dgst -sha256 -hmac 'relay-secret-0123456789'
  const body = Buffer.from(
    '{"id":7000000000000000001,"topic":"taobao_trade_TradeBuyerPay","pub_time":"2024-11-11 00:00:05","user_nick":"卖家","content":"{\\"tid\\":4100000000000000123}"}',
    'utf8',
  );
  const sig = 'A1553DE3B1A04478A54453305667B4F6B03242C2A2E2558B0AE8EB288FC38DA6';
  const headers = { 'X-Top-Relay-Signature': sig, 'X-Top-Relay-Timestamp': '1731254405' };

  it('verifies the raw bytes against the independently computed MAC', () => {
    expect(verifyRelaySignature(body, '1731254405', sig, ['relay-secret-0123456789'])).toBe(true);
    expect(verifyRelaySignature(body, '1731254406', sig, ['relay-secret-0123456789'])).toBe(false);
    expect(verifyRelaySignature(body, '1731254405', sig.toLowerCase(), ['relay-secret-0123456789'])).toBe(
      false,
    );
  });

  it('a trade topic becomes a refetch hint for the exact tid; dedupe on the TMC message id', () => {
    const r = connector().parseWebhook({ headers, body });
    expect(r).toEqual({
      ok: true,
      dedupeKey: 'taobao:tmc:7000000000000000001',
      topic: 'taobao_trade_TradeBuyerPay',
      shop: '卖家',
      triggeredAt: new Date('2024-11-10T16:00:05.000Z'),
      events: [{ kind: 'refetch_order', platformOrderId: '4100000000000000123', reason: expect.any(String) }],
    });
  });

  it('rejects tampering, other secrets, missing headers and stale timestamps with 401', () => {
    const c = connector();
    const tampered = Buffer.from(body);
    tampered.writeUInt8(tampered.readUInt8(40) ^ 1, 40);
    expect(c.parseWebhook({ headers, body: tampered })).toMatchObject({ ok: false, status: 401 });
    expect(
      connector({ relaySecret: 'another-secret-0123456' }).parseWebhook({ headers, body }),
    ).toMatchObject({
      ok: false,
      status: 401,
    });
    expect(
      connector({
        relaySecret: 'another-secret-0123456',
        previousRelaySecrets: ['relay-secret-0123456789'],
      }).parseWebhook({
        headers,
        body,
      }).ok,
    ).toBe(true);
    expect(c.parseWebhook({ headers: { 'X-Top-Relay-Signature': sig }, body })).toMatchObject({
      ok: false,
      status: 401,
    });
    const later: Clock = { now: () => new Date(NOW.getTime() + 301_000) };
    expect(connector({}, later).parseWebhook({ headers, body })).toMatchObject({ ok: false, status: 401 });
  });
});
