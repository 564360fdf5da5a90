import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { startDaemon } from '../../src/daemon.js';
import { createInventory, type Inventory } from '../../src/inventory/index.js';
import { createLogger, type Logger } from '../../src/log.js';
import { adminApi } from '../../src/server/admin-inventory.js';
import { type AppEnv, createApp } from '../../src/server/app.js';
import { createTestDb, onPostgres, type TestDb } from '../support/db.js';

/** Not a real secret: only this test's apps accept it. */
const TOKEN = 'admin-test-token-0123456789abcdef';

function captureLog(): { log: Logger; text: () => string } {
  const lines: string[] = [];
  const log = createLogger(
    { level: 'debug', pretty: false },
    { destination: { write: (s) => lines.push(s) } },
  );
  return { log, text: () => lines.join('') };
}

interface Reply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked with expect(), not by type
  body: any;
  text: string;
  headers: Headers;
}

let t: TestDb;
let inv: Inventory;
let app: Hono<AppEnv>;
let authed: Hono<AppEnv>;
const logs = captureLog();

beforeAll(async () => {
  t = await createTestDb();
  inv = createInventory(t.db);
  app = createApp({
    db: t.db,
    log: logs.log,
    routes: [{ path: '/api', router: adminApi({ inventory: inv }) }],
  });
  authed = createApp({
    db: t.db,
    log: logs.log,
    routes: [{ path: '/api', router: adminApi({ inventory: inv, token: TOKEN }) }],
  });
});
afterAll(async () => {
  await inv.idle();
  await t.drop();
});

async function call(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  target: Hono<AppEnv> = app,
  rawBody?: string,
): Promise<Reply> {
  const init: RequestInit = { method, headers: { ...headers }, body: rawBody };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers = { 'content-type': 'application/json', ...headers };
  }
  const res = await target.request(path, init);
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

const put = (path: string, body: unknown, headers?: Record<string, string>) =>
  call('PUT', path, body, headers);
const post = (path: string, body: unknown, headers?: Record<string, string>) =>
  call('POST', path, body, headers);
const get = (path: string, headers?: Record<string, string>) => call('GET', path, undefined, headers);

/** Rows in the tables a write touches: a rejected request must leave all of them unchanged. */
async function counts(): Promise<Record<string, number>> {
  const [row] = await t.db.prisma.$queryRawUnsafe<Record<string, number>[]>(`
    SELECT (SELECT COUNT(*) FROM stock_movement)::int AS movements,
           (SELECT COUNT(*) FROM reservation)::int AS reservations,
           (SELECT COUNT(*) FROM inventory_operation)::int AS operations,
           (SELECT COALESCE(SUM(on_hand), 0)::int FROM stock_level) AS "onHand",
           (SELECT COALESCE(SUM(reserved), 0)::int FROM stock_level) AS reserved,
           (SELECT COUNT(*) FROM sku)::int AS skus,
           (SELECT COUNT(*) FROM bundle_component)::int AS components`);
  return row!;
}

async function expectNothingWritten(request: () => Promise<Reply>, status: number): Promise<Reply> {
  const before = await counts();
  const reply = await request();
  expect(reply.status, reply.text).toBe(status);
  expect(await counts()).toEqual(before);
  return reply;
}

describe('admin inventory API: a full flow by codes', () => {
  it('creates warehouses, SKUs and a bundle; receives, reserves, consumes, releases; reports ATS; verifies', async () => {
    const sh = await put('/api/warehouses/WH-SH', { name: 'Shanghai' });
    expect(sh.status).toBe(200);
    expect(sh.body).toEqual({ id: expect.any(Number), code: 'WH-SH', name: 'Shanghai', active: true });
    expect((await put('/api/warehouses/WH-BJ', { name: 'Beijing' })).body).toMatchObject({ code: 'WH-BJ' });
    const old = await put('/api/warehouses/WH-OLD', { name: 'Closed', active: false });
    expect(old.body).toMatchObject({ code: 'WH-OLD', active: false });

    const tea = await put('/api/skus/TEA', {
      name: 'Green tea 250g',
      barcode: '6900000000011',
      safetyStock: 2,
    });
    expect(tea.status).toBe(200);
    expect(tea.body).toEqual({
      id: expect.any(Number),
      code: 'TEA',
      name: 'Green tea 250g',
      barcode: '6900000000011',
      kind: 'simple',
      safetyStock: 2,
    });
    expect((await put('/api/skus/CUP', { name: 'Tea cup' })).body).toMatchObject({ kind: 'simple' });
    const set = await put('/api/skus/GIFT-SET', {
      name: 'Gift set',
      components: [
        { sku: 'TEA', quantity: 2 },
        { sku: 'CUP', quantity: 1 },
      ],
    });
    expect(set.status, set.text).toBe(200);
    expect(set.body).toMatchObject({
      code: 'GIFT-SET',
      kind: 'bundle',
      components: expect.arrayContaining([
        { skuId: tea.body.id, code: 'TEA', quantity: 2 },
        { skuId: expect.any(Number), code: 'CUP', quantity: 1 },
      ]),
    });

    const receipt = await post('/api/stock/receipts', {
      key: 'po-1:TEA',
      sku: 'TEA',
      warehouse: 'WH-SH',
      quantity: 20,
      reference: 'PO-1',
    });
    expect(receipt.status, receipt.text).toBe(200);
    expect(receipt.body).toEqual({
      key: 'po-1:TEA',
      movements: [
        {
          sku: 'TEA',
          warehouse: 'WH-SH',
          skuId: tea.body.id,
          warehouseId: sh.body.id,
          kind: 'receipt',
          quantity: 20,
        },
      ],
    });
    await post('/api/stock/receipts', { key: 'po-1:CUP', sku: 'CUP', warehouse: 'WH-SH', quantity: 5 });
    await post('/api/stock/receipts', { key: 'po-2:CUP', sku: 'CUP', warehouse: 'WH-BJ', quantity: 5 });

    const reserved = await post('/api/reservations', {
      key: 'order-1',
      lines: [
        { lineKey: 'order-1#1', sku: 'GIFT-SET', quantity: 3 },
        { lineKey: 'order-1#2', sku: 'TEA', quantity: 1 },
      ],
      warehouses: ['WH-SH', 'WH-BJ'],
    });
    expect(reserved.status, reserved.text).toBe(200);
    expect(reserved.body).toMatchObject({
      key: 'order-1',
      status: 'reserved',
      lines: [
        { lineKey: 'order-1#1', sku: 'GIFT-SET', requested: 3, reserved: 3, missing: 0 },
        { lineKey: 'order-1#2', sku: 'TEA', requested: 1, reserved: 1, missing: 0 },
      ],
      shortfalls: [],
    });
    // The bundle line holds its components, named by code.
    expect(reserved.body.allocations).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ lineKey: 'order-1#1', sku: 'TEA', warehouse: 'WH-SH', quantity: 6 }),
        expect.objectContaining({ lineKey: 'order-1#1', sku: 'CUP', warehouse: 'WH-SH', quantity: 3 }),
        expect.objectContaining({ lineKey: 'order-1#2', sku: 'TEA', warehouse: 'WH-SH', quantity: 1 }),
      ]),
    );

    const teaView = await get('/api/skus/TEA');
    expect(teaView.status).toBe(200);
    expect(teaView.body).toMatchObject({
      code: 'TEA',
      kind: 'simple',
      onHand: 20,
      reserved: 7,
      ats: 11,
      warehouses: [{ warehouse: 'WH-SH', warehouseId: sh.body.id, active: true, onHand: 20, reserved: 7 }],
    });

    const consumed = await post('/api/reservations/consume', {
      key: 'ship-1',
      lineKey: 'order-1#1',
      quantity: 2,
      reference: 'SF123456789',
    });
    expect(consumed.status, consumed.text).toBe(200);
    expect(consumed.body).toMatchObject({
      key: 'ship-1',
      lineKey: 'order-1#1',
      action: 'consume',
      quantity: 2,
    });
    expect(consumed.body.settled).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ sku: 'TEA', warehouse: 'WH-SH', quantity: 4 }),
        expect.objectContaining({ sku: 'CUP', warehouse: 'WH-SH', quantity: 2 }),
      ]),
    );

    const released = await post('/api/reservations/release', { key: 'cancel-1', lineKey: 'order-1#1' });
    expect(released.status, released.text).toBe(200);
    expect(released.body).toMatchObject({ action: 'release', quantity: 1 });
    expect(released.body.settled).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ sku: 'TEA', warehouse: 'WH-SH', quantity: 2 }),
        expect.objectContaining({ sku: 'CUP', warehouse: 'WH-SH', quantity: 1 }),
      ]),
    );

    // TEA: 16 on hand, 1 reserved (order-1#2), safety 2 -> 13. CUP: 3 + 5 free -> 8.
    // GIFT-SET: min(floor(13 / 2), 8) = 6.
    const ats = await get('/api/availability?sku=TEA&sku=GIFT-SET&sku=CUP');
    expect(ats.status, ats.text).toBe(200);
    expect(ats.body).toEqual([
      expect.objectContaining({
        code: 'TEA',
        kind: 'simple',
        onHand: 16,
        reserved: 1,
        safetyStock: 2,
        ats: 13,
      }),
      expect.objectContaining({ code: 'GIFT-SET', kind: 'bundle', ats: 6 }),
      expect.objectContaining({ code: 'CUP', onHand: 8, reserved: 0, ats: 8 }),
    ]);
    const bj = await get('/api/availability?sku=TEA&sku=CUP&warehouse=WH-BJ');
    expect(bj.body).toEqual([
      expect.objectContaining({ code: 'TEA', onHand: 0, ats: 0 }),
      expect.objectContaining({ code: 'CUP', onHand: 5, ats: 5 }),
    ]);

    const transfer = await post('/api/stock/transfers', {
      key: 'tr-1',
      sku: 'CUP',
      from: 'WH-BJ',
      to: 'WH-SH',
      quantity: 2,
    });
    expect(transfer.status, transfer.text).toBe(200);
    expect(transfer.body.movements).toEqual([
      expect.objectContaining({ sku: 'CUP', warehouse: 'WH-BJ', kind: 'transfer', quantity: -2 }),
      expect.objectContaining({ sku: 'CUP', warehouse: 'WH-SH', kind: 'transfer', quantity: 2 }),
    ]);
    const adjusted = await post('/api/stock/adjustments', {
      key: 'adj-1',
      sku: 'CUP',
      warehouse: 'WH-SH',
      delta: -1,
      reason: 'broken in storage',
    });
    expect(adjusted.body.movements).toEqual([
      expect.objectContaining({ sku: 'CUP', warehouse: 'WH-SH', kind: 'adjustment', quantity: -1 }),
    ]);
    const returned = await post('/api/stock/returns', {
      key: 'rma-1',
      sku: 'TEA',
      warehouse: 'WH-SH',
      quantity: 1,
      note: 'unopened',
    });
    expect(returned.body.movements).toEqual([
      expect.objectContaining({ sku: 'TEA', warehouse: 'WH-SH', kind: 'return', quantity: 1 }),
    ]);
    const counted = await post('/api/stock/stocktakes', {
      key: 'count-bj-1',
      warehouse: 'WH-BJ',
      counts: [
        { sku: 'CUP', counted: 2 },
        { sku: 'TEA', counted: 0 },
      ],
    });
    expect(counted.status, counted.text).toBe(200);
    expect(counted.body).toMatchObject({
      key: 'count-bj-1',
      warehouse: 'WH-BJ',
      movements: [
        expect.objectContaining({ sku: 'CUP', warehouse: 'WH-BJ', kind: 'stocktake', quantity: -1 }),
      ],
      lines: [
        expect.objectContaining({ sku: 'CUP', before: 3, counted: 2, delta: -1 }),
        expect.objectContaining({ sku: 'TEA', before: 0, counted: 0, delta: 0 }),
      ],
    });

    const cup = await get('/api/skus/CUP');
    expect(cup.body).toMatchObject({
      onHand: 6,
      warehouses: [
        { warehouse: 'WH-BJ', onHand: 2, reserved: 0 },
        { warehouse: 'WH-SH', onHand: 4, reserved: 0 },
      ],
    });
    const bundle = await get('/api/skus/GIFT-SET');
    expect(bundle.body).toMatchObject({ kind: 'bundle', onHand: 0, reserved: 0, warehouses: [] });
    expect(bundle.body.components).toHaveLength(2);

    const verify = await get('/api/inventory/verify');
    expect(verify.status).toBe(200);
    expect(verify.body).toEqual({ ok: true, checkedLevels: 3, violations: [] });
  });
});

describe('admin inventory API: replays', () => {
  it('replaying a POST with the same key returns the same body and writes once', async () => {
    const body = { key: 'po-9:TEA', sku: 'TEA', warehouse: 'WH-SH', quantity: 3, reference: 'PO-9' };
    const first = await post('/api/stock/receipts', body);
    expect(first.status).toBe(200);
    const before = await counts();
    const again = await post('/api/stock/receipts', body);
    expect(again.status).toBe(200);
    expect(again.text).toBe(first.text);
    expect(await counts()).toEqual(before);
  });

  it('replaying a reservation and a consume returns the same bodies', async () => {
    const reserve = {
      key: 'order-9',
      lines: [{ lineKey: 'order-9#1', sku: 'GIFT-SET', quantity: 1 }],
      warehouses: ['WH-SH'],
    };
    const first = await post('/api/reservations', reserve);
    expect(first.status, first.text).toBe(200);
    const second = await post('/api/reservations', reserve);
    expect(second.text).toBe(first.text);
    const ship = { key: 'ship-9', lineKey: 'order-9#1' };
    const shipped = await post('/api/reservations/consume', ship);
    expect(shipped.status, shipped.text).toBe(200);
    const before = await counts();
    expect((await post('/api/reservations/consume', ship)).text).toBe(shipped.text);
    expect(await counts()).toEqual(before);
  });
});

describe('admin inventory API: errors', () => {
  it('400 invalid_input lists every bad field, with the request id; nothing written', async () => {
    const r = await expectNothingWritten(
      () =>
        post(
          '/api/stock/receipts',
          { key: 'bad-1', sku: 'TEA', warehouse: 'WH-SH', quantity: -1, extra: true },
          { 'x-request-id': 'req-bad-1' },
        ),
      400,
    );
    expect(r.headers.get('x-request-id')).toBe('req-bad-1');
    expect(r.body).toMatchObject({ error: 'invalid_input', requestId: 'req-bad-1' });
    expect(r.body.message).toMatch(/^invalid receipt: /);
    expect(r.body.issues).toEqual(
      expect.arrayContaining([expect.stringMatching(/^quantity: /), expect.stringMatching(/extra/)]),
    );
  });

  it('400 names a missing field', async () => {
    const r = await expectNothingWritten(
      () => post('/api/stock/adjustments', { key: 'bad-2', sku: 'TEA', warehouse: 'WH-SH', delta: 1 }),
      400,
    );
    expect(r.body.issues).toEqual([expect.stringMatching(/^reason: .*expected string, received undefined/)]);
  });

  it('400 for malformed JSON and for an empty body, naming the problem', async () => {
    const broken = await expectNothingWritten(
      () => post('/api/stock/receipts', '{"key": "x", "sku": ', { 'x-request-id': 'req-json' }),
      400,
    );
    expect(broken.body).toMatchObject({
      error: 'invalid_input',
      message: expect.stringMatching(/^malformed JSON: /),
      requestId: 'req-json',
      issues: [expect.stringMatching(/^\(body\): malformed JSON/)],
    });
    const empty = await post('/api/stock/receipts', '');
    expect(empty.status).toBe(400);
    expect(empty.body.message).toMatch(/body is empty/);
    const notObject = await post('/api/stock/receipts', [1, 2]);
    expect(notObject.status).toBe(400);
    expect(notObject.body.issues).toEqual([expect.stringMatching(/^\(root\): .*expected object/)]);
  });

  it('415 when the body is not declared as JSON (a cross-site form post cannot reach the API)', async () => {
    const r = await expectNothingWritten(
      () =>
        call(
          'POST',
          '/api/stock/receipts',
          undefined,
          { 'content-type': 'text/plain' },
          app,
          JSON.stringify({ key: 'csrf-1', sku: 'TEA', warehouse: 'WH-SH', quantity: 1 }),
        ),
      415,
    );
    expect(r.body).toMatchObject({ error: 'unsupported_media_type', message: /application\/json/ });
  });

  it('validates the body before resolving codes: a bad body with unknown codes is a 400, not a 404', async () => {
    const r = await post('/api/stock/receipts', {
      key: 'bad-3',
      sku: 'NOPE',
      warehouse: 'NOWHERE',
      quantity: 0,
    });
    expect(r.status).toBe(400);
    expect(r.body.issues).toEqual([expect.stringMatching(/^quantity: /)]);
  });

  it('404 not_found names every unknown SKU code at once; then unknown warehouses', async () => {
    const one = await expectNothingWritten(
      () => post('/api/stock/receipts', { key: 'nf-1', sku: 'NOPE', warehouse: 'WH-SH', quantity: 1 }),
      404,
    );
    expect(one.body).toMatchObject({
      error: 'not_found',
      message: 'unknown sku: NOPE',
      entity: 'sku',
      refs: ['NOPE'],
      requestId: expect.any(String),
    });
    const two = await expectNothingWritten(
      () =>
        post('/api/reservations', {
          key: 'nf-2',
          lines: [
            { lineKey: 'nf-2#1', sku: 'NOPE-1', quantity: 1 },
            { lineKey: 'nf-2#2', sku: 'TEA', quantity: 1 },
            { lineKey: 'nf-2#3', sku: 'NOPE-2', quantity: 1 },
          ],
          warehouses: ['WH-SH'],
        }),
      404,
    );
    expect(two.body).toMatchObject({ entity: 'sku', refs: ['NOPE-1', 'NOPE-2'] });
    const wh = await post('/api/stock/transfers', {
      key: 'nf-3',
      sku: 'TEA',
      from: 'WH-SH',
      to: 'WH-MARS',
      quantity: 1,
    });
    expect(wh.status).toBe(404);
    expect(wh.body).toMatchObject({ entity: 'warehouse', refs: ['WH-MARS'] });
    const bundle = await put('/api/skus/SET-X', { name: 'x', components: [{ sku: 'NOPE-3', quantity: 1 }] });
    expect(bundle.body).toMatchObject({ error: 'not_found', entity: 'sku', refs: ['NOPE-3'] });
    const sku = await get('/api/skus/NOPE');
    expect(sku.status).toBe(404);
    expect(sku.body).toMatchObject({ entity: 'sku', refs: ['NOPE'] });
    const ats = await get('/api/availability?sku=TEA&sku=NOPE&warehouse=WH-SH');
    expect(ats.body).toMatchObject({ entity: 'sku', refs: ['NOPE'] });
    const line = await expectNothingWritten(
      () => post('/api/reservations/consume', { key: 'nf-4', lineKey: 'no-such-line' }),
      404,
    );
    expect(line.body).toMatchObject({ entity: 'reservation', refs: ['no-such-line'] });
  });

  it('409 insufficient_stock lists every shortfall by SKU code; nothing reserved', async () => {
    const r = await expectNothingWritten(
      () =>
        post('/api/reservations', {
          key: 'big-order',
          lines: [
            { lineKey: 'big#1', sku: 'TEA', quantity: 1000 },
            { lineKey: 'big#2', sku: 'CUP', quantity: 1000 },
          ],
          warehouses: ['WH-SH', 'WH-BJ'],
        }),
      409,
    );
    expect(r.body).toMatchObject({ error: 'insufficient_stock', requestId: expect.any(String) });
    expect(r.body.shortfalls).toEqual([
      { sku: 'TEA', skuId: expect.any(Number), requested: 1000, available: expect.any(Number) },
      { sku: 'CUP', skuId: expect.any(Number), requested: 1000, available: expect.any(Number) },
    ]);
    expect(r.body.message).toMatch(/TEA needs 1000/);
  });

  it('partial mode reserves what exists and reports the shortfall in a 200', async () => {
    const r = await post('/api/reservations', {
      key: 'oversold-1',
      lines: [{ lineKey: 'oversold-1#1', sku: 'CUP', quantity: 1000 }],
      warehouses: ['WH-SH', 'WH-BJ'],
      mode: 'partial',
    });
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({
      status: 'partial',
      lines: [{ lineKey: 'oversold-1#1', sku: 'CUP', requested: 1000 }],
      shortfalls: [{ sku: 'CUP', requested: 1000 }],
    });
    expect(
      (await post('/api/reservations/release', { key: 'oversold-1:cancel', lineKey: 'oversold-1#1' })).status,
    ).toBe(200);
  });

  it('409 idempotency_conflict when a key is reused for a different request', async () => {
    const r = await expectNothingWritten(
      () => post('/api/stock/receipts', { key: 'po-1:TEA', sku: 'TEA', warehouse: 'WH-SH', quantity: 21 }),
      409,
    );
    expect(r.body).toMatchObject({ error: 'idempotency_conflict', key: 'po-1:TEA' });
  });

  it('409 stock_conflict: below reserved, or a SKU with history turned into a bundle', async () => {
    await post('/api/reservations', {
      key: 'order-10',
      lines: [{ lineKey: 'order-10#1', sku: 'TEA', quantity: 2 }],
      warehouses: ['WH-SH'],
    });
    const teaSh = (await get('/api/skus/TEA')).body.warehouses.find(
      (w: { warehouse: string }) => w.warehouse === 'WH-SH',
    );
    const adj = await expectNothingWritten(
      () =>
        post('/api/stock/adjustments', {
          key: 'adj-too-much',
          sku: 'TEA',
          warehouse: 'WH-SH',
          delta: -teaSh.onHand,
          reason: 'lost',
        }),
      409,
    );
    expect(adj.body).toMatchObject({ error: 'stock_conflict', message: /less on hand than reserved/ });
    const count = await expectNothingWritten(
      () =>
        post('/api/stock/stocktakes', {
          key: 'count-sh-low',
          warehouse: 'WH-SH',
          counts: [{ sku: 'TEA', counted: 0 }],
        }),
      409,
    );
    expect(count.body).toMatchObject({ error: 'stock_conflict', message: /counted below reserved: TEA/ });
    const toBundle = await expectNothingWritten(
      () => put('/api/skus/TEA', { name: 'Tea', components: [{ sku: 'CUP', quantity: 1 }] }),
      409,
    );
    expect(toBundle.body).toMatchObject({ error: 'stock_conflict', message: /TEA has stock history/ });
    const over = await post('/api/reservations/consume', {
      key: 'ship-10',
      lineKey: 'order-10#1',
      quantity: 3,
    });
    expect(over.status).toBe(409);
    expect(over.body.message).toMatch(/2 unit\(s\) reserved/);
  });

  it('422 bundle_cycle names the cycle by codes; nothing written', async () => {
    await put('/api/skus/PART', { name: 'Part' });
    expect(
      (await put('/api/skus/KIT-A', { name: 'Kit A', components: [{ sku: 'PART', quantity: 1 }] })).status,
    ).toBe(200);
    expect(
      (await put('/api/skus/KIT-B', { name: 'Kit B', components: [{ sku: 'KIT-A', quantity: 1 }] })).status,
    ).toBe(200);
    const r = await expectNothingWritten(
      () => put('/api/skus/KIT-A', { name: 'Kit A', components: [{ sku: 'KIT-B', quantity: 1 }] }),
      422,
    );
    expect(r.body).toMatchObject({ error: 'bundle_cycle', path: ['KIT-A', 'KIT-B', 'KIT-A'] });
    const self = await put('/api/skus/KIT-C', { name: 'Kit C', components: [{ sku: 'KIT-C', quantity: 1 }] });
    expect(self.status).toBe(404); // KIT-C does not exist yet, so it cannot be its own component
  });

  it('400 for bad query strings, unknown paths are a JSON 404', async () => {
    const none = await get('/api/availability');
    expect(none.status).toBe(400);
    expect(none.body.issues).toEqual([expect.stringMatching(/^sku: at least one \?sku=<code> is required/)]);
    const extra = await get('/api/availability?sku=TEA&wh=WH-SH');
    expect(extra.status).toBe(400);
    expect(extra.body.issues).toEqual([expect.stringMatching(/wh/)]);
    const inactive = await get('/api/availability?sku=TEA&warehouse=WH-OLD');
    expect(inactive.status).toBe(400);
    expect(inactive.body.message).toMatch(/inactive/);
    const nowhere = await get('/api/nope');
    expect(nowhere.status).toBe(404);
    expect(nowhere.body).toMatchObject({ error: 'not_found', message: 'no route for GET /api/nope' });
  });

  it('a receipt into an inactive warehouse or for a bundle is a 400', async () => {
    const closed = await expectNothingWritten(
      () => post('/api/stock/receipts', { key: 'closed-1', sku: 'TEA', warehouse: 'WH-OLD', quantity: 1 }),
      400,
    );
    expect(closed.body.message).toMatch(/inactive/);
    const bundle = await expectNothingWritten(
      () =>
        post('/api/stock/receipts', { key: 'bundle-1', sku: 'GIFT-SET', warehouse: 'WH-SH', quantity: 1 }),
      400,
    );
    expect(bundle.body.message).toMatch(/GIFT-SET: a bundle has no stock of its own/);
  });

  it('GET /api/inventory/verify answers 200 with ok:false and the violations when the books disagree', async () => {
    const tea = (await get('/api/skus/TEA')).body;
    const sh = (await put('/api/warehouses/WH-SH', { name: 'Shanghai' })).body;
    const bump = (d: number) =>
      t.db.prisma.$executeRawUnsafe(
        `UPDATE stock_level SET on_hand = on_hand + ${d} WHERE sku_id = ${tea.id} AND warehouse_id = ${sh.id}`,
      );
    await bump(1);
    try {
      const r = await get('/api/inventory/verify');
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({
        ok: false,
        violations: [
          {
            rule: 'on_hand_equals_ledger',
            skuCode: 'TEA',
            warehouseId: sh.id,
            warehouseCode: 'WH-SH',
            expected: expect.any(Number),
            actual: expect.any(Number),
          },
        ],
      });
    } finally {
      await bump(-1);
    }
    expect((await get('/api/inventory/verify')).body.ok).toBe(true);
  });
});

describe('admin inventory API: bearer auth', () => {
  const authedCall = (path: string, headers: Record<string, string>) =>
    call('GET', path, undefined, headers, authed);

  it('401 without a token or with a wrong one, 400 for a malformed header, 200 with the token', async () => {
    const none = await authedCall('/api/inventory/verify', { 'x-request-id': 'req-auth-1' });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(none.body).toEqual({
      error: 'unauthorized',
      message: 'missing Authorization: Bearer <token>',
      requestId: 'req-auth-1',
    });
    const wrong = await authedCall('/api/inventory/verify', { authorization: `Bearer ${TOKEN}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ error: 'unauthorized', message: 'invalid bearer token' });
    const basic = await authedCall('/api/inventory/verify', { authorization: 'Basic YWRtaW46YWRtaW4=' });
    expect(basic.status).toBe(400);
    expect(basic.body).toMatchObject({ error: 'bad_request', message: /expected Bearer <token>/ });
    const ok = await authedCall('/api/inventory/verify', { authorization: `Bearer ${TOKEN}` });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ ok: true });
  });

  it('guards every /api path, also writes and unknown paths, but not the probes', async () => {
    const before = await counts();
    const write = await call(
      'POST',
      '/api/stock/receipts',
      { key: 'unauth-1', sku: 'TEA', warehouse: 'WH-SH', quantity: 1 },
      {},
      authed,
    );
    expect(write.status).toBe(401);
    expect(await counts()).toEqual(before);
    expect((await authedCall('/api/nope', {})).status).toBe(401);
    expect((await authedCall('/healthz', {})).status).toBe(200);
  });

  it('never logs the token', async () => {
    await authedCall('/api/inventory/verify', { authorization: `Bearer ${TOKEN}` });
    expect(logs.text()).not.toContain(TOKEN);
  });
});

describe('startDaemon serves the admin API', () => {
  it('refuses to serve /api without a token on a non-loopback host', async () => {
    const base = loadConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: 'pglite:memory' });
    const open = { ...base, server: { ...base.server, host: '0.0.0.0' } };
    await expect(startDaemon(open, captureLog().log)).rejects.toThrow(ConfigError);
    await expect(startDaemon(open, captureLog().log)).rejects.toThrow(/admin\.token/);
  });

  it('mounts /api with bearer auth over real HTTP', async () => {
    const own = onPostgres ? await createTestDb({ migrate: false }) : undefined;
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: own?.url ?? 'pglite:memory',
      ADMIN_TOKEN: TOKEN,
    });
    const d = await startDaemon(config, captureLog().log);
    try {
      expect((await fetch(`${d.url}/api/inventory/verify`)).status).toBe(401);
      const res = await fetch(`${d.url}/api/warehouses/WH-1`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'One' }),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ code: 'WH-1', active: true });
    } finally {
      await d.stop();
      await own?.drop();
    }
  });
});
