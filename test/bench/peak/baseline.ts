/**
 * The raw-SQL baseline: the practical ceiling of this machine for the rows the daemon writes per
 * order, with none of the daemon (no HTTP, no Prisma, no connector, no per-order transaction).
 *
 * It replays the run's own orders (their lines, SKUs, quantities and stored JSON) into a scratch
 * database with the same migrations and catalog, in batches of {@link BATCH} orders per
 * transaction, on as many connections as the daemon has (PostgreSQL: its pool of 10; PGlite:
 * its one session). Per order it writes what the daemon writes for a paid order's first
 * application (see src/orders/apply.ts, src/inventory/reservations.ts, the migrations'
 * triggers): the inbox event (stored, later marked done), the sales order and its lines, one
 * idempotency record per line (inventory_operation), the balance (stock_level.reserved, under a
 * row lock taken in key order and checked against on-hand), one reservation row per line and
 * SKU, the dirty mark of the push planner (the stock_level trigger) and the listing's
 * own-sales count (stock_push). Reservations write no stock_movement (only shipments do).
 * What it leaves out: the checks and the JSON parsing, order-revision logic, exceptions, the
 * push planner and pusher, pulls, webhooks.
 */
import { type Db, openDatabase } from '../../../src/db/client.js';
import type { SqlTx } from '../../../src/db/sql.js';
import { type TableWrites, tableWrites, writesDelta } from './metrics.js';

export const BATCH = 50;

/**
 * Table write statistics of a PostgreSQL database (null on PGlite). A backend reports its counts
 * when it exits (idle ones only every 10 s), so callers close their pools first.
 */
async function statistics(url: string): Promise<TableWrites | null> {
  if (!url.startsWith('postgres')) return null;
  await new Promise((r) => setTimeout(r, 500));
  const db = await openDatabase(url, { poolSize: 1 });
  try {
    return await db.withSession((s) => tableWrites(s));
  } finally {
    await db.close();
  }
}
/** Orders loaded from the run (cycled with fresh keys when the baseline needs more). */
const MAX_TEMPLATES = 20_000;

interface TemplateOrder {
  shopId: string;
  platform: string;
  orderId: string;
  status: string;
  currency: string;
  paid: number;
  data: string;
  lines: {
    lineId: string;
    lineSku: number;
    quantity: number;
    unitsPerItem: number;
    listingId: number | null;
    allocations: { skuId: number; warehouseId: number; quantity: number; per: number }[];
  }[];
}

export interface BaselineResult {
  seconds: number;
  connections: number;
  batch: number;
  orders: number;
  lines: number;
  ordersPerS: number;
  linesPerS: number;
  deadlockRetries: number;
  /** Rows written per order (PostgreSQL statistics; null on PGlite). */
  rowsPerOrder: Record<string, { ins: number; upd: number; del: number }> | null;
}

/** Reads the run's reserved orders as replay templates. */
export async function loadTemplates(run: Db): Promise<TemplateOrder[]> {
  return run.withSession(async (s) => {
    const rows = await s.query<{
      order_id: string;
      shop_id: string;
      platform: string;
      platform_order_id: string;
      status: string;
      currency: string;
      paid: string;
      data: unknown;
      line_id: string;
      line_sku: number;
      quantity: number;
      units_per_item: number;
      listing_id: number | null;
      sku_id: number;
      warehouse_id: number;
      rq: number;
      per: number;
    }>(
      `WITH r AS (
         SELECT id, line_key, sku_id, warehouse_id, quantity, units_per_line,
                substring(line_key from '^[^:]*:[^:]*') AS order_key
         FROM reservation),
       o AS (
         SELECT so.id FROM sales_order so
         WHERE so.shop_id || ':' || so.platform_order_id IN (SELECT order_key FROM r)
         ORDER BY so.id LIMIT ${MAX_TEMPLATES})
       SELECT so.id::text AS order_id, so.shop_id, so.platform, so.platform_order_id, so.status::text AS status,
              so.currency, so.buyer_paid_total::text AS paid, so.data, l.line_id, l.sku_id AS line_sku,
              l.quantity, l.units_per_item,
              (SELECT min(li.id) FROM listing li WHERE li.shop_id = so.shop_id AND li.sku_id = l.sku_id) AS listing_id,
              r.sku_id, r.warehouse_id, r.quantity AS rq, r.units_per_line AS per
       FROM o JOIN sales_order so ON so.id = o.id
       JOIN sales_order_line l ON l.order_id = so.id
       JOIN r ON r.line_key = so.shop_id || ':' || so.platform_order_id || ':' || l.line_id
       ORDER BY so.id, l.line_id, r.id`,
    );
    const out: TemplateOrder[] = [];
    let cur: TemplateOrder | undefined;
    let curId = '';
    for (const r of rows) {
      if (r.order_id !== curId) {
        curId = r.order_id;
        cur = {
          shopId: r.shop_id,
          platform: r.platform,
          orderId: r.platform_order_id,
          status: r.status,
          currency: r.currency,
          paid: Number(r.paid),
          data: typeof r.data === 'string' ? r.data : JSON.stringify(r.data),
          lines: [],
        };
        out.push(cur);
      }
      let line = cur!.lines.find((l) => l.lineId === r.line_id);
      if (!line) {
        line = {
          lineId: r.line_id,
          lineSku: r.line_sku,
          quantity: r.quantity,
          unitsPerItem: r.units_per_item,
          listingId: r.listing_id,
          allocations: [],
        };
        cur!.lines.push(line);
      }
      line.allocations.push({ skuId: r.sku_id, warehouseId: r.warehouse_id, quantity: r.rq, per: r.per });
    }
    return out;
  });
}

/**
 * Copies the run's catalog (SKUs, bundles, warehouses, shops, listings and their outbox rows)
 * into a freshly migrated scratch database, with ample on-hand everywhere.
 */
export async function copyCatalog(run: Db, scratch: Db): Promise<void> {
  const read = <T>(text: string) => run.withSession((s) => s.query<T>(text));
  const skus = await read<{ id: number; code: string; kind: string }>(
    `SELECT id, code, kind::text AS kind FROM sku`,
  );
  const comps = await read<{ b: number; c: number; q: number }>(
    `SELECT bundle_id AS b, component_id AS c, quantity AS q FROM bundle_component`,
  );
  const whs = await read<{ id: number; code: string }>(`SELECT id, code FROM warehouse`);
  const levels = await read<{ s: number; w: number }>(
    `SELECT sku_id AS s, warehouse_id AS w FROM stock_level`,
  );
  const shops = await read<{ id: string; platform: string }>(`SELECT id, platform FROM shop`);
  const listings = await read<{
    id: number;
    shop_id: string;
    i: string;
    v: string;
    sku_id: number;
    r: string | null;
  }>(`SELECT id, shop_id, platform_item_id AS i, platform_sku_id AS v, sku_id, stock_ref AS r FROM listing`);
  const pushes = await read<{ id: number; d: number }>(
    `SELECT listing_id AS id, desired AS d FROM stock_push`,
  );
  await scratch.transaction(async (tx) => {
    const ex = (text: string, values: unknown[]) => tx.execute({ text, values });
    await ex(
      `INSERT INTO sku (id, code, name, kind) SELECT i, c, c, k::"SkuKind" FROM unnest($1::int[], $2::text[], $3::text[]) AS t(i, c, k)`,
      [skus.map((s) => s.id), skus.map((s) => s.code), skus.map((s) => s.kind)],
    );
    await ex(
      `INSERT INTO bundle_component (bundle_id, component_id, quantity) SELECT * FROM unnest($1::int[], $2::int[], $3::int[])`,
      [comps.map((c) => c.b), comps.map((c) => c.c), comps.map((c) => c.q)],
    );
    await ex(
      `INSERT INTO warehouse (id, code, name) SELECT i, c, c FROM unnest($1::int[], $2::text[]) AS t(i, c)`,
      [whs.map((w) => w.id), whs.map((w) => w.code)],
    );
    await ex(
      `INSERT INTO stock_level (sku_id, warehouse_id, on_hand, reserved)
       SELECT s, w, 1000000000, 0 FROM unnest($1::int[], $2::int[]) AS t(s, w)`,
      [levels.map((l) => l.s), levels.map((l) => l.w)],
    );
    await ex(`INSERT INTO shop (id, platform) SELECT * FROM unnest($1::text[], $2::text[])`, [
      shops.map((s) => s.id),
      shops.map((s) => s.platform),
    ]);
    await ex(
      `INSERT INTO listing (id, shop_id, platform_item_id, platform_sku_id, sku_id, stock_ref)
       SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[])`,
      [
        listings.map((l) => l.id),
        listings.map((l) => l.shop_id),
        listings.map((l) => l.i),
        listings.map((l) => l.v),
        listings.map((l) => l.sku_id),
        listings.map((l) => l.r),
      ],
    );
    await ex(
      `INSERT INTO stock_push (listing_id, desired, status) SELECT i, d, 'synced' FROM unnest($1::int[], $2::int[]) AS t(i, d)`,
      [pushes.map((p) => p.id), pushes.map((p) => p.d)],
    );
    await ex(`DELETE FROM stock_dirty`, []);
  });
}

/** Writes one batch of orders the way the daemon's first application of a paid order does. */
async function writeBatch(tx: SqlTx, items: { order: TemplateOrder; round: number }[]): Promise<number> {
  const q = <T>(text: string, values: unknown[]) => tx.query<T>({ text, values });
  const batch = items.map((x) => x.order);
  const ids = items.map((x) => (x.round === 0 ? x.order.orderId : `${x.order.orderId}~${x.round}`));
  const inbox = await q<{ id: string }>(
    `INSERT INTO inbox_event (shop_id, source, dedupe_key, topic, payload)
     SELECT s, 'webhook', k, 'orders/create', ('{"order":' || d || '}')::jsonb
     FROM unnest($1::text[], $2::text[], $3::text[]) AS t(s, k, d)
     ON CONFLICT (shop_id, dedupe_key) DO NOTHING RETURNING id::text AS id`,
    [batch.map((o) => o.shopId), ids.map((id) => `baseline:${id}`), batch.map((o) => o.data)],
  );
  const orders = await q<{ id: string; k: string }>(
    `INSERT INTO sales_order (shop_id, platform, platform_order_id, status, currency, buyer_paid_total, data)
     SELECT s, p, i, st::"OrderStatus", c, b, d::jsonb
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[]) AS t(s, p, i, st, c, b, d)
     RETURNING id::text AS id, shop_id || ':' || platform_order_id AS k`,
    [
      batch.map((o) => o.shopId),
      batch.map((o) => o.platform),
      ids,
      batch.map((o) => o.status),
      batch.map((o) => o.currency),
      batch.map((o) => o.paid),
      batch.map((o) => o.data),
    ],
  );
  const orderRow = new Map(orders.map((r) => [r.k, r.id]));
  const lines = batch.flatMap((o, i) =>
    o.lines.map((l) => ({
      o,
      l,
      orderRowId: orderRow.get(`${o.shopId}:${ids[i]}`)!,
      key: `${o.shopId}:${ids[i]}:${l.lineId}`,
    })),
  );
  await q(
    `INSERT INTO sales_order_line (order_id, line_id, sku_id, units_per_item, quantity, gift,
       list_amount, seller_discount, platform_discount, buyer_paid, seller_revenue)
     SELECT o, l, s, u, q, false, 0, 0, 0, 0, 0 FROM unnest($1::bigint[], $2::text[], $3::int[], $4::int[], $5::int[]) AS t(o, l, s, u, q)`,
    [
      lines.map((x) => x.orderRowId),
      lines.map((x) => x.l.lineId),
      lines.map((x) => x.l.lineSku),
      lines.map((x) => x.l.unitsPerItem),
      lines.map((x) => x.l.quantity),
    ],
  );
  await q(
    `INSERT INTO inventory_operation (key, kind, request_hash, result)
     SELECT k, 'reserve', md5(k), jsonb_build_object('key', k, 'status', 'reserved') FROM unnest($1::text[]) AS t(k)`,
    [lines.map((x) => `${x.key}:hold:0:baseline`)],
  );
  const allocations = lines.flatMap((x) =>
    x.l.allocations.map((a) => ({ ...a, key: x.key, lineSku: x.l.lineSku })),
  );
  const deltas = new Map<string, { s: number; w: number; q: number }>();
  for (const a of allocations) {
    const k = `${a.skuId}:${a.warehouseId}`;
    const d = deltas.get(k) ?? { s: a.skuId, w: a.warehouseId, q: 0 };
    d.q += a.quantity;
    deltas.set(k, d);
  }
  const sorted = [...deltas.values()].sort((a, b) => a.s - b.s || a.w - b.w);
  await q(
    `SELECT 1 FROM stock_level l JOIN unnest($1::int[], $2::int[]) AS t(s, w) ON l.sku_id = t.s AND l.warehouse_id = t.w
     ORDER BY l.sku_id, l.warehouse_id FOR UPDATE OF l`,
    [sorted.map((d) => d.s), sorted.map((d) => d.w)],
  );
  const updated = await tx.execute({
    text: `UPDATE stock_level l SET reserved = l.reserved + t.q, updated_at = now()
     FROM unnest($1::int[], $2::int[], $3::int[]) AS t(s, w, q)
     WHERE l.sku_id = t.s AND l.warehouse_id = t.w AND l.on_hand - l.reserved >= t.q`,
    values: [sorted.map((d) => d.s), sorted.map((d) => d.w), sorted.map((d) => d.q)],
  });
  if (updated !== sorted.length) throw new Error(`baseline: ${sorted.length - updated} balances short`);
  await q(
    `INSERT INTO reservation (line_key, line_sku_id, sku_id, warehouse_id, units_per_line, quantity)
     SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::int[], $5::int[], $6::int[])`,
    [
      allocations.map((a) => a.key),
      allocations.map((a) => a.lineSku),
      allocations.map((a) => a.skuId),
      allocations.map((a) => a.warehouseId),
      allocations.map((a) => a.per),
      allocations.map((a) => a.quantity),
    ],
  );
  const own = new Map<number, number>();
  for (const x of lines)
    if (x.l.listingId !== null) own.set(x.l.listingId, (own.get(x.l.listingId) ?? 0) + x.l.quantity);
  const ownSorted = [...own].sort((a, b) => a[0] - b[0]);
  await q(
    `UPDATE stock_push p SET own_since_push = p.own_since_push + t.n
     FROM unnest($1::int[], $2::int[]) AS t(i, n) WHERE p.listing_id = t.i`,
    [ownSorted.map(([i]) => i), ownSorted.map(([, n]) => n)],
  );
  await q(`UPDATE inbox_event SET status = 'done', processed_at = now() WHERE id = ANY($1::bigint[])`, [
    inbox.map((r) => r.id),
  ]);
  return lines.length;
}

/**
 * Runs the baseline for `seconds` on the scratch database at `url` (already holding the
 * catalog), on its own pool of `connections`.
 */
export async function runBaseline(
  url: string,
  templates: TemplateOrder[],
  seconds: number,
  connections: number,
): Promise<BaselineResult> {
  if (templates.length === 0) throw new Error('baseline: the run reserved no orders to replay');
  const before = await statistics(url);
  const scratch = await openDatabase(url, { poolSize: connections });
  let next = 0;
  let orders = 0;
  let lines = 0;
  let retries = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const start = next;
      next += BATCH;
      const batch: { order: TemplateOrder; round: number }[] = [];
      for (let i = start; i < start + BATCH; i++)
        batch.push({ order: templates[i % templates.length]!, round: Math.floor(i / templates.length) });
      for (let attempt = 0; ; attempt++) {
        try {
          const written = await scratch.transaction((tx) => writeBatch(tx, batch));
          lines += written;
          orders += batch.length;
          break;
        } catch (err) {
          const code = (err as { code?: string }).code;
          if ((code !== '40P01' && code !== '40001') || attempt > 5) throw err;
          retries++;
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: connections }, worker));
  } finally {
    await scratch.close();
  }
  const elapsed = (performance.now() - t0) / 1000;
  let rowsPerOrder: BaselineResult['rowsPerOrder'] = null;
  const after = await statistics(url);
  if (before && after) {
    const delta = writesDelta(before, after);
    rowsPerOrder = {};
    for (const [t, d] of Object.entries(delta)) {
      const r = (v: number) => Math.round((v / orders) * 100) / 100;
      rowsPerOrder[t] = { ins: r(d.ins), upd: r(d.upd), del: r(d.del) };
    }
  }
  return {
    seconds: Math.round(elapsed * 10) / 10,
    connections,
    batch: BATCH,
    orders,
    lines,
    ordersPerS: Math.round(orders / elapsed),
    linesPerS: Math.round(lines / elapsed),
    deadlockRetries: retries,
    rowsPerOrder,
  };
}
