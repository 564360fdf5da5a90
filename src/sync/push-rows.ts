import { sql } from '../db/sql.js';
import type { Tx } from '../inventory/tx.js';
import type { ShopConnector } from './shop-connectors.js';

/** A `stock_push` row a pusher has claimed, with its listing's platform reference. */
export interface Claimed {
  listing_id: number;
  desired: number;
  pushed: number | null;
  pushed_at: Date | string | null;
  own_since_push: number;
  held_back: number;
  given_back: number;
  attempt_qty: number | null;
  attempt_own: number | null;
  /** Set while a push sent as a change (push-changes.ts) has an unknown outcome. */
  attempt_key: string | null;
  attempt_delta: number | null;
  pending_since: Date | string | null;
  stock_ref: string;
  stock_location: string | null;
  attempts: number;
  drift: number | null;
  drift_at: Date | string | null;
  /** Last push that read the platform's quantity first. */
  read_back_at: Date | string | null;
  /** Last push that wrote an absolute quantity. */
  erased_at: Date | string | null;
}

/** What the batching needs of a shop: its limits (with its `rateLimit`) and the connector's key. */
export function batching(sc: ShopConnector) {
  const key = sc.connector.stockBatchKey?.bind(sc.connector);
  return { limits: sc.limits, ...(key ? { stockBatchKey: key } : {}) };
}

/** Milliseconds since the row's first unpushed change, or null. */
export function waited(row: Pick<Claimed, 'pending_since'>, now: number): number | null {
  return row.pending_since ? now - new Date(row.pending_since).getTime() : null;
}

/**
 * Pending again after a jittered backoff (or the platform's wait), or suspended (`failed`) when
 * final or after `maxAttempts`; a suspended listing is retried when its quantity changes.
 * `free`: a throttle, not the listing's fault, so it does not count as an attempt.
 */
export async function recordFailure(
  tx: Tx,
  r: Claimed,
  error: string,
  o: { waitMs?: number; final?: boolean; free?: boolean; maxAttempts: number },
): Promise<void> {
  const attempts = o.free ? r.attempts : r.attempts + 1;
  const suspend = o.final || attempts >= o.maxAttempts;
  const backoff =
    o.waitMs ?? Math.min(600_000, 1000 * 2 ** Math.min(attempts, 10)) * (0.5 + Math.random() / 2);
  await tx.execute(sql`
    UPDATE stock_push SET last_error = ${(suspend && !o.final ? `suspended after ${attempts} attempts: ` : '') + error.slice(0, 2000)},
      attempts = ${attempts}, claimed_until = NULL,
      status = ${suspend ? 'failed' : 'pending'}::"PushStatus",
      next_attempt_at = now() + ${Math.round(backoff)} * interval '1 millisecond'
    WHERE listing_id = ${r.listing_id} AND desired = ${r.desired}`);
  // The quantity changed meanwhile: the planner made it due again; only the claim is given back.
  await tx.execute(sql`
    UPDATE stock_push SET claimed_until = NULL WHERE listing_id = ${r.listing_id} AND desired <> ${r.desired}`);
}
