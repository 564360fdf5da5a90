import { sql } from '../db/sql.js';
import type { Tx } from '../inventory/tx.js';

export type ExceptionKind = 'unmapped_sku' | 'oversell' | 'amount_mismatch' | 'parked_event';

export interface ExceptionInput {
  kind: ExceptionKind;
  /** What it is about: a line key, an order key or `inbox:<id>`. One open row per (kind, subject). */
  subject: string;
  shopId: string;
  platformOrderId?: string | null;
  lineId?: string | null;
  quantity?: number | null;
  message: string;
  detail?: unknown;
}

/** Opens (or refreshes and reopens) the exception for (kind, subject). */
export async function raiseException(tx: Tx, e: ExceptionInput): Promise<void> {
  await tx.execute(sql`
    INSERT INTO order_exception (kind, subject, shop_id, platform_order_id, line_id, quantity, message, detail)
    VALUES (${e.kind}::"ExceptionKind", ${e.subject}, ${e.shopId}, ${e.platformOrderId ?? null}, ${e.lineId ?? null},
            ${e.quantity ?? null}, ${e.message}, ${e.detail === undefined ? null : JSON.stringify(e.detail)}::jsonb)
    ON CONFLICT (kind, subject) DO UPDATE SET
      status = 'open', quantity = EXCLUDED.quantity, message = EXCLUDED.message, detail = EXCLUDED.detail,
      resolved_at = NULL, resolution = NULL, updated_at = now()`);
}

/** An exception to resolve if it is open, with a note of why. */
export interface Settlement {
  kind: ExceptionKind;
  subject: string;
  resolution: string;
}

/** Resolves the open exception for (kind, subject), if any, with a note of why. */
export async function settleException(
  tx: Tx,
  kind: ExceptionKind,
  subject: string,
  resolution: string,
): Promise<void> {
  await settleExceptions(tx, [{ kind, subject, resolution }]);
}

/** {@link settleException} for several (kind, subject) pairs in one statement. */
export async function settleExceptions(tx: Tx, items: readonly Settlement[]): Promise<void> {
  if (items.length === 0) return;
  await tx.execute(sql`
    UPDATE order_exception e SET status = 'resolved', resolved_at = now(), resolution = t.resolution,
      updated_at = now()
    FROM unnest(${items.map((i) => i.kind)}::text[], ${items.map((i) => i.subject)}::text[],
                ${items.map((i) => i.resolution)}::text[]) AS t(kind, subject, resolution)
    WHERE e.kind = t.kind::"ExceptionKind" AND e.subject = t.subject AND e.status = 'open'`);
}
