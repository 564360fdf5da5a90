/**
 * The WooCommerce connector at its HTTP edge, against nock: requests and responses modelled on
 * the WooCommerce REST API v3 docs (order 727, the refund list of order 723, batch responses with
 * per-item `error` objects, `{code, message, data: {status}}` errors), net connect disabled, every
 * scope asserted done, a fixed clock.
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
  IgnorableError,
  type OrderPage,
  RateLimitedError,
  RetryableError,
} from '../contract.js';
import { installLeakGuard } from '../testing/leak-guard.js';
import { parseWooGmt, wooTime } from './client.js';
import { type WooConfigInput, woocommerceConfigSchema } from './config.js';
import { createWooConnector } from './connector.js';
import { decodeCursor, encodeCursor, pageFacts } from './pagination.js';
import { specialcharsDecode, verifyWooSignature } from './webhook.js';

installLeakGuard();

const STORE = 'https://example.com';
const API = '/wp-json/wc/v3';
const NOW = new Date('2024-05-01T12:00:00.000Z');
const clock: Clock = { now: () => NOW };
const fixture = <T>(name: string) =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as T;
type Raw = Record<string, unknown>;

function connector(patch: Partial<WooConfigInput> = {}): Connector {
  const config = woocommerceConfigSchema.parse({
    storeUrl: STORE,
    consumerKey: 'ck_4f1e',
    consumerSecret: 'cs_9a2b',
    webhookSecret: 'wc-webhook-secret',
    lagMs: 0,
    overlapMs: 0,
    ...patch,
  });
  return createWooConnector(config, { http: axios.create(), log: pino({ level: 'silent' }), clock });
}

async function collect(gen: AsyncGenerator<OrderPage>): Promise<OrderPage[]> {
  const pages: OrderPage[] = [];
  for await (const p of gen) pages.push(p);
  return pages;
}

const order = (id: number, modifiedGmt: string): Raw => ({
  ...fixture<Raw>('order-727.json'),
  id,
  date_modified_gmt: modifiedGmt,
});
// Computed independently: printf '%s' 'ck_4f1e:cs_9a2b' | base64
const auth = { reqheaders: { authorization: 'Basic Y2tfNGYxZTpjc185YTJi' } };
const list = (from: string, to: string, page: number, perPage = 100) => ({
  modified_after: from,
  modified_before: to,
  dates_are_gmt: 'true',
  orderby: 'id',
  order: 'asc',
  status: 'any',
  per_page: String(perPage),
  page: String(page),
});

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());
afterAll(() => {
  nock.enableNetConnect();
  nock.restore();
});

describe('time', () => {
  it('formats and parses GMT without the machine zone', () => {
    expect(wooTime(Date.parse('2024-05-01T12:00:00.999Z'))).toBe('2024-05-01T12:00:00');
    expect(parseWooGmt('2017-03-22T19:28:08')).toBe(Date.parse('2017-03-22T19:28:08Z'));
    expect(parseWooGmt('2017-03-22T16:28:08-03:00')).toBe(Date.parse('2017-03-22T19:28:08Z'));
    expect(parseWooGmt('22/03/2017')).toBeNaN();
  });
});

describe('webhook signature (fixed secret, fixed body)', () => {
  // Computed independently:
  //   printf '%s' '{"id":727,"status":"processing"}' | openssl dgst -sha256 -hmac 'wc-webhook-secret' -binary | base64
  // (and the same with python3 hmac/hashlib/base64).
  const body = Buffer.from('{"id":727,"status":"processing"}', 'utf8');
  const signature = '28UptfPMUjhsHKsvuslXOpeCW/6n8ZSdFkQt9f5GYjY=';

  it('accepts the HMAC of the raw bytes and rejects any change', () => {
    expect(verifyWooSignature(body, signature, ['wc-webhook-secret'])).toBe(true);
    expect(verifyWooSignature(body, signature, ['old', 'wc-webhook-secret'])).toBe(true);
    expect(verifyWooSignature(body, signature, ['wc-webhook-Secret'])).toBe(false);
    expect(
      verifyWooSignature(Buffer.from('{"id":727, "status":"processing"}'), signature, ['wc-webhook-secret']),
    ).toBe(false);
    expect(verifyWooSignature(body, `A${signature.slice(1)}`, ['wc-webhook-secret'])).toBe(false);
    expect(verifyWooSignature(body, signature.slice(0, -4), ['wc-webhook-secret'])).toBe(false);
    expect(verifyWooSignature(body, 'not base64!', ['wc-webhook-secret'])).toBe(false);
  });

  it('decodes HTML entities in the secret as WordPress does', () => {
    expect(specialcharsDecode('a&amp;b&lt;c&#039;d&quot;')).toBe(`a&b<c'd"`);
    const sig = createHmac('sha256', 'a&b').update(body).digest('base64');
    expect(verifyWooSignature(body, sig, ['a&amp;b'])).toBe(true);
  });
});

describe('parseWebhook', () => {
  const c = connector({ previousWebhookSecrets: ['rotated-out'] });
  const sign = (b: Uint8Array, secret = 'wc-webhook-secret') =>
    createHmac('sha256', secret).update(b).digest('base64');
  const headers = (b: Uint8Array, topic = 'order.updated', extra: Record<string, string> = {}) => ({
    'X-WC-Webhook-Source': 'https://example.com/',
    'X-WC-Webhook-Topic': topic,
    'X-WC-Webhook-Resource': topic.split('.')[0]!,
    'X-WC-Webhook-Event': topic.split('.')[1]!,
    'X-WC-Webhook-Signature': sign(b),
    'X-WC-Webhook-ID': '17',
    'X-WC-Webhook-Delivery-ID': 'c5b6d7e8f9a0b1c2d3e4f5a6b7c8d9e0',
    ...extra,
  });
  const body727 = Buffer.from(JSON.stringify(fixture('order-727.json')), 'utf8');

  it('verifies and yields the full order; the dedupe key is (webhook, topic, order, date_modified)', () => {
    const r = c.parseWebhook({ headers: headers(body727), body: body727 });
    expect(r).toMatchObject({
      ok: true,
      topic: 'order.updated',
      shop: 'https://example.com/',
      dedupeKey: 'woocommerce:17:order.updated:727@2017-03-22T19:28:08',
    });
    expect(r.ok && r.events).toEqual([
      { kind: 'order', order: expect.objectContaining({ platformOrderId: '727', status: 'paid' }) },
    ]);
    // A manual redelivery (new delivery id) of the same state has the same key.
    const again = c.parseWebhook({
      headers: headers(body727, 'order.updated', { 'X-WC-Webhook-Delivery-ID': 'other' }),
      body: body727,
    });
    expect(again.ok && again.dedupeKey).toBe('woocommerce:17:order.updated:727@2017-03-22T19:28:08');
  });

  it('answers the unsigned form-encoded ping with ok and no events; other unsigned bodies are 401', () => {
    const ping = Buffer.from('webhook_id=17');
    expect(
      c.parseWebhook({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: ping }),
    ).toEqual({
      ok: true,
      dedupeKey: 'woocommerce:ping:17',
      topic: 'ping',
      events: [],
    });
    const { 'X-WC-Webhook-Signature': _s, ...unsigned } = headers(body727);
    expect(c.parseWebhook({ headers: unsigned, body: body727 })).toMatchObject({ ok: false, status: 401 });
  });

  it('orders with refunds, deletions and drafts: re-fetch hints or nothing; other topics: no events', () => {
    const refunded = Buffer.from(
      JSON.stringify({
        ...fixture<Raw>('order-727.json'),
        refunds: [{ id: 730, reason: '', total: '-6.00' }],
      }),
    );
    expect(c.parseWebhook({ headers: headers(refunded), body: refunded })).toMatchObject({
      ok: true,
      events: [{ kind: 'refetch_order', platformOrderId: '727' }],
    });
    const deleted = Buffer.from('{"id":727}');
    expect(c.parseWebhook({ headers: headers(deleted, 'order.deleted'), body: deleted })).toMatchObject({
      ok: true,
      dedupeKey: 'woocommerce:17:delivery:c5b6d7e8f9a0b1c2d3e4f5a6b7c8d9e0',
      events: [{ kind: 'refetch_order', platformOrderId: '727' }],
    });
    const draft = Buffer.from(
      JSON.stringify({ ...fixture<Raw>('order-727.json'), status: 'checkout-draft' }),
    );
    expect(c.parseWebhook({ headers: headers(draft), body: draft })).toMatchObject({ ok: true, events: [] });
    const product = Buffer.from('{"id":93,"name":"Woo Single #1"}');
    expect(c.parseWebhook({ headers: headers(product, 'product.updated'), body: product })).toMatchObject({
      ok: true,
      events: [],
    });
  });

  it('rejects tampering, a wrong secret, a missing topic, non-JSON and oversize bodies', () => {
    const tampered = Buffer.from(body727);
    tampered[10] = (tampered[10] ?? 0) ^ 1;
    expect(c.parseWebhook({ headers: headers(body727), body: tampered })).toMatchObject({
      ok: false,
      status: 401,
    });
    expect(
      c.parseWebhook({
        headers: { ...headers(body727), 'X-WC-Webhook-Signature': sign(body727, 'nope') },
        body: body727,
      }),
    ).toMatchObject({ ok: false, status: 401 });
    expect(
      c.parseWebhook({
        headers: { ...headers(body727), 'X-WC-Webhook-Signature': sign(body727, 'rotated-out') },
        body: body727,
      }),
    ).toMatchObject({ ok: true });
    const { 'X-WC-Webhook-Topic': _t, ...noTopic } = headers(body727);
    expect(c.parseWebhook({ headers: noTopic, body: body727 })).toMatchObject({ ok: false, status: 400 });
    const junk = Buffer.from([0xff, 0xfe, 0x00]);
    expect(c.parseWebhook({ headers: headers(junk), body: junk })).toMatchObject({ ok: false, status: 400 });
    const big = Buffer.alloc(2048, 0x20);
    expect(
      connector({ maxWebhookBytes: 1024 }).parseWebhook({ headers: headers(big), body: big }),
    ).toMatchObject({
      ok: false,
      status: 413,
    });
  });
});

describe('pullOrders', () => {
  it('pages by X-WP-TotalPages with Basic auth, id ascending, and moves the watermark only at the end', async () => {
    const from = '2024-05-01T10:00:00';
    const to = '2024-05-01T12:00:00';
    const scope = nock(STORE, auth)
      .get(`${API}/orders`)
      .query(list(from, to, 1, 2))
      .reply(200, [order(801, '2024-05-01T11:00:00'), order(802, '2024-05-01T10:30:00')], {
        'X-WP-Total': '3',
        'X-WP-TotalPages': '2',
        Link: `<${STORE}${API}/orders?page=2>; rel="next"`,
      })
      .get(`${API}/orders`)
      .query(list(from, to, 2, 2))
      .reply(200, [order(803, '2024-05-01T11:59:00')], {
        'X-WP-Total': '3',
        'X-WP-TotalPages': '2',
        // From page 2 on the first link is rel="prev": it must not be followed.
        Link: `<${STORE}${API}/orders?page=1>; rel="prev"`,
      });
    const pages = await collect(connector({ pageSize: 2 }).pullOrders('2024-05-01T10:00:00Z'));
    expect(scope.isDone()).toBe(true);
    expect(pages.map((p) => p.orders.map((o) => o.platformOrderId))).toEqual([['801', '802'], ['803']]);
    expect(pages.map((p) => p.caughtUp)).toEqual([false, true]);
    expect(decodeCursor(pages[0]!.nextCursor)).toEqual({
      watermark: '2024-05-01T10:00:00.000Z',
      resume: {
        from: '2024-05-01T10:00:00.000Z',
        to: '2024-05-01T12:00:00.000Z',
        until: '2024-05-01T12:00:00.000Z',
        page: 2,
        total: 3,
      },
    });
    expect(decodeCursor(pages[1]!.nextCursor)).toEqual({ watermark: '2024-05-01T12:00:00.000Z' });
  });

  it('without X-WP-TotalPages, follows only rel="next"', async () => {
    const from = '2024-05-01T11:00:00';
    const to = '2024-05-01T12:00:00';
    const scope = nock(STORE, auth)
      .get(`${API}/orders`)
      .query(list(from, to, 1))
      .reply(200, [order(801, '2024-05-01T11:10:00')], { Link: `<${STORE}${API}/orders?page=2>; rel="next"` })
      .get(`${API}/orders`)
      .query(list(from, to, 2))
      .reply(200, [order(802, '2024-05-01T11:20:00')], {
        Link: `<${STORE}${API}/orders?page=1>; rel="prev"`,
      });
    const pages = await collect(connector().pullOrders('2024-05-01T11:00:00Z'));
    expect(scope.isDone()).toBe(true);
    expect(pages.flatMap((p) => p.orders.map((o) => o.platformOrderId))).toEqual(['801', '802']);
    expect(pageFacts({ link: '<a>; rel="prev", <b>; rel="next"' }, 2).hasNext).toBe(true);
  });

  it('splits a long span into windows, overlap and lag applied, and yields per window', async () => {
    const scope = nock(STORE, auth)
      .get(`${API}/orders`)
      .query(list('2024-05-01T08:50:00', '2024-05-01T09:50:00', 1))
      .reply(200, [order(801, '2024-05-01T09:00:00')], { 'X-WP-Total': '1', 'X-WP-TotalPages': '1' })
      .get(`${API}/orders`)
      .query(list('2024-05-01T09:50:00', '2024-05-01T10:50:00', 1))
      .reply(200, [], { 'X-WP-Total': '0', 'X-WP-TotalPages': '0' })
      .get(`${API}/orders`)
      .query(list('2024-05-01T10:50:00', '2024-05-01T11:50:00', 1))
      .reply(200, [order(802, '2024-05-01T11:00:00')], { 'X-WP-Total': '1', 'X-WP-TotalPages': '1' })
      .get(`${API}/orders`)
      .query(list('2024-05-01T11:50:00', '2024-05-01T11:59:00', 1))
      .reply(200, [], { 'X-WP-Total': '0', 'X-WP-TotalPages': '0' });
    const c = connector({ windowMs: 3600_000, overlapMs: 600_000, lagMs: 60_000 });
    const pages = await collect(c.pullOrders(encodeCursor({ watermark: '2024-05-01T09:00:00.000Z' })));
    expect(scope.isDone()).toBe(true);
    expect(pages.map((p) => p.orders.length)).toEqual([1, 0, 1, 0]);
    expect(pages.map((p) => p.caughtUp)).toEqual([false, false, false, true]);
    expect(pages.map((p) => decodeCursor(p.nextCursor)?.watermark)).toEqual([
      '2024-05-01T09:50:00.000Z',
      '2024-05-01T10:50:00.000Z',
      '2024-05-01T11:50:00.000Z',
      '2024-05-01T11:59:00.000Z',
    ]);
  });

  it('re-reads a window whose total shrank between pages (an order left it): nothing skipped', async () => {
    const from = '2024-05-01T11:00:00';
    const to = '2024-05-01T12:00:00';
    const scope = nock(STORE, auth)
      .get(`${API}/orders`)
      .query(list(from, to, 1, 2))
      .reply(200, [order(801, '2024-05-01T11:01:00'), order(802, '2024-05-01T11:02:00')], {
        'X-WP-Total': '4',
        'X-WP-TotalPages': '2',
      })
      .get(`${API}/orders`)
      .query(list(from, to, 2, 2))
      // 801 was modified again: 804 shifted onto page 1, page 2 shows only 803.
      .reply(200, [order(803, '2024-05-01T11:03:00')], { 'X-WP-Total': '3', 'X-WP-TotalPages': '2' })
      .get(`${API}/orders`)
      .query(list(from, to, 1, 2))
      .reply(200, [order(802, '2024-05-01T11:02:00'), order(803, '2024-05-01T11:03:00')], {
        'X-WP-Total': '3',
        'X-WP-TotalPages': '2',
      })
      .get(`${API}/orders`)
      .query(list(from, to, 2, 2))
      .reply(200, [order(804, '2024-05-01T11:04:00')], { 'X-WP-Total': '3', 'X-WP-TotalPages': '2' });
    const pages = await collect(connector({ pageSize: 2 }).pullOrders('2024-05-01T11:00:00Z'));
    expect(scope.isDone()).toBe(true);
    expect(pages.flatMap((p) => p.orders.map((o) => o.platformOrderId))).toEqual([
      '801',
      '802',
      '803',
      '804',
    ]);
    expect(pages.at(-1)?.caughtUp).toBe(true);
  });

  it('stops at the page bound with a resumable cursor, then resumes on the next page', async () => {
    const from = '2024-05-01T11:00:00';
    const to = '2024-05-01T12:00:00';
    const scope = nock(STORE, auth)
      .get(`${API}/orders`)
      .query(list(from, to, 1, 1))
      .reply(200, [order(801, '2024-05-01T11:01:00')], { 'X-WP-Total': '2', 'X-WP-TotalPages': '2' })
      .get(`${API}/orders`)
      .query(list(from, to, 2, 1))
      .reply(200, [order(802, '2024-05-01T11:02:00')], { 'X-WP-Total': '2', 'X-WP-TotalPages': '2' });
    const c = connector({ pageSize: 1, maxPagesPerPull: 1 });
    const first = await collect(c.pullOrders('2024-05-01T11:00:00Z'));
    expect(first.map((p) => p.caughtUp)).toEqual([false]);
    const second = await collect(c.pullOrders(first[0]!.nextCursor));
    expect(scope.isDone()).toBe(true);
    expect(second.map((p) => [p.orders.map((o) => o.platformOrderId), p.caughtUp])).toEqual([
      [['802'], true],
    ]);
  });

  it('fetches refund details for orders that have refunds', async () => {
    const o = {
      ...order(723, '2024-05-01T11:30:00'),
      line_items: [
        {
          id: 311,
          name: 'Woo Album #2',
          product_id: 87,
          variation_id: 0,
          quantity: 1,
          subtotal: '9.00',
          total: '9.00',
          sku: '',
        },
      ],
      shipping_total: '10.00',
      total_tax: '0.00',
      total: '19.00',
      refunds: [
        { id: 726, reason: '', total: '-10.00' },
        { id: 724, reason: '', total: '-9.00' },
      ],
    };
    const scope = nock(STORE, auth)
      .get(`${API}/orders`)
      .query(list('2024-05-01T11:00:00', '2024-05-01T12:00:00', 1))
      .reply(200, [o], { 'X-WP-Total': '1', 'X-WP-TotalPages': '1' })
      .get(`${API}/orders/723/refunds`)
      .query({ per_page: '100', page: '1' })
      .reply(200, fixture('refunds-723.json'), { 'X-WP-Total': '2', 'X-WP-TotalPages': '1' });
    const pages = await collect(connector().pullOrders('2024-05-01T11:00:00Z'));
    expect(scope.isDone()).toBe(true);
    expect(pages[0]!.orders[0]!.refunds.map((r) => [r.refundId, r.lineId, r.quantity, r.amount])).toEqual([
      ['726', undefined, 0, 1000],
      ['724', '311', 1, 900],
    ]);
  });

  it('refuses a store that ignores modified_after (orders outside the window)', async () => {
    const scope = nock(STORE, auth)
      .get(`${API}/orders`)
      .query(list('2024-05-01T11:00:00', '2024-05-01T12:00:00', 1))
      .reply(200, [order(5, '2019-01-01T00:00:00')], { 'X-WP-Total': '1', 'X-WP-TotalPages': '1' });
    await expect(collect(connector().pullOrders('2024-05-01T11:00:00Z'))).rejects.toThrow(
      ConnectorConfigError,
    );
    expect(scope.isDone()).toBe(true);
  });

  it('sends the key as query parameters in query mode, never a Basic header', async () => {
    const scope = nock(STORE, { badheaders: ['authorization'] })
      .get(`${API}/orders`)
      .query({
        ...list('2024-05-01T11:00:00', '2024-05-01T12:00:00', 1),
        consumer_key: 'ck_4f1e',
        consumer_secret: 'cs_9a2b',
      })
      .reply(200, [], { 'X-WP-Total': '0', 'X-WP-TotalPages': '0' });
    const pages = await collect(connector({ authMode: 'query' }).pullOrders('2024-05-01T11:00:00Z'));
    expect(scope.isDone()).toBe(true);
    expect(pages).toHaveLength(1);
  });

  it('an unreadable cursor is a config error', async () => {
    await expect(collect(connector().pullOrders('yesterday'))).rejects.toThrow(ConnectorConfigError);
  });
});

describe('error table', () => {
  const get = () => connector().fetchOrder('727');
  it.each([
    [
      401,
      {
        code: 'woocommerce_rest_authentication_error',
        message: 'Consumer secret is invalid.',
        data: { status: 401 },
      },
      {},
      ConnectorConfigError,
    ],
    [
      403,
      {
        code: 'woocommerce_rest_cannot_view',
        message: 'Sorry, you cannot view this resource.',
        data: { status: 403 },
      },
      {},
      ConnectorConfigError,
    ],
    [
      404,
      {
        code: 'rest_no_route',
        message: 'No route was found matching the URL and request method.',
        data: { status: 404 },
      },
      {},
      ConnectorConfigError,
    ],
    [429, { code: 'too_many_requests', message: 'Slow down' }, { 'Retry-After': '7' }, RateLimitedError],
    [
      500,
      {
        code: 'internal_server_error',
        message: 'There has been a critical error on this website.',
        data: { status: 500 },
      },
      {},
      RetryableError,
    ],
    [503, '<html>Briefly unavailable for scheduled maintenance.</html>', {}, RetryableError],
  ] as const)('HTTP %i -> %s', async (status, body, headers, cls) => {
    const scope = nock(STORE, auth)
      .get(`${API}/orders/727`)
      .reply(status, body as never, headers);
    const err = await get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(cls);
    if (err instanceof RateLimitedError) expect(err.retryAfterMs).toBe(7000);
    expect(String((err as Error).message)).not.toContain('cs_9a2b');
    expect(scope.isDone()).toBe(true);
  });

  it('network failures retry; an unknown order is null', async () => {
    const scope = nock(STORE, auth)
      .get(`${API}/orders/727`)
      .replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))
      .get(`${API}/orders/728`)
      .reply(404, {
        code: 'woocommerce_rest_shop_order_invalid_id',
        message: 'Invalid ID.',
        data: { status: 404 },
      });
    await expect(get()).rejects.toBeInstanceOf(RetryableError);
    await expect(connector().fetchOrder('728')).resolves.toBeNull();
    expect(scope.isDone()).toBe(true);
  });

  it('checkConnection flags a store that ignores modified_after', async () => {
    const scope = nock(STORE, auth)
      .get(`${API}/orders`)
      .query({ per_page: '1', modified_after: '2024-05-02T12:00:00', dates_are_gmt: 'true', status: 'any' })
      .reply(200, [order(1, '2019-01-01T00:00:00')])
      .get(`${API}/orders`)
      .query(true)
      .reply(200, []);
    await expect(connector().checkConnection()).resolves.toMatchObject({ ok: false, action: 'config_error' });
    await expect(connector().checkConnection()).resolves.toMatchObject({ ok: true });
    expect(scope.isDone()).toBe(true);
  });
});

describe('pushStock', () => {
  it('batches simple products and variations, one result per item, per-item errors alone', async () => {
    const scope = nock(STORE, auth)
      .post(`${API}/products/batch`, {
        update: [
          { id: 93, manage_stock: true, stock_quantity: 5 },
          { id: 999, manage_stock: true, stock_quantity: 1 },
        ],
      })
      .reply(200, {
        update: [
          { id: 93, name: 'Woo Single #1', manage_stock: true, stock_quantity: 5, stock_status: 'instock' },
          {
            id: 999,
            error: {
              code: 'woocommerce_rest_product_invalid_id',
              message: 'Invalid ID.',
              data: { status: 400 },
            },
          },
        ],
      })
      .post(`${API}/products/22/variations/batch`, {
        update: [{ id: 23, manage_stock: true, stock_quantity: 0 }],
      })
      .reply(200, {
        update: [{ id: 23, manage_stock: true, stock_quantity: 0, stock_status: 'outofstock' }],
      });
    const r = await connector().pushStock([
      { listing: { listingId: '93' }, quantity: 5 },
      { listing: { listingId: '22:23' }, quantity: 0 },
      { listing: { listingId: 'SKU-1' }, quantity: 3 },
      { listing: { listingId: '999' }, quantity: 1 },
    ]);
    expect(scope.isDone()).toBe(true);
    expect(r).toEqual([
      { listing: { listingId: '93' }, status: 'ok', quantity: 5 },
      { listing: { listingId: '22:23' }, status: 'ok', quantity: 0 },
      expect.objectContaining({
        listing: { listingId: 'SKU-1' },
        status: 'failed',
        action: 'config_error',
        code: 'BAD_LISTING_ID',
      }),
      expect.objectContaining({
        listing: { listingId: '999' },
        status: 'failed',
        action: 'config_error',
        code: 'woocommerce_rest_product_invalid_id',
      }),
    ]);
  });

  it('splits above 100 per request; a later request failing as a whole marks only its items', async () => {
    const updates = Array.from({ length: 150 }, (_, i) => ({
      listing: { listingId: String(1000 + i) },
      quantity: i,
    }));
    const scope = nock(STORE, auth)
      .post(`${API}/products/batch`, (b: { update: unknown[] }) => b.update.length === 100)
      .reply(200, (_u, b) => ({ update: (b as { update: { id: number; stock_quantity: number }[] }).update }))
      .post(`${API}/products/batch`, (b: { update: unknown[] }) => b.update.length === 50)
      .reply(429, { code: 'too_many_requests', message: 'Too many requests' }, { 'Retry-After': '3' });
    const r = await connector().pushStock(updates);
    expect(scope.isDone()).toBe(true);
    expect(r.slice(0, 100).every((x) => x.status === 'ok')).toBe(true);
    expect(
      r
        .slice(100)
        .every((x) => x.status === 'failed' && x.action === 'rate_limited' && x.retryAfterMs === 3000),
    ).toBe(true);
  });

  it('throws when the first request fails as a whole (nothing applied)', async () => {
    const scope = nock(STORE, auth)
      .post(`${API}/products/batch`)
      .reply(401, {
        code: 'woocommerce_rest_cannot_batch',
        message: 'Sorry, you are not allowed to batch manipulate this resource.',
        data: { status: 401 },
      });
    await expect(
      connector().pushStock([{ listing: { listingId: '93' }, quantity: 1 }]),
    ).rejects.toBeInstanceOf(ConnectorConfigError);
    expect(scope.isDone()).toBe(true);
  });
});

describe('readStock', () => {
  // Product and variation objects trimmed to the fields a stock read looks at (shapes as in the
  // v3 docs' "List all products" / "List all product variations" answers).
  const product = (id: number, manage: boolean | 'parent', qty: number | null, type = 'simple') => ({
    id,
    name: `Woo #${id}`,
    type,
    status: 'publish',
    sku: `SKU-${id}`,
    manage_stock: manage,
    stock_quantity: qty,
    stock_status: qty === null || qty > 0 ? 'instock' : 'outofstock',
  });

  it('reads simple products in one call and variations per parent; one reading per listing, in order', async () => {
    const scope = nock(STORE, auth)
      .get(`${API}/products`)
      .query({ include: '93,94,999,95', per_page: '100' })
      .reply(200, [product(95, true, 0), product(94, false, null, 'variable'), product(93, true, 5)], {
        'X-WP-Total': '3',
        'X-WP-TotalPages': '1',
      })
      .get(`${API}/products/22/variations`)
      .query({ include: '23,24', per_page: '100' })
      .reply(200, [product(24, 'parent', 40), product(23, true, 12)], {
        'X-WP-Total': '2',
        'X-WP-TotalPages': '1',
      });
    const r = await connector().readStock!([
      { listingId: '93' },
      { listingId: '22:23' },
      { listingId: 'SKU-1' },
      { listingId: '94' },
      { listingId: '999' },
      { listingId: '22:24' },
      { listingId: '95' },
      { listingId: '93' },
    ]);
    expect(scope.isDone()).toBe(true);
    expect(r.map((x) => (x.ok ? x.quantity : 'failed'))).toEqual([
      5,
      12,
      'failed',
      'failed',
      'failed',
      'failed',
      0,
      5,
    ]);
    expect(r.map((x) => x.listing.listingId)).toEqual([
      '93',
      '22:23',
      'SKU-1',
      '94',
      '999',
      '22:24',
      '95',
      '93',
    ]);
    const errors = r.map((x) => (x.ok ? '' : x.error));
    expect(errors[2]).toBe('listing id must be "<product id>" or "<product id>:<variation id>", got "SKU-1"');
    expect(errors[3]).toBe('listing "94": stock not managed (manage_stock false, stock_quantity null)');
    expect(errors[4]).toMatch(/^listing "999": product 999 not found/);
    expect(errors[5]).toBe(
      'listing "22:24": stock not managed on variation 24 (manage_stock "parent": its parent product holds the stock)',
    );
  });

  it('an unknown variation fails alone; an unknown parent lists no variations', async () => {
    const scope = nock(STORE, auth)
      .get(`${API}/products/22/variations`)
      .query({ include: '23,77', per_page: '100' })
      .reply(200, [product(23, true, 3)])
      .get(`${API}/products/404/variations`)
      .query({ include: '405', per_page: '100' })
      .reply(200, []);
    const r = await connector().readStock!([
      { listingId: '22:23' },
      { listingId: '22:77' },
      { listingId: '404:405' },
    ]);
    expect(scope.isDone()).toBe(true);
    expect(r).toEqual([
      { listing: { listingId: '22:23' }, ok: true, quantity: 3 },
      {
        listing: { listingId: '22:77' },
        ok: false,
        error: 'listing "22:77": variation 77 not found under that product',
      },
      {
        listing: { listingId: '404:405' },
        ok: false,
        error: 'listing "404:405": variation 405 not found under that product',
      },
    ]);
  });

  it('asks for at most 100 ids per call', async () => {
    const listings = Array.from({ length: 150 }, (_, i) => ({ listingId: String(1000 + i) }));
    const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
    const scope = nock(STORE, auth)
      .get(`${API}/products`)
      .query({ include: ids(1000, 1100).join(','), per_page: '100' })
      .reply(
        200,
        ids(1000, 1100).map((id) => product(id, true, id - 1000)),
      )
      .get(`${API}/products`)
      .query({ include: ids(1100, 1150).join(','), per_page: '100' })
      .reply(
        200,
        ids(1100, 1150).map((id) => product(id, true, id - 1000)),
      );
    const r = await connector().readStock!(listings);
    expect(scope.isDone()).toBe(true);
    expect(r.map((x) => (x.ok ? x.quantity : -1))).toEqual(ids(0, 150));
  });

  it('a later call failing as a whole marks only its listings; earlier readings stand', async () => {
    const scope = nock(STORE, auth)
      .get(`${API}/products`)
      .query({ include: '93', per_page: '100' })
      .reply(200, [product(93, true, 5)])
      .get(`${API}/products/22/variations`)
      .query({ include: '23', per_page: '100' })
      .reply(429, { code: 'too_many_requests', message: 'Too many requests' }, { 'Retry-After': '3' });
    const r = await connector().readStock!([{ listingId: '93' }, { listingId: '22:23' }]);
    expect(scope.isDone()).toBe(true);
    expect(r[0]).toEqual({ listing: { listingId: '93' }, ok: true, quantity: 5 });
    expect(r[1]).toMatchObject({ listing: { listingId: '22:23' }, ok: false });
    expect(r[1]!.ok ? '' : r[1]!.error).toMatch(
      /GET \/wp-json\/wc\/v3\/products\/22\/variations -> 429.*throttled/,
    );
  });

  it('throws the classified error when the first call fails as a whole', async () => {
    const scope = nock(STORE, auth)
      .get(`${API}/products`)
      .query(true)
      .reply(401, {
        code: 'woocommerce_rest_cannot_view',
        message: 'Sorry, you cannot list resources.',
        data: { status: 401 },
      })
      .get(`${API}/products`)
      .query(true)
      .reply(429, { code: 'too_many_requests', message: 'Too many requests' }, { 'Retry-After': '3' });
    const auth401 = await connector().readStock!([{ listingId: '93' }]).catch((e: unknown) => e);
    expect(auth401).toBeInstanceOf(ConnectorConfigError);
    expect(auth401).toMatchObject({
      action: 'config_error',
      status: 401,
      code: 'woocommerce_rest_cannot_view',
    });
    const throttled = await connector().readStock!([{ listingId: '93' }, { listingId: '22:23' }]).catch(
      (e: unknown) => e,
    );
    expect(throttled).toBeInstanceOf(RateLimitedError);
    expect(throttled).toMatchObject({ action: 'rate_limited', retryAfterMs: 3000 });
    expect(scope.isDone()).toBe(true);
  });

  it('sends the key as query parameters in query mode', async () => {
    const scope = nock(STORE, { badheaders: ['authorization'] })
      .get(`${API}/products`)
      .query({ include: '93', per_page: '100', consumer_key: 'ck_4f1e', consumer_secret: 'cs_9a2b' })
      .reply(200, [product(93, true, 8)]);
    await expect(connector({ authMode: 'query' }).readStock!([{ listingId: '93' }])).resolves.toEqual([
      { listing: { listingId: '93' }, ok: true, quantity: 8 },
    ]);
    expect(scope.isDone()).toBe(true);
  });
});

describe('confirmShipment', () => {
  it('order_note mode: a customer note with the tracking number, then completed', async () => {
    const scope = nock(STORE, auth)
      .get(`${API}/orders/727`)
      .reply(200, fixture('order-727.json'))
      .post(`${API}/orders/727/notes`, {
        note: 'Shipped with UPS, tracking number 1Z999',
        customer_note: true,
      })
      .reply(201, { id: 281, note: 'Shipped with UPS, tracking number 1Z999', customer_note: true })
      .put(`${API}/orders/727`, { status: 'completed' })
      .reply(200, { ...fixture<Raw>('order-727.json'), status: 'completed' });
    await expect(
      connector().confirmShipment({
        platformOrderId: '727',
        carrier: 'UPS',
        trackingNumber: '1Z999',
        notifyCustomer: true,
      }),
    ).resolves.toEqual({ ok: true, platformShipmentId: 'note-281' });
    expect(scope.isDone()).toBe(true);
  });

  it('shipment_tracking mode uses the extension route; closed and unknown orders are not shipped', async () => {
    const scope = nock(STORE, auth)
      .get(`${API}/orders/727`)
      .reply(200, fixture('order-727.json'))
      .post('/wp-json/wc-shipment-tracking/v3/orders/727/shipment-trackings', {
        custom_tracking_provider: 'DHL',
        tracking_number: 'JD0001',
        date_shipped: '2024-05-01',
      })
      .reply(201, { tracking_id: 'a1b2', tracking_number: 'JD0001' })
      .put(`${API}/orders/727`)
      .reply(200, {})
      .get(`${API}/orders/728`)
      .reply(200, { ...fixture<Raw>('order-727.json'), id: 728, status: 'completed' })
      .get(`${API}/orders/729`)
      .reply(404, {
        code: 'woocommerce_rest_shop_order_invalid_id',
        message: 'Invalid ID.',
        data: { status: 404 },
      });
    const c = connector({ shipmentMode: 'shipment_tracking' });
    await expect(
      c.confirmShipment({ platformOrderId: '727', carrier: 'DHL', trackingNumber: 'JD0001' }),
    ).resolves.toEqual({
      ok: true,
      platformShipmentId: 'a1b2',
    });
    await expect(
      c.confirmShipment({ platformOrderId: '728', carrier: 'DHL', trackingNumber: 'x' }),
    ).resolves.toMatchObject({
      ok: false,
      reason: 'nothing_to_ship',
    });
    await expect(
      c.confirmShipment({ platformOrderId: '729', carrier: 'DHL', trackingNumber: 'x' }),
    ).resolves.toMatchObject({
      ok: false,
      reason: 'order_not_found',
    });
    expect(scope.isDone()).toBe(true);
  });
});

describe('config', () => {
  it('refuses plain http (OAuth 1.0a not implemented) unless explicitly allowed', () => {
    const base = { consumerKey: 'ck', consumerSecret: 'cs', webhookSecret: 's' };
    expect(woocommerceConfigSchema.safeParse({ ...base, storeUrl: 'http://shop.test' }).success).toBe(false);
    expect(
      woocommerceConfigSchema.safeParse({ ...base, storeUrl: 'http://shop.test', allowInsecureHttp: true })
        .success,
    ).toBe(true);
    expect(woocommerceConfigSchema.safeParse({ ...base, storeUrl: STORE, pageSize: 101 }).success).toBe(
      false,
    );
  });

  it('IgnorableError is what an unknown order in the table means', () => {
    expect(IgnorableError.name).toBe('IgnorableError');
  });
});
