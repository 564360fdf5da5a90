/**
 * The end-of-run checks of the chaos run, on the database of the stopped daemon, against what the
 * platforms hold (read through our own connectors: the "truth").
 *
 * Why these are exact: every shop reserves when an order is placed (as the sandboxes take their
 * units) and restocks on receipt, every listing is one unit of one simple SKU in the one
 * warehouse, opening stock is ample and nothing else writes stock. So from the platforms' final orders alone, `lineStockTargets` (the same pure function
 * the daemon applies, fed the platform's revision rather than the stored one) says for every
 * order line how many units must be held, consumed and restocked; per SKU, on hand must be
 * opening - shipped + restocked and reserved the sum of the holds. A webhook applied twice, a
 * cancellation lost or applied to a stale revision, a consumption booked twice or a crash
 * between two writes of one order all break one of these equalities. An oversell (open
 * exception) is allowed only when it explains the difference unit for unit.
 */
import type { ListingRef, SandboxSession } from '../../connectors/contract.js';
import { openDatabase } from '../../src/db/client.js';
import { type CanonicalOrder, compareRevisions, parseCanonicalOrder } from '../../src/domain/order.js';
import { lineStockTargets, type StockPolicy } from '../../src/domain/order-stock.js';
import { createInventory } from '../../src/inventory/index.js';
import { type BadKind, FAKE_DELIVERY_MARK, FAKE_ORDER_MARK } from './bad-webhooks.js';
import type { DaemonEvent } from './daemon-process.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  /** The first violations found (at most 50 listed). */
  violations: string[];
}

export interface CheckInput {
  databaseUrl: string;
  shops: readonly { id: string; session: SandboxSession; catalog: ReturnType<SandboxSession['catalog']> }[];
  truth: ReadonlyMap<string, ReadonlyMap<string, CanonicalOrder>>;
  openingStock: number;
  bad: readonly { shopId: string; kind: BadKind; status: number }[];
  expectedBadStatus: Record<BadKind, number>;
  finalStop: { code: number | null; signal: string | null; forced: boolean };
  /** Exits the driver did not cause, outside the PostgreSQL restart's window. */
  crashes: readonly DaemonEvent[];
}

/** The policy of every chaos shop (see the config in driver.ts). */
const POLICY: StockPolicy = { reserveOn: 'created', restockOn: 'receipt' };
const MAX_LISTED = 50;

export async function runChecks(
  input: CheckInput,
): Promise<{ checks: CheckResult[]; inbox: Record<string, number> }> {
  const db = await openDatabase(input.databaseUrl, { poolSize: 2 });
  try {
    const q = <T>(text: string) => db.withSession((s) => s.query<T>(text));
    const checks: CheckResult[] = [];
    const check = (name: string, detail: string, violations: string[]) =>
      checks.push({ name, ok: violations.length === 0, detail, violations: violations.slice(0, MAX_LISTED) });

    // -- the catalog: listing -> SKU code, from the database --------------------------------------
    const listings = await q<{
      shop_id: string;
      platform_item_id: string;
      platform_sku_id: string;
      stock_ref: string | null;
      stock_location: string | null;
      units_per_item: number;
      code: string;
    }>(`SELECT l.shop_id, l.platform_item_id, l.platform_sku_id, l.stock_ref, l.stock_location, l.units_per_item, s.code
        FROM listing l JOIN sku s ON s.id = l.sku_id`);
    const skuOfLine = new Map(
      listings.map((l) => [`${l.shop_id}:${l.platform_item_id}:${l.platform_sku_id}`, l.code]),
    );

    // -- 1. every platform order exactly once, 2. with the platform's final revision --------------
    const rows = await q<{ shop_id: string; platform_order_id: string; status: string; data: unknown }>(
      `SELECT shop_id, platform_order_id, status::text AS status, data FROM sales_order`,
    );
    const stored = new Map<string, { status: string; order: CanonicalOrder | undefined }[]>();
    for (const r of rows) {
      const parsed = parseCanonicalOrder(r.data);
      const k = `${r.shop_id}:${r.platform_order_id}`;
      stored.set(k, [
        ...(stored.get(k) ?? []),
        { status: r.status, order: parsed.ok ? parsed.order : undefined },
      ]);
    }
    const once: string[] = [];
    const statusWrong: string[] = [];
    let total = 0;
    for (const [shopId, orders] of input.truth) {
      for (const [id, t] of orders) {
        total++;
        const got = stored.get(`${shopId}:${id}`) ?? [];
        if (got.length !== 1) {
          once.push(`${shopId} order ${id} (${t.status}) is in sales_order ${got.length} times`);
          continue;
        }
        const s = got[0]!;
        if (!s.order) {
          statusWrong.push(`${shopId} order ${id}: stored data no longer validates`);
          continue;
        }
        const cmp = compareRevisions(t, s.order);
        if (s.status !== t.status || cmp.result !== 'same')
          statusWrong.push(
            `${shopId} order ${id}: stored ${s.status} (modified ${s.order.platformModifiedAt}), ` +
              `platform ${t.status} (modified ${t.platformModifiedAt}): platform revision is ${cmp.result} by ${cmp.by}`,
          );
      }
    }
    for (const k of stored.keys()) {
      const [shopId, ...rest] = k.split(':');
      if (!input.truth.get(shopId!)?.has(rest.join(':')))
        once.push(`${k} is in sales_order but not on its platform`);
    }
    check('orders exactly once', `${total} platform orders, ${rows.length} sales_order rows`, once);
    const cancelled = [...input.truth.values()]
      .flatMap((m) => [...m.values()])
      .filter((o) => o.status === 'cancelled');
    check(
      'final status',
      `stored revision == platform's (status and modified time); ${cancelled.length} cancelled`,
      statusWrong,
    );

    // -- 3. every order line's stock, 4. every SKU's balance -----------------------------------
    const reservations = await q<{ line_key: string; status: string; q: number }>(
      `SELECT line_key, status::text AS status, SUM(quantity)::int AS q FROM reservation GROUP BY 1, 2`,
    );
    const resv = new Map<string, Record<string, number>>();
    for (const r of reservations) resv.set(r.line_key, { ...(resv.get(r.line_key) ?? {}), [r.status]: r.q });
    const movements = await q<{ reference: string | null; kind: string; q: number; n: number }>(
      `SELECT reference, kind::text AS kind, SUM(quantity)::int AS q, COUNT(*)::int AS n FROM stock_movement GROUP BY 1, 2`,
    );
    const moved = new Map(movements.map((m) => [`${m.kind}:${m.reference}`, m.q]));
    const oversells = new Map(
      (
        await q<{ subject: string; quantity: number }>(
          `SELECT subject, quantity FROM order_exception WHERE kind = 'oversell' AND status = 'open'`,
        )
      ).map((e) => [e.subject, e.quantity]),
    );
    const lineIssues: string[] = [];
    const perSku = new Map<string, { hold: number; shipped: number; restocked: number; short: number }>();
    let lines = 0;
    for (const [shopId, orders] of input.truth) {
      for (const o of orders.values()) {
        const targets = lineStockTargets(o, POLICY);
        for (const t of targets) {
          lines++;
          const line = o.lines.find((l) => l.lineId === t.lineId)!;
          const key = `${shopId}:${o.platformOrderId}:${t.lineId}`;
          const code = skuOfLine.get(`${shopId}:${line.platformItemId}:${line.platformSkuId ?? ''}`);
          if (!code) {
            lineIssues.push(`${key}: item ${line.platformItemId}/${line.platformSkuId ?? ''} maps to no SKU`);
            continue;
          }
          const r = resv.get(key) ?? {};
          const active = r.active ?? 0;
          const consumed = r.consumed ?? 0;
          const released = r.released ?? 0;
          const short = oversells.get(key) ?? 0;
          const shipMoves = -(moved.get(`shipment:${key}`) ?? 0);
          const returned = moved.get(`return:${key}`) ?? 0;
          const problems: string[] = [];
          if (short === 0 && (active !== t.hold || consumed !== t.shipped))
            problems.push(`holds ${active}/${t.hold}, consumed ${consumed}/${t.shipped}`);
          if (
            short > 0 &&
            (active > t.hold || consumed > t.shipped || t.hold - active + t.shipped - consumed !== short)
          )
            problems.push(`holds ${active}/${t.hold}, consumed ${consumed}/${t.shipped}, oversell ${short}`);
          if (returned !== t.restocked) problems.push(`restocked ${returned}/${t.restocked}`);
          if (shipMoves !== consumed)
            problems.push(`shipment movements ${shipMoves} != consumed ${consumed}`);
          if (active + consumed + released > line.quantity)
            problems.push(
              `reserved ${active + consumed + released} in all for ${line.quantity} ordered (held twice)`,
            );
          if (problems.length > 0) lineIssues.push(`${key} (${o.status}): ${problems.join('; ')}`);
          const agg = perSku.get(code) ?? { hold: 0, shipped: 0, restocked: 0, short: 0 };
          agg.hold += t.hold;
          agg.shipped += t.shipped;
          agg.restocked += t.restocked;
          agg.short += short;
          perSku.set(code, agg);
        }
      }
    }
    if (listings.some((l) => l.units_per_item !== 1)) lineIssues.push('a listing is not 1 unit per item');
    check(
      'line stock',
      `${lines} order lines: held / consumed / restocked == lineStockTargets(platform order); never held twice`,
      lineIssues,
    );
    const levels = await q<{ code: string; on_hand: number; reserved: number }>(
      `SELECT s.code, l.on_hand, l.reserved FROM stock_level l JOIN sku s ON s.id = l.sku_id
       JOIN warehouse w ON w.id = l.warehouse_id WHERE w.code = 'MAIN'`,
    );
    const skuIssues: string[] = [];
    for (const l of levels) {
      const a = perSku.get(l.code) ?? { hold: 0, shipped: 0, restocked: 0, short: 0 };
      const onHand = input.openingStock - a.shipped + a.restocked;
      const reserved = a.hold - a.short;
      if (l.on_hand !== onHand || l.reserved !== reserved)
        skuIssues.push(
          `${l.code}: on hand ${l.on_hand} (expected ${onHand}), reserved ${l.reserved} (expected ${reserved})`,
        );
    }
    check(
      'sku balances',
      `${levels.length} SKUs: on hand == opening - shipped + restocked, reserved == sum of holds (from the platforms' orders)`,
      skuIssues,
    );

    // -- 5. no movement applied twice ---------------------------------------------------------
    const [keys] = await q<{ n: number; d: number }>(
      `SELECT COUNT(*)::int AS n, COUNT(DISTINCT idempotency_key)::int AS d FROM stock_movement`,
    );
    const moveIssues: string[] = [];
    if (keys!.n !== keys!.d) moveIssues.push(`${keys!.n - keys!.d} movements share an idempotency key`);
    const receipts = movements.filter((m) => m.kind === 'receipt');
    const receiptUnits = receipts.reduce((n, m) => n + m.q, 0);
    const receiptRows = receipts.reduce((n, m) => n + m.n, 0);
    if (receiptRows !== levels.length || receiptUnits !== levels.length * input.openingStock)
      moveIssues.push(`${receiptRows} receipts of ${receiptUnits} units for ${levels.length} SKUs`);
    for (const m of movements)
      if (!['receipt', 'shipment', 'return'].includes(m.kind))
        moveIssues.push(`${m.n} unexpected ${m.kind} movement(s) (reference ${m.reference})`);
    check(
      'movements once',
      `${keys!.n} movements, idempotency keys unique; one opening receipt per SKU; shipments/returns per line above`,
      moveIssues,
    );

    // -- 6. the ledger's own invariants -------------------------------------------------------
    const verify = await createInventory(db).verify();
    check(
      'db:verify',
      `${verify.checkedLevels} stock levels`,
      verify.violations.map((v) => `${v.rule} ${v.skuCode}: expected ${v.expected}, found ${v.actual}`),
    );

    // -- 7. inbox ------------------------------------------------------------------------------
    const inboxRows = await q<{ status: string; source: string; n: number }>(
      `SELECT status::text AS status, source, COUNT(*)::int AS n FROM inbox_event GROUP BY 1, 2`,
    );
    const inbox: Record<string, number> = {};
    for (const r of inboxRows) {
      inbox[r.status] = (inbox[r.status] ?? 0) + r.n;
      inbox[`source:${r.source}`] = (inbox[`source:${r.source}`] ?? 0) + r.n;
    }
    const parked = await q<{ id: string; shop_id: string; last_error: string | null; attempts: number }>(
      `SELECT id::text AS id, shop_id, last_error, attempts FROM inbox_event WHERE status <> 'done' ORDER BY id`,
    );
    check(
      'inbox drained',
      `${Object.entries(inbox)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
      parked.map(
        (p) => `event ${p.id} (${p.shop_id}) not done after ${p.attempts} attempts: ${p.last_error}`,
      ),
    );

    // -- 8. bad deliveries refused, and no trace of them ---------------------------------------
    const badIssues: string[] = [];
    let unanswered = 0;
    for (const b of input.bad) {
      if (b.status === 0 || b.status >= 500) unanswered++;
      else if (b.status !== input.expectedBadStatus[b.kind])
        badIssues.push(
          `${b.shopId} ${b.kind}: answered ${b.status}, expected ${input.expectedBadStatus[b.kind]}`,
        );
    }
    const [trace] = await q<{ inbox: number; orders: number; exceptions: number }>(`
      SELECT (SELECT COUNT(*)::int FROM inbox_event
              WHERE dedupe_key LIKE '%${FAKE_DELIVERY_MARK}%' OR payload::text LIKE '%${FAKE_ORDER_MARK}%') AS inbox,
             (SELECT COUNT(*)::int FROM sales_order WHERE platform_order_id LIKE '${FAKE_ORDER_MARK}%') AS orders,
             (SELECT COUNT(*)::int FROM order_exception WHERE platform_order_id LIKE '${FAKE_ORDER_MARK}%') AS exceptions`);
    if (trace!.inbox + trace!.orders + trace!.exceptions > 0)
      badIssues.push(`bad deliveries left a trace: ${JSON.stringify(trace)}`);
    check(
      'bad deliveries refused',
      `${input.bad.length} sent, ${input.bad.length - unanswered - badIssues.length} refused as expected (401 signature, 400 body)` +
        (unanswered ? `, ${unanswered} never answered (daemon down)` : ''),
      badIssues,
    );

    // -- 9. every platform shows what the ledger wants ----------------------------------------
    const pushes = await q<{
      shop_id: string;
      code: string;
      stock_ref: string | null;
      stock_location: string | null;
      desired: number | null;
      status: string | null;
      held_back: number | null;
      pushed: number | null;
      pushed_at: string | null;
    }>(`SELECT l.shop_id, s.code, l.stock_ref, l.stock_location, p.desired,
               -- Pending with no unpushed change: in sync, its read-back due (push-changes.ts), as
               -- the status page and GET /api/push count it.
               CASE WHEN p.status = 'pending' AND p.pending_since IS NULL THEN 'synced' ELSE p.status::text END AS status,
               p.held_back,
               p.pushed, p.pushed_at::text AS pushed_at
        FROM listing l JOIN sku s ON s.id = l.sku_id LEFT JOIN stock_push p ON p.listing_id = l.id`);
    const ats = new Map(levels.map((l) => [l.code, l.on_hand - l.reserved]));
    const pushIssues: string[] = [];
    let heldBack = 0;
    for (const p of pushes) {
      const session = input.shops.find((s) => s.id === p.shop_id)!.session;
      const ref: ListingRef = {
        listingId: p.stock_ref!,
        ...(p.stock_location ? { locationId: p.stock_location } : {}),
      };
      const shows = session.quantity(ref);
      heldBack += p.held_back ?? 0;
      // Platforms without compare-and-set (not Shopify) read back, then write an absolute value:
      // a sale of their own between the two can leave them below the ledger: under-listing,
      // never overselling (see driver.ts).
      const exact = p.shop_id.startsWith('shopify');
      if (
        p.status !== 'synced' ||
        p.desired !== ats.get(p.code) ||
        (exact ? shows !== p.desired : shows > p.desired)
      ) {
        // Evidence: the last quantities the platform accepted for this listing, oldest first.
        const history = session
          .stockPushes()
          .filter(
            (x) =>
              x.listing.listingId === ref.listingId &&
              (x.listing.locationId ?? null) === (ref.locationId ?? null),
          )
          .slice(-4)
          .map((x) => x.quantity);
        // Every order of every platform is in the ledger by now (checked above), so no unit can
        // be "sold there, not imported yet": held-back units are unexplained.
        const unexplained =
          p.held_back && p.desired !== null && p.desired - shows === p.held_back
            ? ' (all of them: no order is left to import, so nothing explains them)'
            : '';
        pushIssues.push(
          `${p.shop_id} ${p.code}: ${p.status ?? 'no push row'}, desired ${p.desired}, ATS ${ats.get(p.code)}, ` +
            `platform shows ${shows}${p.held_back ? `, held back ${p.held_back}${unexplained}` : ''}; ` +
            `last pushes accepted by the platform: ${history.join(' -> ')}; pushed ${p.pushed} at ${p.pushed_at}`,
        );
      }
    }
    check(
      'platforms converged',
      `${pushes.length} listings: synced, desired == ATS, platform quantity == desired; ${heldBack} units held back`,
      pushIssues,
    );

    // -- 10. exceptions, 11. the daemon itself ------------------------------------------------
    const exceptions = await q<{ kind: string; n: number }>(
      `SELECT kind::text AS kind, COUNT(*)::int AS n FROM order_exception WHERE status = 'open' GROUP BY 1`,
    );
    check(
      'no unmapped or parked',
      `open exceptions: ${exceptions.map((e) => `${e.kind} ${e.n}`).join(', ') || 'none'}`,
      exceptions
        .filter((e) => e.kind === 'unmapped_sku' || e.kind === 'parked_event')
        .map((e) => `${e.n} open ${e.kind}`),
    );
    const daemonIssues = input.crashes.map(
      (c) =>
        `daemon pid ${c.pid} exited by itself at ${Math.round(c.at / 1000)} s (code ${c.code}, signal ${c.signal})` +
        (c.lastError ? `: ${c.lastError}` : ''),
    );
    if (input.finalStop.code !== 0 || input.finalStop.forced)
      daemonIssues.push(`final SIGTERM: exit ${JSON.stringify(input.finalStop)}, expected code 0`);
    check(
      'daemon stable',
      'no exit the driver did not cause (outside the PostgreSQL restart); clean stop',
      daemonIssues,
    );
    return { checks, inbox };
  } finally {
    await db.close();
  }
}
