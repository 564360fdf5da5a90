import { randomUUID } from 'node:crypto';
import { sql } from '../db/sql.js';
import { type CanonicalOrder, compareRevisions, parseCanonicalOrder } from '../domain/order.js';
import { type LineStockTarget, lineStockTargets, type StockPolicy } from '../domain/order-stock.js';
import { apportionOrder } from '../domain/promotions.js';
import type { Inventory } from '../inventory/index.js';
import type { Tx } from '../inventory/tx.js';
import { type ExceptionInput, raiseException, type Settlement, settleExceptions } from './exceptions.js';
import { type LineSku, mapLines } from './listings.js';

/** What the intake knows of a shop: its stock policy and the warehouses that fulfil it. */
export interface ShopPolicy extends StockPolicy {
  id: string;
  /** Warehouse ids, highest priority first. */
  warehouseIds: number[];
  matchOuterId: boolean;
}

export type ApplyOutcome = 'created' | 'updated' | 'older_ignored' | 'unchanged';

export interface ApplyResult {
  orderKey: string;
  outcome: ApplyOutcome;
  /** Stock changes made now, in order (none when the ledger already matched). */
  effects: StockEffect[];
}

export interface StockEffect {
  lineId: string;
  action: 'reserve' | 'consume' | 'release' | 'restock';
  /** Stock units of the line's SKU (bundle units for a bundle SKU). */
  quantity: number;
}

/** The reservation line key of an order line: `<shop>:<platform order id>:<line id>`. */
export function lineKeyOf(shopId: string, platformOrderId: string, lineId: string): string {
  return `${shopId}:${platformOrderId}:${lineId}`;
}

/**
 * Applies one revision of a platform order, atomically, inside the caller's transaction:
 * 1. the order row is locked (or created), so revisions of one order apply one at a time;
 * 2. a revision older than the stored one is not stored; an equal one changes nothing;
 * 3. lines get their apportioned amounts and their SKU (listing, else 商家编码);
 * 4. each mapped line's stock is brought to the targets of the stored revision
 *    ({@link lineStockTargets}): reserve, consume, release, restock. Level-triggered: any
 *    replay, in any order, converges on the same ledger state and then changes nothing;
 * 5. exceptions are raised or resolved: unmapped SKU, oversell (units that could not be
 *    held), amount mismatch.
 */
export async function applyOrder(
  tx: Tx,
  inv: Inventory,
  shop: ShopPolicy,
  incoming: CanonicalOrder,
  /** The time unpaid holds expire against (see StockPolicy.unpaidHoldMinutes); unset: never. */
  now?: Date,
): Promise<ApplyResult> {
  if (incoming.shopId !== shop.id)
    throw new RangeError(`order of shop ${incoming.shopId} applied to shop ${shop.id}`);
  const orderKey = `${shop.id}:${incoming.platformOrderId}`;
  const row = await lockOrder(tx, incoming);
  let outcome: ApplyOutcome;
  let order: CanonicalOrder;
  let previous: CanonicalOrder | undefined;
  if (!row.existing) {
    outcome = 'created';
    order = incoming;
  } else {
    previous = parseStored(row.data);
    ({ outcome, order } = againstStored(incoming, previous));
  }
  // A new order's row was inserted whole by lockOrder.
  if (outcome === 'updated') await storeOrders(tx, [{ id: row.id, order }]);

  // Exceptions this revision resolves, resolved together at the end.
  const settle: Settlement[] = [];
  const amounts = apportionOrder(order);
  if (amounts.issues.length > 0) {
    await raiseException(tx, {
      kind: 'amount_mismatch',
      subject: orderKey,
      shopId: shop.id,
      platformOrderId: order.platformOrderId,
      message: `amounts of order ${order.platformOrderId} do not add up: ${amounts.issues.map((i) => i.type).join(', ')}`,
      detail: amounts.issues,
    });
  } else {
    settle.push({
      kind: 'amount_mismatch',
      subject: orderKey,
      resolution: 'amounts add up in a newer revision',
    });
  }

  const skus = await mapLines(tx, shop.id, order.lines, shop.matchOuterId);
  await storeLines(tx, [{ orderId: row.id, order, amounts: amounts.lines, skus }]);

  const effects: StockEffect[] = [];
  // Lines take their stock rows in SKU order, so concurrent orders do not deadlock on them.
  const skuOrder = (lineId: string) => skus.get(lineId)?.skuId ?? Number.MAX_SAFE_INTEGER;
  const targets = lineStockTargets(order, shop, now).sort((a, b) => skuOrder(a.lineId) - skuOrder(b.lineId));
  const ledger = await ledgerStates(
    tx,
    targets.filter((t) => skus.has(t.lineId)).map((t) => lineKeyOf(shop.id, order.platformOrderId, t.lineId)),
  );
  for (const target of targets) {
    const line = order.lines.find((l) => l.lineId === target.lineId)!;
    const lineKey = lineKeyOf(shop.id, order.platformOrderId, line.lineId);
    const sku = skus.get(line.lineId);
    if (!sku) {
      await raiseException(tx, {
        kind: 'unmapped_sku',
        subject: lineKey,
        shopId: shop.id,
        platformOrderId: order.platformOrderId,
        lineId: line.lineId,
        quantity: line.quantity,
        message:
          `line ${line.lineId} (item ${line.platformItemId}${line.platformSkuId ? `, sku ${line.platformSkuId}` : ''}` +
          `${line.outerSkuId ? `, 商家编码 ${line.outerSkuId}` : ''}) maps to no SKU; add a listing`,
      });
      continue;
    }
    settle.push({ kind: 'unmapped_sku', subject: lineKey, resolution: `mapped by ${sku.via}` });
    const have = ledger.get(lineKey) ?? NO_HOLDINGS;
    effects.push(
      ...(await reconcileLine(
        tx,
        inv,
        shop,
        order,
        { lineKey, lineId: line.lineId, sku, target, have },
        settle,
      )),
    );
  }
  // Exceptions are raised only with their order's row, so an order this transaction created has
  // none open yet (the batch path relies on the same).
  if (outcome !== 'created') await settleExceptions(tx, settle);
  await recordOwnSales(tx, ownSales(skus, order, previous));
  return { orderKey, outcome, effects };
}

/**
 * Tells the push pipeline how many items of each listing its own platform took off its quantity
 * through this order since the previous revision, so a push does not mistake them for sales not
 * imported yet (see src/sync/push-send.ts). A platform takes the ordered quantity when the
 * order is placed (paid or not, whether or not the ledger could reserve it) and gives it back
 * when the order is cancelled; refunds and returns do not change its count. Units a push held
 * back as sold-but-not-imported are no longer outstanding once their orders arrive.
 */
export function ownSales(
  skus: ReadonlyMap<string, LineSku>,
  order: CanonicalOrder,
  previous: CanonicalOrder | undefined,
  /** Adds to this map (listing id -> items) when given: several orders counted together. */
  into: Map<number, number> = new Map(),
): Map<number, number> {
  const taken = (o: CanonicalOrder | undefined, lineId: string) =>
    !o || o.status === 'cancelled' ? 0 : (o.lines.find((l) => l.lineId === lineId)?.quantity ?? 0);
  for (const line of order.lines) {
    const listingId = skus.get(line.lineId)?.listingId;
    if (listingId === undefined) continue;
    const d = taken(order, line.lineId) - taken(previous, line.lineId);
    if (d !== 0) into.set(listingId, (into.get(listingId) ?? 0) + d);
  }
  return into;
}

/**
 * Records what {@link ownSales} counted (listing id -> items taken, negative when given back),
 * in the order's transaction: appended to `stock_push_sale`, which the push pipeline folds into
 * the listings' `stock_push` rows (see src/sync/own-sales.ts). Appending waits for nobody.
 */
export async function recordOwnSales(tx: Tx, delta: ReadonlyMap<number, number>): Promise<void> {
  const ids = [...delta.keys()].filter((id) => delta.get(id) !== 0).sort((a, b) => a - b);
  if (ids.length === 0) return;
  // The planner looks at these listings again once this commits (the dirty marks): held-back
  // units whose orders arrived without changing the quantity wanted (unpaid, with reserveOn
  // paid) leave what the platform shows unexplained, and the planner then queues a push.
  await tx.execute(sql`
    WITH sale AS (
      INSERT INTO stock_push_sale (listing_id, n)
      SELECT * FROM unnest(${ids}::int[], ${ids.map((id) => delta.get(id)!)}::int[])
    )
    INSERT INTO stock_dirty (sku_id) SELECT DISTINCT sku_id FROM listing WHERE id = ANY(${ids}::int[])`);
}

async function lockOrder(
  tx: Tx,
  order: CanonicalOrder,
): Promise<{ id: string; existing: boolean; data: unknown }> {
  const locked = async () =>
    (
      await tx.query<{ id: string; data: unknown }>(sql`
        SELECT id::text AS id, data FROM sales_order
        WHERE shop_id = ${order.shopId} AND platform_order_id = ${order.platformOrderId}
        FOR UPDATE`)
    )[0];
  const found = await locked();
  if (found) return { ...found, existing: true };
  // A concurrent first delivery of the same order waits here until the other commits.
  const inserted = await tx.query<{ id: string }>(sql`
    INSERT INTO sales_order (shop_id, platform, platform_order_id, status, currency, buyer_paid_total, data,
                             platform_modified_at, platform_version)
    VALUES (${order.shopId}, ${order.platform}, ${order.platformOrderId}, ${order.status}::"OrderStatus",
            ${order.currency}, ${order.buyerPaidTotal}, ${JSON.stringify(order)}::jsonb,
            ${order.platformModifiedAt ?? null}::timestamptz, ${order.platformVersion ?? null}::bigint)
    ON CONFLICT (shop_id, platform_order_id) DO NOTHING
    RETURNING id::text AS id`);
  if (inserted[0]) return { id: inserted[0].id, existing: false, data: order };
  const again = await locked();
  if (!again) throw new Error(`order ${order.shopId}:${order.platformOrderId} vanished while locking it`);
  return { ...again, existing: true };
}

/** A revision of a stored order: what applying it does, and the revision the ledger then follows. */
export function againstStored(
  incoming: CanonicalOrder,
  stored: CanonicalOrder,
): { outcome: ApplyOutcome; order: CanonicalOrder } {
  const { result } = compareRevisions(incoming, stored);
  if (result === 'newer') return { outcome: 'updated', order: incoming };
  return { outcome: result === 'older' ? 'older_ignored' : 'unchanged', order: stored };
}

export function parseStored(data: unknown): CanonicalOrder {
  const parsed = parseCanonicalOrder(data);
  if (!parsed.ok) throw new Error(`stored order no longer validates: ${parsed.error.message}`);
  return parsed.order;
}

/** Stores newer revisions of orders already in the ledger, in one statement. */
export async function storeOrders(
  tx: Tx,
  rows: readonly { id: string; order: CanonicalOrder }[],
): Promise<void> {
  if (rows.length === 0) return;
  const o = rows.map((r) => r.order);
  await tx.execute(sql`
    UPDATE sales_order s SET
      status = t.status::"OrderStatus", currency = t.currency, platform_modified_at = t.modified_at,
      platform_version = t.version, buyer_paid_total = t.paid, data = t.data, updated_at = now()
    FROM unnest(${rows.map((r) => r.id)}::bigint[], ${o.map((x) => x.status)}::text[],
                ${o.map((x) => x.currency)}::text[],
                ${o.map((x) => x.platformModifiedAt ?? null)}::timestamptz[],
                ${o.map((x) => (x.platformVersion === undefined ? null : String(x.platformVersion)))}::bigint[],
                ${o.map((x) => x.buyerPaidTotal)}::bigint[], ${o.map((x) => JSON.stringify(x))}::jsonb[])
      AS t(id, status, currency, modified_at, version, paid, data)
    WHERE s.id = t.id`);
}

/** An order's lines to store, with their apportioned amounts and SKUs. */
export interface LinesToStore {
  orderId: string;
  order: CanonicalOrder;
  amounts: ReturnType<typeof apportionOrder>['lines'];
  skus: ReadonlyMap<string, LineSku>;
}

/** Stores (inserts or updates) the lines of one or more orders in one statement. */
export async function storeLines(tx: Tx, orders: readonly LinesToStore[]): Promise<void> {
  const rows = orders.flatMap((o) => {
    const byId = new Map(o.amounts.map((a) => [a.lineId, a]));
    return o.order.lines.map((l) => ({ o, l, a: byId.get(l.lineId)!, sku: o.skus.get(l.lineId) }));
  });
  if (rows.length === 0) return;
  await tx.execute(sql`
    INSERT INTO sales_order_line (order_id, line_id, sku_id, units_per_item, quantity, gift,
      list_amount, seller_discount, platform_discount, buyer_paid, seller_revenue)
    SELECT * FROM unnest(
      ${rows.map((r) => r.o.orderId)}::bigint[],
      ${rows.map((r) => r.l.lineId)}::text[], ${rows.map((r) => r.sku?.skuId ?? null)}::int[],
      ${rows.map((r) => r.sku?.unitsPerItem ?? 1)}::int[], ${rows.map((r) => r.l.quantity)}::int[],
      ${rows.map((r) => r.l.gift)}::boolean[],
      ${rows.map((r) => r.a.listAmount)}::bigint[],
      ${rows.map((r) => r.a.sellerDiscount)}::bigint[],
      ${rows.map((r) => r.a.platformDiscount)}::bigint[],
      ${rows.map((r) => r.a.buyerPaid)}::bigint[],
      ${rows.map((r) => r.a.sellerRevenue)}::bigint[])
    ON CONFLICT (order_id, line_id) DO UPDATE SET
      sku_id = EXCLUDED.sku_id, units_per_item = EXCLUDED.units_per_item, quantity = EXCLUDED.quantity,
      gift = EXCLUDED.gift, list_amount = EXCLUDED.list_amount, seller_discount = EXCLUDED.seller_discount,
      platform_discount = EXCLUDED.platform_discount, buyer_paid = EXCLUDED.buyer_paid,
      seller_revenue = EXCLUDED.seller_revenue`);
}

/** The exception for units of a line sold without stock to cover them. */
export function oversellException(
  shopId: string,
  order: CanonicalOrder,
  lineKey: string,
  lineId: string,
  missing: number,
  detail: { wantHold: number; held: number; shippedWithoutStock: number },
): ExceptionInput {
  return {
    kind: 'oversell',
    subject: lineKey,
    shopId,
    platformOrderId: order.platformOrderId,
    lineId,
    quantity: missing,
    message: `order ${order.platformOrderId} line ${lineId}: ${missing} unit(s) sold without stock to cover them`,
    detail,
  };
}

/** What the ledger holds of an order line, in line stock units (whole bundles for bundles). */
export interface LineLedger {
  active: number;
  consumed: number;
  released: number;
  restocked: number;
  /** The SKU when every reservation row of the line holds it, one unit per line unit (simple SKU). */
  simpleSku?: number;
  /** The line's SKU (a bundle's: its own id, not its components') when every row names the same one. */
  lineSku?: number;
  /**
   * Every SKU the line holds active holds exactly `active` line units of it (`units_per_line`
   * each): settling `active` units settles every active row whole.
   */
  activeWhole: boolean;
}

/** What a line the ledger has never reserved for holds. */
export const NO_HOLDINGS: Readonly<LineLedger> = {
  active: 0,
  consumed: 0,
  released: 0,
  restocked: 0,
  activeWhole: true,
};

/** The reservation state of these lines in the ledger, in one query; absent lines hold nothing. */
export async function ledgerStates(tx: Tx, lineKeys: readonly string[]): Promise<Map<string, LineLedger>> {
  const out = new Map<string, LineLedger>();
  if (lineKeys.length === 0) return out;
  // Reservations by status and SKU, and the units returned (restocked) per SKU, of each line.
  const rows = await tx.query<{
    line_key: string;
    status: string | null;
    sku_id: number;
    q: number;
    per: number | null;
    per_min: number | null;
    line_sku: number | null;
    line_sku_max: number | null;
  }>(sql`
    SELECT line_key, status::text AS status, sku_id, SUM(quantity)::int AS q, MAX(units_per_line) AS per,
           MIN(units_per_line) AS per_min, MIN(line_sku_id) AS line_sku, MAX(line_sku_id) AS line_sku_max
    FROM reservation WHERE line_key = ANY(${lineKeys}::text[]) GROUP BY line_key, status, sku_id
    UNION ALL
    SELECT reference, NULL, sku_id, SUM(quantity)::int, NULL, NULL, NULL, NULL FROM stock_movement
    WHERE kind = 'return' AND reference = ANY(${lineKeys}::text[]) GROUP BY reference, sku_id`);
  const byLine = new Map<string, typeof rows>();
  for (const r of rows) byLine.set(r.line_key, [...(byLine.get(r.line_key) ?? []), r]);
  for (const lineKey of new Set(lineKeys)) {
    const mine = byLine.get(lineKey) ?? [];
    const held = mine.filter((r) => r.status !== null);
    const returned = mine.filter((r) => r.status === null);
    const units = (status: string) => {
      const of = held.filter((r) => r.status === status);
      return of.length === 0 ? 0 : Math.min(...of.map((r) => Math.floor(r.q / r.per!)));
    };
    const per = new Map(held.map((r) => [r.sku_id, r.per!]));
    const restocked =
      returned.length === 0
        ? 0
        : Math.min(...returned.map((r) => Math.floor(r.q / (per.get(r.sku_id) ?? 1))));
    const skus = new Set(held.map((r) => r.sku_id));
    const simpleSku = skus.size === 1 && held.every((r) => r.per === 1) ? held[0]!.sku_id : undefined;
    const lineSkus = new Set(held.flatMap((r) => [r.line_sku, r.line_sku_max]));
    const lineSku = lineSkus.size === 1 ? held[0]!.line_sku! : undefined;
    const active = units('active');
    const activeWhole = held
      .filter((r) => r.status === 'active')
      .every((r) => r.per === r.per_min && r.q === active * r.per!);
    out.set(lineKey, {
      active,
      consumed: units('consumed'),
      released: units('released'),
      restocked,
      ...(simpleSku === undefined ? {} : { simpleSku }),
      ...(lineSku === undefined ? {} : { lineSku }),
      activeWhole,
    });
  }
  return out;
}

/** One mapped line of the revision being applied, with what the ledger holds of it. */
interface LineToReconcile {
  lineKey: string;
  lineId: string;
  sku: LineSku;
  target: LineStockTarget;
  /** Updated as stock moves. */
  have: LineLedger;
}

/**
 * Brings one line's stock to its targets. Raises the line's oversell exception when units are
 * missing; else adds its settlement to `settle`.
 */
async function reconcileLine(
  tx: Tx,
  inv: Inventory,
  shop: ShopPolicy,
  order: CanonicalOrder,
  { lineKey, lineId, sku, target, have }: LineToReconcile,
  settle: Settlement[],
): Promise<StockEffect[]> {
  const effects: StockEffect[] = [];
  const want = {
    hold: target.hold * sku.unitsPerItem,
    shipped: target.shipped * sku.unitsPerItem,
    restocked: target.restocked * sku.unitsPerItem,
  };
  // Partial reservations may reserve 0 now and more later, so their keys carry a nonce; the
  // order row lock and the level-triggered targets are what keep them from applying twice.
  const reserve = async (quantity: number, purpose: string) => {
    const r = await inv.reservations.reserve(
      {
        key: `${lineKey}:${purpose}:${have.active + have.consumed + have.released}:${randomUUID()}`,
        mode: 'partial',
        lines: [{ lineKey, skuId: sku.skuId, quantity }],
        warehouseIds: shop.warehouseIds,
      },
      tx,
    );
    const got = r.lines[0]!.reserved;
    if (got > 0) {
      have.active += got;
      effects.push({ lineId, action: 'reserve', quantity: got });
    }
    return got;
  };
  const consume = async (quantity: number) => {
    await inv.reservations.consume(
      { key: `${lineKey}:ship:${have.consumed + quantity}`, lineKey, quantity, reference: lineKey },
      tx,
    );
    have.active -= quantity;
    have.consumed += quantity;
    effects.push({ lineId, action: 'consume', quantity });
  };

  let shippedShort = 0;
  if (want.shipped > have.consumed) {
    let need = want.shipped - have.consumed;
    const fromActive = Math.min(need, have.active);
    if (fromActive > 0) await consume(fromActive);
    need -= fromActive;
    if (need > 0) {
      // Shipped without a reservation (an order first seen shipped, or one that was short).
      const got = await reserve(need, 'ship');
      if (got > 0) await consume(got);
      shippedShort = need - got;
    }
  }
  if (want.hold > have.active) {
    await reserve(want.hold - have.active, 'hold');
  } else if (want.hold < have.active) {
    const n = have.active - want.hold;
    await inv.reservations.release(
      { key: `${lineKey}:release:${have.released + n}`, lineKey, quantity: n },
      tx,
    );
    have.active -= n;
    have.released += n;
    effects.push({ lineId, action: 'release', quantity: n });
  }
  const missing = Math.max(0, want.hold - have.active) + shippedShort;
  if (missing > 0) {
    await raiseException(
      tx,
      oversellException(shop.id, order, lineKey, lineId, missing, {
        wantHold: want.hold,
        held: have.active,
        shippedWithoutStock: shippedShort,
      }),
    );
  } else {
    settle.push({ kind: 'oversell', subject: lineKey, resolution: 'covered by stock' });
  }

  if (want.restocked > have.restocked) {
    const n = want.restocked - have.restocked;
    const sources = await tx.query<{ sku_id: number; warehouse_id: number; per: number }>(sql`
      SELECT DISTINCT ON (sku_id) sku_id, warehouse_id, units_per_line AS per FROM reservation
      WHERE line_key = ${lineKey} AND status = 'consumed' ORDER BY sku_id, id`);
    for (const s of sources) {
      await inv.ledger.returnStock(
        {
          key: `${lineKey}:restock:${s.sku_id}:${(have.restocked + n) * s.per}`,
          skuId: s.sku_id,
          warehouseId: s.warehouse_id,
          quantity: n * s.per,
          reference: lineKey,
          note: `return of order ${order.platformOrderId}`,
        },
        tx,
      );
    }
    if (sources.length > 0) effects.push({ lineId, action: 'restock', quantity: n });
  }
  return effects;
}
