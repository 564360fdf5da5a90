import { sql } from '../db/sql.js';
import type { Inventory } from '../inventory/index.js';
import type { Orders } from '../orders/index.js';
import type { InboxCounts } from '../orders/queries.js';
import type { ShopConnector } from './shop-connectors.js';

export interface ShopStatus {
  id: string;
  platform: string;
  /** False: no connector settings, so no webhooks or pulls (orders only by hand). */
  connected: boolean;
  lastPullAt: string | null;
  /** Seconds since the last pull ended (null before the first one). */
  pullAgeSeconds: number | null;
  lastPullError: string | null;
  /** Replica holding the pull lease, while it is valid. */
  leaseOwner: string | null;
  inbox: { pending: number; parked: number };
  /** Stock push outbox: listings waiting to be pushed, failed ones, and the oldest wait. */
  push: { pending: number; failed: number; oldestPendingSeconds: number | null };
  openExceptions: Record<string, number>;
  health: 'ok' | 'error' | 'not_connected';
}

export interface StatusReport {
  replicaId: string | null;
  database: string;
  inbox: InboxCounts;
  shops: ShopStatus[];
  generatedAt: string;
}

/** What the daemon reports about itself: per shop pull state, inbox depth, open exceptions. */
export async function statusReport(deps: {
  inv: Inventory;
  orders: Orders;
  shops: readonly { id: string; platform: string }[];
  connectors: ReadonlyMap<string, ShopConnector>;
  replicaId: string | undefined;
  database: string;
}): Promise<StatusReport> {
  const inbox = await deps.orders.inboxCounts();
  const rows = await deps.inv.transaction(async (tx) => ({
    shops: await tx.query<{
      id: string;
      last_pull_at: Date | string | null;
      age: number | null;
      last_pull_error: string | null;
      owner: string | null;
    }>(sql`
      SELECT id, last_pull_at, EXTRACT(EPOCH FROM now() - last_pull_at)::int AS age, last_pull_error,
             CASE WHEN lease_until > now() THEN lease_owner END AS owner
      FROM shop`),
    inbox: await tx.query<{ shop_id: string; status: string; n: number }>(sql`
      SELECT shop_id, status::text AS status, COUNT(*)::int AS n FROM inbox_event
      WHERE status IN ('pending', 'parked') GROUP BY 1, 2`),
    push: await tx.query<{ shop_id: string; pending: number; failed: number; oldest: number | null }>(sql`
      SELECT l.shop_id,
             COUNT(*) FILTER (WHERE p.status = 'pending')::int AS pending,
             COUNT(*) FILTER (WHERE p.status = 'failed')::int AS failed,
             EXTRACT(EPOCH FROM now() - MIN(p.desired_at) FILTER (WHERE p.status = 'pending'))::int AS oldest
      FROM stock_push p JOIN listing l ON l.id = p.listing_id GROUP BY l.shop_id`),
    exceptions: await tx.query<{ shop_id: string; kind: string; n: number }>(sql`
      SELECT shop_id, kind::text AS kind, COUNT(*)::int AS n FROM order_exception
      WHERE status = 'open' GROUP BY 1, 2`),
  }));
  const shops = deps.shops.map((s): ShopStatus => {
    const row = rows.shops.find((r) => r.id === s.id);
    const count = (status: string) =>
      rows.inbox.find((r) => r.shop_id === s.id && r.status === status)?.n ?? 0;
    const connected = deps.connectors.has(s.id);
    const error = row?.last_pull_error ?? null;
    return {
      id: s.id,
      platform: s.platform,
      connected,
      lastPullAt: row?.last_pull_at ? new Date(row.last_pull_at).toISOString() : null,
      pullAgeSeconds: row?.age ?? null,
      lastPullError: error,
      leaseOwner: row?.owner ?? null,
      inbox: { pending: count('pending'), parked: count('parked') },
      push: (() => {
        const p = rows.push.find((r) => r.shop_id === s.id);
        return { pending: p?.pending ?? 0, failed: p?.failed ?? 0, oldestPendingSeconds: p?.oldest ?? null };
      })(),
      openExceptions: Object.fromEntries(
        rows.exceptions.filter((e) => e.shop_id === s.id).map((e) => [e.kind, e.n]),
      ),
      health: !connected
        ? 'not_connected'
        : error || rows.push.some((p) => p.shop_id === s.id && p.failed > 0)
          ? 'error'
          : 'ok',
    };
  });
  return {
    replicaId: deps.replicaId ?? null,
    database: deps.database,
    inbox,
    shops,
    generatedAt: new Date().toISOString(),
  };
}
