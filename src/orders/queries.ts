/**
 * Reads (and the two operator writes) of the order intake for the admin API and the status
 * page: order lists and details with their stock effects, exceptions, inbox counts and retry.
 * Plain SQL through the inventory's transaction port; ids and money come back as numbers,
 * times as ISO strings, so PGlite and PostgreSQL answer the same JSON.
 *
 * Why keyset pagination: an operator pages through orders while new ones arrive at 双11 rates;
 * an offset would skip or repeat rows, a `(updated_at, id)` cursor does neither and uses the
 * `updated_at` index.
 */
import { z } from 'zod';
import { sql } from '../db/sql.js';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors.js';
import { orderStatusSchema } from '../domain/order.js';
import type { Tx } from '../inventory/tx.js';
import { parseInput } from '../inventory/validation.js';
import { lineKeyOf } from './apply.js';
import { type ExceptionKind, settleException } from './exceptions.js';

/** Largest page of a list. */
export const MAX_PAGE = 200;
const DEFAULT_PAGE = 50;

const limit = z.number().int().min(1).max(MAX_PAGE).optional();
const cursor = z.string().trim().min(1).max(200).optional();

const listOrdersInput = z.strictObject({
  shopId: z.string().trim().min(1).max(63).optional(),
  status: orderStatusSchema.optional(),
  /** Prefix of the platform order id. */
  platformOrderId: z.string().trim().min(1).max(128).optional(),
  /** `nextCursor` of the previous page: orders updated before that one. */
  cursor,
  limit,
});
export type ListOrdersInput = z.input<typeof listOrdersInput>;

export const EXCEPTION_KINDS = ['unmapped_sku', 'oversell', 'amount_mismatch', 'parked_event'] as const;

const listExceptionsInput = z.strictObject({
  /** Default `open`; `all` for both. */
  status: z.enum(['open', 'resolved', 'all']).optional(),
  kind: z.enum(EXCEPTION_KINDS).optional(),
  shopId: z.string().trim().min(1).max(63).optional(),
  cursor,
  limit,
});
export type ListExceptionsInput = z.input<typeof listExceptionsInput>;

const resolution = z.string().trim().min(1).max(2000);
const rowId = z.string().regex(/^[1-9][0-9]{0,17}$/, 'expected a positive integer id');

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

export interface OrderSummary {
  id: number;
  shopId: string;
  platform: string;
  platformOrderId: string;
  status: string;
  currency: string;
  buyerPaidTotal: number;
  platformModifiedAt: string | null;
  platformVersion: number | null;
  createdAt: string;
  updatedAt: string;
  lines: number;
  openExceptions: number;
}

/** Stock units of one SKU in one warehouse. */
export interface StockUnits {
  sku: string;
  skuId: number;
  warehouse: string;
  warehouseId: number;
  quantity: number;
}

export interface OrderLineView {
  lineId: string;
  /** The reservation line key (`<shop>:<order>:<line>`). */
  lineKey: string;
  /** The mapped SKU code; null while unmapped. */
  sku: string | null;
  skuId: number | null;
  unitsPerItem: number;
  quantity: number;
  gift: boolean;
  amounts: {
    listAmount: number;
    sellerDiscount: number;
    platformDiscount: number;
    buyerPaid: number;
    sellerRevenue: number;
  };
  /** Reservation rows summed per (status, SKU, warehouse); bundle lines show their components. */
  reservations: { active: StockUnits[]; consumed: StockUnits[]; released: StockUnits[] };
  /** Return movements booked for the line. */
  restocks: (StockUnits & { key: string; at: string })[];
}

export interface ExceptionView {
  id: number;
  kind: ExceptionKind;
  subject: string;
  status: 'open' | 'resolved';
  shopId: string;
  platformOrderId: string | null;
  lineId: string | null;
  quantity: number | null;
  message: string;
  detail: unknown;
  createdAt: string;
  updatedAt: string;
  resolvedAt: string | null;
  resolution: string | null;
}

export interface OrderDetail extends Omit<OrderSummary, 'lines'> {
  /** The canonical order as last applied. */
  order: unknown;
  lines: OrderLineView[];
  /** Every exception about the order, open and resolved, oldest first. */
  exceptions: ExceptionView[];
}

export interface InboxCounts {
  pending: number;
  /** Pending and due now (the backlog a processor would claim). */
  due: number;
  /**
   * Of the pending, re-fetch hints: webhooks naming an order the shop's replica has yet to read
   * back from the platform (one by one, or by a pull when many).
   */
  hints: number;
  done: number;
  parked: number;
  /** Receive time of the oldest pending event: the intake lag. */
  oldestPendingAt: string | null;
}

const iso = (v: unknown): string | null =>
  v === null || v === undefined ? null : (v instanceof Date ? v : new Date(String(v))).toISOString();

const ORDER_COLUMNS = `
  o.id::float8 AS id, o.shop_id, o.platform, o.platform_order_id, o.status::text AS status, o.currency,
  o.buyer_paid_total::float8 AS buyer_paid_total, o.platform_modified_at, o.platform_version::float8 AS platform_version,
  o.created_at, o.updated_at,
  (SELECT COUNT(*)::int FROM sales_order_line l WHERE l.order_id = o.id) AS lines,
  (SELECT COUNT(*)::int FROM order_exception e
    WHERE e.shop_id = o.shop_id AND e.platform_order_id = o.platform_order_id AND e.status = 'open') AS open_exceptions`;

interface OrderRow {
  id: number;
  shop_id: string;
  platform: string;
  platform_order_id: string;
  status: string;
  currency: string;
  buyer_paid_total: number;
  platform_modified_at: unknown;
  platform_version: number | null;
  created_at: unknown;
  updated_at: unknown;
  lines: number;
  open_exceptions: number;
}

function orderSummary(r: OrderRow): OrderSummary {
  return {
    id: r.id,
    shopId: r.shop_id,
    platform: r.platform,
    platformOrderId: r.platform_order_id,
    status: r.status,
    currency: r.currency,
    buyerPaidTotal: r.buyer_paid_total,
    platformModifiedAt: iso(r.platform_modified_at),
    platformVersion: r.platform_version,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
    lines: r.lines,
    openExceptions: r.open_exceptions,
  };
}

/** Orders newest (last updated) first, filtered, one page at a time. */
export async function listOrders(tx: Tx, input: ListOrdersInput = {}): Promise<Page<OrderSummary>> {
  const q = parseInput(listOrdersInput, input, 'order query');
  const n = q.limit ?? DEFAULT_PAGE;
  const after = q.cursor === undefined ? null : decodeOrderCursor(q.cursor);
  const rows = await tx.query<OrderRow>({
    text: `SELECT ${ORDER_COLUMNS} FROM sales_order o
      WHERE ($1::text IS NULL OR o.shop_id = $1)
        AND ($2::text IS NULL OR o.status::text = $2)
        AND ($3::text IS NULL OR starts_with(o.platform_order_id, $3))
        AND ($4::timestamptz IS NULL OR (o.updated_at, o.id) < ($4::timestamptz, $5::bigint))
      ORDER BY o.updated_at DESC, o.id DESC LIMIT $6`,
    values: [
      q.shopId ?? null,
      q.status ?? null,
      q.platformOrderId ?? null,
      after?.updatedAt ?? null,
      after?.id ?? null,
      n + 1,
    ],
  });
  const items = rows.slice(0, n).map(orderSummary);
  const last = items.at(-1);
  return {
    items,
    nextCursor: rows.length > n && last ? encodeOrderCursor(last.updatedAt, last.id) : null,
  };
}

/** Cursor of the order list: `<updatedAt ISO>|<id>`, base64url so it travels in a query string. */
function encodeOrderCursor(updatedAt: string, id: number): string {
  return Buffer.from(`${updatedAt}|${id}`).toString('base64url');
}

function decodeOrderCursor(c: string): { updatedAt: string; id: string } {
  const [at, id, extra] = Buffer.from(c, 'base64url').toString('utf8').split('|');
  // Exactly what encodeOrderCursor wrote: Date.parse alone takes "1" or year 275760, which
  // PostgreSQL's timestamptz refuses (a 500 instead of a 400).
  if (
    extra !== undefined ||
    !at ||
    !id ||
    !/^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$/.test(at) ||
    Number.isNaN(Date.parse(at)) ||
    new Date(at).toISOString() !== at ||
    !/^[0-9]{1,18}$/.test(id)
  ) {
    throw new ValidationError('malformed cursor', ['cursor: not a cursor this API gave out']);
  }
  return { updatedAt: at, id };
}

/**
 * One order as stored: the canonical order, its lines with apportioned amounts and mapped SKU,
 * each line's stock effects, and every exception about it (open and resolved).
 */
export async function getOrder(tx: Tx, shopId: string, platformOrderId: string): Promise<OrderDetail> {
  const [row] = await tx.query<OrderRow & { data: unknown }>({
    text: `SELECT ${ORDER_COLUMNS}, o.data FROM sales_order o WHERE o.shop_id = $1 AND o.platform_order_id = $2`,
    values: [shopId, platformOrderId],
  });
  if (!row) throw new NotFoundError('order', [`${shopId}:${platformOrderId}`]);
  const lines = await tx.query<{
    line_id: string;
    sku: string | null;
    sku_id: number | null;
    units_per_item: number;
    quantity: number;
    gift: boolean;
    list_amount: number;
    seller_discount: number;
    platform_discount: number;
    buyer_paid: number;
    seller_revenue: number;
  }>(sql`
    SELECT l.line_id, s.code AS sku, l.sku_id, l.units_per_item, l.quantity, l.gift,
      l.list_amount::float8 AS list_amount, l.seller_discount::float8 AS seller_discount,
      l.platform_discount::float8 AS platform_discount, l.buyer_paid::float8 AS buyer_paid,
      l.seller_revenue::float8 AS seller_revenue
    FROM sales_order_line l LEFT JOIN sku s ON s.id = l.sku_id
    WHERE l.order_id = ${row.id}::bigint ORDER BY l.id`);
  const keys = lines.map((l) => lineKeyOf(shopId, platformOrderId, l.line_id));
  const reservations = await tx.query<{
    line_key: string;
    status: 'active' | 'consumed' | 'released';
    sku: string;
    sku_id: number;
    warehouse: string;
    warehouse_id: number;
    quantity: number;
  }>(sql`
    SELECT r.line_key, r.status::text AS status, s.code AS sku, r.sku_id, w.code AS warehouse, r.warehouse_id,
      SUM(r.quantity)::int AS quantity
    FROM reservation r JOIN sku s ON s.id = r.sku_id JOIN warehouse w ON w.id = r.warehouse_id
    WHERE r.line_key = ANY(${keys}::text[])
    GROUP BY r.line_key, r.status, s.code, r.sku_id, w.code, r.warehouse_id
    ORDER BY r.line_key, s.code, w.code`);
  const restocks = await tx.query<{
    reference: string;
    sku: string;
    sku_id: number;
    warehouse: string;
    warehouse_id: number;
    quantity: number;
    idempotency_key: string;
    created_at: unknown;
  }>(sql`
    SELECT m.reference, s.code AS sku, m.sku_id, w.code AS warehouse, m.warehouse_id, m.quantity,
      m.idempotency_key, m.created_at
    FROM stock_movement m JOIN sku s ON s.id = m.sku_id JOIN warehouse w ON w.id = m.warehouse_id
    WHERE m.kind = 'return' AND m.reference = ANY(${keys}::text[])
    ORDER BY m.id`);
  const exceptions = await tx.query<ExceptionRow>({
    text: `SELECT ${EXCEPTION_COLUMNS} FROM order_exception WHERE shop_id = $1 AND platform_order_id = $2 ORDER BY id`,
    values: [shopId, platformOrderId],
  });
  const units = (r: {
    sku: string;
    sku_id: number;
    warehouse: string;
    warehouse_id: number;
    quantity: number;
  }): StockUnits => ({
    sku: r.sku,
    skuId: r.sku_id,
    warehouse: r.warehouse,
    warehouseId: r.warehouse_id,
    quantity: r.quantity,
  });
  return {
    ...orderSummary(row),
    order: row.data,
    lines: lines.map((l, i) => {
      const key = keys[i]!;
      const mine = reservations.filter((r) => r.line_key === key);
      const of = (s: string) => mine.filter((r) => r.status === s).map(units);
      return {
        lineId: l.line_id,
        lineKey: key,
        sku: l.sku,
        skuId: l.sku_id,
        unitsPerItem: l.units_per_item,
        quantity: l.quantity,
        gift: l.gift,
        amounts: {
          listAmount: l.list_amount,
          sellerDiscount: l.seller_discount,
          platformDiscount: l.platform_discount,
          buyerPaid: l.buyer_paid,
          sellerRevenue: l.seller_revenue,
        },
        reservations: { active: of('active'), consumed: of('consumed'), released: of('released') },
        restocks: restocks
          .filter((m) => m.reference === key)
          .map((m) => ({ ...units(m), key: m.idempotency_key, at: iso(m.created_at)! })),
      };
    }),
    exceptions: exceptions.map(exceptionView),
  };
}

const EXCEPTION_COLUMNS = `id::float8 AS id, kind::text AS kind, subject, status::text AS status, shop_id,
  platform_order_id, line_id, quantity, message, detail, created_at, updated_at, resolved_at, resolution`;

interface ExceptionRow {
  id: number;
  kind: ExceptionKind;
  subject: string;
  status: 'open' | 'resolved';
  shop_id: string;
  platform_order_id: string | null;
  line_id: string | null;
  quantity: number | null;
  message: string;
  detail: unknown;
  created_at: unknown;
  updated_at: unknown;
  resolved_at: unknown;
  resolution: string | null;
}

function exceptionView(r: ExceptionRow): ExceptionView {
  return {
    id: r.id,
    kind: r.kind,
    subject: r.subject,
    status: r.status,
    shopId: r.shop_id,
    platformOrderId: r.platform_order_id,
    lineId: r.line_id,
    quantity: r.quantity,
    message: r.message,
    detail: r.detail ?? null,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
    resolvedAt: iso(r.resolved_at),
    resolution: r.resolution,
  };
}

/** Exceptions newest first (by id; the cursor is the last id of the previous page). */
export async function listExceptions(tx: Tx, input: ListExceptionsInput = {}): Promise<Page<ExceptionView>> {
  const q = parseInput(listExceptionsInput, input, 'exception query');
  const n = q.limit ?? DEFAULT_PAGE;
  const status = q.status ?? 'open';
  if (q.cursor !== undefined && !/^[1-9][0-9]{0,17}$/.test(q.cursor)) {
    throw new ValidationError('malformed cursor', ['cursor: not a cursor this API gave out']);
  }
  const rows = await tx.query<ExceptionRow>({
    text: `SELECT ${EXCEPTION_COLUMNS} FROM order_exception
      WHERE ($1::text = 'all' OR status::text = $1)
        AND ($2::text IS NULL OR kind::text = $2)
        AND ($3::text IS NULL OR shop_id = $3)
        AND ($4::bigint IS NULL OR id < $4::bigint)
      ORDER BY id DESC LIMIT $5`,
    values: [status, q.kind ?? null, q.shopId ?? null, q.cursor ?? null, n + 1],
  });
  const items = rows.slice(0, n).map(exceptionView);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > n && last ? String(last.id) : null };
}

/**
 * Marks an open exception resolved with the operator's note. Resolving a resolved one is a
 * {@link ConflictError} (two operators acting on the same alert learn of each other). The
 * exception reopens by itself if its cause comes back (see raiseException).
 */
export async function resolveException(tx: Tx, id: string, note: string): Promise<ExceptionView> {
  const exceptionId = parseInput(rowId, id, 'exception id');
  const text = parseInput(resolution, note, 'resolution');
  const [row] = await tx.query<ExceptionRow>({
    text: `UPDATE order_exception SET status = 'resolved', resolved_at = now(), resolution = $2, updated_at = now()
      WHERE id = $1::bigint AND status = 'open' RETURNING ${EXCEPTION_COLUMNS}`,
    values: [exceptionId, text],
  });
  if (row) return exceptionView(row);
  const [existing] = await tx.query<{ resolved_at: unknown }>(
    sql`SELECT resolved_at FROM order_exception WHERE id = ${exceptionId}::bigint`,
  );
  if (!existing) throw new NotFoundError('exception', [exceptionId]);
  throw new ConflictError(`exception ${exceptionId} was already resolved at ${iso(existing.resolved_at)}`);
}

/**
 * Moves a parked inbox event back to pending, due now, with its attempts reset, and resolves
 * its `parked_event` exception. Its last error stays until it is processed. An event that is not
 * parked is a {@link ConflictError}.
 */
export async function retryParked(tx: Tx, eventId: string): Promise<{ id: string; status: 'pending' }> {
  const id = parseInput(rowId, eventId, 'inbox event id');
  const n = await tx.execute(sql`
    UPDATE inbox_event SET status = 'pending', attempts = 0, next_attempt_at = now()
    WHERE id = ${id}::bigint AND status = 'parked'`);
  if (n === 0) {
    const [row] = await tx.query<{ status: string }>(
      sql`SELECT status::text AS status FROM inbox_event WHERE id = ${id}::bigint`,
    );
    if (!row) throw new NotFoundError('inbox_event', [id]);
    throw new ConflictError(`inbox event ${id} is ${row.status}, not parked`);
  }
  await settleException(tx, 'parked_event', `inbox:${id}`, 'retried by an operator');
  return { id, status: 'pending' };
}

/** Inbox events by status, with the due backlog and the oldest pending receive time. */
export async function inboxCounts(tx: Tx): Promise<InboxCounts> {
  const [r] = await tx.query<{
    pending: number;
    due: number;
    hints: number;
    done: number;
    parked: number;
    oldest: unknown;
  }>(sql`
    SELECT COUNT(*) FILTER (WHERE status = 'pending')::int AS pending,
      COUNT(*) FILTER (WHERE status = 'pending' AND next_attempt_at <= now())::int AS due,
      COUNT(*) FILTER (WHERE status = 'pending' AND refetch_order_id IS NOT NULL)::int AS hints,
      COUNT(*) FILTER (WHERE status = 'done')::int AS done,
      COUNT(*) FILTER (WHERE status = 'parked')::int AS parked,
      MIN(received_at) FILTER (WHERE status = 'pending') AS oldest
    FROM inbox_event`);
  return {
    pending: r!.pending,
    due: r!.due,
    hints: r!.hints,
    done: r!.done,
    parked: r!.parked,
    oldestPendingAt: iso(r!.oldest),
  };
}

/** Unpaid orders of `shopId` created before `cutoff` that still hold stock (at most 500 per call). */
export async function findExpiredHolds(tx: Tx, shopId: string, cutoff: Date): Promise<string[]> {
  const rows = await tx.query<{ id: string }>(sql`
    SELECT o.platform_order_id AS id FROM sales_order o
    WHERE o.shop_id = ${shopId} AND o.status = 'pending_payment'
      AND COALESCE((o.data->>'platformCreatedAt')::timestamptz, o.platform_modified_at) <= ${cutoff.toISOString()}::timestamptz
      AND EXISTS (
        SELECT 1 FROM sales_order_line l JOIN reservation r
          ON r.line_key = o.shop_id || ':' || o.platform_order_id || ':' || l.line_id AND r.status = 'active'
        WHERE l.order_id = o.id)
    ORDER BY o.id LIMIT 500`);
  return rows.map((r) => r.id);
}
