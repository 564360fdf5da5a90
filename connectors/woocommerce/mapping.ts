/**
 * WooCommerce REST v3 order (+ its refund details) -> canonical order (`src/domain/order.ts`).
 *
 * Amounts: WooCommerce sends decimal strings in the store currency (`dp`, default 2). Line
 * `subtotal`/`total` and `shipping_total` exclude tax even when `prices_include_tax` is true;
 * the tax is in `total_tax`, so `taxAdded = total_tax` and
 * `total = Σ line total + shipping_total + Σ fee total + total_tax` [V].
 *
 * Promotions (all seller-funded: WooCommerce has no marketplace subsidy):
 * - Line discount = `subtotal - total` [V]; core does not split it by coupon within a line.
 *   With exactly one coupon whose `discount` equals the sum of the non-gift line discounts, it
 *   becomes one order-level `coupon` promotion carrying the platform's split as `allocations`.
 *   Otherwise (several coupons, or a plugin discount) each line keeps its discount as a
 *   `lineDiscount` (`coupon` when the order has coupons, else `fixed`).
 * - Negative `fee_lines` (how discount plugins often lower a cart) become seller-funded
 *   `manual_adjustment` promotions for apportionOrder; positive fees become negative
 *   adjustments (a surcharge spread over the lines).
 * - `unitListPrice` is `subtotal / quantity`; when that is not a whole cent, the unit is rounded
 *   up and the difference kept as a `manual_adjustment` line discount named `rounding`, so every
 *   amount still adds up to the cent.
 *
 * Gifts: no core concept. A line whose `total` is 0.00 (free-gift plugins add it at 0.00, or a
 * 100% product coupon) is a gift line: `gift: true`, its discount (if any) of kind `gift`, and one
 * `gift` promotion lists them.
 *
 * Status (notes §2.4 onto the canonical lifecycle, which has no "refunded" state):
 * pending/on-hold -> pending_payment; processing -> paid; completed -> completed;
 * cancelled/failed -> cancelled; refunded -> completed if it had been completed
 * (`date_completed`), else cancelled, with the refund records kept; trash/checkout-draft/
 * auto-draft are ignored (not orders a seller ships); plugin statuses via `customStatuses`.
 * Core has no per-line shipment, so `shippedQuantity` is left to the status.
 *
 * Refunds: with the `GET /orders/{id}/refunds` details, each refund line (negative `quantity`
 * and `total`, `_refunded_item_id` meta naming the order line [V]) becomes a line refund of
 * `|total| + |total_tax|`; what the refund `amount` has beyond its lines (shipping, fees, a
 * free amount) is an order-level refund. Without details (a webhook payload) each `refunds[]`
 * summary (`total` negative) becomes an order-level refund. WooCommerce refunds are completed
 * records (`succeeded`); whether items were restocked is not exposed, so `goodsReturn: none`.
 */
import { z } from 'zod';
import { type CurrencyCode, currencySchema, parseDecimal } from '../../src/domain/money.js';
import {
  type CanonicalOrder,
  type CanonicalOrderInput,
  type OrderStatus,
  parseCanonicalOrder,
} from '../../src/domain/order.js';
import type { OrderPromotionInput } from '../../src/domain/promotions.js';
import { parseWooGmt } from './client.js';

const id = z.union([z.number().int().nonnegative(), z.string().regex(/^\d+$/)]).transform(String);
const decimal = z.string();
const metaSchema = z.object({ key: z.string(), value: z.unknown() });

const lineItemSchema = z.object({
  id,
  name: z.string().nullish(),
  product_id: id.nullish(),
  variation_id: id.nullish(),
  sku: z.string().nullish(),
  quantity: z.number().int(),
  subtotal: decimal,
  total: decimal,
  meta_data: z.array(metaSchema).default([]),
});

export const wooOrderSchema = z.object({
  id,
  status: z.string(),
  currency: z.string(),
  date_created_gmt: z.string().nullish(),
  date_modified_gmt: z.string(),
  date_completed_gmt: z.string().nullish(),
  shipping_total: decimal.default('0.00'),
  total: decimal,
  total_tax: decimal.default('0.00'),
  line_items: z.array(lineItemSchema),
  fee_lines: z.array(z.object({ id: id.nullish(), name: z.string().nullish(), total: decimal })).default([]),
  coupon_lines: z
    .array(
      z.object({
        id: id.nullish(),
        code: z.string(),
        discount: decimal,
        discount_type: z.string().nullish(),
        nominal_amount: z.union([z.number(), z.string()]).nullish(),
      }),
    )
    .default([]),
  refunds: z.array(z.object({ id, total: decimal, reason: z.string().nullish() })).default([]),
});
export type WooOrder = z.infer<typeof wooOrderSchema>;

export const wooRefundSchema = z.object({
  id,
  date_created_gmt: z.string().nullish(),
  amount: decimal,
  line_items: z
    .array(
      z.object({
        id: id.nullish(),
        quantity: z.number().int(),
        total: decimal,
        total_tax: decimal.default('0.00'),
        meta_data: z.array(metaSchema).default([]),
      }),
    )
    .default([]),
});
export type WooRefund = z.infer<typeof wooRefundSchema>;

export interface MappingOptions {
  /** The canonical `shopId` (store host and path). */
  shopId: string;
  /** Plugin statuses and their canonical status. */
  customStatuses: Readonly<Record<string, OrderStatus>>;
}

export type MapResult =
  | { ok: true; order: CanonicalOrder }
  | { ok: false; ignored: boolean; platformOrderId: string; error: string };

/** Statuses that are not real orders: skipped, never rejected. */
export const IGNORED_STATUSES = new Set(['trash', 'checkout-draft', 'auto-draft']);

class MappingError extends Error {}

/**
 * Maps one order. `refundDetails` is the `GET /orders/{id}/refunds` list when it was fetched;
 * undefined = only the order's `refunds[]` summaries are known. Never throws.
 */
export function mapWooOrder(
  raw: unknown,
  options: MappingOptions,
  refundDetails?: readonly unknown[],
): MapResult {
  const rawId = rawOrderId(raw);
  const parsed = wooOrderSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    return {
      ok: false,
      ignored: false,
      platformOrderId: rawId,
      error: `payload: ${first?.path.join('.')}: ${first?.message}`,
    };
  }
  const o = parsed.data;
  if (IGNORED_STATUSES.has(o.status)) {
    return { ok: false, ignored: true, platformOrderId: o.id, error: `status ${o.status} is not an order` };
  }
  try {
    let details: WooRefund[] | undefined;
    if (refundDetails !== undefined) {
      const d = z.array(wooRefundSchema).safeParse(refundDetails);
      if (!d.success) throw new MappingError(`refund details: ${d.error.issues[0]?.message}`);
      details = d.data;
    }
    const checked = parseCanonicalOrder(toCanonical(o, options, details));
    if (!checked.ok)
      return { ok: false, ignored: false, platformOrderId: o.id, error: checked.error.message };
    return { ok: true, order: checked.order };
  } catch (err) {
    return {
      ok: false,
      ignored: false,
      platformOrderId: o.id,
      error: err instanceof Error ? err.message : String(err),
    };
  }
}

/** The order id of an unparsed payload, for error reports; `?` if there is none. */
export function rawOrderId(raw: unknown): string {
  const v = typeof raw === 'object' && raw !== null ? (raw as { id?: unknown }).id : undefined;
  return typeof v === 'number' || typeof v === 'string' ? String(v) : '?';
}

/** Canonical status of a WooCommerce order status (see the module comment). */
export function mapStatus(
  status: string,
  completedAt: string | null | undefined,
  customStatuses: Readonly<Record<string, OrderStatus>>,
): OrderStatus {
  const custom = Object.hasOwn(customStatuses, status) ? customStatuses[status] : undefined;
  if (custom) return custom;
  switch (status) {
    case 'pending':
    case 'on-hold':
      return 'pending_payment';
    case 'processing':
      return 'paid';
    case 'completed':
      return 'completed';
    case 'cancelled':
    case 'failed':
      return 'cancelled';
    case 'refunded':
      return completedAt ? 'completed' : 'cancelled';
    default:
      throw new MappingError(`unknown order status ${JSON.stringify(status)} (add it to customStatuses)`);
  }
}

function toCanonical(
  o: WooOrder,
  options: MappingOptions,
  details: WooRefund[] | undefined,
): CanonicalOrderInput {
  const cur = currencySchema.safeParse(o.currency);
  if (!cur.success) throw new MappingError(`unsupported currency ${o.currency}`);
  const currency = cur.data;
  const money = (text: string, what: string, allowNegative = false): number => {
    const p = parseDecimal(text, currency, { allowNegative });
    if (!p.ok) throw new MappingError(`${what}: ${p.reason}`);
    return p.minor;
  };

  const couponNames = o.coupon_lines.map((c) => c.code).filter((c) => c.length > 0);
  type Pending = { lineId: string; discount: number };
  const discounted: Pending[] = [];
  const giftLineIds: string[] = [];

  const lines = o.line_items
    .filter((li) => li.quantity > 0)
    .map((li) => {
      const lineId = li.id;
      const subtotal = money(li.subtotal, `line ${lineId} subtotal`);
      const total = money(li.total, `line ${lineId} total`);
      const unitListPrice = Math.ceil(subtotal / li.quantity);
      const rounding = unitListPrice * li.quantity - subtotal;
      const discount = subtotal - total;
      const gift = total === 0;
      if (gift) giftLineIds.push(lineId);
      const lineDiscounts: NonNullable<CanonicalOrderInput['lines'][number]['lineDiscounts']> = [];
      if (rounding > 0)
        lineDiscounts.push({
          kind: 'manual_adjustment',
          funding: 'seller',
          amount: rounding,
          name: 'rounding',
        });
      if (gift && discount > 0)
        lineDiscounts.push({ kind: 'gift', funding: 'seller', amount: discount, name: 'free item' });
      else if (discount < 0) {
        lineDiscounts.push({
          kind: 'manual_adjustment',
          funding: 'seller',
          amount: discount,
          name: 'line total raised',
        });
      } else if (discount > 0) discounted.push({ lineId, discount });
      const productId = li.product_id && li.product_id !== '0' ? li.product_id : `custom-${lineId}`;
      const sku = li.sku?.trim();
      return {
        lineId,
        platformItemId: productId,
        ...(li.variation_id && li.variation_id !== '0' ? { platformSkuId: li.variation_id } : {}),
        ...(sku ? { outerSkuId: sku } : {}),
        ...(li.name ? { title: li.name.slice(0, 500) } : {}),
        quantity: li.quantity,
        unitListPrice,
        gift,
        lineDiscounts,
      };
    });
  if (lines.length === 0) throw new MappingError('order has no line with a quantity');
  const byId = new Map(lines.map((l) => [l.lineId, l]));

  const promotions: OrderPromotionInput[] = [];
  const only = o.coupon_lines.length === 1 ? o.coupon_lines[0] : undefined;
  const discountSum = discounted.reduce((s, d) => s + d.discount, 0);
  if (only && discounted.length > 0 && money(only.discount, `coupon ${only.code} discount`) === discountSum) {
    promotions.push({
      kind: 'coupon',
      funding: 'seller',
      ...(only.id ? { id: only.id } : {}),
      ...(only.code ? { code: only.code.slice(0, 500), name: only.code.slice(0, 500) } : {}),
      ...percentRate(only),
      amount: discountSum,
      allocations: discounted.map((d) => ({ lineId: d.lineId, amount: d.discount })),
    });
  } else {
    for (const d of discounted) {
      byId.get(d.lineId)?.lineDiscounts.push({
        kind: couponNames.length > 0 ? 'coupon' : 'fixed',
        funding: 'seller',
        amount: d.discount,
        ...(couponNames.length > 0 ? { name: couponNames.join(', ').slice(0, 500) } : {}),
      });
    }
  }
  for (const f of o.fee_lines) {
    const fee = money(f.total, `fee ${f.name ?? ''} total`, true);
    if (fee === 0) continue;
    promotions.push({
      kind: 'manual_adjustment',
      funding: 'seller',
      ...(f.id ? { id: f.id } : {}),
      ...(f.name ? { name: f.name.slice(0, 500) } : {}),
      amount: -fee,
    });
  }
  if (giftLineIds.length > 0) promotions.push({ kind: 'gift', name: 'free items', giftLineIds });

  return {
    shopId: options.shopId,
    platform: 'woocommerce',
    platformOrderId: o.id,
    ...(o.date_created_gmt ? { platformCreatedAt: iso(o.date_created_gmt, 'date_created_gmt') } : {}),
    platformModifiedAt: iso(o.date_modified_gmt, 'date_modified_gmt'),
    status: mapStatus(o.status, o.date_completed_gmt, options.customStatuses),
    currency,
    lines,
    promotions,
    shippingFee: money(o.shipping_total, 'shipping_total'),
    taxAdded: money(o.total_tax, 'total_tax'),
    buyerPaidTotal: money(o.total, 'total'),
    refunds: details ? detailedRefunds(details, currency, byId) : summaryRefunds(o, currency),
  };
}

function percentRate(c: WooOrder['coupon_lines'][number]): { rateBasisPoints?: number } {
  if (c.discount_type !== 'percent' || c.nominal_amount === undefined || c.nominal_amount === null) return {};
  const p = parseDecimal(String(c.nominal_amount), 'USD');
  return p.ok && p.minor > 0 && p.minor <= 10_000 ? { rateBasisPoints: p.minor } : {};
}

function summaryRefunds(o: WooOrder, currency: CurrencyCode): CanonicalOrderInput['refunds'] {
  return o.refunds.map((r) => {
    const p = parseDecimal(r.total, currency, { allowNegative: true });
    if (!p.ok) throw new MappingError(`refund ${r.id} total: ${p.reason}`);
    return {
      refundId: r.id,
      quantity: 0,
      amount: Math.abs(p.minor),
      status: 'succeeded',
      goodsReturn: 'none',
    };
  });
}

function detailedRefunds(
  details: WooRefund[],
  currency: CurrencyCode,
  lines: Map<string, { quantity: number }>,
): CanonicalOrderInput['refunds'] {
  const abs = (text: string, what: string): number => {
    const p = parseDecimal(text, currency, { allowNegative: true });
    if (!p.ok) throw new MappingError(`${what}: ${p.reason}`);
    return Math.abs(p.minor);
  };
  const out: NonNullable<CanonicalOrderInput['refunds']> = [];
  for (const r of details) {
    const at = r.date_created_gmt
      ? { platformModifiedAt: iso(r.date_created_gmt, 'refund date_created_gmt') }
      : {};
    const byLine = new Map<string, { quantity: number; amount: number }>();
    for (const li of r.line_items) {
      const ref = li.meta_data.find((m) => m.key === '_refunded_item_id')?.value;
      const lineId = typeof ref === 'number' || typeof ref === 'string' ? String(ref) : undefined;
      if (lineId === undefined || !lines.has(lineId)) continue;
      const prev = byLine.get(lineId) ?? { quantity: 0, amount: 0 };
      byLine.set(lineId, {
        quantity: prev.quantity + Math.abs(li.quantity),
        amount:
          prev.amount +
          abs(li.total, `refund ${r.id} line total`) +
          abs(li.total_tax, `refund ${r.id} line tax`),
      });
    }
    let inLines = 0;
    for (const [lineId, v] of byLine) {
      inLines += v.amount;
      out.push({
        refundId: r.id,
        lineId,
        quantity: v.quantity,
        amount: v.amount,
        status: 'succeeded',
        goodsReturn: 'none',
        ...at,
      });
    }
    const rest = abs(r.amount, `refund ${r.id} amount`) - inLines;
    if (rest > 0 || byLine.size === 0) {
      out.push({
        refundId: r.id,
        quantity: 0,
        amount: Math.max(0, rest),
        status: 'succeeded',
        goodsReturn: 'none',
        ...at,
      });
    }
  }
  return out;
}

function iso(text: string, what: string): string {
  const ms = parseWooGmt(text);
  if (Number.isNaN(ms)) throw new MappingError(`${what} is not a timestamp: ${JSON.stringify(text)}`);
  return new Date(ms).toISOString();
}
