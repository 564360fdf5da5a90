import { z } from 'zod';
import type { ValidationError } from './errors.js';
import { currencySchema, MAX_AMOUNT_MINOR, minorAmountSchema } from './money.js';
import { lineDiscountSchema, MAX_PROMOTIONS, orderPromotionSchema } from './promotions.js';
import { isoDateTimeSchema, labelSchema, platformIdSchema, toValidationError } from './schema-fields.js';

/**
 * The canonical order every connector produces: one shape for every marketplace, amounts in
 * integer minor units of `currency`, promotions as typed records (see promotions.ts).
 */

/** Most lines in one order: 500. */
export const MAX_LINES_PER_ORDER = 500;
/** Units on one line: 1..100000. */
export const MAX_LINE_QUANTITY = 100_000;
/** Refund records on one order: 1000. */
export const MAX_REFUNDS_PER_ORDER = 1_000;

/** Marketplaces. `taobao` covers Tmall (one TOP API); `douyin` is Doudian (抖店). */
export const PLATFORMS = ['taobao', 'jd', 'pinduoduo', 'douyin', 'shopify', 'woocommerce', 'amazon'] as const;
export const platformSchema = z.enum(PLATFORMS, { error: `platform must be one of ${PLATFORMS.join(', ')}` });
export type Platform = z.infer<typeof platformSchema>;

/**
 * The canonical lifecycle: pending_payment -> paid -> partially_shipped -> shipped -> completed,
 * and cancelled. Refunds are records, not a state: an order refunded in full before shipping
 * is `cancelled` with its refund records (Taobao TRADE_CLOSED after payment); refunded after
 * shipping it keeps its shipping state. See {@link summarizeRefunds}.
 */
export const ORDER_STATUSES = [
  'pending_payment',
  'paid',
  'partially_shipped',
  'shipped',
  'completed',
  'cancelled',
] as const;
export const orderStatusSchema = z.enum(ORDER_STATUSES, {
  error: `status must be one of ${ORDER_STATUSES.join(', ')}`,
});
export type OrderStatus = z.infer<typeof orderStatusSchema>;

/**
 * Progress rank of each status, used as the last tiebreak between two revisions of an order.
 * `cancelled` ranks highest: it is terminal, and no platform we read reopens a cancelled order.
 */
export const canonicalStatusOrder: Readonly<Record<OrderStatus, number>> = {
  pending_payment: 0,
  paid: 1,
  partially_shipped: 2,
  shipped: 3,
  completed: 4,
  cancelled: 5,
};

/** Negative when `a` comes before `b` in the lifecycle, 0 when equal, positive after. */
export function compareStatusProgress(a: OrderStatus, b: OrderStatus): number {
  return canonicalStatusOrder[a] - canonicalStatusOrder[b];
}

/** One order line as the platform sold it. */
export const orderLineSchema = z
  .strictObject({
    /** The platform's line id (Taobao `oid`, Shopify line item id, Doudian SKU order id). */
    lineId: platformIdSchema,
    platformItemId: platformIdSchema,
    /** Absent for items without variants. */
    platformSkuId: platformIdSchema.optional(),
    /** 商家编码 of the SKU (Taobao `outer_sku_id`, PDD `outer_id`, Doudian `code`), if given. */
    outerSkuId: platformIdSchema.optional(),
    /** 商家编码 of the item (Taobao `outer_iid`, PDD `outer_goods_id`), if given. */
    outerItemId: platformIdSchema.optional(),
    title: labelSchema.optional(),
    quantity: z
      .number({ error: 'quantity must be a number' })
      .int({ error: 'quantity must be a whole number' })
      .min(1, { error: 'quantity must be at least 1' })
      .max(MAX_LINE_QUANTITY, { error: `quantity must be at most ${MAX_LINE_QUANTITY}` }),
    /** Unit price before any discount, minor units. */
    unitListPrice: minorAmountSchema,
    /** Discounts the platform attributes to this line. Default none. */
    lineDiscounts: z
      .array(lineDiscountSchema)
      .max(MAX_PROMOTIONS, { error: `at most ${MAX_PROMOTIONS} discounts per line` })
      .default([]),
    /** 赠品: takes stock, never takes a share of order-level promotions. Default false. */
    gift: z.boolean().default(false),
    /**
     * Units of this line the platform reports shipped, where it tracks shipment per line
     * (Shopify fulfillments, Taobao sub-order status, Doudian SKU orders). Unset: derived from
     * the order status (shipped/completed: all units; otherwise none).
     */
    shippedQuantity: z
      .number({ error: 'shippedQuantity must be a number' })
      .int({ error: 'shippedQuantity must be a whole number' })
      .min(0, { error: 'shippedQuantity must not be negative' })
      .max(MAX_LINE_QUANTITY, { error: `shippedQuantity must be at most ${MAX_LINE_QUANTITY}` })
      .optional(),
  })
  .superRefine((line, ctx) => {
    const list = line.unitListPrice * line.quantity;
    if (list > MAX_AMOUNT_MINOR) {
      ctx.addIssue({
        code: 'custom',
        path: ['unitListPrice'],
        message: 'unit price x quantity is too large',
      });
      return;
    }
    if (line.shippedQuantity !== undefined && line.shippedQuantity > line.quantity) {
      ctx.addIssue({
        code: 'custom',
        path: ['shippedQuantity'],
        message: `shippedQuantity (${line.shippedQuantity}) exceeds quantity (${line.quantity})`,
      });
    }
    const discounts = line.lineDiscounts.reduce((s, d) => s + d.amount, 0);
    if (discounts > list) {
      ctx.addIssue({
        code: 'custom',
        path: ['lineDiscounts'],
        message: `line discounts (${discounts}) exceed the line amount (${list})`,
      });
    }
  });
export type OrderLine = z.infer<typeof orderLineSchema>;

/**
 * A refund of one line (or, without `lineId`, of an order-level amount such as shipping:
 * quantity 0). `quantity` 0 with an amount is a price-difference refund (退差价).
 */
export const refundSchema = z.strictObject({
  refundId: platformIdSchema,
  lineId: platformIdSchema.optional(),
  quantity: z
    .number({ error: 'quantity must be a number' })
    .int({ error: 'quantity must be a whole number' })
    .min(0, { error: 'quantity must not be negative' })
    .max(MAX_LINE_QUANTITY, { error: `quantity must be at most ${MAX_LINE_QUANTITY}` }),
  amount: minorAmountSchema,
  /** requested (incl. agreed, waiting for goods) | succeeded (money returned) | closed (refused/withdrawn). */
  status: z.enum(['requested', 'succeeded', 'closed'], {
    error: 'status must be requested, succeeded or closed',
  }),
  /** none: refund only; expected: goods on their way back; received: the seller has them. */
  goodsReturn: z.enum(['none', 'expected', 'received'], {
    error: 'goodsReturn must be none, expected or received',
  }),
  platformModifiedAt: isoDateTimeSchema.optional(),
});
export type Refund = z.infer<typeof refundSchema>;

export const canonicalOrderSchema = z
  .strictObject({
    shopId: platformIdSchema,
    platform: platformSchema,
    platformOrderId: platformIdSchema,
    platformCreatedAt: isoDateTimeSchema.optional(),
    /** The platform's last-modified time. This or `platformVersion` is required. */
    platformModifiedAt: isoDateTimeSchema.optional(),
    /** A platform revision number, where the platform has one. */
    platformVersion: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    status: orderStatusSchema,
    currency: currencySchema,
    lines: z
      .array(orderLineSchema)
      .min(1, { error: 'an order needs at least one line' })
      .max(MAX_LINES_PER_ORDER, { error: `at most ${MAX_LINES_PER_ORDER} lines per order` }),
    /** Order-level promotions in the platform's stacking order. Default none. */
    promotions: z
      .array(orderPromotionSchema)
      .max(MAX_PROMOTIONS, { error: `at most ${MAX_PROMOTIONS} promotions per order` })
      .default([]),
    /** Shipping charged before shipping discounts. Default 0. */
    shippingFee: minorAmountSchema.default(0),
    /** Tax charged on top of prices (Shopify/WooCommerce without tax-inclusive prices). Default 0. */
    taxAdded: minorAmountSchema.default(0),
    /** What the platform says the buyer paid for the whole order, shipping and tax included. */
    buyerPaidTotal: minorAmountSchema,
    refunds: z
      .array(refundSchema)
      .max(MAX_REFUNDS_PER_ORDER, { error: `at most ${MAX_REFUNDS_PER_ORDER} refunds per order` })
      .default([]),
  })
  .superRefine((order, ctx) => {
    const issue = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: 'custom', path, message });
    if (order.platformModifiedAt === undefined && order.platformVersion === undefined) {
      issue(['platformModifiedAt'], 'platformModifiedAt or platformVersion is required');
    }
    const lines = new Map<string, OrderLine>();
    let listTotal = 0;
    order.lines.forEach((line, i) => {
      if (lines.has(line.lineId)) issue(['lines', i, 'lineId'], `duplicate line id ${line.lineId}`);
      lines.set(line.lineId, line);
      listTotal += line.unitListPrice * line.quantity;
    });
    if (listTotal > MAX_AMOUNT_MINOR) issue(['lines'], 'the order total is too large');
    const known = (path: (string | number)[], id: string) => {
      if (!lines.has(id)) issue(path, `unknown line id ${id}`);
    };
    order.promotions.forEach((p, i) => {
      if (p.kind === 'gift') {
        p.giftLineIds.forEach((id, j) => {
          known(['promotions', i, 'giftLineIds', j], id);
        });
        return;
      }
      p.eligibleLineIds?.forEach((id, j) => {
        known(['promotions', i, 'eligibleLineIds', j], id);
      });
      p.allocations?.forEach((a, j) => {
        known(['promotions', i, 'allocations', j, 'lineId'], a.lineId);
      });
    });
    const refundKeys = new Set<string>();
    const refundedUnits = new Map<string, number>();
    order.refunds.forEach((r, i) => {
      const key = `${r.refundId}\u0000${r.lineId ?? ''}`;
      if (refundKeys.has(key)) issue(['refunds', i], `refund ${r.refundId} repeats a line`);
      refundKeys.add(key);
      if (r.lineId === undefined) {
        if (r.quantity !== 0) issue(['refunds', i, 'quantity'], 'a refund without a line has quantity 0');
        if (r.goodsReturn !== 'none')
          issue(['refunds', i, 'goodsReturn'], 'a refund without a line returns no goods');
        return;
      }
      known(['refunds', i, 'lineId'], r.lineId);
      if (r.status !== 'closed') refundedUnits.set(r.lineId, (refundedUnits.get(r.lineId) ?? 0) + r.quantity);
    });
    for (const [lineId, units] of refundedUnits) {
      const line = lines.get(lineId);
      if (line && units > line.quantity) {
        issue(['refunds'], `refunds of line ${lineId} cover ${units} units, the line has ${line.quantity}`);
      }
    }
  });

/** A validated canonical order (defaults applied). */
export type CanonicalOrder = z.infer<typeof canonicalOrderSchema>;
/** What a connector may hand in: defaulted fields may be left out. */
export type CanonicalOrderInput = z.input<typeof canonicalOrderSchema>;

/**
 * Validates an order. Never throws: on failure the {@link ValidationError} lists every
 * problem as `path: message` (e.g. `lines.2.quantity: quantity must be at most 100000`).
 */
export function parseCanonicalOrder(
  input: unknown,
): { ok: true; order: CanonicalOrder } | { ok: false; error: ValidationError } {
  const result = canonicalOrderSchema.safeParse(input);
  return result.success
    ? { ok: true, order: result.data }
    : { ok: false, error: toValidationError('order', result.error) };
}

/** The fields that decide which of two revisions of one order is newer. */
export type OrderRevision = Pick<
  CanonicalOrder,
  'shopId' | 'platform' | 'platformOrderId' | 'platformModifiedAt' | 'platformVersion' | 'status' | 'refunds'
>;

export type RevisionComparison = {
  /** `newer`: incoming replaces stored; `older`: ignore it; `same`: nothing to tell them apart (a replay). */
  result: 'newer' | 'older' | 'same';
  /** The rule that decided. */
  by: 'modified_at' | 'version' | 'status' | 'refunds' | 'none';
};

/**
 * Compares an incoming revision of an order with the stored one — "an older update never
 * overwrites a newer one". The first rule that tells them apart decides:
 * 1. `platformModifiedAt`, when both have it (as instants, so offsets do not matter);
 * 2. `platformVersion`, when both have it;
 * 3. status progress ({@link canonicalStatusOrder}): for equal times — Taobao's `modified`
 *    has one-second precision, so "paid" and "cancelled" can share a timestamp;
 * 4. the number of refund records (they are only ever added).
 * Otherwise `same`: keep what is stored, so a replay changes nothing. A later modified time
 * wins even if its status is earlier (Shopify can cancel a fulfilment). Throws RangeError
 * when the two are not the same order (shop, platform, platform order id).
 */
export function compareRevisions(incoming: OrderRevision, stored: OrderRevision): RevisionComparison {
  if (
    incoming.shopId !== stored.shopId ||
    incoming.platform !== stored.platform ||
    incoming.platformOrderId !== stored.platformOrderId
  ) {
    throw new RangeError(
      `different orders: ${incoming.platform}/${incoming.shopId}/${incoming.platformOrderId} vs ` +
        `${stored.platform}/${stored.shopId}/${stored.platformOrderId}`,
    );
  }
  const decide = (diff: number, by: RevisionComparison['by']): RevisionComparison | undefined =>
    diff > 0 ? { result: 'newer', by } : diff < 0 ? { result: 'older', by } : undefined;
  return (
    (incoming.platformModifiedAt !== undefined && stored.platformModifiedAt !== undefined
      ? decide(Date.parse(incoming.platformModifiedAt) - Date.parse(stored.platformModifiedAt), 'modified_at')
      : undefined) ??
    (incoming.platformVersion !== undefined && stored.platformVersion !== undefined
      ? decide(incoming.platformVersion - stored.platformVersion, 'version')
      : undefined) ??
    decide(compareStatusProgress(incoming.status, stored.status), 'status') ??
    decide(incoming.refunds.length - stored.refunds.length, 'refunds') ?? { result: 'same', by: 'none' }
  );
}

/** True when `incoming` should replace `stored` (see {@link compareRevisions}). */
export function supersedes(incoming: OrderRevision, stored: OrderRevision): boolean {
  return compareRevisions(incoming, stored).result === 'newer';
}

export interface RefundSummary {
  /** Per line: units in open requests and units refunded (closed refunds are ignored). */
  byLine: Map<string, { requested: number; succeeded: number }>;
  /** Some succeeded refund exists but not every unit is refunded. */
  partiallyRefunded: boolean;
  /** Every unit of every line has a succeeded refund. */
  fullyRefunded: boolean;
}

/** The derived refund flags the notes ask for, from the refund records. */
export function summarizeRefunds(order: Pick<CanonicalOrder, 'lines' | 'refunds'>): RefundSummary {
  const byLine = new Map(order.lines.map((l) => [l.lineId, { requested: 0, succeeded: 0 }]));
  let any = false;
  for (const r of order.refunds) {
    if (r.status === 'succeeded') any = true;
    const entry = r.lineId === undefined ? undefined : byLine.get(r.lineId);
    if (!entry || r.status === 'closed') continue;
    if (r.status === 'succeeded') entry.succeeded += r.quantity;
    else entry.requested += r.quantity;
  }
  const fullyRefunded = order.lines.every((l) => (byLine.get(l.lineId)?.succeeded ?? 0) >= l.quantity);
  return { byLine, partiallyRefunded: any && !fullyRefunded, fullyRefunded };
}
