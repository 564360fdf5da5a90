import { randomUUID } from 'node:crypto';
import { sql } from '../db/sql.js';
import type { CanonicalOrder } from '../domain/order.js';
import { type LineStockTarget, lineStockTargets } from '../domain/order-stock.js';
import { apportionOrder } from '../domain/promotions.js';
import type { Inventory } from '../inventory/index.js';
import type { Tx } from '../inventory/tx.js';
import {
  type ApplyResult,
  lineKeyOf,
  oversellException,
  ownSales,
  recordOwnSales,
  type ShopPolicy,
  type StockEffect,
  storeLines,
} from './apply.js';
import { raiseException } from './exceptions.js';
import { type LineSku, mapOrders } from './listings.js';

/** One order of a claimed inbox batch, parsed, with its shop's policy. */
export interface BatchOrder {
  shop: ShopPolicy;
  order: CanonicalOrder;
}

interface Taken extends BatchOrder {
  index: number;
  skus: Map<string, LineSku>;
  amounts: ReturnType<typeof apportionOrder>['lines'];
  /** Mapped lines in SKU order (as the one-by-one path takes them), with their targets in SKU units. */
  lines: BatchLine[];
  orderId?: string;
}

interface BatchLine {
  lineId: string;
  lineKey: string;
  sku: LineSku;
  /** Units that already left the warehouse (an order first seen shipped), and units to hold. */
  ship: number;
  hold: number;
  shipped: number;
  held: number;
}

/**
 * An order's mapped lines in SKU order (as the one-by-one path takes them), with their targets
 * in SKU units: units shipped and units to hold. Every target's line must be mapped.
 */
export function mappedTargets(
  shopId: string,
  order: CanonicalOrder,
  targets: readonly LineStockTarget[],
  skus: ReadonlyMap<string, LineSku>,
): { lineId: string; lineKey: string; sku: LineSku; ship: number; hold: number }[] {
  return targets
    .map((t) => {
      const sku = skus.get(t.lineId)!;
      return {
        lineId: t.lineId,
        lineKey: lineKeyOf(shopId, order.platformOrderId, t.lineId),
        sku,
        ship: t.shipped * sku.unitsPerItem,
        hold: t.hold * sku.unitsPerItem,
      };
    })
    .sort((a, b) => a.sku.skuId - b.sku.skuId);
}

/**
 * Applies the orders of a batch that are new to the ledger, together, in the caller's
 * transaction, in a fixed number of statements however many orders there are: the orders,
 * their lines, every reservation (`stock_reserve_lines`), the own-sales counts.
 * The result is what {@link applyOrder} gives each of them on its own: same rows, same
 * reservation keys and stored results, same exceptions.
 *
 * It takes the common cases at a peak: an order seen for the first time, every line mapped (to
 * a simple SKU or a bundle), amounts that add up, nothing returned; shipped units are reserved
 * and consumed at once (an order first seen shipped), before any order's held units, as they
 * have left the warehouse already. Other orders (an unmapped line), and an order that turns
 * out to be stored already (a redelivery, or a concurrent batch had it), are left out of the
 * result for the caller to apply one by one. Within one batch only the first revision of an
 * order is taken. Returns the results by position in `orders`.
 */
export async function applyNewOrders(
  tx: Tx,
  inv: Inventory,
  orders: readonly BatchOrder[],
  now: Date,
): Promise<Map<number, ApplyResult>> {
  const out = new Map<number, ApplyResult>();
  const mapped = await mapOrders(
    tx,
    orders.map(({ shop, order }) => ({
      shopId: shop.id,
      lines: order.lines,
      matchOuterId: shop.matchOuterId,
    })),
  );
  const seen = new Set<string>();
  const taken: Taken[] = [];
  for (const [index, { shop, order }] of orders.entries()) {
    const key = `${shop.id}:${order.platformOrderId}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const skus = mapped[index]!;
    const amounts = apportionOrder(order);
    const targets = lineStockTargets(order, shop, now);
    const simple =
      amounts.issues.length === 0 &&
      order.lines.every((l) => skus.has(l.lineId)) &&
      targets.every((t) => t.restocked === 0);
    if (!simple) continue;
    const lines = mappedTargets(shop.id, order, targets, skus).map(
      (l): BatchLine => ({ ...l, shipped: 0, held: 0 }),
    );
    taken.push({ index, shop, order, skus, amounts: amounts.lines, lines });
  }
  if (taken.length === 0) return out;

  // Rows in a fixed order, so two batches inserting the same orders wait, not deadlock.
  taken.sort((a, b) =>
    a.shop.id === b.shop.id
      ? a.order.platformOrderId < b.order.platformOrderId
        ? -1
        : 1
      : a.shop.id < b.shop.id
        ? -1
        : 1,
  );
  const o = taken.map((t) => t.order);
  const inserted = await tx.query<{ id: string; shop_id: string; platform_order_id: string }>(sql`
    INSERT INTO sales_order (shop_id, platform, platform_order_id, status, currency, buyer_paid_total, data,
                             platform_modified_at, platform_version)
    SELECT t.shop_id, t.platform, t.order_id, t.status::"OrderStatus", t.currency, t.paid, t.data,
           t.modified_at, t.version
    FROM unnest(${o.map((x) => x.shopId)}::text[], ${o.map((x) => x.platform)}::text[],
                ${o.map((x) => x.platformOrderId)}::text[], ${o.map((x) => x.status)}::text[],
                ${o.map((x) => x.currency)}::text[], ${o.map((x) => x.buyerPaidTotal)}::bigint[],
                ${o.map((x) => JSON.stringify(x))}::jsonb[],
                ${o.map((x) => x.platformModifiedAt ?? null)}::timestamptz[],
                ${o.map((x) => (x.platformVersion === undefined ? null : String(x.platformVersion)))}::bigint[])
      WITH ORDINALITY AS t(shop_id, platform, order_id, status, currency, paid, data, modified_at, version, n)
    ORDER BY t.n
    ON CONFLICT (shop_id, platform_order_id) DO NOTHING
    RETURNING id::text AS id, shop_id, platform_order_id`);
  const ids = new Map(inserted.map((r) => [`${r.shop_id}:${r.platform_order_id}`, r.id]));
  const fresh = taken.filter((t) => {
    t.orderId = ids.get(`${t.shop.id}:${t.order.platformOrderId}`);
    return t.orderId !== undefined;
  });
  if (fresh.length === 0) return out;

  await storeLines(
    tx,
    fresh.map((t) => ({ orderId: t.orderId!, order: t.order, amounts: t.amounts, skus: t.skus })),
  );

  // Units go to orders in the order they arrived, as one by one (the function takes each SKU's
  // lines in this order): first the units already shipped, then the units to hold.
  const arrived = [...fresh].sort((a, b) => a.index - b.index);
  const reserve = async (want: 'ship' | 'hold') => {
    const todo = arrived.flatMap((t) => t.lines.filter((l) => l[want] > 0).map((l) => ({ t, l })));
    const reserved = await inv.reservations.reserveLines(
      tx,
      todo.map(({ t, l }) => ({
        // The keys the one-by-one path gives these reservations (see reconcileLine).
        key: `${l.lineKey}:${want}:${l.shipped}:${randomUUID()}`,
        mode: 'partial',
        lines: [{ lineKey: l.lineKey, skuId: l.sku.skuId, quantity: l[want] }],
        warehouseIds: t.shop.warehouseIds,
      })),
    );
    for (const [k, { l }] of todo.entries()) {
      const r = reserved[k];
      if (!r)
        throw new Error(`line ${l.lineKey}: SKU ${l.sku.skuId} became a bundle while the batch applied`);
      if (want === 'ship') l.shipped = r.lines[0]!.reserved;
      else l.held = r.lines[0]!.reserved;
    }
  };
  await reserve('ship');
  await inv.reservations.settleWholeLines(
    tx,
    arrived.flatMap((t) =>
      t.lines
        .filter((l) => l.shipped > 0)
        .map((l) => ({
          action: 'consume' as const,
          key: `${l.lineKey}:ship:${l.shipped}`,
          lineKey: l.lineKey,
          quantity: l.shipped,
          reference: l.lineKey,
        })),
    ),
  );
  await reserve('hold');

  const effects = new Map<Taken, StockEffect[]>();
  for (const t of arrived) {
    const e: StockEffect[] = [];
    for (const l of t.lines) {
      if (l.shipped > 0) {
        e.push({ lineId: l.lineId, action: 'reserve', quantity: l.shipped });
        e.push({ lineId: l.lineId, action: 'consume', quantity: l.shipped });
      }
      if (l.held > 0) e.push({ lineId: l.lineId, action: 'reserve', quantity: l.held });
      const shippedShort = l.ship - l.shipped;
      const missing = l.hold - l.held + shippedShort;
      if (missing > 0) {
        await raiseException(
          tx,
          oversellException(t.shop.id, t.order, l.lineKey, l.lineId, missing, {
            wantHold: l.hold,
            held: l.held,
            shippedWithoutStock: shippedShort,
          }),
        );
      }
    }
    effects.set(t, e);
  }

  const sold = new Map<number, number>();
  for (const t of fresh) ownSales(t.skus, t.order, undefined, sold);
  await recordOwnSales(tx, sold);

  for (const t of fresh) {
    out.set(t.index, {
      orderKey: `${t.shop.id}:${t.order.platformOrderId}`,
      outcome: 'created',
      effects: effects.get(t)!,
    });
  }
  return out;
}
