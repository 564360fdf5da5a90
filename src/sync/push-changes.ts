import { randomUUID } from 'node:crypto';
import { ConnectorError, type PushResult, type StockUpdate } from '../../connectors/contract.js';
import { sql } from '../db/sql.js';
import type { Inventory } from '../inventory/index.js';
import type { Tx } from '../inventory/tx.js';
import { pushRequests, refOf } from './push-batches.js';
import { batching, type Claimed, recordFailure, waited } from './push-rows.js';
import type { PushOptions, PushReport } from './push-send.js';
import type { ShopConnector } from './shop-connectors.js';
import { GATE_PRIORITY, type ShopGate } from './shop-gate.js';

/**
 * Pushes sent as changes, where the platform applies a change idempotently (`incrementalStock`:
 * Douyin's `incremental=true` with `idempotent_id`). The platform adds the change to what it
 * holds, so units it sold that we have not imported stay sold without reading its quantity
 * first: one request where an absolute push needs a read and a write (push-send.ts).
 *
 * By our books the platform shows `pushed − own_since_push − held_back + given_back` (units it
 * sold that we have not imported aside); it should show `desired − held_back + given_back`
 * (sales there we know of and have not imported yet stay counted). The change is the
 * difference, `desired − pushed + own_since_push`. Once it lands, `pushed` is that target and
 * the pre-credits stay where they are: `own_since_push` drops by what it held at the claim
 * beyond them (`attempt_own` = own + held − given).
 *
 * Changes trust our books: what the platform took since our last push is what we imported
 * since. An absolute write breaks that for the orders placed before it and imported after it:
 * the write erased their sale there, and they are counted as if sold after it. The first push of
 * a listing is such a write, while a shop's backlog of orders is still coming in. So the
 * read-back path (push-send.ts: read, hold back what is unexplained, write what is wrong) takes
 * a listing every `changeReadBackMs` at least: a change booked in sync leaves it due for that
 * read then, at the lowest priority (no `pending_since`; the status page counts it synced). A
 * read that finds the platform right writes nothing. The read-back path also takes a listing
 * never pushed, one whose last absolute push has an unknown outcome, one that reconciliation
 * read off our books after our last push (a manual edit, a lost order), one whose target is
 * below 0, and a change the platform refused (`compare_mismatch`: it would go below 0).
 *
 * A change of unknown outcome (timeout, 5xx) keeps its key and change on every row of the call.
 * Reading the quantity back cannot tell whether it landed (units sold there meanwhile look the
 * same), so the next claim of any of those rows sends the whole call again, its rows read back
 * by key whether claimed or not, with the same key: the platform applies it at most once. All
 * of them are booked then.
 */

/** Returns the claimed rows the absolute path must push. */
export async function pushChanges(
  inv: Inventory,
  sc: ShopConnector,
  gate: ShopGate,
  rows: readonly Claimed[],
  options: PushOptions,
  report: PushReport,
): Promise<Claimed[]> {
  const absolute: Claimed[] = [];
  const unknown = new Set<string>();
  const fresh: Claimed[] = [];
  for (const row of rows) {
    if (row.attempt_key !== null) unknown.add(row.attempt_key);
    else if (
      row.pushed === null ||
      row.attempt_qty !== null ||
      driftedSincePush(row) ||
      readBackDue(row, readBackMs(options)) ||
      target(row) < 0
    )
      absolute.push(row);
    else fresh.push(row);
  }
  for (const key of unknown) absolute.push(...(await resend(inv, sc, gate, key, rows, options, report)));
  if (fresh.length > 0) absolute.push(...(await sendFresh(inv, sc, gate, fresh, options, report)));
  return absolute;
}

const readBackMs = (o: PushOptions) => o.changeReadBackMs ?? 10_000;

/** No read of the platform within `ms`: the next push reads it back first. */
function readBackDue(r: Claimed, ms: number): boolean {
  return r.read_back_at === null || new Date(r.read_back_at).getTime() <= Date.now() - ms;
}

/** What the platform should show: the ledger's quantity, with the sales there we know of kept. */
const target = (r: Claimed) => r.desired - r.held_back + r.given_back;

/** Reconciliation read the platform off our books after our last push. */
function driftedSincePush(r: Claimed): boolean {
  if (r.drift === null || r.drift_at === null) return false;
  return r.pushed_at === null || new Date(r.drift_at).getTime() > new Date(r.pushed_at).getTime();
}

interface Change {
  row: Pick<Claimed, 'listing_id' | 'stock_ref' | 'stock_location'>;
  quantity: number;
  delta: number;
}

/** New changes of claimed rows, all under one key. A change of 0 is booked without a request. */
async function sendFresh(
  inv: Inventory,
  sc: ShopConnector,
  gate: ShopGate,
  rows: readonly Claimed[],
  options: PushOptions,
  report: PushReport,
): Promise<Claimed[]> {
  const key = randomUUID();
  const changes = rows.map((row) => ({
    row,
    quantity: target(row),
    delta: row.desired - row.pushed! + row.own_since_push,
  }));
  const due = changes.filter((c) => c.delta !== 0);
  const same = changes.filter((c) => c.delta === 0).map((c) => c.row);
  // Recorded before the call: if this process dies after the platform took it, the next claim
  // sends it again under the same key.
  await inv.transaction(async (tx) => {
    await tx.execute(sql`
      UPDATE stock_push p SET attempt_key = ${key}, attempt_qty = t.qty, attempt_delta = t.delta,
        attempt_own = p.own_since_push + p.held_back - p.given_back
      FROM unnest(${changes.map((c) => c.row.listing_id)}::int[], ${changes.map((c) => c.quantity)}::int[],
                  ${changes.map((c) => c.delta)}::int[]) AS t(id, qty, delta)
      WHERE p.listing_id = t.id`);
    await book(tx, key, same, rows, readBackMs(options));
  });
  report.synced += same.length;
  if (due.length === 0) return [];
  let results: PushResult[];
  try {
    results = await sendChanges(sc, gate, key, due);
  } catch (err) {
    // Refused for sure (throttled, credentials): nothing of it reached the platform. Anything
    // else may have: the change stays, to be sent again under its key.
    if (err instanceof ConnectorError && err.action !== 'retry') await forget(inv, key, due);
    throw err;
  }
  report.sent += due.length;
  return settle(inv, gate, key, due, results, rows, { ...options, resending: false }, report);
}

/**
 * Sends a call of unknown outcome again, whole, under its key. Claimed rows whose change the
 * platform refused come back for the absolute path.
 */
async function resend(
  inv: Inventory,
  sc: ShopConnector,
  gate: ShopGate,
  key: string,
  claimed: readonly Claimed[],
  options: PushOptions,
  report: PushReport,
): Promise<Claimed[]> {
  const group = await inv.statement<Change['row'] & { attempt_qty: number; attempt_delta: number }>(sql`
    SELECT p.listing_id, l.stock_ref, l.stock_location, p.attempt_qty, p.attempt_delta
    FROM stock_push p JOIN listing l ON l.id = p.listing_id
    WHERE p.attempt_key = ${key} ORDER BY p.listing_id`);
  const changes = group.map((g) => ({ row: g, quantity: g.attempt_qty, delta: g.attempt_delta }));
  // Booked meanwhile by another pusher's resend (a shop changing hands): only the claim is ours.
  if (changes.length === 0) {
    const ids = claimed.filter((r) => r.attempt_key === key).map((r) => r.listing_id);
    await inv.statement(
      sql`UPDATE stock_push SET claimed_until = NULL WHERE listing_id = ANY(${ids}::int[])`,
    );
    return [];
  }
  const results = await sendChanges(sc, gate, key, changes);
  report.sent += changes.length;
  return settle(inv, gate, key, changes, results, claimed, { ...options, resending: true }, report);
}

async function sendChanges(
  sc: ShopConnector,
  gate: ShopGate,
  key: string,
  changes: readonly Change[],
): Promise<PushResult[]> {
  const updates: StockUpdate[] = changes.map((c) => ({
    listing: refOf(c.row),
    quantity: c.quantity,
    change: { delta: c.delta, key },
  }));
  return gate.run(
    () => sc.connector.pushStock(updates),
    GATE_PRIORITY.push,
    pushRequests(
      updates.map((u) => u.listing),
      batching(sc),
    ),
  );
}

/**
 * Books a call's results: landed changes booked (claimed or not), refused ones forgotten (the
 * claimed ones returned for the absolute path), failures recorded on the claimed rows. A failure
 * that may have reached the platform keeps its change, to be sent again.
 */
async function settle(
  inv: Inventory,
  gate: ShopGate,
  key: string,
  changes: readonly Change[],
  results: readonly PushResult[],
  claimed: readonly Claimed[],
  options: PushOptions & { resending: boolean },
  report: PushReport,
): Promise<Claimed[]> {
  const resending = options.resending;
  const mine = new Map(claimed.map((r) => [r.listing_id, r]));
  const outcome = await inv.transaction(async (tx) => {
    // Inside: a transaction retried after a deadlock starts over.
    const landed: Change['row'][] = [];
    const refused: Change['row'][] = [];
    const back: Claimed[] = [];
    let failed = 0;
    for (const [k, change] of changes.entries()) {
      const res = results[k];
      const row = mine.get(change.row.listing_id);
      if (res?.status === 'ok') landed.push(change.row);
      else if (res?.status === 'compare_mismatch') {
        refused.push(change.row);
        if (row) back.push(withoutAttempt(row));
      } else {
        const action = res?.action ?? 'retry';
        const final = action === 'config_error' || action === 'ignore';
        // Refused for sure, so this call did not land: its change is dropped. A throttled resend
        // says nothing of the first call, which keeps its change; a refused listing never took any.
        if (final || (action !== 'retry' && !resending)) refused.push(change.row);
        if (!row) continue;
        failed++;
        const waitMs = res?.retryAfterMs ?? 2000;
        if (action === 'rate_limited') gate.throttle(waitMs);
        await recordFailure(tx, row, res?.message ?? 'no result for this item', {
          ...(action === 'rate_limited' ? { waitMs, free: true } : {}),
          final,
          maxAttempts: options.maxAttempts,
        });
      }
    }
    await book(tx, key, landed, claimed, readBackMs(options));
    await forgetIn(tx, key, refused);
    return { back, synced: landed.length, failed };
  });
  report.synced += outcome.synced;
  report.failed += outcome.failed;
  return outcome.back;
}

/**
 * Books landed changes: the platform shows the target (`attempt_qty`) by our books. Only rows
 * still under `key` are booked (a row booked by another claim's resend is not booked twice). A
 * row in sync is due for its read-back `readBackMs` after the last one.
 */
async function book(
  tx: Tx,
  key: string,
  rows: readonly Change['row'][],
  claimed: readonly Claimed[],
  readBackMs: number,
): Promise<void> {
  if (rows.length === 0) return;
  const mine = new Map(claimed.map((r) => [r.listing_id, r]));
  const now = Date.now();
  const sorted = [...rows].sort((a, b) => a.listing_id - b.listing_id);
  const latency = sorted.map((r) => {
    const row = mine.get(r.listing_id);
    return row ? waited(row, now) : null;
  });
  // In sync when the next change would be 0: desired − pushed + own_since_push, after booking;
  // then only its read-back is due.
  await tx.execute(sql`
    WITH t AS (
      SELECT * FROM unnest(${sorted.map((r) => r.listing_id)}::int[], ${latency}::int[],
                           ${sorted.map((r) => mine.has(r.listing_id))}::boolean[]) AS t(id, latency, mine)
    ), n AS (
      SELECT p.listing_id, t.latency, t.mine,
             p.desired - p.attempt_qty + p.own_since_push - p.attempt_own = 0 AS in_sync
      FROM stock_push p JOIN t ON t.id = p.listing_id
      WHERE p.attempt_key = ${key}
    )
    UPDATE stock_push p SET pushed = p.attempt_qty, pushed_at = now(), last_error = NULL, attempts = 0,
      own_since_push = p.own_since_push - p.attempt_own,
      attempt_qty = NULL, attempt_own = NULL, attempt_key = NULL, attempt_delta = NULL,
      claimed_until = CASE WHEN n.mine THEN NULL ELSE p.claimed_until END,
      latency_ms = COALESCE(n.latency, p.latency_ms),
      status = 'pending'::"PushStatus",
      pending_since = CASE WHEN n.in_sync THEN NULL ELSE COALESCE(p.pending_since, now()) END,
      next_attempt_at = CASE WHEN n.in_sync
        THEN GREATEST(now(), COALESCE(p.read_back_at, now()) + ${readBackMs} * interval '1 millisecond')
        ELSE now() END
    FROM n WHERE p.listing_id = n.listing_id`);
}

/** Drops the change of rows the platform refused for sure: it never landed. */
async function forget(inv: Inventory, key: string, changes: readonly Change[]): Promise<void> {
  await inv.transaction((tx) =>
    forgetIn(
      tx,
      key,
      changes.map((c) => c.row),
    ),
  );
}

async function forgetIn(tx: Tx, key: string, rows: readonly Change['row'][]): Promise<void> {
  if (rows.length === 0) return;
  await tx.execute(sql`
    UPDATE stock_push SET attempt_key = NULL, attempt_qty = NULL, attempt_own = NULL, attempt_delta = NULL
    WHERE attempt_key = ${key} AND listing_id = ANY(${rows.map((r) => r.listing_id)}::int[])`);
}

const withoutAttempt = (r: Claimed): Claimed => ({
  ...r,
  attempt_key: null,
  attempt_qty: null,
  attempt_own: null,
  attempt_delta: null,
});
