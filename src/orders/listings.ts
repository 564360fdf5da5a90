import { sql } from '../db/sql.js';
import type { OrderLine } from '../domain/order.js';
import type { Tx } from '../inventory/tx.js';

/** Where one order line's stock comes from. */
export interface LineSku {
  skuId: number;
  /** Stock units per unit sold (a box of 6 sells 6). */
  unitsPerItem: number;
  via: 'listing' | 'outer_id';
  /** The listing that mapped the line (unset when mapped by 商家编码). */
  listingId?: number;
  /** The SKU is a bundle (its lines hold the components). */
  bundle: boolean;
}

/** The lines of one order to map, with the shop they were sold in. */
export interface LinesToMap {
  shopId: string;
  lines: readonly OrderLine[];
  /** Fall back to the line's 商家编码 as a SKU code. */
  matchOuterId: boolean;
}

/**
 * Maps each line to an internal SKU: the listing (shop, item, variant) first, then, when the
 * shop allows it, the line's 商家编码 (outer SKU id, else outer item id) as a SKU code.
 * Lines that map to nothing are absent from the result. One query for the whole order.
 */
export async function mapLines(
  tx: Tx,
  shopId: string,
  lines: readonly OrderLine[],
  matchOuterId: boolean,
): Promise<Map<string, LineSku>> {
  const [mapped] = await mapOrders(tx, [{ shopId, lines, matchOuterId }]);
  return mapped!;
}

/** {@link mapLines} for several orders in one query: one map per order, same order. */
export async function mapOrders(tx: Tx, orders: readonly LinesToMap[]): Promise<Map<string, LineSku>[]> {
  const flat = orders.flatMap((o, k) => o.lines.map((line) => ({ o, k, line })));
  if (flat.length === 0) return orders.map(() => new Map());
  const rows = await tx.query<{
    i: number;
    sku_id: number | null;
    units: number | null;
    via: string | null;
    listing_id: number | null;
    bundle: boolean | null;
  }>(sql`
    SELECT t.i::int AS i, li.id AS listing_id,
           COALESCE(li.sku_id, s.id) AS sku_id,
           CASE WHEN li.sku_id IS NOT NULL THEN li.units_per_item ELSE 1 END AS units,
           CASE WHEN li.sku_id IS NOT NULL THEN 'listing' WHEN s.id IS NOT NULL THEN 'outer_id' END AS via,
           k.kind = 'bundle' AS bundle
    FROM unnest(${flat.map((f) => f.o.shopId)}::text[], ${flat.map((f) => f.line.platformItemId)}::text[],
                ${flat.map((f) => f.line.platformSkuId ?? '')}::text[],
                ${flat.map((f) => (f.o.matchOuterId ? (f.line.outerSkuId ?? f.line.outerItemId ?? null) : null))}::text[])
      WITH ORDINALITY AS t(shop_id, item, variant, outer_code, i)
    LEFT JOIN listing li ON li.shop_id = t.shop_id AND li.platform_item_id = t.item AND li.platform_sku_id = t.variant
    LEFT JOIN sku s ON s.code = t.outer_code
    LEFT JOIN sku k ON k.id = COALESCE(li.sku_id, s.id)`);
  const out = orders.map(() => new Map<string, LineSku>());
  for (const r of rows) {
    if (r.sku_id === null || r.via === null) continue;
    const f = flat[r.i - 1]!;
    out[f.k]!.set(f.line.lineId, {
      skuId: r.sku_id,
      unitsPerItem: r.units ?? 1,
      via: r.via as LineSku['via'],
      ...(r.listing_id !== null ? { listingId: r.listing_id } : {}),
      bundle: r.bundle === true,
    });
  }
  return out;
}
