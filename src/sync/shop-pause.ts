import { sql } from '../db/sql.js';
import type { Inventory } from '../inventory/index.js';

/**
 * A paused shop gets no pulls and no pushes (webhooks are still stored): its platform refused
 * our credentials or configuration, and retrying cannot help until a human fixes it. The
 * replica holding the shop probes the connection now and then and resumes it when it works;
 * an admin can pause and resume by hand. The state lives in the database, for every replica.
 */
export interface PauseState {
  pausedAt: Date;
  reason: string;
  /** `system`: probed and resumed when the connection works; `admin`: until an admin resumes it. */
  by: 'system' | 'admin';
}

export async function pauseShop(
  inv: Inventory,
  shopId: string,
  reason: string,
  by: PauseState['by'] = 'system',
): Promise<boolean> {
  // An admin's pause is not overwritten by the system's.
  const rows = await inv.transaction((tx) =>
    tx.query<{ id: string }>(sql`
      UPDATE shop SET paused_at = COALESCE(paused_at, now()),
        paused_reason = CASE WHEN paused_by = 'admin' AND ${by} = 'system' THEN paused_reason ELSE ${reason.slice(0, 2000)} END,
        paused_by = CASE WHEN paused_by = 'admin' THEN 'admin' ELSE ${by} END
      WHERE id = ${shopId} RETURNING id`),
  );
  return rows.length === 1;
}

/** Resumes a paused shop; false when it was not paused. */
export async function resumeShop(inv: Inventory, shopId: string): Promise<boolean> {
  const rows = await inv.transaction((tx) =>
    tx.query<{ id: string }>(sql`
      UPDATE shop SET paused_at = NULL, paused_reason = NULL, paused_by = NULL
      WHERE id = ${shopId} AND paused_at IS NOT NULL RETURNING id`),
  );
  return rows.length === 1;
}

/**
 * The shop's pause, read from the database (another replica or an admin may have set it). One
 * statement on its own, one round trip: every pusher, hint and pull step of a shop asks first.
 */
export async function pauseState(inv: Inventory, shopId: string): Promise<PauseState | null> {
  const [row] = await inv.statement<{
    paused_at: Date | string | null;
    paused_reason: string | null;
    paused_by: string | null;
  }>(sql`SELECT paused_at, paused_reason, paused_by FROM shop WHERE id = ${shopId}`);
  if (!row?.paused_at) return null;
  return {
    pausedAt: new Date(row.paused_at),
    reason: row.paused_reason ?? '',
    by: row.paused_by === 'admin' ? 'admin' : 'system',
  };
}
