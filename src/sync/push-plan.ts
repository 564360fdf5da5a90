import { sql } from '../db/sql.js';
import type { Inventory } from '../inventory/index.js';
import type { Tx } from '../inventory/tx.js';
import { type BufferRule, bufferItems, listedQuantity, type PushRules } from './channel-rules.js';
import { foldOwnSales } from './own-sales.js';

/** What the planner needs of a shop. */
export interface PlanShop {
  id: string;
  warehouses: readonly string[];
  /**
   * When the ledger takes the units of this shop's orders. With `created` it holds every unit its
   * platform took, so a platform showing less than wanted is short and is pushed; with `paid`
   * the platform's unpaid orders may hold units the ledger does not, and showing less is left alone.
   */
  reserveOn: 'created' | 'paid';
  push: Readonly<Omit<PushRules, 'warehouses'>> & { readonly warehouses?: readonly string[] | undefined };
}

export interface PlanReport {
  skus: number;
  listings: number;
}

/**
 * Step 1 of the stock push pipeline. A trigger on stock_level marks every SKU whose balance
 * changed (stock_dirty, same transaction as the change, whoever made it). The planner claims
 * marked SKUs, finds the listings they feed (bundles containing them too), computes the quantity
 * each should show under its channel's rules (src/sync/channel-rules.ts) and stores it in the
 * `stock_push` outbox: one row per listing, so a burst of changes coalesces to the latest value,
 * and a listing whose platform already shows that value is not pushed. Excluded listings and
 * shops whose push is disabled are left alone.
 */
export async function planPushes(
  inv: Inventory,
  shops: ReadonlyMap<string, PlanShop>,
  limit = 500,
): Promise<PlanReport> {
  // Keeps the own-sales log short (the pusher folds the listings it pushes; this, the rest).
  // One statement, so no BEGIN and COMMIT around it.
  await foldOwnSales(inv.autocommit, null);
  return inv.transaction(async (tx) => {
    // Marks are a log (one per change): several of one SKU are planned once.
    const dirty = await tx.query<{ sku_id: number; marked_at: Date | string }>(sql`
      DELETE FROM stock_dirty WHERE id IN (
        SELECT id FROM stock_dirty ORDER BY id LIMIT ${limit * 10} FOR UPDATE SKIP LOCKED)
      RETURNING sku_id, marked_at`);
    if (dirty.length === 0) return { skus: 0, listings: 0 };
    const skuIds = [...new Set(dirty.map((d) => d.sku_id))].sort((a, b) => a - b);
    const listings = await affectedListings(tx, skuIds);
    const changedAt = new Date(Math.min(...dirty.map((d) => new Date(d.marked_at).getTime())));
    const planned = await desiredQuantities(inv, tx, shops, listings);
    await storeDesired(tx, planned, changedAt);
    return { skus: skuIds.length, listings: planned.length };
  });
}

/**
 * Plans every pushable listing of one shop again (after its rules or pause changed, or for a
 * full reconciliation), as if all its SKUs had changed.
 */
export async function planShop(inv: Inventory, shop: PlanShop): Promise<number> {
  return inv.transaction(async (tx) => {
    const listings = await tx.query<ListingRow>(sql`
      SELECT id, shop_id, sku_id, units_per_item FROM listing
      WHERE shop_id = ${shop.id} AND stock_ref IS NOT NULL AND NOT push_excluded ORDER BY id`);
    // What the platforms took through imported orders, current (see storeDesired).
    await foldOwnSales(
      tx,
      listings.map((l) => l.id),
      { limit: 100_000 },
    );
    const planned = await desiredQuantities(inv, tx, new Map([[shop.id, shop]]), listings);
    await storeDesired(tx, planned, new Date());
    return planned.length;
  });
}

interface ListingRow {
  id: number;
  shop_id: string;
  sku_id: number;
  units_per_item: number;
}

async function affectedListings(tx: Tx, skuIds: number[]): Promise<ListingRow[]> {
  return tx.query<ListingRow>(sql`
    WITH RECURSIVE up(id, depth) AS (
      SELECT unnest(${skuIds}::int[]), 0
      UNION
      SELECT bc.bundle_id, u.depth + 1 FROM bundle_component bc JOIN up u ON bc.component_id = u.id WHERE u.depth < 16
    )
    SELECT l.id, l.shop_id, l.sku_id, l.units_per_item FROM listing l
    WHERE l.sku_id IN (SELECT id FROM up) AND l.stock_ref IS NOT NULL AND NOT l.push_excluded
    ORDER BY l.id`);
}

interface Planned {
  listingId: number;
  desired: number;
  buffer: number;
  /** The platform must show exactly `desired` to be in sync (not just no more): see PlanShop.reserveOn. */
  exact: boolean;
}

async function desiredQuantities(
  inv: Inventory,
  tx: Tx,
  shops: ReadonlyMap<string, PlanShop>,
  listings: readonly ListingRow[],
): Promise<Planned[]> {
  const byShop = new Map<string, ListingRow[]>();
  for (const l of listings) byShop.set(l.shop_id, [...(byShop.get(l.shop_id) ?? []), l]);
  const out: Planned[] = [];
  for (const [shopId, rows] of byShop) {
    const shop = shops.get(shopId);
    if (!shop || !shop.push.enabled) continue;
    const warehouseIds = await activeWarehouseIds(tx, shop.push.warehouses ?? shop.warehouses);
    if (warehouseIds.length === 0) continue;
    const skuIds = [...new Set(rows.map((r) => r.sku_id))];
    const ats = await inv.availability.ats({ skuIds, warehouseIds }, tx);
    const atsOf = new Map(ats.map((a) => [a.skuId, a.ats]));
    const buffers = await bufferInputs(tx, shop.id, shop.push.buffer, skuIds);
    for (const r of rows) {
      const buffer = bufferItems(
        shop.push.buffer,
        buffers.velocity.get(r.sku_id) ?? 0,
        buffers.latencyMs,
        r.units_per_item,
      );
      const atsUnits = atsOf.get(r.sku_id) ?? 0;
      out.push({
        listingId: r.id,
        desired: listedQuantity(atsUnits, r.units_per_item, shop.push, buffer),
        // What the buffer actually took off (it cannot take more than there is).
        buffer:
          listedQuantity(atsUnits, r.units_per_item, shop.push) -
          listedQuantity(atsUnits, r.units_per_item, shop.push, buffer),
        exact: shop.reserveOn === 'created',
      });
    }
  }
  return out;
}

/**
 * Sales velocity (stock units reserved per second over the rule's window, all channels) of each
 * SKU, a bundle's being the fastest of its components per bundle, and the shop's push latency
 * (p95 of the last hour's pushes).
 */
async function bufferInputs(
  tx: Tx,
  shopId: string,
  rule: BufferRule,
  skuIds: number[],
): Promise<{ velocity: Map<number, number>; latencyMs: number }> {
  if (rule.mode !== 'adaptive') return { velocity: new Map(), latencyMs: 0 };
  const seconds = rule.windowMinutes * 60;
  const rows = await tx.query<{ sku_id: number; units: number | string }>(sql`
    WITH parts AS (
      SELECT s.id AS sku_id, s.id AS part_id, 1 AS per FROM unnest(${skuIds}::int[]) AS s(id)
      UNION ALL
      SELECT bc.bundle_id, bc.component_id, bc.quantity FROM bundle_component bc
      WHERE bc.bundle_id = ANY(${skuIds}::int[])
    ), sold AS (
      SELECT r.sku_id, SUM(r.quantity) AS units FROM reservation r
      WHERE r.sku_id IN (SELECT part_id FROM parts)
        AND r.created_at > now() - ${seconds} * interval '1 second'
      GROUP BY r.sku_id
    )
    SELECT p.sku_id, MAX(COALESCE(s.units, 0)::float8 / p.per) AS units
    FROM parts p LEFT JOIN sold s ON s.sku_id = p.part_id GROUP BY p.sku_id`);
  const [lat] = await tx.query<{ p95: number | null }>(sql`
    SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY p.latency_ms) AS p95
    FROM stock_push p JOIN listing l ON l.id = p.listing_id
    WHERE l.shop_id = ${shopId} AND p.pushed_at > now() - interval '1 hour' AND p.latency_ms IS NOT NULL`);
  return {
    velocity: new Map(rows.map((r) => [r.sku_id, Number(r.units) / seconds])),
    latencyMs: lat?.p95 ?? 0,
  };
}

/**
 * Stores the planned quantities. A listing is in sync when our last push equals the quantity
 * wanted, no push of unknown outcome is pending, and its platform should show that quantity:
 * our last push minus what its own platform took or gave back since through orders we imported
 * (`own_since_push`, with the units a push held back or gave back, see push-send.ts).
 * Our last push alone is not enough. A cancellation on the platform gives units back there, and
 * when another channel's sale takes as many from the ledger meanwhile, the quantity wanted is
 * unchanged while the platform shows more (the chaos run found this). The other way round, a
 * sale there while another channel's cancellation gives as many back, it shows less: with
 * `reserveOn: created` that is a short listing, pushed like any other (the chaos run found this
 * too). With `reserveOn: paid` showing less is left alone: units the platform's own unpaid
 * orders took (付款减库存) are not in the ledger yet and are not given back.
 */
async function storeDesired(tx: Tx, planned: readonly Planned[], changedAt: Date): Promise<void> {
  if (planned.length === 0) return;
  // own_since_push + held_back − given_back: units the platform took (+) or gave back (−)
  // through imported orders since our last push. Exact listings must show what we pushed.
  const exact = planned.filter((p) => p.exact).map((p) => p.listingId);
  await tx.execute(sql`
    INSERT INTO stock_push AS p (listing_id, desired, buffer, pending_since)
    SELECT id, desired, buffer, ${changedAt}::timestamptz
    FROM unnest(${planned.map((p) => p.listingId)}::int[], ${planned.map((p) => p.desired)}::int[],
                ${planned.map((p) => p.buffer)}::int[]) AS t(id, desired, buffer)
    ON CONFLICT (listing_id) DO UPDATE SET
      desired = EXCLUDED.desired,
      buffer = EXCLUDED.buffer,
      desired_at = CASE WHEN p.desired <> EXCLUDED.desired THEN now() ELSE p.desired_at END,
      -- Pending with no unpushed change: due for a read-back only (push-changes.ts), and still so.
      status = CASE WHEN p.status = 'pending' AND p.pending_since IS NULL AND p.desired = EXCLUDED.desired
                      THEN 'pending'::"PushStatus"
                    WHEN p.pushed = EXCLUDED.desired AND p.attempt_qty IS NULL
                     AND (CASE WHEN p.listing_id = ANY(${exact}::int[]) THEN p.own_since_push + p.held_back - p.given_back = 0
                          ELSE p.own_since_push + p.held_back - p.given_back >= 0 END)
                      THEN 'synced'::"PushStatus"
                    WHEN p.desired = EXCLUDED.desired AND p.status = 'failed' THEN 'failed'::"PushStatus"
                    ELSE 'pending'::"PushStatus" END,
      pending_since = CASE WHEN p.status = 'pending' AND p.pending_since IS NULL AND p.desired = EXCLUDED.desired
                             THEN NULL
                           WHEN p.pushed = EXCLUDED.desired AND p.attempt_qty IS NULL
                            AND (CASE WHEN p.listing_id = ANY(${exact}::int[]) THEN p.own_since_push + p.held_back - p.given_back = 0
                          ELSE p.own_since_push + p.held_back - p.given_back >= 0 END)
                             THEN NULL
                           ELSE COALESCE(p.pending_since, EXCLUDED.pending_since) END,
      attempts = CASE WHEN p.desired <> EXCLUDED.desired THEN 0 ELSE p.attempts END,
      next_attempt_at = CASE WHEN p.desired <> EXCLUDED.desired THEN now() ELSE p.next_attempt_at END,
      last_error = CASE WHEN p.desired <> EXCLUDED.desired THEN NULL ELSE p.last_error END`);
}

async function activeWarehouseIds(tx: Tx, codes: readonly string[]): Promise<number[]> {
  const rows = await tx.query<{ id: number; code: string }>(sql`
    SELECT id, code FROM warehouse WHERE code = ANY(${[...codes]}::text[]) AND active`);
  const byCode = new Map(rows.map((r) => [r.code, r.id]));
  return codes.map((c) => byCode.get(c)).filter((id): id is number => id !== undefined);
}
