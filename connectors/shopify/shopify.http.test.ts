/**
 * The Shopify connector at its HTTP edge, against nock: requests and responses modelled on
 * Shopify's documented payloads, net connect disabled, every scope asserted done.
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
  RetryableError,
} from '../contract.js';
import { installLeakGuard } from '../testing/leak-guard.js';
import { type ShopifyConfigInput, shopifyConfigSchema } from './config.js';
import { createShopifyConnector } from './connector.js';
import { decodeCursor, parseLinkHeader } from './pagination.js';
import { verifyShopifyHmac } from './webhook.js';

installLeakGuard();

const SHOP = 'https://jsmith.myshopify.com';
const API = '/admin/api/2026-01';
const NOW = new Date('2024-05-01T12:00:00.000Z');
const clock: Clock = { now: () => NOW };
const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;

function connector(patch: Partial<ShopifyConfigInput> = {}): Connector {
  const config = shopifyConfigSchema.parse({
    shopDomain: 'jsmith.myshopify.com',
    accessToken: 'shpat_test_token',
    apiSecret: 'hush',
    locationId: '655441491',
    ...patch,
  });
  return createShopifyConnector(config, { http: axios.create(), log: pino({ level: 'silent' }), clock });
}

async function collect(gen: AsyncGenerator<OrderPage>): Promise<OrderPage[]> {
  const pages: OrderPage[] = [];
  for await (const p of gen) pages.push(p);
  return pages;
}

const order = (id: number, updatedAt: string) => ({
  ...fixture('order-1001.json'),
  id,
  updated_at: updatedAt,
});
const auth = { reqheaders: { 'x-shopify-access-token': 'shpat_test_token' } };

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());
afterAll(() => {
  nock.enableNetConnect();
  nock.restore();
});

describe('webhook signature (fixed secret, fixed body)', () => {
  // Computed independently: printf '%s' "$BODY" | openssl dgst -sha256 -hmac hush -binary | base64
  const body = Buffer.from('{"id":450789469,"name":"#1001","note":"Thé vert 绿茶"}', 'utf8');
  const signature = '9nKE1OiRZ8HlOWZpYkJpzlbqnxszn0W0JqKPJK7Nm9k=';

  it('accepts the HMAC of the raw bytes and rejects any change to body, signature or secret', () => {
    expect(verifyShopifyHmac(body, signature, ['hush'])).toBe(true);
    expect(verifyShopifyHmac(body, signature, ['old-secret', 'hush'])).toBe(true);
    expect(verifyShopifyHmac(body, signature, ['Hush'])).toBe(false);
    const tampered = Buffer.from(body);
    tampered.writeUInt8(tampered.readUInt8(tampered.length - 2) ^ 1, tampered.length - 2);
    expect(verifyShopifyHmac(tampered, signature, ['hush'])).toBe(false);
    expect(verifyShopifyHmac(body, `A${signature.slice(1)}`, ['hush'])).toBe(false);
    expect(verifyShopifyHmac(body, signature.slice(0, -4), ['hush'])).toBe(false);
    expect(verifyShopifyHmac(body, 'not base64!', ['hush'])).toBe(false);
    // Re-encoding the text (what a JSON framework would hand over) is not the raw body.
    const reencoded = Buffer.from(
      JSON.stringify(JSON.parse(body.toString('utf8'))).replace('Thé', 'Th\\u00e9'),
    );
    expect(verifyShopifyHmac(reencoded, signature, ['hush'])).toBe(false);
  });
});

describe('parseWebhook', () => {
  const c = connector({ previousApiSecrets: ['rotated-out'] });
  const sign = (b: Uint8Array, secret = 'hush') => createHmac('sha256', secret).update(b).digest('base64');
  const orderBody = Buffer.from(JSON.stringify(fixture('order-1001.json')), 'utf8');
  const headers = (b: Uint8Array, extra: Record<string, string> = {}) => ({
    'X-Shopify-Hmac-Sha256': sign(b),
    'X-Shopify-Topic': 'orders/updated',
    'X-Shopify-Shop-Domain': 'jsmith.myshopify.com',
    'X-Shopify-Webhook-Id': 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
    'X-Shopify-Event-Id': '98880550-7158-44d4-b7cd-2c97c8a091b5',
    'X-Shopify-Triggered-At': '2024-05-01T11:59:58.000Z',
    ...extra,
  });

  it('verifies, dedupes on X-Shopify-Event-Id and yields the full canonical order', () => {
    const r = c.parseWebhook({ headers: headers(orderBody), body: orderBody });
    expect(r).toMatchObject({
      ok: true,
      topic: 'orders/updated',
      dedupeKey: 'shopify:event:98880550-7158-44d4-b7cd-2c97c8a091b5',
      shop: 'jsmith.myshopify.com',
      triggeredAt: new Date('2024-05-01T11:59:58.000Z'),
    });
    expect(r.ok && r.events).toEqual([
      { kind: 'order', order: expect.objectContaining({ platformOrderId: '450789469' }) },
    ]);
  });

  it('header names are case-insensitive; falls back to the webhook id, then to a body hash', () => {
    const h = Object.fromEntries(Object.entries(headers(orderBody)).map(([k, v]) => [k.toLowerCase(), v]));
    delete h['x-shopify-event-id'];
    expect(c.parseWebhook({ headers: h, body: orderBody })).toMatchObject({
      ok: true,
      dedupeKey: 'shopify:webhook:b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
    });
    delete h['x-shopify-webhook-id'];
    const r = c.parseWebhook({ headers: h, body: orderBody });
    expect(r.ok && r.dedupeKey).toMatch(/^shopify:sha256:[0-9a-f]{64}$/);
  });

  it('accepts a secret that is being rotated out', () => {
    const r = c.parseWebhook({
      headers: headers(orderBody, { 'X-Shopify-Hmac-Sha256': sign(orderBody, 'rotated-out') }),
      body: orderBody,
    });
    expect(r.ok).toBe(true);
  });

  it('rejects tampered bodies, bad or missing signatures with 401, before parsing', () => {
    const tampered = Buffer.from(orderBody);
    tampered.writeUInt8(tampered.readUInt8(10) ^ 1, 10);
    expect(c.parseWebhook({ headers: headers(orderBody), body: tampered })).toMatchObject({
      ok: false,
      status: 401,
    });
    expect(
      c.parseWebhook({
        headers: headers(orderBody, { 'X-Shopify-Hmac-Sha256': sign(orderBody, 'wrong') }),
        body: orderBody,
      }),
    ).toMatchObject({
      ok: false,
      status: 401,
    });
    const noSig: Record<string, string> = headers(orderBody);
    delete noSig['X-Shopify-Hmac-Sha256'];
    expect(c.parseWebhook({ headers: noSig, body: orderBody })).toMatchObject({ ok: false, status: 401 });
    const garbage = Buffer.from('\xff\xfe not json');
    expect(c.parseWebhook({ headers: headers(garbage), body: garbage })).toMatchObject({
      ok: false,
      status: 400,
    });
  });

  it('413 for bodies over the limit; 400 without a topic', () => {
    const small = connector({ maxWebhookBytes: 1024 });
    expect(small.parseWebhook({ headers: headers(orderBody), body: orderBody })).toMatchObject({
      ok: false,
      status: 413,
    });
    const h: Record<string, string> = headers(orderBody);
    delete h['X-Shopify-Topic'];
    expect(c.parseWebhook({ headers: h, body: orderBody })).toMatchObject({ ok: false, status: 400 });
  });

  it('refunds/create is a re-fetch hint; an order payload that does not map degrades to a hint; other topics yield nothing', () => {
    const refund = Buffer.from(JSON.stringify({ id: 509562969, order_id: 450789469, refund_line_items: [] }));
    expect(
      c.parseWebhook({ headers: headers(refund, { 'X-Shopify-Topic': 'refunds/create' }), body: refund }),
    ).toMatchObject({
      ok: true,
      events: [{ kind: 'refetch_order', platformOrderId: '450789469' }],
    });
    const odd = Buffer.from(
      JSON.stringify({ ...fixture('order-1001.json'), financial_status: 'teleported' }),
    );
    expect(c.parseWebhook({ headers: headers(odd), body: odd })).toMatchObject({
      ok: true,
      events: [{ kind: 'refetch_order', platformOrderId: '450789469' }],
    });
    const inv = Buffer.from(JSON.stringify({ inventory_item_id: 1, location_id: 2, available: 3 }));
    expect(
      c.parseWebhook({ headers: headers(inv, { 'X-Shopify-Topic': 'inventory_levels/update' }), body: inv }),
    ).toMatchObject({
      ok: true,
      events: [],
    });
  });
});

describe('Link header', () => {
  it('maps each rel to its URL whatever the order', () => {
    const links = parseLinkHeader(
      `<${SHOP}${API}/orders.json?limit=250&page_info=prev1>; rel="previous", <${SHOP}${API}/orders.json?limit=250&page_info=next1>; rel="next"`,
    );
    expect(links.get('previous')).toContain('page_info=prev1');
    expect(links.get('next')).toContain('page_info=next1');
    expect(parseLinkHeader(undefined).size).toBe(0);
  });
});

describe('incremental pull', () => {
  const firstQuery = {
    status: 'any',
    limit: '250',
    updated_at_min: '2024-05-01T09:50:00+00:00', // cursor 10:00 minus the 10 min overlap
    updated_at_max: '2024-05-01T12:00:00+00:00',
  };
  const link = (...parts: [string, string][]) =>
    parts
      .map(([pi, rel]) => `<${SHOP}${API}/orders.json?limit=250&page_info=${pi}>; rel="${rel}"`)
      .join(', ');

  it('follows rel="next" only: page 1 -> 2 -> 3, with rel="previous" listed first from page 2 on', async () => {
    const scope = nock(SHOP, auth)
      .get(`${API}/orders.json`)
      .query(firstQuery)
      .reply(
        200,
        { orders: [order(3, '2024-05-01T06:30:00-04:00'), order(2, '2024-05-01T10:05:00Z')] },
        { Link: link(['p2', 'next']) },
      )
      .get(`${API}/orders.json`)
      .query({ limit: '250', page_info: 'p2' })
      .reply(
        200,
        { orders: [order(1, '2024-05-01T11:45:10Z')] },
        { Link: link(['p1back', 'previous'], ['p3', 'next']) },
      )
      .get(`${API}/orders.json`)
      .query({ limit: '250', page_info: 'p3' })
      .reply(200, { orders: [order(0, '2024-05-01T09:59:00Z')] }, { Link: link(['p2back', 'previous']) });

    const pages = await collect(connector().pullOrders('2024-05-01T10:00:00Z'));
    expect(scope.isDone()).toBe(true);
    expect(pages.map((p) => p.orders.map((o) => o.platformOrderId))).toEqual([['3', '2'], ['1'], ['0']]);
    expect(pages.map((p) => p.caughtUp)).toEqual([false, false, true]);
    // Intermediate cursors keep the old watermark and know where to resume.
    expect(decodeCursor(pages[0]!.nextCursor)).toEqual({
      watermark: '2024-05-01T10:00:00.000Z',
      resume: { pageInfo: 'p2', until: '2024-05-01T12:00:00+00:00', maxSeen: '2024-05-01T10:30:00.000Z' },
    });
    // The last one moves the watermark to the newest updated_at seen.
    expect(decodeCursor(pages[2]!.nextCursor)).toEqual({ watermark: '2024-05-01T11:45:10.000Z' });
  });

  it('no Link header = one page; no orders keeps the watermark', async () => {
    const scope = nock(SHOP, auth).get(`${API}/orders.json`).query(firstQuery).reply(200, { orders: [] });
    const pages = await collect(connector().pullOrders('2024-05-01T10:00:00Z'));
    expect(scope.isDone()).toBe(true);
    expect(pages).toHaveLength(1);
    expect(decodeCursor(pages[0]!.nextCursor)).toEqual({ watermark: '2024-05-01T10:00:00.000Z' });
  });

  it('the first pull starts initialLookbackDays before now', async () => {
    const scope = nock(SHOP, auth)
      .get(`${API}/orders.json`)
      .query({ ...firstQuery, updated_at_min: '2024-04-24T11:50:00+00:00' })
      .reply(200, { orders: [] });
    await collect(connector({ initialLookbackDays: 7 }).pullOrders(null));
    expect(scope.isDone()).toBe(true);
  });

  it('stops at maxPagesPerPull with a resumable cursor, and resumes from page_info alone', async () => {
    const scope = nock(SHOP, auth)
      .get(`${API}/orders.json`)
      .query(firstQuery)
      .reply(200, { orders: [order(2, '2024-05-01T10:05:00Z')] }, { Link: link(['p2', 'next']) })
      .get(`${API}/orders.json`)
      .query({ limit: '250', page_info: 'p2' })
      .reply(200, { orders: [order(1, '2024-05-01T10:01:00Z')] }, { Link: link(['p1back', 'previous']) });
    const c = connector({ maxPagesPerPull: 1 });
    const first = await collect(c.pullOrders('2024-05-01T10:00:00Z'));
    expect(first).toHaveLength(1);
    expect(first[0]!.caughtUp).toBe(false);
    const second = await collect(c.pullOrders(first[0]!.nextCursor));
    expect(scope.isDone()).toBe(true);
    expect(second.map((p) => p.orders.map((o) => o.platformOrderId))).toEqual([['1']]);
    expect(decodeCursor(second[0]!.nextCursor)).toEqual({ watermark: '2024-05-01T10:05:00.000Z' });
  });

  it('restarts the window when a stored page_info is refused (expired cursor)', async () => {
    const scope = nock(SHOP, auth)
      .get(`${API}/orders.json`)
      .query({ limit: '250', page_info: 'stale' })
      .reply(400, { errors: { page_info: 'Invalid value.' } })
      .get(`${API}/orders.json`)
      .query(firstQuery)
      .reply(200, { orders: [order(9, '2024-05-01T10:30:00Z')] });
    const cursor = JSON.stringify({
      v: 1,
      watermark: '2024-05-01T10:00:00.000Z',
      resume: { pageInfo: 'stale', until: '2024-05-01T11:00:00+00:00' },
    });
    const pages = await collect(connector().pullOrders(cursor));
    expect(scope.isDone()).toBe(true);
    expect(pages.flatMap((p) => p.orders.map((o) => o.platformOrderId))).toEqual(['9']);
  });

  it('reports unmappable orders as rejects without dropping the page', async () => {
    const scope = nock(SHOP, auth)
      .get(`${API}/orders.json`)
      .query(firstQuery)
      .reply(200, {
        orders: [order(1, '2024-05-01T10:05:00Z'), { ...order(2, '2024-05-01T10:06:00Z'), currency: 'XXX' }],
      });
    const [page] = await collect(connector().pullOrders('2024-05-01T10:00:00Z'));
    expect(scope.isDone()).toBe(true);
    expect(page!.orders.map((o) => o.platformOrderId)).toEqual(['1']);
    expect(page!.rejects).toEqual([{ platformOrderId: '2', error: expect.stringContaining('XXX') }]);
    expect(decodeCursor(page!.nextCursor)?.watermark).toBe('2024-05-01T10:06:00.000Z');
  });

  it('refuses a rel="next" link to another host (the token must not travel)', async () => {
    const scope = nock(SHOP, auth)
      .get(`${API}/orders.json`)
      .query(firstQuery)
      .reply(
        200,
        { orders: [] },
        { Link: `<https://evil.example.com${API}/orders.json?page_info=x>; rel="next"` },
      );
    await expect(collect(connector().pullOrders('2024-05-01T10:00:00Z'))).rejects.toBeInstanceOf(
      ConnectorConfigError,
    );
    expect(scope.isDone()).toBe(true);
  });

  it('an unreadable stored cursor is a config error, not a silent full re-pull', async () => {
    await expect(collect(connector().pullOrders('garbage'))).rejects.toBeInstanceOf(ConnectorConfigError);
  });
});

describe('error table at the HTTP edge', () => {
  const path = `${API}/orders/450789469.json`;

  it('429 with Retry-After: 2.0 -> rate_limited, waiting 2000 ms', async () => {
    const scope = nock(SHOP, auth)
      .get(path)
      .reply(
        429,
        { errors: 'Exceeded 2 calls per second for api client.' },
        { 'Retry-After': '2.0', 'X-Shopify-Shop-Api-Call-Limit': '40/40' },
      );
    const err = await connector()
      .fetchOrder('450789469')
      .catch((e: unknown) => e);
    expect(scope.isDone()).toBe(true);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect(err).toMatchObject({
      action: 'rate_limited',
      retryAfterMs: 2000,
      status: 429,
      platform: 'shopify',
    });
  });

  it('429 without Retry-After uses the table default', async () => {
    const scope = nock(SHOP, auth).get(path).reply(429, {});
    await expect(connector().fetchOrder('450789469')).rejects.toMatchObject({
      action: 'rate_limited',
      retryAfterMs: 2000,
    });
    expect(scope.isDone()).toBe(true);
  });

  it('401 -> config_error; the message names the call but never the token', async () => {
    const scope = nock(SHOP, auth)
      .get(path)
      .reply(401, { errors: '[API] Invalid API key or access token (unrecognized login or wrong password)' });
    const err = (await connector()
      .fetchOrder('450789469')
      .catch((e: unknown) => e)) as Error;
    expect(scope.isDone()).toBe(true);
    expect(err).toBeInstanceOf(ConnectorConfigError);
    expect(err.message).toContain('GET /admin/api/2026-01/orders/450789469.json -> 401');
    expect(JSON.stringify({ message: err.message, cause: String(err.cause) })).not.toContain(
      'shpat_test_token',
    );
  });

  it.each([500, 502, 503, 504])('%i -> retry', async (status) => {
    const scope = nock(SHOP, auth).get(path).reply(status, 'upstream trouble');
    await expect(connector().fetchOrder('450789469')).rejects.toBeInstanceOf(RetryableError);
    expect(scope.isDone()).toBe(true);
  });

  it('a reset connection -> retry, with the network code kept', async () => {
    const scope = nock(SHOP, auth)
      .get(path)
      .replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    await expect(connector().fetchOrder('450789469')).rejects.toMatchObject({
      action: 'retry',
      code: 'ECONNRESET',
    });
    expect(scope.isDone()).toBe(true);
  });

  it('404 on one order is "not found" (null), not an error', async () => {
    const scope = nock(SHOP, auth).get(path).reply(404, { errors: 'Not Found' });
    await expect(connector().fetchOrder('450789469')).resolves.toBeNull();
    expect(scope.isDone()).toBe(true);
  });

  it('checkConnection reports 401/402/403 as config errors without throwing', async () => {
    const scope = nock(SHOP, auth)
      .get(`${API}/shop.json`)
      .reply(200, {
        shop: { name: 'John Smith Test Store', myshopify_domain: 'jsmith.myshopify.com', currency: 'USD' },
      })
      .get(`${API}/shop.json`)
      .reply(402, { errors: 'Unavailable Shop' });
    const c = connector();
    await expect(c.checkConnection()).resolves.toMatchObject({
      ok: true,
      info: { name: 'John Smith Test Store' },
    });
    await expect(c.checkConnection()).resolves.toMatchObject({ ok: false, action: 'config_error' });
    expect(scope.isDone()).toBe(true);
  });

  it('GraphQL THROTTLED -> rate_limited, waiting for the bucket to refill', async () => {
    const scope = nock(SHOP, auth)
      .post(`${API}/graphql.json`)
      .reply(200, {
        errors: [{ message: 'Throttled', extensions: { code: 'THROTTLED' } }],
        extensions: {
          cost: {
            requestedQueryCost: 10,
            actualQueryCost: null,
            throttleStatus: { maximumAvailable: 1000, currentlyAvailable: 5, restoreRate: 50 },
          },
        },
      });
    const err = await connector()
      .pushStock([{ listing: { listingId: '808950810' }, quantity: 1 }])
      .catch((e: unknown) => e);
    expect(scope.isDone()).toBe(true);
    expect(err).toMatchObject({ action: 'rate_limited', retryAfterMs: 100, code: 'THROTTLED' });
  });
});

describe('stock push (inventorySetQuantities)', () => {
  type Body = {
    query: string;
    variables: {
      input: Record<string, unknown> & { quantities: Record<string, unknown>[] };
      idempotencyKey?: string;
    };
  };

  it('2026-01: changeFromQuantity per item, @idempotent key, one mismatch reported and the rest re-sent', async () => {
    const sent: Body[] = [];
    const scope = nock(SHOP, auth)
      .post(`${API}/graphql.json`, (b: Body) => {
        sent.push(b);
        return true;
      })
      .reply(200, {
        data: {
          inventorySetQuantities: {
            inventoryAdjustmentGroup: null,
            userErrors: [
              {
                code: 'CHANGE_FROM_QUANTITY_STALE',
                field: ['input', 'quantities', '1', 'changeFromQuantity'],
                message: 'The changeFromQuantity value does not match persisted value.',
              },
              {
                code: 'ITEM_NOT_STOCKED_AT_LOCATION',
                field: ['input', 'quantities', '2', 'inventoryItemId'],
                message: 'not stocked',
              },
            ],
          },
        },
      })
      .post(`${API}/graphql.json`, (b: Body) => {
        sent.push(b);
        return true;
      })
      .reply(200, {
        data: {
          inventorySetQuantities: {
            inventoryAdjustmentGroup: { id: 'gid://shopify/InventoryAdjustmentGroup/1' },
            userErrors: [],
          },
        },
      });

    const results = await connector().pushStock([
      { listing: { listingId: '808950810' }, quantity: 42, expected: 40 },
      {
        listing: { listingId: 'gid://shopify/InventoryItem/808950811', locationId: '655441492' },
        quantity: 7,
        expected: 9,
      },
      { listing: { listingId: '808950812' }, quantity: 3 },
      { listing: { listingId: 'sku-not-an-id' }, quantity: 3 },
      { listing: { listingId: '808950813' }, quantity: -1 },
    ]);
    expect(scope.isDone()).toBe(true);
    expect(results.map((r) => r.status)).toEqual(['ok', 'compare_mismatch', 'failed', 'failed', 'failed']);
    expect(results[1]).toMatchObject({ expected: 9 });
    expect(results[2]).toMatchObject({ action: 'config_error', code: 'ITEM_NOT_STOCKED_AT_LOCATION' });
    expect(results[3]).toMatchObject({ action: 'config_error', code: 'INVALID_INPUT' });

    expect(sent[0]!.query).toMatch(
      /inventorySetQuantities\(input: \$input\) @idempotent\(key: \$idempotencyKey\)/,
    );
    expect(sent[0]!.variables.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    expect(sent[0]!.variables.input).toMatchObject({ name: 'available', reason: 'correction' });
    expect(sent[0]!.variables.input.quantities).toEqual([
      {
        inventoryItemId: 'gid://shopify/InventoryItem/808950810',
        locationId: 'gid://shopify/Location/655441491',
        quantity: 42,
        changeFromQuantity: 40,
      },
      {
        inventoryItemId: 'gid://shopify/InventoryItem/808950811',
        locationId: 'gid://shopify/Location/655441492',
        quantity: 7,
        changeFromQuantity: 9,
      },
      {
        inventoryItemId: 'gid://shopify/InventoryItem/808950812',
        locationId: 'gid://shopify/Location/655441491',
        quantity: 3,
        changeFromQuantity: null,
      },
    ]);
    // The second request carries only the item that had no error, with a fresh idempotency key.
    expect(sent[1]!.variables.input.quantities.map((q) => q.inventoryItemId)).toEqual([
      'gid://shopify/InventoryItem/808950810',
    ]);
    expect(sent[1]!.variables.idempotencyKey).not.toBe(sent[0]!.variables.idempotencyKey);
  });

  it('before 2026-01: compareQuantity, and unconditional updates in a separate ignoreCompareQuantity request', async () => {
    const sent: Body[] = [];
    const ok = {
      data: { inventorySetQuantities: { inventoryAdjustmentGroup: { id: 'g' }, userErrors: [] } },
    };
    const scope = nock(SHOP, auth)
      .post('/admin/api/2025-10/graphql.json', (b: Body) => sent.push(b) > 0)
      .reply(200, ok)
      .post('/admin/api/2025-10/graphql.json', (b: Body) => sent.push(b) > 0)
      .reply(200, ok);
    const results = await connector({ apiVersion: '2025-10' }).pushStock([
      { listing: { listingId: '1' }, quantity: 5, expected: 4 },
      { listing: { listingId: '2' }, quantity: 6 },
    ]);
    expect(scope.isDone()).toBe(true);
    expect(results.map((r) => r.status)).toEqual(['ok', 'ok']);
    expect(sent.map((b) => b.query.includes('@idempotent'))).toEqual([false, false]);
    expect(sent[0]!.variables.input).toMatchObject({ quantities: [{ quantity: 5, compareQuantity: 4 }] });
    expect(sent[0]!.variables.input).not.toHaveProperty('ignoreCompareQuantity');
    expect(sent[1]!.variables.input).toMatchObject({
      ignoreCompareQuantity: true,
      quantities: [{ quantity: 6 }],
    });
  });

  it('the same listing twice goes in two requests, in order (last value wins)', async () => {
    const sent: Body[] = [];
    const ok = {
      data: { inventorySetQuantities: { inventoryAdjustmentGroup: { id: 'g' }, userErrors: [] } },
    };
    const scope = nock(SHOP, auth)
      .post(`${API}/graphql.json`, (b: Body) => sent.push(b) > 0)
      .reply(200, ok)
      .post(`${API}/graphql.json`, (b: Body) => sent.push(b) > 0)
      .reply(200, ok);
    await connector().pushStock([
      { listing: { listingId: '1' }, quantity: 5 },
      { listing: { listingId: '2' }, quantity: 1 },
      { listing: { listingId: '1' }, quantity: 9 },
    ]);
    expect(scope.isDone()).toBe(true);
    expect(sent.map((b) => b.variables.input.quantities.map((q) => q.quantity))).toEqual([[5, 1], [9]]);
  });

  it('a whole-request failure on the first batch throws (nothing applied)', async () => {
    const scope = nock(SHOP, auth).post(`${API}/graphql.json`).reply(503, 'busy');
    await expect(
      connector().pushStock([{ listing: { listingId: '1' }, quantity: 5 }]),
    ).rejects.toBeInstanceOf(RetryableError);
    expect(scope.isDone()).toBe(true);
  });
});

describe('confirmShipment', () => {
  it('fulfils the open fulfillment order lines with tracking info', async () => {
    let posted: unknown;
    const scope = nock(SHOP, auth)
      .get(`${API}/orders/450789469/fulfillment_orders.json`)
      .reply(200, {
        fulfillment_orders: [
          {
            id: 1046000818,
            status: 'open',
            line_items: [{ id: 1058737582, line_item_id: 518995019, fulfillable_quantity: 1 }],
          },
          {
            id: 1046000819,
            status: 'closed',
            line_items: [{ id: 1058737583, line_item_id: 466157049, fulfillable_quantity: 0 }],
          },
        ],
      })
      .post(`${API}/fulfillments.json`, (b) => {
        posted = b;
        return true;
      })
      .reply(201, { fulfillment: { id: 255858046, status: 'success', tracking_number: 'MS1562678' } });
    const r = await connector().confirmShipment({
      platformOrderId: '450789469',
      carrier: 'UPS',
      trackingNumber: 'MS1562678',
      trackingUrl: 'https://www.my-shipping-company.com?tracking_number=MS1562678',
      lines: [{ platformLineId: '518995019' }],
    });
    expect(scope.isDone()).toBe(true);
    expect(r).toEqual({ ok: true, platformShipmentId: '255858046' });
    expect(posted).toEqual({
      fulfillment: {
        line_items_by_fulfillment_order: [
          {
            fulfillment_order_id: 1046000818,
            fulfillment_order_line_items: [{ id: 1058737582, quantity: 1 }],
          },
        ],
        tracking_info: {
          number: 'MS1562678',
          company: 'UPS',
          url: 'https://www.my-shipping-company.com?tracking_number=MS1562678',
        },
        notify_customer: false,
      },
    });
  });

  it('nothing open -> nothing_to_ship without a POST; unknown order -> order_not_found', async () => {
    const scope = nock(SHOP, auth)
      .get(`${API}/orders/1/fulfillment_orders.json`)
      .reply(200, { fulfillment_orders: [{ id: 5, status: 'closed', line_items: [] }] })
      .get(`${API}/orders/2/fulfillment_orders.json`)
      .reply(404, { errors: 'Not Found' });
    const c = connector();
    await expect(
      c.confirmShipment({ platformOrderId: '1', carrier: 'UPS', trackingNumber: 'x' }),
    ).resolves.toMatchObject({
      ok: false,
      reason: 'nothing_to_ship',
    });
    await expect(
      c.confirmShipment({ platformOrderId: '2', carrier: 'UPS', trackingNumber: 'x' }),
    ).resolves.toMatchObject({
      ok: false,
      reason: 'order_not_found',
    });
    expect(scope.isDone()).toBe(true);
  });
});
