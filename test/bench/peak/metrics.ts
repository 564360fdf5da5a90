/**
 * What a run did, read from its database after the daemon stopped, plus the driver's own
 * timings: intake over the sustained window, latencies, oversell, rows written per order, and
 * the ledger invariants.
 */
import type { Db, SqlSession } from '../../../src/db/client.js';
import { createInventory } from '../../../src/inventory/index.js';
import type { CatalogPlan } from './catalog.js';
import type { DriveResult, PlacedOrder } from './driver.js';
import type { BenchShop } from './shops.js';

export interface Percentiles {
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

export function percentiles(values: readonly number[]): Percentiles {
  if (values.length === 0) return { count: 0, p50: null, p95: null, p99: null, max: null };
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
  const r = (v: number) => Math.round(v * 10) / 10;
  return { count: s.length, p50: r(at(0.5)), p95: r(at(0.95)), p99: r(at(0.99)), max: r(s.at(-1)!) };
}

/** Rows inserted, updated and deleted per table (pg_stat_user_tables), for a before/after delta. */
export type TableWrites = Record<string, { ins: number; upd: number; del: number }>;

export async function tableWrites(s: SqlSession): Promise<TableWrites> {
  const rows = await s.query<{ relname: string; ins: number; upd: number; del: number }>(
    `SELECT relname, n_tup_ins::int AS ins, n_tup_upd::int AS upd, n_tup_del::int AS del FROM pg_stat_user_tables`,
  );
  return Object.fromEntries(rows.map((r) => [r.relname, { ins: r.ins, upd: r.upd, del: r.del }]));
}

export function writesDelta(before: TableWrites, after: TableWrites): TableWrites {
  const out: TableWrites = {};
  for (const [t, a] of Object.entries(after)) {
    const b = before[t] ?? { ins: 0, upd: 0, del: 0 };
    const d = { ins: a.ins - b.ins, upd: a.upd - b.upd, del: a.del - b.del };
    if (d.ins || d.upd || d.del) out[t] = d;
  }
  return out;
}

export interface RunMetrics {
  windowSeconds: number;
  intake: {
    /** Orders first applied (sales_order created) in the sustained window, per second. */
    ordersAppliedPerS: number;
    /** Orders with stock reserved in the window (a reservation row created), per second. */
    ordersReservedPerS: number;
    /** Order lines with stock reserved in the window, per second. */
    linesReservedPerS: number;
    /** Inbox events processed in the window, per second (webhooks and pulled pages' orders, replays too). */
    eventsProcessedPerS: number;
    /** Orders placed on the platforms in the window, per second. */
    ordersPlacedPerS: number;
  };
  /** Webhook accepted (inbox_event.received_at) -> applied with its stock (processed_at), ms. */
  intakeToReservedMs: Percentiles;
  /** Order placed on the platform -> first applied, by how it arrived, ms. */
  placedToAppliedMs: { webhook: Percentiles; pull: Percentiles };
  /** Orders placed in the window never applied by the end of the drain. */
  notImported: number;
  ordersByStatus: Record<string, number>;
  inbox: Record<string, number>;
  exceptions: Record<string, { open: number; resolved: number; units: number }>;
  oversell: {
    /** Units of open oversell exceptions (the ledger's shortfalls), all SKUs. */
    units: number;
    lines: number;
    byScarceSku: Record<
      string,
      {
        opening: number;
        /** Units the platforms sold (the driver's count, net of cancellations). */
        platformSold: number;
        /** Of those, units beyond the opening stock: the oversell exposure. */
        platformBeyondStock: number;
        /** Units in the imported, non-cancelled orders of the SKU. */
        importedSold: number;
        /** Units of open oversell exceptions on this SKU (the ledger's shortfalls, as far as imported). */
        exceptionUnits: number;
      }
    >;
  };
  /** Rows written per order applied (PostgreSQL statistics; null on PGlite). */
  rowsPerOrder: Record<string, { ins: number; upd: number; del: number }> | null;
  transactionsPerOrder: number | null;
  /** Reservation lines per order with stock reserved. */
  linesPerReservedOrder: number;
  verify: { ok: boolean; checkedLevels: number; violations: number; first: unknown };
}

const num = (v: unknown) => Number(v ?? 0);

export async function analyseRun(options: {
  db: Db;
  plan: CatalogPlan;
  shops: readonly BenchShop[];
  drive: DriveResult;
  writesBefore: TableWrites | null;
  commitsBefore: number | null;
}): Promise<RunMetrics> {
  const { db, plan, drive } = options;
  const w0 = new Date(drive.window.start);
  const w1 = new Date(drive.window.end);
  const seconds = (drive.window.end - drive.window.start) / 1000;
  const report = await createInventory(db).verify();
  return db.withSession(async (s) => {
    const [intake] = await s.query<Record<string, unknown>>(
      `SELECT
        (SELECT count(*) FROM sales_order WHERE created_at >= $1 AND created_at < $2) AS orders,
        (SELECT count(DISTINCT substring(line_key from '^[^:]*:[^:]*')) FROM reservation
           WHERE created_at >= $1 AND created_at < $2) AS reserved_orders,
        (SELECT count(DISTINCT line_key) FROM reservation WHERE created_at >= $1 AND created_at < $2) AS lines,
        (SELECT count(*) FROM inbox_event WHERE processed_at >= $1 AND processed_at < $2) AS events,
        (SELECT count(DISTINCT line_key) FROM reservation) AS all_lines,
        (SELECT count(DISTINCT substring(line_key from '^[^:]*:[^:]*')) FROM reservation) AS all_orders`,
      [w0, w1],
    );
    const latency = await s.query<{ ms: number }>(
      `SELECT EXTRACT(EPOCH FROM processed_at - received_at) * 1000 AS ms FROM inbox_event
       WHERE source = 'webhook' AND status = 'done' AND received_at >= $1 AND received_at < $2`,
      [w0, w1],
    );
    const applied = await s.query<{ shop_id: string; platform_order_id: string; created_at: Date | string }>(
      `SELECT shop_id, platform_order_id, created_at FROM sales_order`,
    );
    const appliedAt = new Map(
      applied.map((r) => [`${r.shop_id}:${r.platform_order_id}`, new Date(r.created_at).getTime()]),
    );
    const byMode: Record<PlacedOrder['mode'], number[]> = { webhook: [], pull: [] };
    let notImported = 0;
    for (const o of drive.orders) {
      if (o.at < drive.window.start || o.at >= drive.window.end) continue;
      const at = appliedAt.get(`${options.shops[o.shop]!.id}:${o.id}`);
      if (at === undefined) notImported++;
      else byMode[o.mode].push(Math.max(0, at - o.at));
    }
    const statusRows = await s.query<{ status: string; n: number }>(
      `SELECT status::text AS status, count(*)::int AS n FROM sales_order GROUP BY 1 ORDER BY 1`,
    );
    const inboxRows = await s.query<{ k: string; n: number }>(
      `SELECT source || ':' || status::text AS k, count(*)::int AS n FROM inbox_event GROUP BY 1 ORDER BY 1`,
    );
    const exRows = await s.query<{ kind: string; status: string; n: number; units: number }>(
      `SELECT kind::text AS kind, status::text AS status, count(*)::int AS n, COALESCE(sum(quantity), 0)::int AS units
       FROM order_exception GROUP BY 1, 2`,
    );
    const exceptions: RunMetrics['exceptions'] = {};
    for (const r of exRows) {
      const e = exceptions[r.kind] ?? { open: 0, resolved: 0, units: 0 };
      exceptions[r.kind] = e;
      if (r.status === 'open') {
        e.open += r.n;
        e.units += r.units;
      } else e.resolved += r.n;
    }
    const overRows = await s.query<{ code: string; units: number; lines: number }>(
      `SELECT s.code, COALESCE(sum(e.quantity), 0)::int AS units, count(*)::int AS lines
       FROM order_exception e
       JOIN sales_order o ON o.shop_id = e.shop_id AND o.platform_order_id = e.platform_order_id
       JOIN sales_order_line l ON l.order_id = o.id AND l.line_id = e.line_id
       JOIN sku s ON s.id = l.sku_id
       WHERE e.kind = 'oversell' AND e.status = 'open' GROUP BY s.code`,
    );
    const soldRows = await s.query<{ code: string; sold: number }>(
      `SELECT s.code, COALESCE(sum(l.quantity * l.units_per_item), 0)::int AS sold
       FROM sales_order_line l JOIN sales_order o ON o.id = l.order_id JOIN sku s ON s.id = l.sku_id
       WHERE s.code = ANY($1::text[]) AND o.status <> 'cancelled' GROUP BY s.code`,
      [plan.scarce],
    );
    const byScarceSku: RunMetrics['oversell']['byScarceSku'] = {};
    for (const code of plan.scarce) {
      const opening = plan.byCode.get(code)!.opening;
      const platformSold = drive.counts.scarceUnitsSold[code] ?? 0;
      byScarceSku[code] = {
        opening,
        platformSold,
        platformBeyondStock: Math.max(0, platformSold - opening),
        importedSold: soldRows.find((r) => r.code === code)?.sold ?? 0,
        exceptionUnits: overRows.find((r) => r.code === code)?.units ?? 0,
      };
    }
    let rowsPerOrder: RunMetrics['rowsPerOrder'] = null;
    let transactionsPerOrder: number | null = null;
    const ordersTotal = applied.length;
    if (db.kind === 'postgres' && options.writesBefore && ordersTotal > 0) {
      const delta = writesDelta(options.writesBefore, await tableWrites(s));
      rowsPerOrder = {};
      for (const [t, d] of Object.entries(delta)) {
        const r = (v: number) => Math.round((v / ordersTotal) * 100) / 100;
        rowsPerOrder[t] = { ins: r(d.ins), upd: r(d.upd), del: r(d.del) };
      }
      const [c] = await s.query<{ commits: number }>(
        `SELECT xact_commit::float8 AS commits FROM pg_stat_database WHERE datname = current_database()`,
      );
      if (c && options.commitsBefore !== null)
        transactionsPerOrder = Math.round(((c.commits - options.commitsBefore) / ordersTotal) * 100) / 100;
    }
    const per = (n: unknown) => Math.round((num(n) / seconds) * 10) / 10;
    return {
      windowSeconds: seconds,
      intake: {
        ordersAppliedPerS: per(intake!.orders),
        ordersReservedPerS: per(intake!.reserved_orders),
        linesReservedPerS: per(intake!.lines),
        eventsProcessedPerS: per(intake!.events),
        ordersPlacedPerS: per(drive.counts.placedInWindow),
      },
      intakeToReservedMs: percentiles(latency.map((r) => Number(r.ms))),
      placedToAppliedMs: { webhook: percentiles(byMode.webhook), pull: percentiles(byMode.pull) },
      notImported,
      ordersByStatus: Object.fromEntries(statusRows.map((r) => [r.status, r.n])),
      inbox: Object.fromEntries(inboxRows.map((r) => [r.k, r.n])),
      exceptions,
      oversell: {
        units: overRows.reduce((a, r) => a + r.units, 0),
        lines: overRows.reduce((a, r) => a + r.lines, 0),
        byScarceSku,
      },
      rowsPerOrder,
      transactionsPerOrder,
      linesPerReservedOrder:
        num(intake!.all_orders) > 0
          ? Math.round((num(intake!.all_lines) / num(intake!.all_orders)) * 100) / 100
          : 0,
      verify: {
        ok: report.ok,
        checkedLevels: report.checkedLevels,
        violations: report.violations.length,
        first: report.violations[0] ?? null,
      },
    };
  });
}
