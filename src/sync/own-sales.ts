import { sql } from '../db/sql.js';
import type { Tx } from '../inventory/tx.js';

/** A listing's push counts after a fold. */
export interface Folded {
  own_since_push: number;
  held_back: number;
  given_back: number;
}

/**
 * Folds the own-sales log (`stock_push_sale`, appended by the order intake: see recordOwnSales
 * in src/orders/apply.ts) into the listings' `stock_push` rows: `own_since_push` grows by the
 * units their own platform took through imported orders, and units a push held back (or
 * pre-credited as given back) are no longer outstanding once their orders are in. Entries of a
 * listing without a `stock_push` row are dropped (it has never been pushed: nothing to guard).
 *
 * `listingIds`: only these listings; null: the oldest `limit` entries of any listing (the
 * planner keeps the log short). A listing a pusher has claimed is left alone (`claimed`: unless
 * the caller is that pusher, folding the rows it has just claimed so what it reads is current):
 * its sales since the claim must stay outstanding until the push's result is recorded, or the
 * recorded held-back units would count them a second time. Nor is a listing whose change has an
 * unknown outcome (push-changes.ts), until it is booked. Entries another fold is taking are
 * skipped, never waited for. Returns the folded listings with their new counts.
 */
export async function foldOwnSales(
  tx: Pick<Tx, 'query'>,
  listingIds: readonly number[] | null,
  options: { claimed?: boolean; limit?: number } = {},
): Promise<Map<number, Folded>> {
  const limit = options.limit ?? 5000;
  const rows = await tx.query<Folded & { listing_id: number }>(sql`
    WITH moved AS (
      DELETE FROM stock_push_sale WHERE id IN (
        SELECT id FROM stock_push_sale
        WHERE (${listingIds === null}::boolean OR listing_id = ANY(${listingIds ?? []}::int[]))
          AND (${options.claimed ?? false}::boolean OR listing_id NOT IN (
            SELECT listing_id FROM stock_push WHERE claimed_until > now()))
          -- A change of unknown outcome moves held_back when booked (push-changes.ts): the sales
          -- wait for it, or a held-back unit arriving first would be lost to the floor at 0.
          AND listing_id NOT IN (SELECT listing_id FROM stock_push WHERE attempt_key IS NOT NULL)
        ORDER BY id LIMIT ${limit} FOR UPDATE SKIP LOCKED)
      RETURNING listing_id, n
    ), d AS (
      SELECT listing_id, SUM(n)::int AS n FROM moved GROUP BY listing_id
    )
    UPDATE stock_push p SET own_since_push = p.own_since_push + d.n,
      held_back = GREATEST(0, p.held_back - GREATEST(d.n, 0)),
      given_back = GREATEST(0, p.given_back - GREATEST(-d.n, 0)),
      held_back_at = CASE WHEN GREATEST(0, p.held_back - GREATEST(d.n, 0)) + GREATEST(0, p.given_back - GREATEST(-d.n, 0)) > 0
                          THEN p.held_back_at END
    FROM d WHERE p.listing_id = d.listing_id
    RETURNING p.listing_id, p.own_since_push, p.held_back, p.given_back`);
  return new Map(
    rows.map((r) => [
      r.listing_id,
      { own_since_push: r.own_since_push, held_back: r.held_back, given_back: r.given_back },
    ]),
  );
}
