import type { ListingRef, PushResult } from '../../connectors/contract.js';
import { sql } from '../db/sql.js';
import type { Inventory } from '../inventory/index.js';
import type { Tx } from '../inventory/tx.js';
import type { ShopSettings } from '../orders/index.js';
import type { ShopConnector } from './shop-connectors.js';

/**
 * The stock push pipeline, in two steps that each commit on their own:
 *
 * 1. `planPushes`: a trigger on stock_level marks every SKU whose balance changed (stock_dirty,
 *    same transaction as the change, whoever made it). The planner claims marked SKUs, finds
 *    the listings they feed (bundles containing them too), computes each listing's quantity
 *    (the shop's warehouses' ATS, divided by units per item, rounded down) and stores it in the
 *    `stock_push` outbox. One row per listing: a burst of changes coalesces to the latest value,
 *    and a listing whose platform already shows that value is not pushed.
 * 2. `pushShop`: claims a shop's pending rows and sends them through the connector in batches;
 *    per-item results: ok (synced, or pending again if the value moved meanwhile), compare
 *    mismatch and failures (kept with their error, retried with backoff, Retry-After honoured).
 */

export interface PlanReport {
  skus: number;
  listings: number;
}

/** Claims up to `limit` marked SKUs and stores the quantity each affected listing should show. */
export async function planPushes(
  inv: Inventory,
  shops: ReadonlyMap<string, ShopSettings>,
  limit = 500,
): Promise<PlanReport> {
  return inv.transaction(async (tx) => {
    const dirty = await tx.query<{ sku_id: number }>(sql`
      DELETE FROM stock_dirty WHERE sku_id IN (
        SELECT sku_id FROM stock_dirty ORDER BY marked_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
      RETURNING sku_id`);
    if (dirty.length === 0) return { skus: 0, listings: 0 };
    const listings = await tx.query<{
      id: number;
      shop_id: string;
      sku_id: number;
      units_per_item: number;
    }>(sql`
      WITH RECURSIVE up(id, depth) AS (
        SELECT unnest(${dirty.map((d) => d.sku_id)}::int[]), 0
        UNION
        SELECT bc.bundle_id, u.depth + 1 FROM bundle_component bc JOIN up u ON bc.component_id = u.id WHERE u.depth < 16
      )
      SELECT l.id, l.shop_id, l.sku_id, l.units_per_item FROM listing l
      WHERE l.sku_id IN (SELECT id FROM up) AND l.stock_ref IS NOT NULL
      ORDER BY l.id`);
    const byShop = new Map<string, typeof listings>();
    for (const l of listings) byShop.set(l.shop_id, [...(byShop.get(l.shop_id) ?? []), l]);
    const ids: number[] = [];
    const desired: number[] = [];
    for (const [shopId, rows] of byShop) {
      const shop = shops.get(shopId);
      if (!shop) continue;
      const warehouseIds = await activeWarehouseIds(tx, shop.warehouses);
      if (warehouseIds.length === 0) continue;
      const ats = await inv.availability.ats(
        { skuIds: [...new Set(rows.map((r) => r.sku_id))], warehouseIds },
        tx,
      );
      const atsOf = new Map(ats.map((a) => [a.skuId, a.ats]));
      for (const r of rows) {
        ids.push(r.id);
        desired.push(Math.floor((atsOf.get(r.sku_id) ?? 0) / r.units_per_item));
      }
    }
    if (ids.length > 0) {
      await tx.execute(sql`
        INSERT INTO stock_push AS p (listing_id, desired)
        SELECT * FROM unnest(${ids}::int[], ${desired}::int[])
        ON CONFLICT (listing_id) DO UPDATE SET
          desired = EXCLUDED.desired,
          desired_at = CASE WHEN p.desired <> EXCLUDED.desired THEN now() ELSE p.desired_at END,
          status = CASE WHEN p.pushed IS NOT DISTINCT FROM EXCLUDED.desired THEN 'synced'::"PushStatus"
                        ELSE 'pending'::"PushStatus" END,
          attempts = CASE WHEN p.desired <> EXCLUDED.desired THEN 0 ELSE p.attempts END,
          next_attempt_at = CASE WHEN p.desired <> EXCLUDED.desired THEN now() ELSE p.next_attempt_at END,
          last_error = CASE WHEN p.desired <> EXCLUDED.desired THEN NULL ELSE p.last_error END`);
    }
    return { skus: dirty.length, listings: ids.length };
  });
}

async function activeWarehouseIds(tx: Tx, codes: readonly string[]): Promise<number[]> {
  const rows = await tx.query<{ id: number; code: string }>(sql`
    SELECT id, code FROM warehouse WHERE code = ANY(${[...codes]}::text[]) AND active`);
  const byCode = new Map(rows.map((r) => [r.code, r.id]));
  return codes.map((c) => byCode.get(c)).filter((id): id is number => id !== undefined);
}

export interface PushReport {
  shopId: string;
  sent: number;
  synced: number;
  failed: number;
  mismatched: number;
  error?: string;
}

interface Claimed {
  listing_id: number;
  desired: number;
  pushed: number | null;
  stock_ref: string;
  stock_location: string | null;
  attempts: number;
}

/** How long a claimed row stays hidden from other pushers. */
const PUSH_LEASE_MS = 60_000;

/** Sends a shop's pending quantities through its connector. */
export async function pushShop(inv: Inventory, sc: ShopConnector, limit = 500): Promise<PushReport> {
  const shopId = sc.shop.id;
  const report: PushReport = { shopId, sent: 0, synced: 0, failed: 0, mismatched: 0 };
  const claimed = await inv.transaction((tx) =>
    tx.query<Claimed>(sql`
      UPDATE stock_push p SET attempts = p.attempts + 1,
        next_attempt_at = now() + ${PUSH_LEASE_MS} * interval '1 millisecond'
      FROM (
        SELECT p2.listing_id FROM stock_push p2 JOIN listing l ON l.id = p2.listing_id
        WHERE l.shop_id = ${shopId} AND p2.status = 'pending' AND p2.next_attempt_at <= now()
        ORDER BY p2.desired_at LIMIT ${limit} FOR UPDATE OF p2 SKIP LOCKED
      ) c, listing l
      WHERE p.listing_id = c.listing_id AND l.id = p.listing_id
      RETURNING p.listing_id, p.desired, p.pushed, l.stock_ref, l.stock_location, p.attempts`),
  );
  const batch = Math.max(1, sc.connector.limits.maxStockBatch);
  const cas = sc.registered.descriptor.capabilities.compareAndSet;
  for (let i = 0; i < claimed.length; i += batch) {
    const rows = claimed.slice(i, i + batch);
    const updates = rows.map((r) => ({
      listing: refOf(r),
      quantity: r.desired,
      ...(cas && r.pushed !== null ? { expected: r.pushed } : {}),
    }));
    let results: PushResult[];
    try {
      results = await sc.connector.pushStock(updates);
    } catch (err) {
      report.error = (err as Error).message;
      const retryAfterMs = (err as { retryAfterMs?: number }).retryAfterMs;
      await inv.transaction(async (tx) => {
        for (const r of rows) await recordFailure(tx, r, report.error!, retryAfterMs, false);
      });
      report.failed += rows.length;
      continue;
    }
    report.sent += rows.length;
    await inv.transaction(async (tx) => {
      for (const [k, r] of rows.entries()) {
        const res = results[k];
        if (res?.status === 'ok') {
          report.synced++;
          await tx.execute(sql`
            UPDATE stock_push SET pushed = ${res.quantity}, pushed_at = now(), last_error = NULL,
              status = CASE WHEN desired = ${res.quantity} THEN 'synced'::"PushStatus" ELSE 'pending'::"PushStatus" END,
              attempts = 0, next_attempt_at = now()
            WHERE listing_id = ${r.listing_id}`);
        } else if (res?.status === 'compare_mismatch') {
          // The platform holds another value than we last set: sold there, or edited by hand.
          // Pushing our value now could give back units it already sold; held for review.
          report.mismatched++;
          await recordFailure(tx, r, `platform quantity changed behind us: ${res.message}`, undefined, true);
        } else {
          report.failed++;
          const final = res?.action === 'config_error' || res?.action === 'ignore';
          await recordFailure(tx, r, res?.message ?? 'no result for this item', res?.retryAfterMs, final);
        }
      }
    });
  }
  return report;
}

function refOf(r: Claimed): ListingRef {
  return r.stock_location
    ? { listingId: r.stock_ref, locationId: r.stock_location }
    : { listingId: r.stock_ref };
}

/** Pending again after a jittered backoff (or Retry-After), or `failed` until its value changes. */
async function recordFailure(
  tx: Tx,
  r: Claimed,
  error: string,
  retryAfterMs: number | undefined,
  final: boolean,
) {
  const backoff =
    retryAfterMs ?? Math.min(600_000, 1000 * 2 ** Math.min(r.attempts, 10)) * (0.5 + Math.random() / 2);
  await tx.execute(sql`
    UPDATE stock_push SET last_error = ${error.slice(0, 2000)},
      status = ${final ? 'failed' : 'pending'}::"PushStatus",
      next_attempt_at = now() + ${Math.round(backoff)} * interval '1 millisecond'
    WHERE listing_id = ${r.listing_id}`);
}
