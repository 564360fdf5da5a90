import { ConnectorError, type PushResult, type StockUpdate } from '../../connectors/contract.js';
import { sql } from '../db/sql.js';
import type { Inventory } from '../inventory/index.js';
import type { Tx } from '../inventory/tx.js';
import { foldOwnSales } from './own-sales.js';
import { claimSize, pushRequests, refOf, requestsPerRound, stockBatches } from './push-batches.js';
import { pushChanges } from './push-changes.js';
import { batching, type Claimed, recordFailure, waited } from './push-rows.js';
import type { ShopConnector } from './shop-connectors.js';
import { GATE_PRIORITY, type ShopGate } from './shop-gate.js';

/**
 * Step 2 of the stock push pipeline: sends a shop's pending quantities through its connector,
 * in batches of the platform's size, through the shop's gate (rate limits, throttling).
 *
 * No re-inflation. An absolute push must not give back units the platform sold in orders we
 * have not imported yet. Since our last push (value L) the platform took S units; we imported I
 * of them (counted per listing as orders are applied: `own_since_push`); the other U = S − I
 * are sold there but not in `desired` yet (the intake appends each order's count to a log,
 * folded into the row when the pusher claims it: see own-sales.ts). So we push `desired − U`. The platform's current
 * value P = L − S gives U = (L − P) − I:
 * - with compare-and-set (Shopify) we first push optimistically, expecting P = L − I (nothing
 *   unimported); on a mismatch we read P back and push again expecting exactly P;
 * - with read-back only, we read P before pushing;
 * - where the platform takes idempotent changes (Douyin), we send `desired − U − P` as a change
 *   rather than a quantity, mostly without a read (push-changes.ts; this path takes only a
 *   listing's first push there);
 * - without either, the platform's own sales cannot be seen and the push is absolute (the
 *   channel's buffer is the only protection; the README says which platforms this is).
 * The U held back are pre-credited (`own_since_push` −U), so when their orders arrive they are
 * not counted again; if they never arrive within `heldBackGraceMs` it was a manual edit on the
 * platform, and the credit is dropped (see reconcile.ts).
 *
 * Failures: an item the platform refuses is retried with backoff and suspended (`failed`, with
 * its error) after `maxAttempts`, until its quantity changes; a throttle holds the whole shop
 * for the platform's wait; a 5xx/timeout backs the shop off; refused credentials pause the shop.
 */

export interface PushReport {
  shopId: string;
  sent: number;
  synced: number;
  failed: number;
  /** Units held back because the platform sold them and we had not imported the orders yet. */
  heldBack: number;
  /** Whole-batch failure (throttle, outage, credentials). */
  error?: string;
  /** Set when the shop must be paused: its credentials or configuration were refused. */
  pause?: string;
}

export interface PushOptions {
  /** Failed attempts of one listing before it is suspended. */
  maxAttempts: number;
  /** Rows per claim. Default: what the shop's rate limit sends in about 2 s (see claimSize). */
  limit?: number;
  /** Platform requests per round. Default: about 2 s of the rate limit (see requestsPerRound). */
  requests?: number;
  /** False once this replica no longer holds the shop: the rest of the claim is given back. */
  holds?: () => boolean;
  /**
   * Where pushes are changes (`incrementalStock`): a listing changed without a read is read back
   * within this long (see push-changes.ts). Default 10000 ms.
   */
  changeReadBackMs?: number;
  /**
   * ...for this long after its last absolute write (orders placed before it may still be coming
   * in). Default 900000 ms.
   */
  changeReadBackForMs?: number;
}

/** How long a claimed row stays hidden from other pushers (a crashed pusher's rows come back). */
const PUSH_LEASE_MS = 60_000;

/** One pusher round of a shop: claims its due rows (none while the shop is paused) and sends them. */
export async function pushShop(
  inv: Inventory,
  sc: ShopConnector,
  gate: ShopGate,
  options: PushOptions,
): Promise<PushReport> {
  const shopId = sc.shop.id;
  const report: PushReport = { shopId, sent: 0, synced: 0, failed: 0, heldBack: 0 };
  const claimed = await claim(inv, shopId, options.limit ?? claimSize(sc.limits));
  const batches = stockBatches(claimed, batching(sc));
  // A round sends about 2 s of the rate limit's requests (see claimSize); the rest of the claim
  // goes back at once, to be claimed again by urgency. Only keyed batches can fall short.
  const budget = options.requests ?? requestsPerRound(sc.limits);
  let rounds = 0;
  for (let used = 0; rounds < batches.length; rounds++) {
    used += batches[rounds]!.requests;
    if (rounds > 0 && used > budget) break;
  }
  if (rounds < batches.length)
    await release(
      inv,
      batches.slice(rounds).flatMap((b) => b.rows),
      0,
    );
  const caps = sc.registered.descriptor.capabilities;
  for (let i = 0; i < rounds; i++) {
    if (options.holds && !options.holds()) {
      await release(
        inv,
        batches.slice(i, rounds).flatMap((b) => b.rows),
        0,
      );
      break;
    }
    try {
      await pushBatch(inv, sc, gate, batches[i]!.rows, caps, options, report);
      gate.succeeded();
    } catch (err) {
      // The whole call failed: nothing of this batch or the rest reached the platform.
      const rest = batches.slice(i, rounds).flatMap((b) => b.rows);
      report.error = (err as Error).message;
      const { action, waitMs } = gate.failedWith(err);
      if (action === 'config_error' || action === 'refresh_token') report.pause = report.error;
      await release(inv, rest, waitMs);
      break;
    }
  }
  return report;
}

/** The head start, seconds, of the most urgent listing over one that merely gained stock. */
const PUSH_URGENCY_S = 30;

/**
 * Claims due rows, most urgent first. A row's priority is how long it has waited plus a head
 * start of up to PUSH_URGENCY_S for urgency: 3 s per unit of r, where r is what its platform
 * shows over what the ledger has left, divided by what is left + 1 (a listing sold out in the
 * ledger and still shown for sale gets the whole head start; a big listing one unit high gets a
 * fraction of a second). Ties go to the higher r. So near-sellout listings jump the queue, and
 * no listing waits more than PUSH_URGENCY_S longer than it would in plain age order.
 */
async function claim(inv: Inventory, shopId: string, limit: number): Promise<Claimed[]> {
  return inv.transaction(async (tx) => {
    const rows = await tx.query<Claimed>(sql`
      UPDATE stock_push p SET claimed_until = now() + ${PUSH_LEASE_MS} * interval '1 millisecond'
      FROM (
        SELECT p2.listing_id FROM stock_push p2 JOIN listing l ON l.id = p2.listing_id,
          -- What the platform should show, as the planner and reconciliation count it.
          LATERAL (SELECT p2.pushed - (p2.own_since_push + p2.held_back - p2.given_back) AS shows) s,
          LATERAL (SELECT CASE WHEN s.shows > p2.desired
                               THEN (s.shows - p2.desired)::float8 / (p2.desired + 1) ELSE 0 END AS r) u
        WHERE l.shop_id = ${shopId} AND p2.status = 'pending' AND p2.next_attempt_at <= now()
          AND (p2.claimed_until IS NULL OR p2.claimed_until < now()) AND NOT l.push_excluded
          -- A paused shop claims nothing (checked here, not in a round trip of its own).
          AND NOT EXISTS (SELECT 1 FROM shop s WHERE s.id = ${shopId} AND s.paused_at IS NOT NULL)
        ORDER BY COALESCE(EXTRACT(EPOCH FROM now() - p2.pending_since), 0)
                   + LEAST(${PUSH_URGENCY_S}, 3 * u.r) DESC,
                 u.r DESC, p2.pending_since NULLS LAST, p2.desired_at
        LIMIT ${limit} FOR UPDATE OF p2 SKIP LOCKED
      ) c, listing l
      WHERE p.listing_id = c.listing_id AND l.id = p.listing_id
      RETURNING p.listing_id, p.desired, p.pushed, p.pushed_at, p.own_since_push, p.held_back,
                p.given_back, p.attempt_qty, p.attempt_own, p.attempt_key, p.attempt_delta,
                p.pending_since, l.stock_ref, l.stock_location, p.attempts, p.drift, p.drift_at,
                p.read_back_at, p.erased_at`);
    if (rows.length === 0) return rows;
    // The sales imported so far, counted in the rows now ours (locked by the claim above).
    const own = await foldOwnSales(
      tx,
      rows.map((r) => r.listing_id),
      { claimed: true },
    );
    // A fold moves held_back and given_back too (the units whose orders came in).
    return rows.map((r) => ({ ...r, ...own.get(r.listing_id) }));
  });
}

/** Gives claimed rows back untouched, due again after `waitMs`. */
async function release(inv: Inventory, rows: readonly Claimed[], waitMs: number): Promise<void> {
  await inv.statement(sql`
    UPDATE stock_push SET claimed_until = NULL,
      next_attempt_at = GREATEST(next_attempt_at, now() + ${Math.round(waitMs)} * interval '1 millisecond')
    WHERE listing_id = ANY(${rows.map((r) => r.listing_id)}::int[])`);
}

export interface Plan {
  row: Claimed;
  /** What we send. */
  quantity: number;
  /** Units held back (sold on the platform, not imported). */
  heldBack: number;
  /** Units the platform showed above what we expected (given back there, not imported). */
  givenBack?: number;
  expected?: number;
  /** What the platform showed when read just before: equal to `quantity`, nothing is sent. */
  shows?: number;
}

async function pushBatch(
  inv: Inventory,
  sc: ShopConnector,
  gate: ShopGate,
  claimed: readonly Claimed[],
  caps: { compareAndSet: boolean; readStock: boolean; incrementalStock: boolean },
  options: PushOptions,
  report: PushReport,
): Promise<void> {
  const connector = sc.connector;
  // Where the platform takes changes, most rows go as changes; the rest come back for this path.
  const rows = caps.incrementalStock ? await pushChanges(inv, sc, gate, claimed, options, report) : claimed;
  if (rows.length === 0) return;
  let plans: Plan[];
  const uncertain = rows.some((r) => r.attempt_qty !== null);
  if (
    caps.readStock &&
    connector.readStock &&
    (uncertain || (!caps.compareAndSet && rows.some((r) => r.pushed !== null)))
  ) {
    plans = await guardedPlans(gate, sc, rows);
  } else if (caps.compareAndSet) {
    // Optimistic: if every sale since our last push is imported, the platform shows L − I.
    plans = rows.map((row) => ({
      row,
      quantity: row.desired,
      heldBack: 0,
      ...(row.pushed !== null ? { expected: Math.max(0, row.pushed - row.own_since_push) } : {}),
    }));
  } else {
    plans = rows.map((row) => ({ row, quantity: row.desired, heldBack: 0 }));
  }
  let results = await send(inv, gate, sc, plans);
  report.sent += plans.filter((p) => p.shows !== p.quantity).length;
  const mismatched = plans.filter((_, k) => results[k]?.status === 'compare_mismatch');
  if (mismatched.length > 0 && connector.readStock) {
    // The platform sold what we had not imported (or someone edited it): read and decide again.
    const again = await guardedPlans(
      gate,
      sc,
      mismatched.map((p) => p.row),
    );
    const second = await send(inv, gate, sc, again);
    report.sent += again.filter((p) => p.shows !== p.quantity).length;
    results = results.map((r, k) => {
      const j = mismatched.indexOf(plans[k]!);
      return j >= 0 ? second[j]! : r;
    });
    plans = plans.map((p) => {
      const j = mismatched.indexOf(p);
      return j >= 0 ? again[j]! : p;
    });
  }
  await inv.transaction(async (tx) => {
    const succeeded: { plan: Plan; quantity: number }[] = [];
    for (const [k, plan] of plans.entries()) {
      const res = results[k];
      if (res?.status === 'ok') {
        report.synced++;
        report.heldBack += plan.heldBack;
        succeeded.push({ plan, quantity: res.quantity });
      } else if (res?.status === 'compare_mismatch') {
        // Changed again between our read and our write: a busy listing. Try again shortly.
        await recordFailure(tx, plan.row, `platform quantity changed during the push: ${res.message}`, {
          waitMs: 200,
          maxAttempts: options.maxAttempts,
        });
      } else {
        report.failed++;
        if (res?.action === 'rate_limited') gate.throttle(res.retryAfterMs ?? 2000);
        await recordFailure(tx, plan.row, res?.message ?? 'no result for this item', {
          ...(res?.action === 'rate_limited' ? { waitMs: res.retryAfterMs ?? 2000, free: true } : {}),
          final: res?.action === 'config_error' || res?.action === 'ignore',
          maxAttempts: options.maxAttempts,
        });
      }
    }
    await recordSuccesses(tx, succeeded);
  });
}

/**
 * Reads the platform's quantities and plans pushes that hold back unimported sales. After a
 * push of unknown outcome, a platform showing exactly what we sent means it landed: that push
 * is the baseline then, and only sales counted since it are ours.
 */
export async function guardedPlans(
  gate: ShopGate,
  sc: ShopConnector,
  rows: readonly Claimed[],
): Promise<Plan[]> {
  const refs = rows.map(refOf);
  const readings = await gate.run(
    () => sc.connector.readStock!(refs),
    GATE_PRIORITY.push,
    sc.connector.readStockRequests?.(refs) ?? 1,
  );
  const cas = sc.registered.descriptor.capabilities.compareAndSet;
  return rows.map((row, k) => {
    const r = readings[k];
    if (!r?.ok || row.pushed === null) return { row, quantity: row.desired, heldBack: 0 };
    const landed = row.attempt_qty !== null && r.quantity === row.attempt_qty;
    const last = landed ? row.attempt_qty! : row.pushed;
    const ownSince = landed ? row.own_since_push - (row.attempt_own ?? 0) : row.own_since_push;
    // Sold there and not imported (> 0), or given back there and not imported (< 0).
    const unexplained = last - r.quantity - ownSince;
    const unimported = Math.max(0, unexplained);
    const quantity = Math.max(0, row.desired - unimported);
    return {
      row,
      quantity,
      heldBack: row.desired - quantity,
      givenBack: Math.max(0, -unexplained),
      shows: r.quantity,
      ...(cas ? { expected: r.quantity } : {}),
    };
  });
}

/**
 * Sends one batch. A failure that may have reached the platform (timeout, 5xx, a reply we
 * could not read) is recorded per row as an attempt of unknown outcome before it is rethrown.
 */
async function send(
  inv: Inventory,
  gate: ShopGate,
  sc: ShopConnector,
  plans: readonly Plan[],
): Promise<PushResult[]> {
  // Nothing is pushed where the platform already shows the quantity.
  const due = plans.filter((p) => p.shows !== p.quantity);
  const updates: StockUpdate[] = due.map((p) => ({
    listing: refOf(p.row),
    quantity: p.quantity,
    ...(p.expected !== undefined ? { expected: p.expected } : {}),
  }));
  // Recorded before the call: if this process dies after the platform took the push and
  // before its result is booked, the next push recognises it by the quantity.
  if (due.length > 0)
    await inv.statement(sql`
      UPDATE stock_push p SET attempt_qty = t.qty, attempt_own = t.own, attempt_key = NULL, attempt_delta = NULL
      FROM unnest(${due.map((x) => x.row.listing_id)}::int[], ${due.map((x) => x.quantity)}::int[],
                  ${due.map((x) => x.row.own_since_push)}::int[]) AS t(id, qty, own)
      WHERE p.listing_id = t.id`);
  try {
    const sent =
      updates.length > 0
        ? await gate.run(
            () => sc.connector.pushStock(updates),
            GATE_PRIORITY.push,
            pushRequests(
              updates.map((u) => u.listing),
              batching(sc),
            ),
          )
        : [];
    return plans.map((p): PushResult => {
      const k = due.indexOf(p);
      return k >= 0 ? sent[k]! : { listing: refOf(p.row), status: 'ok', quantity: p.quantity };
    });
  } catch (err) {
    const action = err instanceof ConnectorError ? err.action : 'retry';
    if (action !== 'retry') {
      // Refused for sure (throttled, credentials): nothing of it reached the platform.
      await inv.transaction((tx) =>
        tx.execute(sql`
          UPDATE stock_push SET attempt_qty = NULL, attempt_own = NULL
          WHERE listing_id = ANY(${due.map((x) => x.row.listing_id)}::int[])`),
      );
    }
    throw err;
  }
}

/** Records the pushes the platform accepted: one statement for the batch, rows in id order. */
async function recordSuccesses(tx: Tx, done: readonly { plan: Plan; quantity: number }[]): Promise<void> {
  if (done.length === 0) return;
  const rows = [...done].sort((a, b) => a.plan.row.listing_id - b.plan.row.listing_id);
  const col = <T>(f: (d: (typeof rows)[number]) => T) => rows.map(f);
  const now = Date.now();
  // The units counted since the claim stay counted; the held-back ones are pre-credited.
  await tx.execute(sql`
    UPDATE stock_push p SET pushed = t.qty, pushed_at = now(), last_error = NULL, attempts = 0,
      own_since_push = p.own_since_push - t.own - t.held + t.given,
      held_back = t.held, given_back = t.given,
      attempt_qty = NULL, attempt_own = NULL, claimed_until = NULL,
      held_back_at = CASE WHEN t.held + t.given > 0 THEN COALESCE(p.held_back_at, now()) END,
      read_back_at = CASE WHEN t.read THEN now() ELSE p.read_back_at END,
      erased_at = CASE WHEN t.wrote THEN now() ELSE p.erased_at END,
      latency_ms = COALESCE(t.latency, p.latency_ms),
      status = CASE WHEN p.desired = t.desired OR p.desired = t.qty THEN 'synced'::"PushStatus"
                    ELSE 'pending'::"PushStatus" END,
      pending_since = CASE WHEN p.desired = t.desired OR p.desired = t.qty THEN NULL ELSE p.pending_since END,
      next_attempt_at = now()
    FROM unnest(${col((d) => d.plan.row.listing_id)}::int[], ${col((d) => d.quantity)}::int[],
                ${col((d) => d.plan.row.own_since_push)}::int[], ${col((d) => d.plan.heldBack)}::int[],
                ${col((d) => d.plan.givenBack ?? 0)}::int[],
                ${col((d) => waited(d.plan.row, now))}::int[],
                ${col((d) => d.plan.row.desired)}::int[], ${col((d) => d.plan.shows !== undefined)}::boolean[],
                ${col((d) => d.plan.shows !== d.plan.quantity)}::boolean[])
      AS t(id, qty, own, held, given, latency, desired, read, wrote)
    WHERE p.listing_id = t.id`);
}
