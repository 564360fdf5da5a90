import { randomUUID } from 'node:crypto';
import { ConnectorError, type PushResult, type StockUpdate } from '../../connectors/contract.js';
import { sql } from '../db/sql.js';
import type { Inventory } from '../inventory/index.js';
import type { Tx } from '../inventory/tx.js';
import { pushRequests, refOf } from './push-batches.js';
import { batching, type Claimed, recordFailure, waited } from './push-rows.js';
import { guardedPlans, type PushOptions, type PushReport } from './push-send.js';
import type { ShopConnector } from './shop-connectors.js';
import { GATE_PRIORITY, type ShopGate } from './shop-gate.js';

/**
 * Pushes sent as changes, where the platform applies a change idempotently (`incrementalStock`:
 * Douyin's `incremental=true` with `idempotent_id`). The platform adds the change to what it
 * holds, so units it sold that we have not imported stay sold without reading its quantity
 * first: one request where an absolute push needs a read and a write (push-send.ts).
 *
 * By our books the platform shows `pushed − own_since_push − held_back + given_back` (units it
 * sold that we have not imported aside); it should show `desired − held_back`, as an absolute
 * push sets it: sales there we know of and have not imported stay sold, and units it gave back
 * that we have not imported are not offered until we have. The change is the difference,
 * `desired − pushed + own_since_push − given_back`. Once it lands, `pushed` is that target and
 * the pre-credits stay where they are: `own_since_push` drops by what it held at the claim
 * beyond them (`attempt_own` = own + held − given).
 *
 * Changes trust our books: what the platform took since our last push is what we imported
 * since. An absolute write breaks that for the orders placed before it and imported after it:
 * the write erased their sale there, and they are counted as if sold after it. So nothing here
 * writes an absolute quantity: a push that reads first (guardedPlans: hold back what the
 * reading cannot explain) sends a change too, what the platform should show minus what it
 * showed, and a sale between the read and the write stays sold. Only a listing's first push
 * (push-send.ts) writes absolutely (`erased_at`), while the shop's backlog of orders may still
 * be coming in: for `changeReadBackForMs` after it, a listing changed without a read is read back
 * within `changeReadBackMs` (due then at the lowest priority, no `pending_since`: the status page
 * counts it synced). A push also reads first for a listing reconciliation read off our books
 * after our last push (a manual edit, a lost order), one whose target is below 0, and one whose
 * change the platform refused (`compare_mismatch`: it would go below 0).
 *
 * A change of unknown outcome (timeout, 5xx) keeps its key and change on every row of the call.
 * Reading the quantity back cannot tell whether it landed (units sold there meanwhile look the
 * same), so the next claim of any of those rows sends the whole call again, its rows read back
 * by key whether claimed or not, with the same key: the platform applies it at most once. All
 * of them are booked then.
 */

/** Returns the claimed rows for push-send.ts: first pushes, and those no reading could cover. */
export async function pushChanges(
  inv: Inventory,
  sc: ShopConnector,
  gate: ShopGate,
  rows: readonly Claimed[],
  options: PushOptions,
  report: PushReport,
): Promise<Claimed[]> {
  const round: Round = { inv, sc, gate, options, report, claimed: rows };
  const absolute: Claimed[] = [];
  const unknown = new Set<string>();
  const read: Claimed[] = [];
  const blind: Claimed[] = [];
  for (const row of rows) {
    if (row.attempt_key !== null) unknown.add(row.attempt_key);
    // Never pushed, or its first push's outcome is unknown.
    else if (row.pushed === null || row.attempt_qty !== null) absolute.push(row);
    else if (driftedSincePush(row) || readBackDue(row, options, Date.now()) || target(row) < 0)
      read.push(row);
    else blind.push(row);
  }
  for (const key of unknown) read.push(...(await resend(round, key)));
  if (blind.length > 0) read.push(...(await sendFresh(round, blind.map(blindChange))));
  if (read.length > 0) absolute.push(...(await sendAfterRead(round, read)));
  return absolute;
}

/** One pusher round of a shop: where it pushes, with what, the rows it claimed, its report. */
interface Round {
  inv: Inventory;
  sc: ShopConnector;
  gate: ShopGate;
  options: PushOptions;
  report: PushReport;
  claimed: readonly Claimed[];
}

interface Change {
  row: Pick<Claimed, 'listing_id' | 'stock_ref' | 'stock_location'>;
  /** What the platform shows once the change lands, by our books. */
  quantity: number;
  delta: number;
  /** What booking it moves `held_back` and `given_back` by (a change read first). */
  dheld: number;
  dgiven: number;
  /** Read first: its booking is a read-back. */
  read: boolean;
}

/** What the platform should show: the ledger's quantity less the sales there not imported yet. */
const target = (r: Claimed) => r.desired - r.held_back;

const blindChange = (row: Claimed): Change => ({
  row,
  quantity: target(row),
  delta: row.desired - row.pushed! + row.own_since_push - row.given_back,
  dheld: 0,
  dgiven: 0,
  read: false,
});

const readBackMs = (o: PushOptions) => o.changeReadBackMs ?? 10_000;
const readBackForMs = (o: PushOptions) => o.changeReadBackForMs ?? 900_000;
const ms = (t: Date | string | null) => (t === null ? null : new Date(t).getTime());

/**
 * Orders placed before the last absolute write may still be coming in (`changeReadBackForMs`),
 * and the last read is older than `changeReadBackMs` or older than that write.
 */
function readBackDue(r: Claimed, o: PushOptions, now: number): boolean {
  const readAt = ms(r.read_back_at);
  const erasedAt = ms(r.erased_at);
  if (readAt === null) return true;
  if (erasedAt === null) return false;
  return readAt <= erasedAt || (erasedAt > now - readBackForMs(o) && readAt <= now - readBackMs(o));
}

/** Reconciliation read the platform off our books after our last push. */
function driftedSincePush(r: Claimed): boolean {
  if (r.drift === null || r.drift_at === null) return false;
  return r.pushed_at === null || ms(r.drift_at)! > ms(r.pushed_at)!;
}

/**
 * Reads the platform's quantities (one request per product), then sends what it should show
 * minus what it shows. Rows whose reading failed come back for push-send.ts.
 */
async function sendAfterRead(round: Round, rows: readonly Claimed[]): Promise<Claimed[]> {
  const plans = await guardedPlans(round.gate, round.sc, rows);
  const unread = plans.filter((p) => p.shows === undefined).map((p) => p.row);
  const changes = plans
    .filter((p) => p.shows !== undefined)
    .map(
      (p): Change => ({
        row: p.row,
        quantity: p.quantity,
        delta: p.quantity - p.shows!,
        dheld: p.heldBack - p.row.held_back,
        dgiven: (p.givenBack ?? 0) - p.row.given_back,
        read: true,
      }),
    );
  round.report.heldBack += plans.reduce((sum, p) => sum + (p.shows === undefined ? 0 : p.heldBack), 0);
  if (changes.length > 0) await sendFresh(round, changes);
  return unread;
}

/**
 * New changes of claimed rows, all under one key; a change of 0 is booked without a request.
 * Returns the rows whose change sent without a read the platform refused (to be read first).
 */
async function sendFresh(round: Round, changes: readonly Change[]): Promise<Claimed[]> {
  const { inv, report } = round;
  const key = randomUUID();
  const due = changes.filter((c) => c.delta !== 0);
  const same = changes.filter((c) => c.delta === 0).map((c) => c.row);
  const col = <T>(f: (c: Change) => T) => changes.map(f);
  // Recorded before the call: if this process dies after the platform took it, the next claim
  // sends it again under the same key.
  await inv.transaction(async (tx) => {
    await tx.execute(sql`
      UPDATE stock_push p SET attempt_key = ${key}, attempt_qty = t.qty, attempt_delta = t.delta,
        attempt_own = p.own_since_push + p.held_back + t.dheld - p.given_back - t.dgiven,
        attempt_dheld = t.dheld, attempt_dgiven = t.dgiven, attempt_read = t.read
      FROM unnest(${col((c) => c.row.listing_id)}::int[], ${col((c) => c.quantity)}::int[],
                  ${col((c) => c.delta)}::int[], ${col((c) => c.dheld)}::int[], ${col((c) => c.dgiven)}::int[],
                  ${col((c) => c.read)}::boolean[]) AS t(id, qty, delta, dheld, dgiven, read)
      WHERE p.listing_id = t.id`);
    await book(tx, key, same, round);
  });
  report.synced += same.length;
  if (due.length === 0) return [];
  let results: PushResult[];
  try {
    results = await sendChanges(round, key, due);
  } catch (err) {
    // Refused for sure (throttled, credentials): nothing of it reached the platform. Anything
    // else may have: the change stays, to be sent again under its key.
    if (err instanceof ConnectorError && err.action !== 'retry') await forget(inv, key, due);
    throw err;
  }
  report.sent += due.length;
  return settle(round, key, due, results, false);
}

/**
 * Sends a call of unknown outcome again, whole, under its key. Returns the claimed rows whose
 * change the platform refused (to be read first).
 */
async function resend(round: Round, key: string): Promise<Claimed[]> {
  const { inv, claimed, report } = round;
  const group = await inv.statement<
    Change['row'] & {
      attempt_qty: number;
      attempt_delta: number;
      attempt_dheld: number;
      attempt_dgiven: number;
      attempt_read: boolean;
    }
  >(sql`
    SELECT p.listing_id, l.stock_ref, l.stock_location, p.attempt_qty, p.attempt_delta,
           p.attempt_dheld, p.attempt_dgiven, p.attempt_read
    FROM stock_push p JOIN listing l ON l.id = p.listing_id
    WHERE p.attempt_key = ${key} ORDER BY p.listing_id`);
  const changes = group.map(
    (g): Change => ({
      row: g,
      quantity: g.attempt_qty,
      delta: g.attempt_delta,
      dheld: g.attempt_dheld,
      dgiven: g.attempt_dgiven,
      read: g.attempt_read,
    }),
  );
  // Booked meanwhile by another pusher's resend (a shop changing hands): only the claim is ours.
  if (changes.length === 0) {
    const ids = claimed.filter((r) => r.attempt_key === key).map((r) => r.listing_id);
    await inv.statement(
      sql`UPDATE stock_push SET claimed_until = NULL WHERE listing_id = ANY(${ids}::int[])`,
    );
    return [];
  }
  const results = await sendChanges(round, key, changes);
  report.sent += changes.length;
  return settle(round, key, changes, results, true);
}

async function sendChanges(
  { sc, gate }: Round,
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
 * Books a call's results: landed changes booked (claimed or not), refused ones forgotten, failures
 * recorded on the claimed rows. A failure that may have reached the platform keeps its change, to
 * be sent again. A refused change sent without a read returns its claimed row, to be read first;
 * one read first was refused because the platform sold meanwhile: it is tried again shortly.
 */
async function settle(
  round: Round,
  key: string,
  changes: readonly Change[],
  results: readonly PushResult[],
  resending: boolean,
): Promise<Claimed[]> {
  const { inv, gate, claimed, options, report } = round;
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
        if (row && !change.read) back.push(withoutAttempt(row));
        else if (row)
          await recordFailure(
            tx,
            row,
            `platform quantity changed between the read and the change: ${res.message}`,
            {
              waitMs: 200,
              maxAttempts: options.maxAttempts,
            },
          );
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
    await book(tx, key, landed, round);
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
 * row in sync after a change sent without a read is due for its read-back `changeReadBackMs`
 * after the last one while `changeReadBackForMs` has not passed since its last absolute write.
 */
async function book(tx: Tx, key: string, rows: readonly Change['row'][], round: Round): Promise<void> {
  if (rows.length === 0) return;
  const mine = new Map(round.claimed.map((r) => [r.listing_id, r]));
  const now = Date.now();
  const sorted = [...rows].sort((a, b) => a.listing_id - b.listing_id);
  const latency = sorted.map((r) => {
    const row = mine.get(r.listing_id);
    return row ? waited(row, now) : null;
  });
  // In sync when the next change would be 0: desired − pushed + own_since_push − given_back,
  // after booking.
  await tx.execute(sql`
    WITH t AS (
      SELECT * FROM unnest(${sorted.map((r) => r.listing_id)}::int[], ${latency}::int[],
                           ${sorted.map((r) => mine.has(r.listing_id))}::boolean[]) AS t(id, latency, mine)
    ), n AS (
      SELECT p.listing_id, t.latency, t.mine,
             p.desired - p.attempt_qty + p.own_since_push - p.attempt_own
               - GREATEST(0, p.given_back + p.attempt_dgiven) = 0 AS in_sync,
             CASE WHEN p.attempt_read THEN now() ELSE p.read_back_at END AS read_back_at,
             p.erased_at > now() - ${readBackForMs(round.options)} * interval '1 millisecond' AS young,
             GREATEST(0, p.held_back + p.attempt_dheld) AS held,
             GREATEST(0, p.given_back + p.attempt_dgiven) AS given
      FROM stock_push p JOIN t ON t.id = p.listing_id
      WHERE p.attempt_key = ${key}
    )
    UPDATE stock_push p SET pushed = p.attempt_qty, pushed_at = now(), last_error = NULL, attempts = 0,
      own_since_push = p.own_since_push - p.attempt_own,
      held_back = n.held, given_back = n.given,
      held_back_at = CASE WHEN n.held + n.given > 0 THEN COALESCE(p.held_back_at, now()) END,
      read_back_at = n.read_back_at,
      attempt_qty = NULL, attempt_own = NULL, attempt_key = NULL, attempt_delta = NULL,
      attempt_dheld = NULL, attempt_dgiven = NULL, attempt_read = NULL,
      claimed_until = CASE WHEN n.mine THEN NULL ELSE p.claimed_until END,
      latency_ms = COALESCE(n.latency, p.latency_ms),
      status = CASE WHEN n.in_sync AND (p.attempt_read OR NOT COALESCE(n.young, false))
                    THEN 'synced'::"PushStatus" ELSE 'pending'::"PushStatus" END,
      pending_since = CASE WHEN n.in_sync THEN NULL ELSE COALESCE(p.pending_since, now()) END,
      next_attempt_at = CASE WHEN n.in_sync
        THEN GREATEST(now(), COALESCE(n.read_back_at, now()) + ${readBackMs(round.options)} * interval '1 millisecond')
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
    UPDATE stock_push SET attempt_key = NULL, attempt_qty = NULL, attempt_own = NULL, attempt_delta = NULL,
      attempt_dheld = NULL, attempt_dgiven = NULL, attempt_read = NULL
    WHERE attempt_key = ${key} AND listing_id = ANY(${rows.map((r) => r.listing_id)}::int[])`);
}

const withoutAttempt = (r: Claimed): Claimed => ({
  ...r,
  attempt_key: null,
  attempt_qty: null,
  attempt_own: null,
  attempt_delta: null,
});
