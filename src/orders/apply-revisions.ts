import { randomUUID } from 'node:crypto';
import { sql } from '../db/sql.js';
import { lineStockTargets } from '../domain/order-stock.js';
import { apportionOrder } from '../domain/promotions.js';
import type { Inventory } from '../inventory/index.js';
import type { Tx } from '../inventory/tx.js';
import {
  type ApplyOutcome,
  type ApplyResult,
  againstStored,
  type LineLedger,
  ledgerStates,
  NO_HOLDINGS,
  oversellException,
  ownSales,
  parseStored,
  recordOwnSales,
  type StockEffect,
  storeLines,
  storeOrders,
} from './apply.js';
import { type BatchOrder, mappedTargets } from './apply-batch.js';
import { raiseException, type Settlement, settleExceptions } from './exceptions.js';
import { type LineSku, mapOrders } from './listings.js';

/** One mapped line of a revision, with its plan: what to settle whole and what to hold. */
interface PlannedLine {
  lineId: string;
  lineKey: string;
  sku: LineSku;
  /** Targets in SKU units: units shipped, units to hold. */
  shipped: number;
  want: number;
  settle?: { action: 'consume' | 'release'; key: string; quantity: number };
  /** Units to reserve for the hold, and its key. */
  reserve?: { key: string; quantity: number };
  /** Units held after the settlement, and of those, reserved now. */
  held: number;
  got: number;
}

interface Revision extends BatchOrder {
  index: number;
  id: string;
  outcome: ApplyOutcome;
  previous: ReturnType<typeof parseStored>;
  skus: Map<string, LineSku>;
  amounts: ReturnType<typeof apportionOrder>['lines'];
  lines: PlannedLine[];
}

/**
 * Applies, together, revisions of orders the ledger holds already, in the caller's transaction,
 * in a fixed number of statements however many orders there are. The result is what
 * {@link applyOrder} gives each of them on its own: same rows, reservation keys and stored
 * results, same exceptions settled or raised.
 *
 * It takes the common cases at a peak: a status change (paid, shipped, cancelled) or a replay,
 * of an order whose lines all map (to simple SKUs or bundles), whose amounts add up and which
 * returned nothing, where each line ships or gives back every unit it holds, or holds more.
 * Anything else (a partial cancellation, units shipped beyond what was held, a line whose SKU
 * changed, a bundle line whose components hold other than whole line units, a return) is left
 * out of the result for the caller to apply one by one, as are
 * orders not stored yet. Within one call only the first revision of an order is taken. The
 * orders' rows are locked in id order. Returns the results by position in `orders`.
 */
export async function applyRevisions(
  tx: Tx,
  inv: Inventory,
  orders: readonly BatchOrder[],
  now: Date,
): Promise<Map<number, ApplyResult>> {
  const out = new Map<number, ApplyResult>();
  const first = new Map<string, number>();
  for (const [index, { shop, order }] of orders.entries()) {
    const key = `${shop.id}:${order.platformOrderId}`;
    if (!first.has(key)) first.set(key, index);
  }
  if (first.size === 0) return out;
  const wanted = [...first.values()].map((i) => orders[i]!);
  const rows = await tx.query<{ id: string; shop_id: string; platform_order_id: string; data: unknown }>(sql`
    SELECT s.id::text AS id, s.shop_id, s.platform_order_id, s.data FROM sales_order s
    JOIN unnest(${wanted.map((o) => o.shop.id)}::text[], ${wanted.map((o) => o.order.platformOrderId)}::text[])
      AS t(shop_id, order_id) ON s.shop_id = t.shop_id AND s.platform_order_id = t.order_id
    ORDER BY s.id
    FOR UPDATE OF s`);
  if (rows.length === 0) return out;

  const found: Omit<Revision, 'skus' | 'lines'>[] = [];
  for (const row of rows) {
    const index = first.get(`${row.shop_id}:${row.platform_order_id}`)!;
    const { shop, order: incoming } = orders[index]!;
    let stored: ReturnType<typeof parseStored>;
    try {
      stored = parseStored(row.data);
    } catch {
      continue; // one by one, it fails on its own and is retried, then parked, with the reason
    }
    const { outcome, order } = againstStored(incoming, stored);
    const amounts = apportionOrder(order);
    if (amounts.issues.length > 0) continue;
    found.push({ index, id: row.id, shop, order, outcome, previous: stored, amounts: amounts.lines });
  }
  const mapped = await mapOrders(
    tx,
    found.map((f) => ({ shopId: f.shop.id, lines: f.order.lines, matchOuterId: f.shop.matchOuterId })),
  );
  const candidates: Revision[] = [];
  for (const [k, f] of found.entries()) {
    const skus = mapped[k]!;
    if (!f.order.lines.every((l) => skus.has(l.lineId))) continue;
    const targets = lineStockTargets(f.order, f.shop, now);
    if (targets.some((t) => t.restocked > 0)) continue;
    const lines = mappedTargets(f.shop.id, f.order, targets, skus).map(
      ({ ship, hold, ...l }): PlannedLine => ({ ...l, shipped: ship, want: hold, held: 0, got: 0 }),
    );
    candidates.push({ ...f, skus, lines });
  }
  const ledger = await ledgerStates(
    tx,
    candidates.flatMap((c) => c.lines.map((l) => l.lineKey)),
  );
  const taken = candidates.filter((c) => c.lines.every((l) => plan(l, ledger.get(l.lineKey))));
  if (taken.length === 0) return out;

  // Units go to orders in the order they arrived, as one by one.
  taken.sort((a, b) => a.index - b.index);
  await storeOrders(
    tx,
    taken.filter((t) => t.outcome === 'updated').map((t) => ({ id: t.id, order: t.order })),
  );
  await storeLines(
    tx,
    taken.map((t) => ({ orderId: t.id, order: t.order, amounts: t.amounts, skus: t.skus })),
  );
  await inv.reservations.settleWholeLines(
    tx,
    taken.flatMap((t) =>
      t.lines.flatMap((l) => (l.settle ? [{ ...l.settle, lineKey: l.lineKey, reference: l.lineKey }] : [])),
    ),
  );
  const holds = taken.flatMap((t) => t.lines.filter((l) => l.reserve).map((l) => ({ t, l })));
  const reserved = await inv.reservations.reserveLines(
    tx,
    holds.map(({ t, l }) => ({
      key: l.reserve!.key,
      mode: 'partial',
      lines: [{ lineKey: l.lineKey, skuId: l.sku.skuId, quantity: l.reserve!.quantity }],
      warehouseIds: t.shop.warehouseIds,
    })),
  );
  for (const [k, { l }] of holds.entries()) {
    const r = reserved[k];
    if (!r) throw new Error(`line ${l.lineKey}: SKU ${l.sku.skuId} became a bundle while the batch applied`);
    l.got = r.lines[0]!.reserved;
    l.held += l.got;
  }

  const settle: Settlement[] = [];
  const sold = new Map<number, number>();
  for (const t of taken) {
    const orderKey = `${t.shop.id}:${t.order.platformOrderId}`;
    settle.push({
      kind: 'amount_mismatch',
      subject: orderKey,
      resolution: 'amounts add up in a newer revision',
    });
    const effects: StockEffect[] = [];
    for (const l of t.lines) {
      settle.push({ kind: 'unmapped_sku', subject: l.lineKey, resolution: `mapped by ${l.sku.via}` });
      if (l.settle) effects.push({ lineId: l.lineId, action: l.settle.action, quantity: l.settle.quantity });
      if (l.got > 0) effects.push({ lineId: l.lineId, action: 'reserve', quantity: l.got });
      const missing = l.want - l.held;
      if (missing > 0) {
        await raiseException(
          tx,
          oversellException(t.shop.id, t.order, l.lineKey, l.lineId, missing, {
            wantHold: l.want,
            held: l.held,
            shippedWithoutStock: 0,
          }),
        );
      } else {
        settle.push({ kind: 'oversell', subject: l.lineKey, resolution: 'covered by stock' });
      }
    }
    ownSales(t.skus, t.order, t.previous, sold);
    out.set(t.index, { orderKey, outcome: t.outcome, effects });
  }
  await settleExceptions(tx, settle);
  await recordOwnSales(tx, sold);
  return out;
}

/**
 * Plans one line as `reconcileLine` would bring it to its targets, if that takes only whole-line
 * settlements and a hold: fills in `settle`, `reserve` and `held` and returns true; else false.
 */
function plan(l: PlannedLine, have: LineLedger | undefined): boolean {
  const h = have ?? NO_HOLDINGS;
  if (h.restocked > 0) return false;
  // What the line holds must be of its SKU as mapped now (a bundle: its recipe's rows, each
  // component exactly the line units held); else one by one.
  const holds = h.active > 0 || h.consumed > 0 || h.released > 0;
  if (holds && (l.sku.bundle ? h.lineSku !== l.sku.skuId || !h.activeWhole : h.simpleSku !== l.sku.skuId))
    return false;
  let { active, consumed, released } = h;
  if (l.shipped > consumed) {
    const need = l.shipped - consumed;
    // Shipping part of what is held, or more than is held, goes one by one.
    if (need !== active) return false;
    consumed += need;
    active = 0;
    l.settle = { action: 'consume', key: `${l.lineKey}:ship:${consumed}`, quantity: need };
  }
  if (l.want < active) {
    // Giving back part of what is held goes one by one.
    if (l.want !== 0) return false;
    released += active;
    l.settle = { action: 'release', key: `${l.lineKey}:release:${released}`, quantity: active };
    active = 0;
  }
  l.held = active;
  if (l.want > active) {
    l.reserve = {
      key: `${l.lineKey}:hold:${active + consumed + released}:${randomUUID()}`,
      quantity: l.want - active,
    };
  }
  return true;
}
