import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import type { ShopSettings } from '../../src/orders/index.js';
import { adminApi } from '../../src/server/admin-inventory.js';
import { ordersRouter } from '../../src/server/admin-orders.js';
import { type AppEnv, createApp } from '../../src/server/app.js';
import { type OrdersFixture, order, ordersFixture, SHOP } from '../support/orders.js';

/** Not a real secret: only this test's app accepts it. */
const TOKEN = 'orders-test-token-0123456789abcdef';
/** A shop whose warehouse does not exist yet: its events are parked until an operator adds it. */
const LATE: ShopSettings = { ...SHOP, id: 'jd-late', platform: 'jd', warehouses: ['GZ'] };

interface Reply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked with expect(), not by type
  body: any;
}

let f: OrdersFixture;
let app: Hono<AppEnv>;
let authed: Hono<AppEnv>;

function build(token?: string): Hono<AppEnv> {
  const api = adminApi({ inventory: f.inv, token });
  api.route('/', ordersRouter(f.orders));
  return createApp({
    db: f.t.db,
    log: createLogger({ level: 'silent', pretty: false }),
    routes: [{ path: '/api', router: api }],
  });
}

beforeAll(async () => {
  f = await ordersFixture([SHOP, LATE]);
  const sh = await f.warehouse('SH');
  await f.warehouse('BJ');
  await f.receive(await f.sku('TEA'), sh, 100);
  app = build();
  authed = build(TOKEN);
});
afterAll(async () => {
  await f.close();
});

async function call(method: string, path: string, body?: unknown, target = app): Promise<Reply> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers = { 'content-type': 'application/json' };
  }
  const res = await target.request(path, init);
  const text = await res.text();
  return { status: res.status, body: text === '' ? null : JSON.parse(text) };
}

const inboxTotal = async () => {
  const c = (await call('GET', '/api/inbox')).body;
  return c.pending + c.done + c.parked;
};
const runBatch = async () => {
  const r = await call('POST', '/api/inbox/process');
  expect(r.status).toBe(200);
  return r.body;
};

describe('orders admin API', () => {
  it('takes a manual order (202), processes it on request, lists and shows it', async () => {
    const o = order({ platformOrderId: 'HTTP-1' });
    const r = await call('POST', '/api/orders', { order: o });
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ inboxId: expect.stringMatching(/^\d+$/), duplicate: false });
    expect(await call('POST', '/api/orders', { order: o })).toMatchObject({
      status: 202,
      body: { inboxId: null, duplicate: true },
    });
    expect(await runBatch()).toMatchObject({ claimed: 1, applied: 1, parked: 0 });
    const [row] = await f.t.db.prisma.$queryRaw<{ source: string }[]>`
      SELECT source FROM inbox_event WHERE id = ${r.body.inboxId}::bigint`;
    expect(row!.source).toBe('manual');

    const d = await call('GET', `/api/orders/${SHOP.id}/HTTP-1`);
    expect(d.status).toBe(200);
    expect(d.body).toMatchObject({ platformOrderId: 'HTTP-1', status: 'paid', exceptions: [] });
    expect(d.body.lines[0]).toMatchObject({
      lineId: 'L1',
      sku: 'TEA',
      amounts: { listAmount: 10000, buyerPaid: 10000 },
      reservations: { active: [{ sku: 'TEA', warehouse: 'SH', quantity: 2 }], consumed: [], released: [] },
      restocks: [],
    });
    expect((await call('GET', `/api/orders/${SHOP.id}/NOPE`)).body).toMatchObject({
      error: 'not_found',
      entity: 'order',
    });
  });

  it('pages the order list with nextCursor and checks its query', async () => {
    // One at a time: a batch is applied concurrently, and the list is newest first.
    for (const id of ['PAGE-1', 'PAGE-2', 'PAGE-3']) {
      expect((await call('POST', '/api/orders', { order: order({ platformOrderId: id }) })).status).toBe(202);
      await runBatch();
    }
    const seen: string[] = [];
    let url = '/api/orders?platformOrderId=PAGE-&limit=2';
    for (let i = 0; i < 3; i++) {
      const r = await call('GET', url);
      expect(r.status).toBe(200);
      seen.push(...r.body.items.map((o: { platformOrderId: string }) => o.platformOrderId));
      if (!r.body.nextCursor) break;
      url = `/api/orders?platformOrderId=PAGE-&limit=2&cursor=${encodeURIComponent(r.body.nextCursor)}`;
    }
    expect(seen).toEqual(['PAGE-3', 'PAGE-2', 'PAGE-1']);
    expect((await call('GET', `/api/orders?shopId=${SHOP.id}&status=paid&limit=1`)).body.items).toHaveLength(
      1,
    );
    for (const bad of ['limit=0', 'limit=abc', 'limit=201', 'status=lost', 'cursor=zzz', 'color=red']) {
      const r = await call('GET', `/api/orders?${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.body.error).toBe('invalid_input');
    }
  });

  it('refuses a malformed order with 400 and an unknown shop with 404, storing nothing', async () => {
    const before = await inboxTotal();
    const bad = {
      ...order(),
      lines: [{ lineId: 'L1', platformItemId: 'I1', quantity: -1, unitListPrice: 100 }],
    };
    const r = await call('POST', '/api/orders', { order: bad });
    expect(r.status).toBe(400);
    expect(r.body.issues.join('\n')).toMatch(/lines\.0\.quantity/);
    expect(
      (await call('POST', '/api/orders', { order: { ...order(), shopId: 'ghost' } })).body,
    ).toMatchObject({
      error: 'not_found',
      entity: 'shop',
      refs: ['ghost'],
    });
    expect((await call('POST', '/api/orders', {})).status).toBe(400);
    expect((await call('POST', '/api/orders', { order: order(), extra: 1 })).status).toBe(400);
    expect((await call('POST', '/api/orders', '{not json')).status).toBe(400);
    const res = await app.request('/api/orders', {
      method: 'POST',
      body: JSON.stringify({ order: order() }),
    });
    expect(res.status).toBe(415);
    expect(await inboxTotal()).toBe(before);
  });

  it('maps a listing and re-applies the order that waited for it', async () => {
    const o = order({
      platformOrderId: 'UNMAPPED-1',
      lines: [
        { lineId: 'L1', platformItemId: 'NEW-ITEM', platformSkuId: 'V1', quantity: 2, unitListPrice: 300 },
      ],
      buyerPaidTotal: 600,
    });
    await call('POST', '/api/orders', { order: o });
    await runBatch();
    const ex = await call('GET', `/api/exceptions?kind=unmapped_sku&shopId=${SHOP.id}`);
    expect(ex.body.items).toEqual([
      expect.objectContaining({ platformOrderId: 'UNMAPPED-1', lineId: 'L1', status: 'open' }),
    ]);
    const put = await call('PUT', '/api/listings', {
      shopId: SHOP.id,
      platformItemId: 'NEW-ITEM',
      platformSkuId: 'V1',
      sku: 'TEA',
      unitsPerItem: 3,
    });
    expect(put).toMatchObject({ status: 200, body: { listingId: expect.any(Number), reapplied: 1 } });
    const d = (await call('GET', `/api/orders/${SHOP.id}/UNMAPPED-1`)).body;
    expect(d.lines[0]).toMatchObject({
      sku: 'TEA',
      unitsPerItem: 3,
      reservations: { active: [{ quantity: 6 }] },
    });
    expect((await call('GET', '/api/exceptions?kind=unmapped_sku')).body.items).toEqual([]);
    expect(
      (await call('PUT', '/api/listings', { shopId: SHOP.id, platformItemId: 'X', sku: 'NO-SUCH-SKU' })).body,
    ).toMatchObject({ error: 'not_found', entity: 'sku' });
    expect(
      (await call('PUT', '/api/listings', { shopId: 'ghost', platformItemId: 'X', sku: 'TEA' })).status,
    ).toBe(404);
    expect(
      (await call('PUT', '/api/listings', { shopId: SHOP.id, platformItemId: '', sku: 'TEA' })).status,
    ).toBe(400);
  });

  it('resolves an exception once (409 the second time)', async () => {
    await call('POST', '/api/orders', {
      order: order({
        platformOrderId: 'EXC-1',
        lines: [{ lineId: 'L1', platformItemId: 'NOBODY', quantity: 1, unitListPrice: 100 }],
        buyerPaidTotal: 100,
      }),
    });
    await runBatch();
    const [e] = (await call('GET', '/api/exceptions?kind=unmapped_sku')).body.items;
    const path = `/api/exceptions/${e.id}/resolve`;
    const ok = await call('POST', path, { resolution: 'test listing, ignore' });
    expect(ok).toMatchObject({
      status: 200,
      body: { id: e.id, status: 'resolved', resolution: 'test listing, ignore' },
    });
    const again = await call('POST', path, { resolution: 'twice' });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({
      error: 'conflict',
      message: expect.stringMatching(/already resolved/),
    });
    expect((await call('POST', '/api/exceptions/999999/resolve', { resolution: 'x' })).status).toBe(404);
    expect((await call('POST', '/api/exceptions/abc/resolve', { resolution: 'x' })).status).toBe(400);
    expect((await call('POST', path, {})).status).toBe(400);
    const resolved = await call('GET', '/api/exceptions?status=resolved');
    expect(resolved.body.items.map((x: { id: number }) => x.id)).toContain(e.id);
    expect((await call('GET', '/api/exceptions?kind=nonsense')).status).toBe(400);
  });

  it('retries a parked event once its cause is fixed', async () => {
    const o = order({ shopId: LATE.id, platform: 'jd', platformOrderId: 'JD-1' });
    const { body } = await call('POST', '/api/orders', { order: o });
    expect(await runBatch()).toMatchObject({ claimed: 1, parked: 1 }); // warehouse GZ missing
    const parked = (await call('GET', '/api/exceptions?kind=parked_event')).body.items;
    expect(parked).toEqual([expect.objectContaining({ subject: `inbox:${body.inboxId}`, shopId: LATE.id })]);
    expect((await call('GET', '/api/inbox')).body).toMatchObject({ parked: 1 });

    const gz = await f.warehouse('GZ');
    await f.receive((await f.inv.catalog.getSku('TEA')).id, gz, 5);
    const retry = await call('POST', `/api/inbox/${body.inboxId}/retry`);
    expect(retry).toMatchObject({ status: 200, body: { id: body.inboxId, status: 'pending' } });
    expect((await call('GET', '/api/exceptions?kind=parked_event')).body.items).toEqual([]);
    expect(await runBatch()).toMatchObject({ claimed: 1, applied: 1 });
    const d = (await call('GET', `/api/orders/${LATE.id}/JD-1`)).body;
    expect(d.lines[0].reservations.active).toEqual([
      expect.objectContaining({ warehouse: 'GZ', quantity: 2 }),
    ]);
    expect((await call('POST', `/api/inbox/${body.inboxId}/retry`)).body).toMatchObject({
      error: 'conflict',
    });
    expect((await call('POST', '/api/inbox/777777/retry')).status).toBe(404);
    expect((await call('POST', '/api/inbox/0/retry')).status).toBe(400);
    expect((await call('POST', '/api/inbox/process?limit=0')).status).toBe(400);
  });

  it('sits behind the admin token', async () => {
    expect((await call('GET', '/api/orders', undefined, authed)).status).toBe(401);
    expect((await call('POST', '/api/inbox/process', undefined, authed)).status).toBe(401);
    const res = await authed.request('/api/exceptions', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
  });
});
