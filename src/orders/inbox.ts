import { createHash } from 'node:crypto';
import { sql, unprepared } from '../db/sql.js';
import { type CanonicalOrder, supersedes } from '../domain/order.js';
import { stableJson } from '../inventory/operations.js';
import type { Tx } from '../inventory/tx.js';

export type InboxSource = 'webhook' | 'pull' | 'manual';

export interface InboxDelivery {
  shopId: string;
  source: InboxSource;
  /** The platform's delivery/event id; default: a hash of the payload. */
  dedupeKey?: string;
  topic?: string | null;
  /** `{ order: <canonical order> }`, or for a re-fetch hint `{ refetch, reason }`. */
  payload: unknown;
  /**
   * Set on a re-fetch hint: the platform order id to read back. Hints are not applied by the
   * inbox worker but resolved per shop through the platform's API (see src/sync/hints.ts).
   */
  refetchOrderId?: string;
}

export interface ClaimedEvent {
  id: string;
  shopId: string;
  payload: unknown;
  attempts: number;
}

/**
 * Longest dedupe key stored as given (UTF-16 units): at most 1.5 kB of UTF-8, inside the
 * ~2.7 kB a row of the unique index may take. Platforms' ids are far shorter.
 */
export const MAX_DEDUPE_KEY_LENGTH = 500;

/** NUL, or half of a surrogate pair. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is the point
const UNSTORABLE_RE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Stores deliveries before anything else happens to them, in one statement. A repeated delivery
 * is dropped. One answer per delivery, same order; of two deliveries with the same key, the
 * first is stored and the second is a duplicate.
 *
 * Why deliveries are made storable here instead of refused: a verified webhook or a pulled page
 * is acknowledged only once stored, and refusing it for one character would lose the order. So
 * text PostgreSQL cannot hold (NUL; an unpaired surrogate, which jsonb refuses) becomes U+FFFD in
 * the topic and in the payload's strings, and a dedupe key that is longer than
 * {@link MAX_DEDUPE_KEY_LENGTH} or holds such text is stored as its SHA-256, which keeps
 * redeliveries of the same key deduplicated.
 */
export async function storeDeliveries(
  tx: Pick<Tx, 'query'>,
  ds: readonly InboxDelivery[],
): Promise<{ id: string | null; duplicate: boolean }[]> {
  if (ds.length === 0) return [];
  const keys = ds.map(dedupeKeyOf);
  const rows = await tx.query<{ id: string; shop_id: string; dedupe_key: string }>(sql`
    INSERT INTO inbox_event (shop_id, source, dedupe_key, topic, payload, refetch_order_id)
    SELECT t.shop_id, t.source, t.dedupe_key, t.topic, t.payload, t.refetch_order_id
    FROM unnest(${ds.map((d) => d.shopId)}::text[], ${ds.map((d) => d.source)}::text[], ${keys}::text[],
                ${ds.map((d) => (d.topic == null ? null : storableText(d.topic)))}::text[],
                ${ds.map((d) => storableJson(d.payload))}::jsonb[],
                ${ds.map((d) => (d.refetchOrderId === undefined ? null : storableText(d.refetchOrderId)))}::text[])
      WITH ORDINALITY AS t(shop_id, source, dedupe_key, topic, payload, refetch_order_id, n)
    ORDER BY t.n
    ON CONFLICT (shop_id, dedupe_key) DO NOTHING
    RETURNING id::text AS id, shop_id, dedupe_key`);
  const ids = new Map(rows.map((r) => [`${r.shop_id}\n${r.dedupe_key}`, r.id]));
  return ds.map((d, k) => {
    const key = `${d.shopId}\n${keys[k]}`;
    const id = ids.get(key);
    ids.delete(key);
    return id === undefined ? { id: null, duplicate: true } : { id, duplicate: false };
  });
}

/**
 * The deliveries (each carrying an order) whose order the ledger does not hold at this revision
 * or a newer one. A pull re-reads an overlap window, and a hint's order is often read back at a
 * revision already stored: storing them again would apply each a second time, to change nothing
 * (see compareRevisions).
 */
export async function notStoredYet(
  tx: Tx,
  shopId: string,
  deliveries: InboxDelivery[],
): Promise<InboxDelivery[]> {
  const incoming = deliveries.map((d) => (d.payload as { order: CanonicalOrder }).order);
  if (incoming.length === 0) return deliveries;
  const rows = await tx.query<{
    platform_order_id: string;
    platform: CanonicalOrder['platform'];
    modified_at: string | null;
    version: string | null;
    status: CanonicalOrder['status'];
    refunds: CanonicalOrder['refunds'];
  }>(sql`
    SELECT platform_order_id, platform, to_json(platform_modified_at)#>>'{}' AS modified_at,
           platform_version::text AS version, status::text AS status, data->'refunds' AS refunds
    FROM sales_order WHERE shop_id = ${shopId} AND platform_order_id = ANY(${incoming.map((o) => o.platformOrderId)}::text[])`);
  const stored = new Map(rows.map((r) => [r.platform_order_id, r]));
  return deliveries.filter((_, k) => {
    const o = incoming[k]!;
    const s = stored.get(o.platformOrderId);
    if (!s) return true;
    return supersedes(o, {
      shopId,
      platform: s.platform,
      platformOrderId: s.platform_order_id,
      status: s.status,
      refunds: s.refunds ?? [],
      ...(s.modified_at !== null ? { platformModifiedAt: s.modified_at } : {}),
      ...(s.version !== null ? { platformVersion: Number(s.version) } : {}),
    });
  });
}

/**
 * The inbox key of a delivery carrying a whole order: the order's revision and a hash of its
 * content, whatever brought it. A webhook and a pull (or a second webhook topic) bringing the
 * same revision are then one inbox event, stored and applied once; a changed order is a new one.
 */
export function orderRevisionKey(order: {
  platformOrderId: string;
  platformModifiedAt?: string | undefined;
  platformVersion?: number | undefined;
}): string {
  const hash = createHash('sha256').update(stableJson(order)).digest('hex').slice(0, 24);
  return `order:${order.platformOrderId}:${order.platformModifiedAt ?? ''}:${order.platformVersion ?? ''}:${hash}`;
}

function dedupeKeyOf(d: InboxDelivery): string {
  return d.dedupeKey === undefined
    ? `sha256:${createHash('sha256').update(stableJson(d.payload)).digest('hex')}`
    : d.dedupeKey.length > MAX_DEDUPE_KEY_LENGTH || storableText(d.dedupeKey) !== d.dedupeKey
      ? `key-sha256:${createHash('sha256').update(d.dedupeKey).digest('hex')}`
      : d.dedupeKey;
}

/**
 * The payload as JSON PostgreSQL's jsonb takes. JSON.stringify writes NUL and unpaired
 * surrogates as `\u` escapes (and nothing else that way), so the common payload is written once
 * and only one holding such an escape (or text that merely looks like one) goes through the
 * replacer, which costs a call per value.
 */
function storableJson(payload: unknown): string {
  const json = JSON.stringify(payload);
  return /\\u(?:0000|d[89a-f])/i.test(json)
    ? JSON.stringify(payload, (_k, v) => (typeof v === 'string' ? storableText(v) : v))
    : json;
}

function storableText(s: string): string {
  return s.replace(UNSTORABLE_RE, '\uFFFD');
}

/**
 * Claims up to `limit` due events that carry their order (re-fetch hints are claimed by
 * {@link claimHints}). Each claim counts an attempt and hides the event for `leaseMs`: a
 * processor that dies mid-batch leaves its events to be claimed again after that, never lost.
 * `SKIP LOCKED` lets several processors (and replicas) claim side by side.
 */
export async function claimDue(tx: Tx, limit: number, leaseMs: number): Promise<ClaimedEvent[]> {
  // In arrival order (RETURNING alone has none): the batch gives scarce units first come, first served.
  return tx.query<ClaimedEvent>(sql`
    WITH claimed AS (
      UPDATE inbox_event e SET attempts = e.attempts + 1,
        next_attempt_at = now() + ${leaseMs} * interval '1 millisecond'
      FROM (
        SELECT id FROM inbox_event
        WHERE status = 'pending' AND refetch_order_id IS NULL AND next_attempt_at <= now()
        ORDER BY next_attempt_at, id LIMIT ${limit} FOR UPDATE SKIP LOCKED
      ) due
      WHERE e.id = due.id
      RETURNING e.id, e.shop_id, e.payload, e.attempts
    )
    SELECT id::text AS id, shop_id AS "shopId", payload, attempts FROM claimed ORDER BY claimed.id`);
}

export interface ClaimedHint {
  id: string;
  platformOrderId: string;
  attempts: number;
}

// A shop's hints are read unprepared (planned at each run, see `unprepared`). Prepared, the
// plan PostgreSQL cached while the inbox was small read them through the (shop_id, dedupe_key)
// index and filtered every event of the shop (on the PostgreSQL peak run: up to 20,000 buffers
// and 90 ms for one count) until the table was next analyzed, inbox_event_shop_hint_idx or not.
// Planned with their values they take that index (test/integration/orders/hint-plans.test.ts).
// They run a few times a second per shop: planning them each time costs next to nothing.

/**
 * Claims up to `limit` due re-fetch hints of one shop, oldest first (leased like claimDue);
 * only those received at least `olderThanMs` ago.
 */
export async function claimHints(
  tx: Tx,
  shopId: string,
  limit: number,
  leaseMs: number,
  olderThanMs = 0,
): Promise<ClaimedHint[]> {
  return tx.query<ClaimedHint>(
    unprepared(sql`
      WITH claimed AS (
        UPDATE inbox_event e SET attempts = e.attempts + 1,
          next_attempt_at = now() + ${leaseMs} * interval '1 millisecond'
        FROM (
          SELECT id FROM inbox_event
          WHERE status = 'pending' AND refetch_order_id IS NOT NULL AND next_attempt_at <= now()
            AND shop_id = ${shopId} AND received_at <= now() - ${olderThanMs} * interval '1 millisecond'
          ORDER BY next_attempt_at, id LIMIT ${limit} FOR UPDATE SKIP LOCKED
        ) due
        WHERE e.id = due.id
        RETURNING e.id, e.refetch_order_id, e.attempts
      )
      SELECT id::text AS id, refetch_order_id AS "platformOrderId", attempts FROM claimed ORDER BY claimed.id`),
  );
}

/** Due re-fetch hints of one shop, counted up to `atMost`; none while the shop is paused. */
export async function dueHints(tx: Pick<Tx, 'query'>, shopId: string, atMost: number): Promise<number> {
  const [row] = await tx.query<{ n: number }>(
    unprepared(sql`
      SELECT count(*)::int AS n FROM (
        SELECT 1 FROM inbox_event
        WHERE status = 'pending' AND refetch_order_id IS NOT NULL AND next_attempt_at <= now()
          AND shop_id = ${shopId}
          AND NOT EXISTS (SELECT 1 FROM shop s WHERE s.id = ${shopId} AND s.paused_at IS NOT NULL)
        LIMIT ${atMost}) h`),
  );
  return row?.n ?? 0;
}

/**
 * Marks done the pending re-fetch hints of these orders that arrived before `readSince`: the
 * orders were read from the platform after the hints said they changed (a pull's pages), so
 * reading them again one by one would bring nothing newer. Returns how many were settled.
 */
export async function settleHints(
  tx: Tx,
  shopId: string,
  platformOrderIds: readonly string[],
  /** A database time (timestamptz text), e.g. `now()` read when the pull started. */
  readSince: string,
): Promise<number> {
  if (platformOrderIds.length === 0) return 0;
  const rows = await tx.query<{ id: string }>(
    unprepared(sql`
      UPDATE inbox_event SET status = 'done', processed_at = now(), last_error = NULL
      WHERE status = 'pending' AND refetch_order_id = ANY(${platformOrderIds}::text[])
        AND shop_id = ${shopId} AND received_at < ${readSince}::timestamptz
      RETURNING id::text AS id`),
  );
  return rows.length;
}

/**
 * Marks done the pending re-fetch hints of a shop received before `coveredUntil - lagMs` whose
 * order the ledger already holds: a pull that started at `coveredUntil` and ended caught up has
 * delivered every change made before that (the connector's `pullLagMs`), so a change the hint
 * announced after the ledger's last read of the order would have been on its pages. A hint for
 * an order the ledger has never seen is left to be read back: its order may be listed under an
 * older modified time than the pull's window (or not at all), and only a read proves it exists.
 * Returns how many were settled.
 */
export async function settleHintsBefore(
  tx: Tx,
  shopId: string,
  /** A database time (timestamptz text): when the pull started. */
  coveredUntil: string,
  lagMs: number,
): Promise<number> {
  const rows = await tx.query<{ id: string }>(
    unprepared(sql`
      UPDATE inbox_event e SET status = 'done', processed_at = now(), last_error = NULL
      WHERE e.status = 'pending' AND e.refetch_order_id IS NOT NULL AND e.shop_id = ${shopId}
        AND e.received_at < ${coveredUntil}::timestamptz - ${lagMs} * interval '1 millisecond'
        AND EXISTS (SELECT 1 FROM sales_order o WHERE o.shop_id = e.shop_id AND o.platform_order_id = e.refetch_order_id)
      RETURNING e.id::text AS id`),
  );
  return rows.length;
}

export async function markDone(tx: Tx, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  // Unprepared: on the PostgreSQL peak run, a plan cached while the inbox was nearly empty
  // scanned the whole table for each batch (up to 14,000 buffers, 84 ms) until autovacuum's
  // next ANALYZE; planned at each run it reads the primary key.
  await tx.execute(
    unprepared(sql`
      UPDATE inbox_event SET status = 'done', processed_at = now(), last_error = NULL
      WHERE id = ANY(${ids}::bigint[])`),
  );
}

/** Records a failed attempt: retried after `retryInMs`, or parked when `park` is set. */
export async function markFailed(
  tx: Tx,
  id: string,
  error: string,
  retryInMs: number,
  park: boolean,
): Promise<void> {
  await tx.execute(sql`
    UPDATE inbox_event SET last_error = ${error.slice(0, 2000)},
      status = ${park ? 'parked' : 'pending'}::"InboxStatus",
      next_attempt_at = now() + ${retryInMs} * interval '1 millisecond'
    WHERE id = ${id}::bigint AND status = 'pending'`);
}
