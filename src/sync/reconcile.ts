import { sql } from '../db/sql.js';
import type { Inventory } from '../inventory/index.js';
import { foldOwnSales } from './own-sales.js';
import { refOf } from './push-batches.js';
import { type PlanShop, planShop } from './push-plan.js';
import type { ShopConnector } from './shop-connectors.js';
import { GATE_PRIORITY, type ShopGate } from './shop-gate.js';

export interface ReconcileReport {
  shopId: string;
  /** Listings planned again (every pushable listing of the shop). */
  planned: number;
  /** Listings read back from the platform (0 when it cannot read stock back). */
  read: number;
  /** Listings whose platform value differed from what we expected it to show. */
  drifted: number;
  /** Held-back units dropped because their orders never arrived within the grace time. */
  expiredHeldBack: number;
  error?: string;
}

/**
 * The periodic full reconciliation of one shop:
 * 1. units held back as "sold on the platform, not imported" whose orders never came within
 *    `heldBackGraceMs` are released (it was a manual edit or a lost order), except on listings
 *    a pusher holds right now (the next reconciliation takes those);
 * 2. every pushable listing is planned again (a missed change, a rule edit: anything whose
 *    desired quantity differs is queued);
 * 3. where the platform can read stock back, every pushed listing is compared with what the
 *    platform should show now (our last push minus the sales imported since). A difference is
 *    drift (a manual edit, a lost push, another app): recorded on the listing, counted on the
 *    status page, and corrected by queueing the listing (the pusher then applies the
 *    re-inflation guard, so units sold there are never given back).
 * A listing whose platform value already equals its desired quantity is marked synced without a push.
 */
export async function reconcileShop(
  inv: Inventory,
  sc: ShopConnector,
  shop: PlanShop,
  gate: ShopGate,
  options: { heldBackGraceMs: number },
): Promise<ReconcileReport> {
  const report: ReconcileReport = { shopId: shop.id, planned: 0, read: 0, drifted: 0, expiredHeldBack: 0 };
  if (!shop.push.enabled) return report;
  // Held-back units whose orders arrived are no longer outstanding: counted before the grace.
  await foldOwnSales(inv.autocommit, null, { limit: 100_000 });
  const [expired] = await inv.transaction((tx) =>
    tx.query<{ n: number | null }>(sql`
      WITH old AS (
        SELECT p.listing_id, p.held_back, p.given_back FROM stock_push p JOIN listing l ON l.id = p.listing_id
        WHERE l.shop_id = ${shop.id} AND p.held_back + p.given_back > 0 AND p.held_back_at IS NOT NULL
          AND p.held_back_at < now() - ${options.heldBackGraceMs} * interval '1 millisecond'
          -- A pusher's claim is left alone: its result replaces held_back when it lands.
          AND (p.claimed_until IS NULL OR p.claimed_until < now())
        FOR UPDATE OF p
      ), x AS (
        UPDATE stock_push p SET own_since_push = p.own_since_push + old.held_back - old.given_back,
          held_back = 0, given_back = 0, held_back_at = NULL,
          status = CASE WHEN p.status = 'synced' THEN 'pending'::"PushStatus" ELSE p.status END,
          pending_since = COALESCE(p.pending_since, now()), next_attempt_at = now()
        FROM old WHERE p.listing_id = old.listing_id
        RETURNING old.held_back + old.given_back AS n
      ) SELECT SUM(n)::int AS n FROM x`),
  );
  report.expiredHeldBack = expired?.n ?? 0;
  // Planned after the expiry: a listing that was marked pending first could be claimed by its
  // pusher between the two, and the push's hold would then be recorded over the expiry.
  report.planned = await planShop(inv, shop);
  const readStock = sc.connector.readStock?.bind(sc.connector);
  if (!sc.registered.descriptor.capabilities.readStock || !readStock) return report;
  const batch = Math.max(1, sc.limits.maxStockBatch);
  let after = 0;
  try {
    for (;;) {
      // What the platform should show now: our last push minus the sales imported since (the
      // own-sales log folded first; a listing a pusher holds keeps its log, counted here too).
      const rows = await inv.transaction(async (tx) => {
        const page = await tx.query<{ listing_id: number }>(sql`
          SELECT p.listing_id FROM stock_push p JOIN listing l ON l.id = p.listing_id
          WHERE l.shop_id = ${shop.id} AND p.listing_id > ${after} AND p.pushed IS NOT NULL
            AND l.stock_ref IS NOT NULL AND NOT l.push_excluded
          ORDER BY p.listing_id LIMIT ${batch}`);
        const ids = page.map((r) => r.listing_id);
        await foldOwnSales(tx, ids);
        return tx.query<{
          listing_id: number;
          stock_ref: string;
          stock_location: string | null;
          pushed: number;
          own_since_push: number;
        }>(sql`
          SELECT p.listing_id, l.stock_ref, l.stock_location, p.pushed,
                 (p.own_since_push + p.held_back - p.given_back
                 + COALESCE((SELECT SUM(s.n) FROM stock_push_sale s WHERE s.listing_id = p.listing_id), 0)::int) AS own_since_push
          FROM stock_push p JOIN listing l ON l.id = p.listing_id
          WHERE p.listing_id = ANY(${ids}::int[]) ORDER BY p.listing_id`);
      });
      if (rows.length === 0) break;
      after = rows.at(-1)!.listing_id;
      const refs = rows.map(refOf);
      // The gate counts the requests the read makes (Douyin: one per product).
      const readings = await gate.run(
        () => readStock(refs),
        GATE_PRIORITY.pull,
        sc.connector.readStockRequests?.(refs) ?? 1,
      );
      report.read += rows.length;
      const ids: number[] = [];
      const quantities: number[] = [];
      const drifts: number[] = [];
      for (const [k, r] of rows.entries()) {
        const reading = readings[k];
        if (!reading?.ok) continue;
        const drift = reading.quantity - (r.pushed - r.own_since_push);
        if (drift !== 0) report.drifted++;
        ids.push(r.listing_id);
        quantities.push(reading.quantity);
        drifts.push(drift);
      }
      if (ids.length === 0) continue;
      // Values are compared again inside the update: a push that landed meanwhile moved `pushed`
      // and `own_since_push` together, so a reading taken before it does not count as drift.
      await inv.transaction((tx) =>
        tx.execute(sql`
          UPDATE stock_push p SET platform_qty = t.qty, read_at = now(),
            drift = CASE WHEN t.drift <> 0 THEN t.drift END,
            drift_at = CASE WHEN t.drift <> 0 THEN now() ELSE p.drift_at END,
            pushed = CASE WHEN t.qty = p.desired AND t.drift <> 0 THEN t.qty ELSE p.pushed END,
            -- The platform shows the quantity wanted: nothing is outstanding, and the sales still in
            -- the log (a pusher held the listing) are in that reading already.
            own_since_push = CASE WHEN t.qty = p.desired AND t.drift <> 0
              THEN -COALESCE((SELECT SUM(s.n) FROM stock_push_sale s WHERE s.listing_id = p.listing_id), 0)::int
              ELSE p.own_since_push END,
            held_back = CASE WHEN t.qty = p.desired AND t.drift <> 0 THEN 0 ELSE p.held_back END,
            given_back = CASE WHEN t.qty = p.desired AND t.drift <> 0 THEN 0 ELSE p.given_back END,
            status = CASE WHEN t.qty = p.desired THEN 'synced'::"PushStatus"
                          WHEN t.drift <> 0 AND p.status = 'synced' THEN 'pending'::"PushStatus"
                          ELSE p.status END,
            pending_since = CASE WHEN t.qty = p.desired THEN NULL
                                 WHEN t.drift <> 0 THEN COALESCE(p.pending_since, now()) ELSE p.pending_since END,
            next_attempt_at = CASE WHEN t.drift <> 0 AND t.qty <> p.desired THEN now() ELSE p.next_attempt_at END
          FROM unnest(${ids}::int[], ${quantities}::int[], ${drifts}::int[]) AS t(id, qty, drift)
          WHERE p.listing_id = t.id
            -- A change of unknown outcome (push-changes.ts) is sent again first: the reading cannot
            -- tell whether it landed.
            AND p.attempt_key IS NULL
            AND p.pushed - (p.own_since_push + p.held_back - p.given_back
              + COALESCE((SELECT SUM(s.n) FROM stock_push_sale s WHERE s.listing_id = p.listing_id), 0)) + t.drift = t.qty`),
      );
    }
    gate.succeeded();
  } catch (err) {
    report.error = (err as Error).message;
  }
  return report;
}
