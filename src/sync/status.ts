import { sql } from '../db/sql.js';
import type { Inventory } from '../inventory/index.js';
import type { Orders } from '../orders/index.js';
import type { InboxCounts } from '../orders/queries.js';
import type { ProcessStats } from '../process-stats.js';
import type { ShopConnector } from './shop-connectors.js';
import type { ShopGate } from './shop-gate.js';

export type ShopHealth = 'ok' | 'throttled' | 'error' | 'paused' | 'not_connected';

export interface ShopStatus {
  id: string;
  platform: string;
  /** False: no connector settings, so no webhooks or pulls (orders only by hand). */
  connected: boolean;
  health: ShopHealth;
  /** Set while the shop's sync is paused (credentials or configuration refused). */
  paused: { since: string; reason: string; by: 'system' | 'admin' } | null;
  /** The platform throttled us; no calls before this time (as seen by the lease holder). */
  throttledUntil: string | null;
  /** Replica holding the shop's lease (pulls, pushes, read-backs), while it is valid. */
  leaseOwner: string | null;
  pull: {
    /** End of the last pull that stored its cursor (the watermark moved). */
    lastAt: string | null;
    /** Seconds since then: how far behind the platform the watermark may be. */
    lagSeconds: number | null;
    lastError: string | null;
  };
  inbox: { pending: number; parked: number };
  push: {
    /** Listings waiting to be pushed, and the longest wait, in seconds. */
    pending: number;
    oldestPendingSeconds: number | null;
    /** Listings suspended after failing again and again (retried when their quantity changes). */
    suspended: number;
    synced: number;
    /** Stock change → platform acknowledgement over the last hour, in ms. */
    latencyMs: { p50: number | null; p95: number | null; max: number | null; count: number };
    lastPushAt: string | null;
    /** Listings whose platform value differed from what we expected at the last read-back. */
    drifted: number;
    /** Units held back: sold on the platform, orders not imported yet. */
    heldBack: number;
    /** Units held back by the channel's oversell buffer, over all listings. */
    buffered: number;
  };
  openExceptions: Record<string, number>;
}

export interface StatusReport {
  replicaId: string | null;
  database: string;
  /** PGlite runs in one process; PostgreSQL may have several replicas sharing the shops. */
  replicas: { id: string; seenSecondsAgo: number; shops: number }[];
  inbox: InboxCounts;
  shops: ShopStatus[];
  /** This process: memory, uptime, event-loop delay (see src/process-stats.ts). */
  process: ProcessStats | null;
  generatedAt: string;
}

const iso = (v: Date | string | null | undefined) => (v ? new Date(v).toISOString() : null);

/** What the daemon reports about itself (GET /status, /api/status and the status page). */
export async function statusReport(deps: {
  inv: Inventory;
  orders: Orders;
  shops: readonly { id: string; platform: string }[];
  connectors: ReadonlyMap<string, ShopConnector>;
  gates?: ReadonlyMap<string, ShopGate>;
  replicaId: string | undefined;
  database: string;
  process?: () => ProcessStats;
}): Promise<StatusReport> {
  const inbox = await deps.orders.inboxCounts();
  const rows = await deps.inv.transaction(async (tx) => ({
    shops: await tx.query<{
      id: string;
      last_pull_at: Date | string | null;
      lag: number | null;
      last_pull_error: string | null;
      owner: string | null;
      paused_at: Date | string | null;
      paused_reason: string | null;
      paused_by: string | null;
      throttled_until: Date | string | null;
    }>(sql`
      SELECT id, last_pull_at, EXTRACT(EPOCH FROM now() - last_pull_at)::int AS lag, last_pull_error,
             CASE WHEN lease_until > now() THEN lease_owner END AS owner, paused_at, paused_reason, paused_by,
             CASE WHEN throttled_until > now() THEN throttled_until END AS throttled_until
      FROM shop`),
    inbox: await tx.query<{ shop_id: string; status: string; n: number }>(sql`
      SELECT shop_id, status::text AS status, COUNT(*)::int AS n FROM inbox_event
      WHERE status IN ('pending', 'parked') GROUP BY 1, 2`),
    push: await tx.query<{
      shop_id: string;
      pending: number;
      failed: number;
      synced: number;
      oldest: number | null;
      drifted: number;
      held_back: number;
      buffered: number;
      last_push: Date | string | null;
    }>(sql`
      SELECT l.shop_id,
             -- Pending without a first unpushed change: in sync by our books, due for a read-back
             -- only (push-changes.ts): counted synced.
             COUNT(*) FILTER (WHERE p.status = 'pending' AND p.pending_since IS NOT NULL)::int AS pending,
             COUNT(*) FILTER (WHERE p.status = 'failed')::int AS failed,
             COUNT(*) FILTER (WHERE p.status = 'synced' OR (p.status = 'pending' AND p.pending_since IS NULL))::int AS synced,
             EXTRACT(EPOCH FROM now() - MIN(p.pending_since) FILTER (WHERE p.status = 'pending'))::int AS oldest,
             COUNT(*) FILTER (WHERE p.drift IS NOT NULL)::int AS drifted,
             COALESCE(SUM(p.held_back), 0)::int AS held_back,
             COALESCE(SUM(p.buffer), 0)::int AS buffered,
             MAX(p.pushed_at) AS last_push
      FROM stock_push p JOIN listing l ON l.id = p.listing_id GROUP BY l.shop_id`),
    latency: await tx.query<{
      shop_id: string;
      p50: number | null;
      p95: number | null;
      max: number | null;
      n: number;
    }>(sql`
      SELECT l.shop_id,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY p.latency_ms) AS p50,
             percentile_cont(0.95) WITHIN GROUP (ORDER BY p.latency_ms) AS p95,
             MAX(p.latency_ms) AS max, COUNT(*)::int AS n
      FROM stock_push p JOIN listing l ON l.id = p.listing_id
      WHERE p.pushed_at > now() - interval '1 hour' AND p.latency_ms IS NOT NULL
      GROUP BY l.shop_id`),
    exceptions: await tx.query<{ shop_id: string; kind: string; n: number }>(sql`
      SELECT shop_id, kind::text AS kind, COUNT(*)::int AS n FROM order_exception
      WHERE status = 'open' GROUP BY 1, 2`),
    replicas: await tx.query<{ id: string; ago: number; shops: number }>(sql`
      SELECT r.id, EXTRACT(EPOCH FROM now() - r.seen_at)::int AS ago,
             (SELECT COUNT(*)::int FROM shop s WHERE s.lease_owner = r.id AND s.lease_until > now()) AS shops
      FROM replica r ORDER BY r.started_at`),
  }));
  const shops = deps.shops.map((s): ShopStatus => {
    const row = rows.shops.find((r) => r.id === s.id);
    const count = (status: string) =>
      rows.inbox.find((r) => r.shop_id === s.id && r.status === status)?.n ?? 0;
    const connected = deps.connectors.has(s.id);
    const p = rows.push.find((r) => r.shop_id === s.id);
    const lat = rows.latency.find((r) => r.shop_id === s.id);
    const gateThrottle = deps.gates?.get(s.id)?.throttledUntil ?? null;
    const throttledUntil = iso(row?.throttled_until) ?? (gateThrottle ? gateThrottle.toISOString() : null);
    const paused = row?.paused_at
      ? {
          since: iso(row.paused_at)!,
          reason: row.paused_reason ?? '',
          by: row.paused_by === 'admin' ? ('admin' as const) : ('system' as const),
        }
      : null;
    const error = row?.last_pull_error ?? null;
    const round = (v: number | null | undefined) => (v === null || v === undefined ? null : Math.round(v));
    return {
      id: s.id,
      platform: s.platform,
      connected,
      health: !connected
        ? 'not_connected'
        : paused
          ? 'paused'
          : error || (p?.failed ?? 0) > 0
            ? 'error'
            : throttledUntil
              ? 'throttled'
              : 'ok',
      paused,
      throttledUntil,
      leaseOwner: row?.owner ?? null,
      pull: { lastAt: iso(row?.last_pull_at), lagSeconds: row?.lag ?? null, lastError: error },
      inbox: { pending: count('pending'), parked: count('parked') },
      push: {
        pending: p?.pending ?? 0,
        oldestPendingSeconds: p?.oldest ?? null,
        suspended: p?.failed ?? 0,
        synced: p?.synced ?? 0,
        latencyMs: { p50: round(lat?.p50), p95: round(lat?.p95), max: round(lat?.max), count: lat?.n ?? 0 },
        lastPushAt: iso(p?.last_push),
        drifted: p?.drifted ?? 0,
        heldBack: p?.held_back ?? 0,
        buffered: p?.buffered ?? 0,
      },
      openExceptions: Object.fromEntries(
        rows.exceptions.filter((e) => e.shop_id === s.id).map((e) => [e.kind, e.n]),
      ),
    };
  });
  return {
    replicaId: deps.replicaId ?? null,
    database: deps.database,
    replicas: rows.replicas.map((r) => ({ id: r.id, seenSecondsAgo: r.ago, shops: r.shops })),
    inbox,
    shops,
    process: deps.process?.() ?? null,
    generatedAt: new Date().toISOString(),
  };
}
