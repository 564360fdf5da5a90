/**
 * The admin JSON API for the inventory, mounted at `/api` (see docs-draft-admin-api.md / README).
 *
 * Requests name SKUs and warehouses by code; the router checks each body against a strict zod
 * schema first (400 naming every bad field), then resolves the codes in one lookup (404 naming
 * every unknown code), then calls the inventory service, which validates again and writes in one
 * transaction. Responses show codes next to ids. Errors are thrown as domain errors and answered
 * by the app's error handler (`domainErrorResponse` in ./app.ts).
 *
 * Every stock write carries an idempotency `key`: a replay of the same request returns the same
 * body (200 both times); the same key with a different request is a 409. Success bodies hold no
 * per-request data (the request id is in the `x-request-id` header) so replays compare equal.
 */
import { type Context, Hono } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { z } from 'zod';
import type { ResolvedRefs, SkuView } from '../inventory/catalog.js';
import type {
  Inventory,
  MovementResult,
  ReserveResult,
  SettleResult,
  StocktakeResult,
} from '../inventory/index.js';
import {
  code,
  idempotencyKey,
  MAX_QUANTITY,
  nonNegativeQty,
  parseInput,
  positiveQty,
} from '../inventory/validation.js';
import type { AppEnv } from './app.js';
import { readJson } from './json-body.js';

const name = z.string().trim().min(1).max(500);
const text = z.string().trim().max(500).nullish();
const lineKey = z.string().trim().min(1).max(200);

const skuBody = z.strictObject({
  name,
  barcode: z.string().trim().min(1).max(100).nullish(),
  safetyStock: nonNegativeQty.optional(),
});

const bundleBody = skuBody.extend({
  components: z
    .array(z.strictObject({ sku: code, quantity: positiveQty }))
    .min(1)
    .max(100)
    .refine((cs) => new Set(cs.map((x) => x.sku)).size === cs.length, 'each component sku may appear once'),
});

const warehouseBody = z.strictObject({ name, active: z.boolean().optional() });

const receiptBody = z.strictObject({
  key: idempotencyKey,
  sku: code,
  warehouse: code,
  quantity: positiveQty,
  reference: text,
  note: text,
});

const adjustmentBody = z.strictObject({
  key: idempotencyKey,
  sku: code,
  warehouse: code,
  delta: z
    .number()
    .int()
    .min(-MAX_QUANTITY)
    .max(MAX_QUANTITY)
    .refine((d) => d !== 0, 'must not be 0'),
  reason: name,
});

const transferBody = z
  .strictObject({
    key: idempotencyKey,
    sku: code,
    from: code,
    to: code,
    quantity: positiveQty,
    note: text,
  })
  .refine((t) => t.from !== t.to, { message: 'must differ from `from`', path: ['to'] });

const stocktakeBody = z.strictObject({
  key: idempotencyKey,
  warehouse: code,
  counts: z
    .array(z.strictObject({ sku: code, counted: nonNegativeQty }))
    .min(1)
    .max(10_000)
    .refine((cs) => new Set(cs.map((c) => c.sku)).size === cs.length, 'each sku may be counted once'),
  note: text,
});

const reserveBody = z.strictObject({
  key: idempotencyKey,
  lines: z
    .array(z.strictObject({ lineKey, sku: code, quantity: positiveQty }))
    .min(1)
    .max(1000)
    .refine((ls) => new Set(ls.map((l) => l.lineKey)).size === ls.length, 'each lineKey may appear once'),
  /** The channel's warehouses, highest priority first. */
  warehouses: z
    .array(code)
    .min(1)
    .max(100)
    .refine((ws) => new Set(ws).size === ws.length, 'each warehouse may appear once'),
  mode: z.enum(['all', 'partial']).optional(),
});

const consumeBody = z.strictObject({
  key: idempotencyKey,
  lineKey,
  quantity: positiveQty.optional(),
  reference: text,
});

const releaseBody = z.strictObject({ key: idempotencyKey, lineKey, quantity: positiveQty.optional() });

const availabilityQuery = z.strictObject({
  sku: z
    .array(code, { error: 'at least one ?sku=<code> is required' })
    .min(1)
    .max(1000)
    .refine((s) => new Set(s).size === s.length, 'each sku may appear once'),
  warehouse: z
    .array(code)
    .min(1)
    .max(100)
    .refine((w) => new Set(w).size === w.length, 'each warehouse may appear once')
    .optional(),
});

export interface AdminApiOptions {
  inventory: Inventory;
  /** `admin.token` from the config: when set, every request needs `Authorization: Bearer <token>`. */
  token?: string | undefined;
}

/**
 * The router mounted at `/api`: bearer auth (when a token is configured) in front of every
 * admin endpoint, including unknown paths, so the API's shape is not revealed without a token.
 * Missing header or wrong token: 401; a header that is not `Bearer <token>`: 400 (RFC 6750).
 */
export function adminApi({ inventory, token }: AdminApiOptions): Hono<AppEnv> {
  const api = new Hono<AppEnv>();
  if (token !== undefined) {
    api.use(
      '*',
      bearerAuth<AppEnv>({
        token,
        noAuthenticationHeader: { message: 'missing Authorization: Bearer <token>' },
        invalidAuthenticationHeader: { message: 'malformed Authorization header; expected Bearer <token>' },
        invalidToken: { message: 'invalid bearer token' },
      }),
    );
  }
  api.route('/', inventoryRouter(inventory));
  return api;
}

/** The inventory endpoints (no auth of their own; {@link adminApi} adds it). */
export function inventoryRouter(inv: Inventory): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  r.put('/skus/:code', async (c) => {
    const skuCode = pathCode(c, 'SKU code');
    const body = await readJson(c);
    if (isObject(body) && 'components' in body) {
      const b = parseInput(bundleBody, body, 'bundle');
      const view = await inv.catalog.putBundle({
        code: skuCode,
        name: b.name,
        barcode: b.barcode,
        safetyStock: b.safetyStock,
        components: b.components.map((x) => ({ code: x.sku, quantity: x.quantity })),
      });
      return c.json(view);
    }
    const b = parseInput(skuBody, body, 'SKU');
    return c.json(await inv.catalog.putSku({ code: skuCode, ...b }));
  });

  r.get('/skus/:code', async (c) => {
    const sku: SkuView = await inv.catalog.getSku(pathCode(c, 'SKU code'));
    const [ats] = await inv.availability.ats({ skuIds: [sku.id] });
    const levels = await inv.availability.levels(sku.id);
    return c.json({
      ...sku,
      onHand: ats!.onHand,
      reserved: ats!.reserved,
      ats: ats!.ats,
      warehouses: levels.map((l) => ({
        warehouse: l.warehouseCode,
        warehouseId: l.warehouseId,
        active: l.active,
        onHand: l.onHand,
        reserved: l.reserved,
      })),
    });
  });

  r.put('/warehouses/:code', async (c) => {
    const whCode = pathCode(c, 'warehouse code');
    const b = parseInput(warehouseBody, await readJson(c), 'warehouse');
    return c.json(await inv.catalog.putWarehouse({ code: whCode, ...b }));
  });

  for (const [path, kind] of [
    ['/stock/receipts', 'receipt'],
    ['/stock/returns', 'return'],
  ] as const) {
    r.post(path, async (c) => {
      const b = parseInput(receiptBody, await readJson(c), kind);
      const refs = await inv.catalog.resolve({ skus: [b.sku], warehouses: [b.warehouse] });
      const input = {
        key: b.key,
        skuId: skuId(refs, b.sku),
        warehouseId: warehouseId(refs, b.warehouse),
        quantity: b.quantity,
        reference: b.reference,
        note: b.note,
      };
      const result =
        kind === 'receipt' ? await inv.ledger.receive(input) : await inv.ledger.returnStock(input);
      return c.json(await movementsView(inv, refs, result));
    });
  }

  r.post('/stock/adjustments', async (c) => {
    const b = parseInput(adjustmentBody, await readJson(c), 'adjustment');
    const refs = await inv.catalog.resolve({ skus: [b.sku], warehouses: [b.warehouse] });
    const result = await inv.ledger.adjust({
      key: b.key,
      skuId: skuId(refs, b.sku),
      warehouseId: warehouseId(refs, b.warehouse),
      delta: b.delta,
      reason: b.reason,
    });
    return c.json(await movementsView(inv, refs, result));
  });

  r.post('/stock/transfers', async (c) => {
    const b = parseInput(transferBody, await readJson(c), 'transfer');
    const refs = await inv.catalog.resolve({ skus: [b.sku], warehouses: [b.from, b.to] });
    const result = await inv.ledger.transfer({
      key: b.key,
      skuId: skuId(refs, b.sku),
      fromWarehouseId: warehouseId(refs, b.from),
      toWarehouseId: warehouseId(refs, b.to),
      quantity: b.quantity,
      note: b.note,
    });
    return c.json(await movementsView(inv, refs, result));
  });

  r.post('/stock/stocktakes', async (c) => {
    const b = parseInput(stocktakeBody, await readJson(c), 'stocktake');
    const refs = await inv.catalog.resolve({ skus: b.counts.map((x) => x.sku), warehouses: [b.warehouse] });
    const result: StocktakeResult = await inv.ledger.stocktake({
      key: b.key,
      warehouseId: warehouseId(refs, b.warehouse),
      counts: b.counts.map((x) => ({ skuId: skuId(refs, x.sku), counted: x.counted })),
      note: b.note,
    });
    const names = await namesFor(inv, refs, result.movements);
    return c.json({
      key: result.key,
      warehouse: b.warehouse,
      movements: result.movements.map((m) => ({ ...names.of(m), kind: m.kind, quantity: m.quantity })),
      lines: result.lines.map((l) => ({
        sku: names.sku(l.skuId),
        skuId: l.skuId,
        before: l.before,
        counted: l.counted,
        delta: l.delta,
      })),
    });
  });

  r.post('/reservations', async (c) => {
    const b = parseInput(reserveBody, await readJson(c), 'reservation');
    const refs = await inv.catalog.resolve({ skus: b.lines.map((l) => l.sku), warehouses: b.warehouses });
    const result: ReserveResult = await inv.reservations.reserve({
      key: b.key,
      lines: b.lines.map((l) => ({ lineKey: l.lineKey, skuId: skuId(refs, l.sku), quantity: l.quantity })),
      warehouseIds: b.warehouses.map((w) => warehouseId(refs, w)),
      mode: b.mode,
    });
    const names = await namesFor(inv, refs, [
      ...result.allocations,
      ...result.lines.map((l) => ({ skuId: l.skuId })),
      ...result.shortfalls,
    ]);
    return c.json({
      key: result.key,
      status: result.status,
      lines: result.lines.map((l) => ({
        lineKey: l.lineKey,
        sku: names.sku(l.skuId),
        skuId: l.skuId,
        requested: l.requested,
        reserved: l.reserved,
        missing: l.missing,
      })),
      allocations: result.allocations.map((a) => ({
        lineKey: a.lineKey,
        ...names.of(a),
        quantity: a.quantity,
      })),
      shortfalls: result.shortfalls.map((s) => ({
        sku: s.skuCode,
        skuId: s.skuId,
        requested: s.requested,
        available: s.available,
      })),
    });
  });

  r.post('/reservations/consume', async (c) => {
    const b = parseInput(consumeBody, await readJson(c), 'consume');
    return c.json(await settleView(inv, await inv.reservations.consume(b)));
  });

  r.post('/reservations/release', async (c) => {
    const b = parseInput(releaseBody, await readJson(c), 'release');
    return c.json(await settleView(inv, await inv.reservations.release(b)));
  });

  r.get('/availability', async (c) => {
    const q = parseInput(availabilityQuery, c.req.queries(), 'availability query');
    const refs = await inv.catalog.resolve({ skus: q.sku, warehouses: q.warehouse ?? [] });
    const views = await inv.availability.ats({
      skuIds: q.sku.map((s) => skuId(refs, s)),
      warehouseIds: q.warehouse?.map((w) => warehouseId(refs, w)),
    });
    return c.json(views);
  });

  r.get('/inventory/verify', async (c) => {
    const report = await inv.verify();
    const names = await namesFor(inv, undefined, report.violations);
    return c.json({
      ...report,
      violations: report.violations.map((v) => ({ ...v, warehouseCode: names.warehouse(v.warehouseId) })),
    });
  });

  return r;
}

function pathCode(c: Context<AppEnv>, what: string): string {
  return parseInput(code, c.req.param('code'), what);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// resolve() has thrown for every unknown code, so these lookups cannot miss.
function skuId(refs: ResolvedRefs, skuCode: string): number {
  return refs.skus.get(skuCode)!.id;
}

function warehouseId(refs: ResolvedRefs, whCode: string): number {
  return refs.warehouses.get(whCode)!.id;
}

interface Names {
  sku(id: number): string;
  warehouse(id: number): string;
  /** `{ sku, warehouse, skuId, warehouseId }` of a row holding both ids. */
  of(row: { skuId: number; warehouseId: number }): {
    sku: string;
    warehouse: string;
    skuId: number;
    warehouseId: number;
  };
}

/**
 * Codes for the ids in `rows`: those the request named are known already; the rest (bundle
 * components, a settled line's SKUs) take one lookup.
 */
async function namesFor(
  inv: Inventory,
  refs: ResolvedRefs | undefined,
  rows: readonly { skuId: number; warehouseId?: number }[],
): Promise<Names> {
  const skus = new Map<number, string>();
  const warehouses = new Map<number, string>();
  for (const [k, v] of refs?.skus ?? []) skus.set(v.id, k);
  for (const [k, v] of refs?.warehouses ?? []) warehouses.set(v.id, k);
  const skuIds = [...new Set(rows.map((r) => r.skuId))].filter((id) => !skus.has(id));
  const whIds = [
    ...new Set(rows.flatMap((r) => (r.warehouseId === undefined ? [] : [r.warehouseId]))),
  ].filter((id) => !warehouses.has(id));
  if (skuIds.length > 0 || whIds.length > 0) {
    const found = await inv.catalog.codesOf({ skuIds, warehouseIds: whIds });
    for (const [k, v] of found.skus) skus.set(k, v);
    for (const [k, v] of found.warehouses) warehouses.set(k, v);
  }
  const names: Names = {
    sku: (id) => skus.get(id) ?? String(id),
    warehouse: (id) => warehouses.get(id) ?? String(id),
    of: (row) => ({
      sku: names.sku(row.skuId),
      warehouse: names.warehouse(row.warehouseId),
      skuId: row.skuId,
      warehouseId: row.warehouseId,
    }),
  };
  return names;
}

async function movementsView(inv: Inventory, refs: ResolvedRefs, result: MovementResult) {
  const names = await namesFor(inv, refs, result.movements);
  return {
    key: result.key,
    movements: result.movements.map((m) => ({ ...names.of(m), kind: m.kind, quantity: m.quantity })),
  };
}

async function settleView(inv: Inventory, result: SettleResult) {
  const names = await namesFor(inv, undefined, result.settled);
  return {
    key: result.key,
    lineKey: result.lineKey,
    action: result.action,
    quantity: result.quantity,
    settled: result.settled.map((a) => ({ ...names.of(a), quantity: a.quantity })),
  };
}
