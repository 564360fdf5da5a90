import { createHash } from 'node:crypto';
import { sql } from '../db/sql.js';
import { stableJson } from '../inventory/operations.js';
import type { Tx } from '../inventory/tx.js';

export type InboxSource = 'webhook' | 'pull' | 'manual';

export interface InboxDelivery {
  shopId: string;
  source: InboxSource;
  /** The platform's delivery/event id; default: a hash of the payload. */
  dedupeKey?: string;
  topic?: string | null;
  /** `{ order: <canonical order> }` today; re-fetch hints join with the sync engine. */
  payload: unknown;
}

export interface ClaimedEvent {
  id: string;
  shopId: string;
  payload: unknown;
  attempts: number;
}

/** Stores a delivery before anything else happens to it. A repeated delivery is dropped. */
export async function storeDelivery(
  tx: Tx,
  d: InboxDelivery,
): Promise<{ id: string | null; duplicate: boolean }> {
  const key = d.dedupeKey ?? `sha256:${createHash('sha256').update(stableJson(d.payload)).digest('hex')}`;
  const rows = await tx.query<{ id: string }>(sql`
    INSERT INTO inbox_event (shop_id, source, dedupe_key, topic, payload)
    VALUES (${d.shopId}, ${d.source}, ${key}, ${d.topic ?? null}, ${JSON.stringify(d.payload)}::jsonb)
    ON CONFLICT (shop_id, dedupe_key) DO NOTHING
    RETURNING id::text AS id`);
  return rows[0] ? { id: rows[0].id, duplicate: false } : { id: null, duplicate: true };
}

/**
 * Claims up to `limit` due events. Each claim counts an attempt and hides the event for
 * `leaseMs`: a processor that dies mid-batch leaves its events to be claimed again after
 * that, never lost. `SKIP LOCKED` lets several processors (and replicas) claim side by side.
 */
export async function claimDue(tx: Tx, limit: number, leaseMs: number): Promise<ClaimedEvent[]> {
  return tx.query<ClaimedEvent>(sql`
    UPDATE inbox_event e SET attempts = e.attempts + 1,
      next_attempt_at = now() + ${leaseMs} * interval '1 millisecond'
    FROM (
      SELECT id FROM inbox_event WHERE status = 'pending' AND next_attempt_at <= now()
      ORDER BY next_attempt_at, id LIMIT ${limit} FOR UPDATE SKIP LOCKED
    ) due
    WHERE e.id = due.id
    RETURNING e.id::text AS id, e.shop_id AS "shopId", e.payload, e.attempts`);
}

export async function markDone(tx: Tx, id: string): Promise<void> {
  await tx.execute(sql`
    UPDATE inbox_event SET status = 'done', processed_at = now(), last_error = NULL WHERE id = ${id}::bigint`);
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
    WHERE id = ${id}::bigint`);
}
