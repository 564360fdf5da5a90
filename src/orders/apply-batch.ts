import { randomUUID } from 'node:crypto';
import { sql } from '../db/sql.js';
import type { CanonicalOrder } from '../domain/order.js';
import { lineStockTargets } from '../domain/order-stock.js';
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
  holds: { lineId: string; lineKey: string; sku: LineSku; units: number }[];
  orderId?: string;
}

/**
 * Applies the orders of a batch that are new to the ledger, together, in the caller's
 * transaction, in a fixed number of statements however many orders there are: the orders,
 * their lines, every reservation (`stock_reserve_lines`, in SKU order), the own-sales counts.
 * The result is what {@link applyOrder} gives each of them on its own: same rows, same
 * reservation keys and stored results, same exceptions.
 *
 * It takes only the common case at a peak: an order seen for the first time, every line mapped
 * to a simple SKU (no bundle), amounts that add up, nothing shipped yet. Other orders, and an
 * order that turns out to be stored already (a redelivery, or a concurrent batch had it), are
 * left out of the result for the caller to apply one by one. Within one batch only the first
 * revision of an order is taken. Returns the results by position in `orders`.
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
      order.lines.every((l) => skus.get(l.lineId)?.bundle === false) &&
      targets.every((t) => t.shipped === 0 && t.restocked === 0);
    if (!simple) continue;
    const holds = targets
      .filter((t) => t.hold > 0)
      .map((t) => {
        const sku = skus.get(t.lineId)!;
        return {
          lineId: t.lineId,
          lineKey: lineKeyOf(shop.id, order.platformOrderId, t.lineId),
          sku,
          units: t.hold * sku.unitsPerItem,
        };
      })
      // As the one-by-one path takes them.
      .sort((a, b) => a.sku.skuId - b.sku.skuId);
    taken.push({ index, shop, order, skus, amounts: amounts.lines, holds });
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
  // lines in this order).
  const holds = [...fresh].sort((a, b) => a.index - b.index).flatMap((t) => t.holds.map((h) => ({ t, h })));
  const reserved = await inv.reservations.reserveLines(
    tx,
    holds.map(({ t, h }) => ({
      // The key the one-by-one path gives a first reservation of the line (see reconcileLine).
      key: `${h.lineKey}:hold:0:${randomUUID()}`,
      mode: 'partial',
      lines: [{ lineKey: h.lineKey, skuId: h.sku.skuId, quantity: h.units }],
      warehouseIds: t.shop.warehouseIds,
    })),
  );
  const effects = new Map<Taken, StockEffect[]>(fresh.map((t) => [t, []]));
  for (const [k, { t, h }] of holds.entries()) {
    const r = reserved[k];
    if (!r) throw new Error(`line ${h.lineKey}: SKU ${h.sku.skuId} became a bundle while the batch applied`);
    const got = r.lines[0]!.reserved;
    if (got > 0) effects.get(t)!.push({ lineId: h.lineId, action: 'reserve', quantity: got });
    if (got < h.units) {
      await raiseException(
        tx,
        oversellException(t.shop.id, t.order, h.lineKey, h.lineId, h.units - got, {
          wantHold: h.units,
          held: got,
          shippedWithoutStock: 0,
        }),
      );
    }
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
