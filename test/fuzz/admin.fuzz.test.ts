/**
 * Fuzzing the admin API (`/api`), over real HTTP, against one daemon (bearer token set) on this
 * file's database (PGlite, or PostgreSQL with TEST_DATABASE_URL).
 *
 * The routes are read from the app itself, so a route added later is fuzzed too: routes this
 * file knows get bodies, path and query parameters of their own shape (valid, or mutated), any
 * other gets hostile ones. Every reply must be JSON and never a 5xx; every 4xx carries
 * `{ error, message }` naming the problem and left every table exactly as it was (row count and
 * newest row version of every table, plus an md5 of the stock tables' rows, compared before and
 * after each write request; GETs, which may never write, after each run of them). Valid requests
 * built from a model of what exists (SKUs, warehouses, stock, orders, exceptions, parked events)
 * must succeed, so the suite cannot pass by refusing everything; quantities at their bounds are
 * refused without a write; the ledger invariants still hold at the end.
 *
 * A failure prints fast-check's seed and counterexample; `FUZZ_SEED=<seed>` replays the run.
 */
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config.js';
import { type Daemon, startDaemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { createTestDb, onPostgres, type TestDb } from '../support/db.js';
import {
  changedTables,
  expectJsonError,
  fuzzParams,
  headerText,
  hostileValue,
  mutateJson,
  nastyStrings,
  type Reply,
  reply,
  type Snapshot,
  snapshotter,
  TAINT_ONLY,
} from '../support/fuzz.js';

/** Not a real secret: only this file's daemon accepts it. */
const TOKEN = 'admin-fuzz-token-0123456789abcdef';
const SHOP = 'tmall-fuzz';
/** A shop whose warehouse never exists: its orders are parked, for the retry endpoint. */
const LATE = 'jd-late';
const NOW = new Date('2026-11-11T08:00:00.000Z');

let own: TestDb | undefined;
let daemon: Daemon;
let snapshot: () => Promise<Snapshot>;
/** The database as of the last checked request. */
let last: Snapshot;

/** What exists, as far as the valid generators are concerned. */
const model = {
  simple: ['S-1', 'S-2', 'S-3', 'S-4'],
  bundles: ['B-1'],
  warehouses: ['WH-A', 'WH-B'],
  seq: 0,
};
const next = (prefix: string) => `${prefix}-${++model.seq}`;

interface Req {
  method: string;
  path: string;
  /** JSON-encoded unless `raw` is set. */
  body?: unknown;
  raw?: string | Uint8Array;
  /** Default `application/json` when there is a body; null = none. */
  contentType?: string | null;
  /** Default the bearer token; null = no header. */
  auth?: string | null;
}

async function send(req: Req): Promise<Reply> {
  const headers: Record<string, string> = {};
  const auth = req.auth === undefined ? `Bearer ${TOKEN}` : req.auth;
  if (auth !== null) headers.authorization = auth;
  let body: string | Uint8Array | undefined = req.raw;
  if (body === undefined && req.body !== undefined) body = JSON.stringify(req.body) ?? '';
  // fetch sends no body with a GET.
  if (req.method === 'GET') body = undefined;
  const type =
    req.contentType === undefined ? (body === undefined ? null : 'application/json') : req.contentType;
  if (type !== null) headers['content-type'] = type;
  return reply(await fetch(`${daemon.url}${req.path}`, { method: req.method, headers, body }));
}

const describeReq = (req: Req, r: Reply) =>
  `${req.method} ${req.path.slice(0, 300)} ${(req.raw === undefined ? JSON.stringify(req.body) : String(req.raw))?.slice(0, 300)} -> ${r.status} ${r.text.slice(0, 300)}`;

/** GETs answered since the last snapshot: they must not have written anything either. */
let readsSinceSnapshot = false;

/** Snapshots after a run of GETs (which must have changed nothing) and before the next write. */
async function settleReads(): Promise<void> {
  if (!readsSinceSnapshot) return;
  readsSinceSnapshot = false;
  const now = await snapshot();
  expect(changedTables(last, now), 'a GET wrote').toEqual([]);
  last = now;
}

/**
 * Sends `req` and checks the invariants of every reply: JSON, never a 5xx, and a 4xx names the
 * problem and changed nothing at all. GETs, which must never write, are compared in runs (before
 * the next write and after each test) rather than one by one.
 */
async function checked(req: Req): Promise<Reply> {
  if (req.method !== 'GET') await settleReads();
  const r = await send(req);
  const what = describeReq(req, r);
  expect(r.status, what).toBeLessThan(500);
  expect(r.contentType, what).toMatch(/^application\/json/);
  if (r.status >= 400) expectJsonError(r, what);
  if (req.method === 'GET') {
    readsSinceSnapshot = true;
    return r;
  }
  const now = await snapshot();
  if (r.status >= 400) expect(changedTables(last, now), `${what}: a refused request wrote`).toEqual([]);
  last = now;
  return r;
}

/** A request the model says is valid: it must succeed. */
async function ok(req: Req, status = 200): Promise<Reply> {
  const r = await checked(req);
  expect(r.status, describeReq(req, r)).toBe(status);
  return r;
}

const enc = encodeURIComponent;

beforeAll(async () => {
  own = onPostgres ? await createTestDb({ migrate: false }) : undefined;
  const config = configSchema.parse({
    server: { host: '127.0.0.1', port: 0 },
    database: { url: own?.url ?? 'pglite:memory' },
    log: { level: 'silent' },
    sync: { enabled: false },
    admin: { token: TOKEN },
    shops: [
      { id: SHOP, platform: 'taobao', warehouses: ['WH-A', 'WH-B'] },
      { id: LATE, platform: 'jd', warehouses: ['WH-LATE'] },
    ],
  });
  daemon = await startDaemon(config, createLogger({ level: 'silent', pretty: false }), {
    clock: { now: () => NOW },
  });
  snapshot = await snapshotter(daemon.db);
  last = await snapshot();
  // The starting state, through the API.
  for (const wh of [...model.warehouses, 'WH-OFF'])
    await ok({ method: 'PUT', path: `/api/warehouses/${wh}`, body: { name: `Warehouse ${wh}` } });
  await ok({ method: 'PUT', path: '/api/warehouses/WH-OFF', body: { name: 'Closed', active: false } });
  for (const sku of model.simple) {
    await ok({ method: 'PUT', path: `/api/skus/${sku}`, body: { name: `SKU ${sku}`, safetyStock: 1 } });
    for (const wh of model.warehouses) {
      await ok({
        method: 'POST',
        path: '/api/stock/receipts',
        body: { key: next('open'), sku, warehouse: wh, quantity: 500 },
      });
    }
  }
  await ok({
    method: 'PUT',
    path: '/api/skus/B-1',
    body: {
      name: 'Gift set',
      components: [
        { sku: 'S-1', quantity: 2 },
        { sku: 'S-2', quantity: 1 },
      ],
    },
  });
  await ok({
    method: 'POST',
    path: '/api/reservations',
    body: { key: 'open-res', lines: [{ lineKey: 'open:1', sku: 'B-1', quantity: 3 }], warehouses: ['WH-A'] },
  });
  await ok({
    method: 'PUT',
    path: '/api/listings',
    body: { shopId: SHOP, platformItemId: '1001', sku: 'S-3' },
  });
  await runScenario({ kind: 'order', ...fc.sample(orderArb, { numRuns: 1, seed: 7 })[0]! });
  await runScenario({ kind: 'late' });
});

afterEach(settleReads);

afterAll(async () => {
  await daemon?.stop();
  await own?.drop();
});

// ---------------------------------------------------------------------------------------------
// Valid requests, from the model

const pick = <T>(xs: readonly T[]) => fc.nat().map((i) => xs[i % xs.length]!);
const skuCode = () => fc.nat().map((i) => model.simple[i % model.simple.length]!);
const anySku = () =>
  fc.nat().map((i) => [...model.simple, ...model.bundles][i % (model.simple.length + model.bundles.length)]!);
const warehouse = () => fc.nat().map((i) => model.warehouses[i % model.warehouses.length]!);

/** Non-empty text without NUL or unpaired surrogates, unicode included. */
const text = (max: number) =>
  fc
    .oneof(
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: max }),
      fc.stringMatching(/^[A-Za-z0-9 ._-]{1,40}$/),
    )
    .filter((s) => s.trim().length > 0 && !s.includes('\u0000') && s.length <= max);

/** A code that survives a URL path as is: no `.`/`..` segment, no surrounding whitespace. */
const newCode = fc
  .oneof(fc.stringMatching(/^[A-Z][A-Z0-9_-]{0,20}$/), text(30))
  .map((s) => s.trim())
  .filter((s) => s !== '' && s !== '.' && s !== '..');

const orderArb = fc.record({
  lines: fc.array(
    fc.record({
      sku: fc.oneof(pick(['S-1', 'S-2', 'S-3', 'S-4', 'B-1']), fc.constant('NO-SUCH-SKU')),
      quantity: fc.integer({ min: 1, max: 3 }),
      price: fc.integer({ min: 1, max: 100_000 }),
      title: fc.option(text(40), { nil: undefined }),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  status: fc.constantFrom('pending_payment', 'paid', 'paid', 'shipped', 'cancelled'),
});

const scenario = fc.oneof(
  fc.record({
    kind: fc.constant('sku' as const),
    code: newCode,
    name: text(60),
    barcode: fc.option(fc.stringMatching(/^[0-9]{8,13}$/), { nil: undefined }),
    safetyStock: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }),
  }),
  fc.record({
    kind: fc.constant('bundle' as const),
    code: newCode,
    name: text(60),
    components: fc.uniqueArray(fc.record({ sku: skuCode(), quantity: fc.integer({ min: 1, max: 5 }) }), {
      minLength: 1,
      maxLength: 3,
      selector: (c) => c.sku,
    }),
  }),
  fc.record({ kind: fc.constant('warehouse' as const), code: newCode, name: text(60) }),
  fc.record({
    kind: fc.constantFrom('receipt' as const, 'return' as const),
    sku: skuCode(),
    warehouse: warehouse(),
    quantity: fc.integer({ min: 1, max: 1000 }),
    note: fc.option(text(80), { nil: undefined }),
  }),
  fc.record({
    kind: fc.constant('adjustment' as const),
    sku: skuCode(),
    warehouse: warehouse(),
    delta: fc.integer({ min: 1, max: 100 }),
    reason: text(80),
  }),
  fc.record({
    kind: fc.constant('transfer' as const),
    sku: skuCode(),
    quantity: fc.integer({ min: 1, max: 100 }),
    forward: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('stocktake' as const),
    warehouse: warehouse(),
    skus: fc.uniqueArray(skuCode(), { minLength: 1, maxLength: 3 }),
    extra: fc.integer({ min: 0, max: 50 }),
  }),
  fc.record({
    kind: fc.constant('reserve' as const),
    lines: fc.array(fc.record({ sku: anySku(), quantity: fc.integer({ min: 1, max: 5 }) }), {
      minLength: 1,
      maxLength: 3,
    }),
    warehouses: fc.shuffledSubarray(['WH-A', 'WH-B'], { minLength: 1 }),
    settle: fc.constantFrom('consume', 'release', 'keep'),
  }),
  fc.record({
    kind: fc.constant('listing' as const),
    item: fc.stringMatching(/^[0-9]{1,12}$/),
    variant: fc.option(fc.stringMatching(/^[0-9]{1,12}$/), { nil: undefined }),
    sku: anySku(),
    unitsPerItem: fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
  }),
  orderArb.map((o) => ({ kind: 'order' as const, ...o })),
  fc.constant({ kind: 'resolve' as const }),
  fc.constant({ kind: 'late' as const }),
  fc.record({
    kind: fc.constant('reads' as const),
    limit: fc.integer({ min: 1, max: 200 }),
    status: fc.option(fc.constantFrom('pending_payment', 'paid', 'shipped', 'cancelled'), { nil: undefined }),
    exceptions: fc.constantFrom('open', 'resolved', 'all'),
    skus: fc.uniqueArray(anySku(), { minLength: 1, maxLength: 3 }),
  }),
);

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

async function runScenario(s: Scenario): Promise<void> {
  switch (s.kind) {
    case 'sku': {
      const code = `${s.code}-${++model.seq}`;
      const r = await ok({
        method: 'PUT',
        path: `/api/skus/${enc(code)}`,
        body: { name: s.name, barcode: s.barcode, safetyStock: s.safetyStock },
      });
      expect(r.json).toMatchObject({ code, kind: 'simple' });
      model.simple.push(code);
      await ok({ method: 'GET', path: `/api/skus/${enc(code)}` });
      return;
    }
    case 'bundle': {
      const code = `${s.code}-${++model.seq}`;
      await ok({
        method: 'PUT',
        path: `/api/skus/${enc(code)}`,
        body: { name: s.name, components: s.components },
      });
      model.bundles.push(code);
      return;
    }
    case 'warehouse': {
      const code = `${s.code}-${++model.seq}`;
      await ok({ method: 'PUT', path: `/api/warehouses/${enc(code)}`, body: { name: s.name } });
      model.warehouses.push(code);
      return;
    }
    case 'receipt':
    case 'return': {
      const req: Req = {
        method: 'POST',
        path: s.kind === 'receipt' ? '/api/stock/receipts' : '/api/stock/returns',
        body: { key: next(s.kind), sku: s.sku, warehouse: s.warehouse, quantity: s.quantity, note: s.note },
      };
      const first = await ok(req);
      // A replay answers the same body and books nothing more.
      expect((await ok(req)).json).toEqual(first.json);
      return;
    }
    case 'adjustment':
      await ok({
        method: 'POST',
        path: '/api/stock/adjustments',
        body: { key: next('adj'), sku: s.sku, warehouse: s.warehouse, delta: s.delta, reason: s.reason },
      });
      return;
    case 'transfer': {
      const [from, to] = s.forward ? ['WH-A', 'WH-B'] : ['WH-B', 'WH-A'];
      // Free stock at `from` only grows with the receipt, so the transfer is always covered.
      await ok({
        method: 'POST',
        path: '/api/stock/receipts',
        body: { key: next('for-transfer'), sku: s.sku, warehouse: from, quantity: s.quantity },
      });
      await ok({
        method: 'POST',
        path: '/api/stock/transfers',
        body: { key: next('transfer'), sku: s.sku, from, to, quantity: s.quantity },
      });
      return;
    }
    case 'stocktake': {
      const counts = [];
      for (const sku of s.skus) {
        const view = (await ok({ method: 'GET', path: `/api/skus/${enc(sku)}` })).json;
        const level = view.warehouses.find((w: { warehouse: string }) => w.warehouse === s.warehouse);
        counts.push({ sku, counted: (level?.onHand ?? 0) + s.extra });
      }
      await ok({
        method: 'POST',
        path: '/api/stock/stocktakes',
        body: { key: next('count'), warehouse: s.warehouse, counts },
      });
      return;
    }
    case 'reserve': {
      const key = next('res');
      const lines = s.lines.map((l, i) => ({ lineKey: `${key}:${i}`, sku: l.sku, quantity: l.quantity }));
      const r = await ok({
        method: 'POST',
        path: '/api/reservations',
        body: { key, lines, warehouses: s.warehouses, mode: 'partial' },
      });
      if (s.settle === 'keep') return;
      const line = r.json.lines[0];
      const settle = await checked({
        method: 'POST',
        path: `/api/reservations/${s.settle}`,
        body: { key: next(s.settle), lineKey: line.lineKey },
      });
      // Nothing reserved for the line: nothing to settle (404); else the whole line settles.
      expect(settle.status, settle.text).toBe(line.reserved > 0 ? 200 : 404);
      return;
    }
    case 'listing':
      await ok({
        method: 'PUT',
        path: '/api/listings',
        body: {
          shopId: SHOP,
          platformItemId: s.item,
          platformSkuId: s.variant,
          sku: s.sku,
          unitsPerItem: s.unitsPerItem,
        },
      });
      return;
    case 'order': {
      const id = next('FZ');
      const lines = s.lines.map((l, i) => ({
        lineId: String(i + 1),
        platformItemId: `ITEM-${l.sku}`,
        outerSkuId: l.sku,
        quantity: l.quantity,
        unitListPrice: l.price,
        ...(l.title === undefined ? {} : { title: l.title }),
      }));
      const order = {
        shopId: SHOP,
        platform: 'taobao',
        platformOrderId: id,
        platformModifiedAt: NOW.toISOString(),
        status: s.status,
        currency: 'CNY',
        lines,
        buyerPaidTotal: lines.reduce((sum, l) => sum + l.quantity * l.unitListPrice, 0),
      };
      await ok({ method: 'POST', path: '/api/orders', body: { order } }, 202);
      const batch = (await ok({ method: 'POST', path: '/api/inbox/process?limit=50' })).json;
      expect(batch.claimed).toBeGreaterThan(0);
      await ok({ method: 'GET', path: `/api/orders/${SHOP}/${enc(id)}` });
      return;
    }
    case 'resolve': {
      const open = (await ok({ method: 'GET', path: '/api/exceptions?status=open&limit=5' })).json.items;
      if (open.length === 0) return;
      await ok({
        method: 'POST',
        path: `/api/exceptions/${open[0].id}/resolve`,
        body: { resolution: 'checked by fuzz' },
      });
      return;
    }
    case 'late': {
      const order = {
        shopId: LATE,
        platform: 'jd',
        platformOrderId: next('LATE'),
        platformModifiedAt: NOW.toISOString(),
        status: 'paid',
        currency: 'CNY',
        lines: [{ lineId: '1', platformItemId: 'I1', outerSkuId: 'S-1', quantity: 1, unitListPrice: 100 }],
        buyerPaidTotal: 100,
      };
      const { inboxId } = (await ok({ method: 'POST', path: '/api/orders', body: { order } }, 202)).json;
      const batch = (await ok({ method: 'POST', path: '/api/inbox/process?limit=200' })).json;
      expect(batch.results).toContainEqual({ eventId: inboxId, error: expect.stringMatching(/warehouse/) });
      await ok({ method: 'POST', path: `/api/inbox/${inboxId}/retry` });
      return;
    }
    case 'reads': {
      const q = new URLSearchParams({ limit: String(s.limit), ...(s.status ? { status: s.status } : {}) });
      const page = (await ok({ method: 'GET', path: `/api/orders?${q}` })).json;
      if (page.nextCursor)
        await ok({ method: 'GET', path: `/api/orders?${q}&cursor=${enc(page.nextCursor)}` });
      const ex = (
        await ok({ method: 'GET', path: `/api/exceptions?status=${s.exceptions}&limit=${s.limit}` })
      ).json;
      if (ex.nextCursor)
        await ok({ method: 'GET', path: `/api/exceptions?status=${s.exceptions}&cursor=${ex.nextCursor}` });
      const skus = s.skus.map((x) => `sku=${enc(x)}`).join('&');
      await ok({ method: 'GET', path: `/api/availability?${skus}&warehouse=WH-A` });
      await ok({ method: 'GET', path: '/api/inbox' });
      await ok({ method: 'GET', path: '/api/status' });
      expect((await ok({ method: 'GET', path: '/api/inventory/verify' })).json).toMatchObject({ ok: true });
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Every route of the app, and what this file knows of each

interface RouteSpec {
  method: string;
  /** Hono's pattern, e.g. `/api/skus/:code`. */
  path: string;
  /** A valid body (writes) to mutate. Unset: the route takes none, or this file does not know it. */
  body?: () => fc.Arbitrary<unknown>;
  /** Valid-looking values of each path parameter. */
  params?: Record<string, () => fc.Arbitrary<string>>;
  /** Query parameters the route takes, with valid-looking values. */
  query?: Record<string, () => fc.Arbitrary<string>>;
}

const keyArb = () => fc.uuid().map((u) => `fz-${u}`);

/**
 * Order-list cursors: base64url of `<time>|<id>` as the API gives them out, with times that
 * JavaScript parses but PostgreSQL may not, and arbitrary text.
 */
const orderCursor = fc.oneof(
  fc
    .tuple(
      fc.constantFrom(
        '2026-11-11T08:00:00.000Z',
        '1',
        '2026-11-11',
        '+275760-09-13T00:00:00.000Z',
        '275760-09-13T00:00:00.000Z',
        '0000-01-01T00:00:00.000Z',
        '2026-02-30T00:00:00.000Z',
        'Mon, 1 Jan 2026 00:00:00 GMT',
      ),
      fc.constantFrom('1', '0', '999999999999999999', '1e3', '-1'),
    )
    .map(([at, id]) => Buffer.from(`${at}|${id}`).toString('base64url')),
  fc.string({ maxLength: 40 }).map((x) => Buffer.from(x).toString('base64url')),
  fc.constantFrom('zzz', '', '|'),
);
const qty = () => fc.integer({ min: 1, max: 50 });

const KNOWN: RouteSpec[] = [
  {
    method: 'PUT',
    path: '/api/skus/:code',
    // Not the model's simple SKUs: a fuzzed body could turn one into a bundle.
    params: { code: () => fc.oneof(fc.constant('B-1'), newCode) },
    body: () =>
      fc.oneof(
        fc.record({ name: text(40), barcode: fc.stringMatching(/^[0-9]{8,13}$/), safetyStock: qty() }),
        fc.record({ name: text(40), components: fc.constant([{ sku: 'S-1', quantity: 2 }]) }),
      ),
  },
  { method: 'GET', path: '/api/skus/:code', params: { code: () => anySku() } },
  {
    method: 'PUT',
    path: '/api/warehouses/:code',
    // Not the model's warehouses: a fuzzed body could close one.
    params: { code: () => fc.oneof(fc.constant('WH-OFF'), newCode) },
    body: () => fc.record({ name: text(40), active: fc.boolean() }),
  },
  ...['receipts', 'returns'].map((kind) => ({
    method: 'POST',
    path: `/api/stock/${kind}`,
    body: () =>
      fc.record({
        key: keyArb(),
        sku: skuCode(),
        warehouse: warehouse(),
        quantity: qty(),
        reference: text(20),
        note: text(40),
      }),
  })),
  {
    method: 'POST',
    path: '/api/stock/adjustments',
    body: () =>
      fc.record({ key: keyArb(), sku: skuCode(), warehouse: warehouse(), delta: qty(), reason: text(40) }),
  },
  {
    method: 'POST',
    path: '/api/stock/transfers',
    body: () =>
      fc.record({
        key: keyArb(),
        sku: skuCode(),
        from: fc.constant('WH-A'),
        to: fc.constant('WH-B'),
        quantity: qty(),
      }),
  },
  {
    method: 'POST',
    path: '/api/stock/stocktakes',
    body: () =>
      fc.record({
        key: keyArb(),
        warehouse: warehouse(),
        counts: fc.constant([{ sku: 'S-4', counted: 600 }]),
        note: text(40),
      }),
  },
  {
    method: 'POST',
    path: '/api/reservations',
    body: () =>
      fc.record({
        key: keyArb(),
        lines: fc.constant([{ lineKey: 'fz:1', sku: 'S-2', quantity: 1 }]),
        warehouses: fc.constant(['WH-A', 'WH-B']),
        mode: fc.constantFrom('all', 'partial'),
      }),
  },
  ...['consume', 'release'].map((action) => ({
    method: 'POST',
    path: `/api/reservations/${action}`,
    body: () => fc.record({ key: keyArb(), lineKey: fc.constant('open:1'), quantity: fc.constant(1) }),
  })),
  {
    method: 'GET',
    path: '/api/availability',
    query: { sku: () => anySku(), warehouse: () => fc.constantFrom('WH-A', 'WH-B', 'WH-OFF') },
  },
  { method: 'GET', path: '/api/inventory/verify' },
  {
    method: 'GET',
    path: '/api/orders',
    query: {
      shopId: () => fc.constantFrom(SHOP, LATE),
      status: () => fc.constantFrom('paid', 'cancelled', 'shipped'),
      platformOrderId: () => fc.constantFrom('FZ', 'FZ-1', 'LATE'),
      cursor: () => orderCursor,
      limit: () => fc.integer({ min: 1, max: 200 }).map(String),
    },
  },
  {
    method: 'GET',
    path: '/api/orders/:shopId/:platformOrderId',
    params: {
      shopId: () => fc.constantFrom(SHOP, LATE),
      platformOrderId: () => fc.constantFrom('FZ-1', 'LATE-2'),
    },
  },
  {
    method: 'POST',
    path: '/api/orders',
    body: () =>
      orderArb.map((o) => ({
        key: `fz-${o.lines.length}-${o.lines[0]!.price}`,
        order: {
          shopId: SHOP,
          platform: 'taobao',
          platformOrderId: `FZM-${o.lines[0]!.price}`,
          platformModifiedAt: NOW.toISOString(),
          status: o.status,
          currency: 'CNY',
          lines: o.lines.map((l, i) => ({
            lineId: String(i + 1),
            platformItemId: 'I1',
            outerSkuId: l.sku,
            quantity: l.quantity,
            unitListPrice: l.price,
          })),
          buyerPaidTotal: o.lines.reduce((sum, l) => sum + l.quantity * l.price, 0),
        },
      })),
  },
  {
    method: 'GET',
    path: '/api/exceptions',
    query: {
      status: () => fc.constantFrom('open', 'resolved', 'all'),
      kind: () => fc.constantFrom('unmapped_sku', 'oversell', 'amount_mismatch', 'parked_event'),
      shopId: () => fc.constantFrom(SHOP, LATE),
      cursor: () =>
        fc.oneof(
          fc.integer({ min: 1, max: 100 }).map(String),
          fc.constantFrom('0', '-1', '1e3', '9223372036854775808', '999999999999999999'),
        ),
      limit: () => fc.integer({ min: 1, max: 200 }).map(String),
    },
  },
  {
    method: 'POST',
    path: '/api/exceptions/:id/resolve',
    params: { id: () => fc.integer({ min: 1, max: 20 }).map(String) },
    body: () => fc.record({ resolution: text(100) }),
  },
  {
    method: 'PUT',
    path: '/api/listings',
    body: () =>
      fc.record({
        shopId: fc.constant(SHOP),
        platformItemId: fc.stringMatching(/^[0-9]{1,12}$/),
        platformSkuId: fc.stringMatching(/^[0-9]{1,12}$/),
        sku: anySku(),
        unitsPerItem: fc.integer({ min: 1, max: 12 }),
        stockRef: fc.record({ listingId: fc.stringMatching(/^[0-9]{1,12}$/) }),
      }),
  },
  { method: 'GET', path: '/api/inbox' },
  {
    method: 'POST',
    path: '/api/inbox/process',
    query: { limit: () => fc.integer({ min: 1, max: 500 }).map(String) },
  },
  {
    method: 'POST',
    path: '/api/inbox/:id/retry',
    params: { id: () => fc.integer({ min: 1, max: 50 }).map(String) },
  },
  { method: 'GET', path: '/api/status' },
];

/** The app's own route table under `/api`, each with this file's spec or a generic one. */
let routes: RouteSpec[];

beforeAll(() => {
  const mounted = daemon.app.routes
    .filter((r) => r.method !== 'ALL' && r.path.startsWith('/api/'))
    .map((r) => ({ method: r.method, path: r.path }));
  const stale = KNOWN.filter((k) => !mounted.some((m) => m.method === k.method && m.path === k.path));
  expect(
    stale.map((k) => `${k.method} ${k.path}`),
    'routes in KNOWN that the app no longer has',
  ).toEqual([]);
  routes = mounted.map((m) => ({
    ...(KNOWN.find((k) => k.method === m.method && k.path === m.path) ?? m),
    // Counterexamples print the route, not its generators.
    [fc.toStringMethod]: () => `${m.method} ${m.path}`,
  }));
  // Every write route of the app, known or not, is in the table.
  expect(
    routes.filter((r) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(r.method)).length,
  ).toBeGreaterThanOrEqual(KNOWN.filter((r) => r.method !== 'GET').length);
});

const paramNames = (path: string) => [...path.matchAll(/:(\w+)/g)].map((m) => m[1]!);

/** Arbitrary text for a path or query parameter, hostile more often than not. */
const anyParam = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
  fc.constantFrom(...nastyStrings.filter((s) => s !== '' && !/[\ud800-\udfff]/.test(s))),
  fc.constantFrom(
    '0',
    '-1',
    '1.5',
    '1e3',
    '99999999999999999999',
    '٣',
    'a/b',
    '?x=1',
    '#frag',
    '%',
    'x'.repeat(101),
  ),
  headerText(300),
);

/** Percent-escapes some raw sequences as they are (invalid, overlong, a UTF-8 surrogate). */
const rawEscape = fc.constantFrom('%', '%zz', '%E0%A4%A', '%C0%80', '%ED%A0%80', '%FF', '%2e%2e');

/** A path for `route` with each parameter valid-looking or hostile. */
function pathFor(route: RouteSpec, hostile: boolean): fc.Arbitrary<string> {
  const names = paramNames(route.path);
  if (names.length === 0) return fc.constant(route.path);
  const value = (name: string) => {
    const valid = route.params?.[name]?.() ?? anyParam;
    return hostile
      ? fc.oneof(valid.map(enc), anyParam.map(enc), anyParam.map(enc), rawEscape)
      : fc.oneof({ arbitrary: valid.map(enc), weight: 4 }, { arbitrary: anyParam.map(enc), weight: 1 });
  };
  return fc
    .tuple(...names.map(value))
    .map((vals) => fill(route.path, Object.fromEntries(names.map((n, i) => [n, vals[i]!]))));
}

/** `path` with each `:name` replaced by `values[name]` (already encoded). */
const fill = (path: string, values: Record<string, string>) =>
  path.replace(/:(\w+)/g, (_, n: string) => values[n]!);

/** Valid-looking, encoded values of a route's path parameters, one sample. */
const validParams = (r: RouteSpec): Record<string, string> =>
  Object.fromEntries(
    paramNames(r.path).map((n) => [
      n,
      enc(fc.sample(r.params?.[n]?.() ?? fc.constant('1'), { numRuns: 1, seed: 1 })[0]!),
    ]),
  );

const route = (filter: (r: RouteSpec) => boolean) =>
  fc.constant(null).chain(() => {
    const rs = routes.filter(filter);
    return fc.nat({ max: rs.length - 1 }).map((i) => rs[i]!);
  });

const isWrite = (r: RouteSpec) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(r.method);

describe('admin API fuzzing', () => {
  it('valid requests generated from the model succeed', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        await runScenario(s);
      }),
      fuzzParams(70),
    );
  });

  it('write routes: arbitrary, mutated and non-JSON bodies are 4xx with a named problem and write nothing', async () => {
    const badBody = (r: RouteSpec): fc.Arbitrary<Pick<Req, 'body' | 'raw' | 'contentType'>> => {
      const base = r.body?.() ?? fc.jsonValue({ maxDepth: 2 });
      return fc.oneof(
        { arbitrary: base.chain((b) => mutateJson(b, 1, 4)).map((body) => ({ body })), weight: 5 },
        {
          arbitrary: base.chain((b) => mutateJson(b, 1, 1, TAINT_ONLY)).map((body) => ({ body })),
          weight: 3,
        },
        { arbitrary: hostileValue.map((body) => ({ body })), weight: 2 },
        {
          arbitrary: fc
            .oneof(
              fc.string({ maxLength: 200 }),
              fc.constantFrom(
                '',
                '   ',
                '{',
                '{"key":',
                'null',
                '[]',
                '\ufeff{}',
                'undefined',
                '{"a":1}{"b":2}',
              ),
              base.map((b) => (JSON.stringify(b) ?? '').slice(0, -1)),
            )
            .map((raw) => ({ raw })),
          weight: 2,
        },
        {
          arbitrary: fc
            .tuple(
              base,
              fc.constantFrom(
                null,
                'text/plain',
                'application/x-www-form-urlencoded',
                'json',
                'application/jsonx',
              ),
            )
            .map(([body, contentType]) => ({ body, contentType })),
          weight: 1,
        },
        {
          arbitrary: fc
            .uint8Array({ maxLength: 300 })
            .map((raw) => ({ raw, contentType: 'application/json' })),
          weight: 1,
        },
      );
    };
    const request = route(isWrite).chain((r) =>
      fc.record({ route: fc.constant(r), path: pathFor(r, false), body: badBody(r) }),
    );
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(request, async ({ route: r, path, body }) => {
        const res = await checked({ method: r.method, path, ...body });
        if (res.status >= 400) refused++;
      }),
      fuzzParams(200),
    );
    expect(refused).toBeGreaterThan(120);
  });

  it('path parameters: any text, encoded or raw, never a 5xx; refused ones write nothing', async () => {
    const request = route((r) => paramNames(r.path).length > 0).chain((r) =>
      fc.record({
        route: fc.constant(r),
        path: pathFor(r, true),
        body: r.body?.() ?? fc.constant(undefined),
      }),
    );
    await fc.assert(
      fc.asyncProperty(request, async ({ route: r, path, body }) => {
        await checked({ method: r.method, path, body });
      }),
      fuzzParams(100),
    );
  });

  it('each path and query parameter with each known-hostile value: never a 5xx, refused ones write nothing', async () => {
    const values = [
      ...nastyStrings.filter((v) => v !== '' && !/[\ud800-\udfff]/.test(v)),
      '0',
      '99999999999999999999',
      'x'.repeat(300),
    ];
    const cursors = fc.sample(orderCursor, { numRuns: 12, seed: 1 });
    for (const r of routes) {
      const body = r.body ? fc.sample(r.body(), { numRuns: 1, seed: 1 })[0] : undefined;
      const valid = validParams(r);
      for (const name of paramNames(r.path)) {
        for (const v of values)
          await checked({ method: r.method, path: fill(r.path, { ...valid, [name]: enc(v) }), body });
      }
      for (const key of Object.keys(r.query ?? {})) {
        for (const v of key === 'cursor' ? [...values, ...cursors] : values) {
          await checked({ method: r.method, path: `${fill(r.path, valid)}?${key}=${enc(v)}` });
        }
      }
    }
  });

  it('query parameters: known and unknown keys, any values, repeated; reads write nothing', async () => {
    const before = await snapshot();
    const request = route((r) => r.method === 'GET' || r.query !== undefined).chain((r) => {
      const known = Object.entries(r.query ?? {});
      const pair = fc.oneof(
        ...(known.length > 0
          ? [
              fc.tuple(fc.constantFrom(...known.map(([k]) => k)), anyParam),
              fc.constantFrom(...known).chain(([k, v]) => v().map((x) => [k, x] as [string, string])),
            ]
          : []),
        fc.tuple(fc.oneof(anyParam, fc.constantFrom('limit', 'cursor', 'sku', 'status')), anyParam),
      );
      return fc.record({
        route: fc.constant(r),
        path: pathFor(r, false),
        pairs: fc.array(pair, { maxLength: 5 }),
        raw: fc.option(rawEscape, { nil: undefined }),
      });
    });
    let writes = false;
    await fc.assert(
      fc.asyncProperty(request, async ({ route: r, path, pairs, raw }) => {
        const q = new URLSearchParams(pairs).toString();
        await checked({ method: r.method, path: `${path}?${q}${raw ? `&x=${raw}` : ''}` });
        if (r.method !== 'GET') writes = true;
      }),
      fuzzParams(100),
    );
    // GETs change nothing, whatever they were asked.
    if (!writes) expect(changedTables(before, await snapshot())).toEqual([]);
  });

  it('authorization: a missing, malformed or wrong bearer token is 400/401 on every route', async () => {
    const auth = fc.oneof(
      fc.constant(null),
      fc.constantFrom(
        '',
        'Bearer',
        'Bearer ',
        `Bearer ${TOKEN}x`,
        `bearer  ${TOKEN.slice(1)}`,
        `Basic ${TOKEN}`,
        TOKEN,
      ),
      headerText(100),
      headerText(60).map((t) => `Bearer ${t}`),
    );
    const request = route(() => true).chain((r) =>
      fc.record({
        route: fc.constant(r),
        path: pathFor(r, false),
        auth,
        body: r.body?.() ?? fc.constant(undefined),
      }),
    );
    await fc.assert(
      fc.asyncProperty(request, async ({ route: r, path, auth: a, body }) => {
        fc.pre(a !== `Bearer ${TOKEN}`);
        const res = await checked({ method: r.method, path, auth: a, body });
        expect([400, 401], describeReq({ method: r.method, path }, res)).toContain(res.status);
      }),
      fuzzParams(100),
    );
  });

  it('methods and paths the API does not have are 404', async () => {
    const request = fc.record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'),
      path: fc.oneof(
        route(() => true).chain((r) => pathFor(r, false)),
        fc.array(anyParam.map(enc), { minLength: 1, maxLength: 4 }).map((segs) => `/api/${segs.join('/')}`),
      ),
      body: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(request, async ({ method, path, body }) => {
        const known = routes.some(
          (r) =>
            r.method === method &&
            new RegExp(`^${r.path.replace(/:\w+/g, '[^/]+')}$`).test(path.split('?')[0]!),
        );
        fc.pre(!known);
        const res = await checked({ method, path, body });
        expect([400, 404], describeReq({ method, path }, res)).toContain(res.status);
      }),
      fuzzParams(100),
    );
  });

  it('quantities at their bounds: a balance refuses to outgrow its column, totals over warehouses still add up', async () => {
    const MAX = 1_000_000_000;
    await ok({ method: 'PUT', path: '/api/skus/S-BULK', body: { name: 'Bulk' } });
    for (const warehouse of ['WH-A', 'WH-B']) {
      for (let i = 0; i < 2; i++)
        await ok({
          method: 'POST',
          path: '/api/stock/receipts',
          body: { key: next('bulk'), sku: 'S-BULK', warehouse, quantity: MAX },
        });
      // 3e9 does not fit the balance: refused, nothing written.
      for (const [path, body] of [
        ['/api/stock/receipts', { quantity: MAX }],
        ['/api/stock/returns', { quantity: MAX }],
        ['/api/stock/adjustments', { delta: MAX, reason: 'count' }],
      ] as const) {
        const r = await checked({
          method: 'POST',
          path,
          body: { key: next('bulk'), sku: 'S-BULK', warehouse, ...body },
        });
        expect(r.status, r.text).toBe(409);
        expect(r.json.error).toBe('stock_conflict');
      }
    }
    const moved = await checked({
      method: 'POST',
      path: '/api/stock/transfers',
      body: { key: next('bulk'), sku: 'S-BULK', from: 'WH-A', to: 'WH-B', quantity: MAX },
    });
    expect(moved.status, moved.text).toBe(409);
    const [ats] = (await ok({ method: 'GET', path: '/api/availability?sku=S-BULK' })).json;
    expect(ats).toMatchObject({ onHand: 4 * MAX, reserved: 0 });
    expect((await ok({ method: 'GET', path: '/api/skus/S-BULK' })).json.onHand).toBe(4 * MAX);
    await ok({
      method: 'POST',
      path: '/api/stock/stocktakes',
      body: { key: next('bulk'), warehouse: 'WH-A', counts: [{ sku: 'S-BULK', counted: MAX }] },
    });
    const res = await ok({
      method: 'POST',
      path: '/api/reservations',
      body: {
        key: next('bulk'),
        lines: [{ lineKey: 'bulk:1', sku: 'S-BULK', quantity: MAX }],
        warehouses: ['WH-A', 'WH-B'],
      },
    });
    expect(res.json.status).toBe('reserved');
  });

  it('the ledger still balances and the daemon still answers', async () => {
    expect((await ok({ method: 'GET', path: '/api/inventory/verify' })).json).toMatchObject({
      ok: true,
      violations: [],
    });
    expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${daemon.url}/readyz`)).status).toBe(200);
  });
});
