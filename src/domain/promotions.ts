import { z } from 'zod';
import { allocateLargestRemainder } from './apportion.js';
import { addMinor, minorAmountSchema, multiplyMinor, signedMinorAmountSchema, sumMinor } from './money.js';
import { labelSchema, platformIdSchema } from './schema-fields.js';

/**
 * Promotion records and their apportionment to order lines.
 *
 * Sign convention: every promotion `amount` is a discount in minor units — positive lowers
 * what the buyer pays. Only a manual adjustment may be negative (the price was raised).
 * Funding decides whose money it is: `seller` lowers the seller's revenue; `platform` means
 * anyone but the seller (platform subsidy, Doudian 达人 talent funds, payment-channel
 * discounts): it lowers what the buyer paid but not what the seller earns.
 */

export const PROMOTION_KINDS = [
  'threshold',
  'percentage',
  'fixed',
  'coupon',
  'gift',
  'platform_subsidy',
  'manual_adjustment',
] as const;
export type PromotionKind = (typeof PROMOTION_KINDS)[number];

export const fundingSchema = z.enum(['seller', 'platform'], {
  error: 'funding must be "seller" or "platform"',
});
export type Funding = z.infer<typeof fundingSchema>;

/** Most order-level promotions, and most discounts on one line, accepted: 100. */
export const MAX_PROMOTIONS = 100;

/**
 * A discount the platform already attributes to one line (Taobao `discount_fee`, a Shopify
 * `discount_allocations` entry, WooCommerce `subtotal - total`, Doudian per-SKU promotion
 * amounts). `kind: 'gift'` is the discount that makes a line free (Shopify BXGY).
 */
export const lineDiscountSchema = z
  .strictObject({
    kind: z.enum(PROMOTION_KINDS, { error: `kind must be one of ${PROMOTION_KINDS.join(', ')}` }),
    funding: fundingSchema,
    amount: signedMinorAmountSchema,
    /** The platform's promotion/activity id, when it has one. */
    promotionId: platformIdSchema.optional(),
    name: labelSchema.optional(),
  })
  .superRefine((d, ctx) => {
    if (d.amount < 0 && d.kind !== 'manual_adjustment') {
      ctx.addIssue({ code: 'custom', path: ['amount'], message: 'only a manual adjustment may be negative' });
    }
    if (d.kind === 'platform_subsidy' && d.funding !== 'platform') {
      ctx.addIssue({ code: 'custom', path: ['funding'], message: 'a platform subsidy is platform-funded' });
    }
  });
export type LineDiscount = z.infer<typeof lineDiscountSchema>;

/** A platform's own split of an order-level promotion: this line's share. */
export const allocationSchema = z.strictObject({ lineId: platformIdSchema, amount: signedMinorAmountSchema });
export type Allocation = z.infer<typeof allocationSchema>;

const amountFields = {
  /** The platform's promotion/activity/coupon id. */
  id: platformIdSchema.optional(),
  name: labelSchema.optional(),
  /** The discount actually applied to this order, as the platform reports it. */
  amount: minorAmountSchema,
  /** What it discounts. Default `goods`; `shipping` promotions lower the shipping fee only. */
  target: z.enum(['goods', 'shipping'], { error: 'target must be "goods" or "shipping"' }).default('goods'),
  /** Lines it applies to. Default: every non-gift line. Gift lines never take a share. */
  eligibleLineIds: z.array(platformIdSchema).min(1).max(10_000).optional(),
  /**
   * The platform's own per-line split (Taobao `part_mjz_discount`, Shopify `across`
   * allocations). Used as given; checked, never corrected (see {@link apportionOrder}).
   */
  allocations: z.array(allocationSchema).max(10_000).optional(),
};

/** 满减: "满300减50" is `{threshold: 30000, amount: 5000}`; `repeat` for 每满 (per each 300). */
const thresholdSchema = z.strictObject({
  kind: z.literal('threshold'),
  funding: fundingSchema,
  ...amountFields,
  threshold: minorAmountSchema,
  repeat: z.boolean().default(false),
});

const rateBasisPointsSchema = z
  .number()
  .int()
  .min(1, { error: 'rate must be 1..10000 basis points' })
  .max(10_000, { error: 'rate must be 1..10000 basis points' });

/** 折扣 as a rate: 15% off is 1500 basis points ("8.5折" = 85% paid = 1500). `amount` is what it came to. */
const percentageSchema = z.strictObject({
  kind: z.literal('percentage'),
  funding: fundingSchema,
  ...amountFields,
  rateBasisPoints: rateBasisPointsSchema,
});

/** 折扣 as a fixed amount off the order. */
const fixedSchema = z.strictObject({ kind: z.literal('fixed'), funding: fundingSchema, ...amountFields });

/**
 * A coupon (店铺券 is seller-funded, 平台券/京东券 platform-funded: funding is required).
 * `rateBasisPoints` for a percentage coupon; `amount` is what it came to either way.
 */
const couponSchema = z.strictObject({
  kind: z.literal('coupon'),
  funding: fundingSchema,
  ...amountFields,
  code: labelSchema.optional(),
  rateBasisPoints: rateBasisPointsSchema.optional(),
});

/** Platform-funded: lowers the buyer's payment, not the seller's revenue. */
const platformSubsidySchema = z.strictObject({
  kind: z.literal('platform_subsidy'),
  funding: z.literal('platform', { error: 'a platform subsidy is platform-funded' }).default('platform'),
  ...amountFields,
});

/**
 * A manual price change (改价). Positive lowers the price, negative raises it — note Taobao's
 * `adjust_fee` has the opposite sign (payment = price x num + adjust_fee - discount_fee).
 */
const manualAdjustmentSchema = z.strictObject({
  kind: z.literal('manual_adjustment'),
  funding: fundingSchema,
  ...amountFields,
  amount: signedMinorAmountSchema,
});

/**
 * 赠品: informational, no amount. The stock is taken by the gift lines (zero-price lines with
 * `gift: true`) listed here; a connector whose platform reports a gift without a line
 * (Taobao 满就送 `gift_item_*`) must add such a line so the gift takes stock.
 */
const giftSchema = z.strictObject({
  kind: z.literal('gift'),
  id: platformIdSchema.optional(),
  name: labelSchema.optional(),
  giftLineIds: z.array(platformIdSchema).max(10_000).default([]),
});

export const orderPromotionSchema = z
  .discriminatedUnion(
    'kind',
    [
      thresholdSchema,
      percentageSchema,
      fixedSchema,
      couponSchema,
      platformSubsidySchema,
      manualAdjustmentSchema,
      giftSchema,
    ],
    { error: `promotion kind must be one of ${PROMOTION_KINDS.join(', ')}` },
  )
  .superRefine((p, ctx) => {
    if (p.kind === 'gift') return;
    if (p.target === 'shipping' && (p.eligibleLineIds || p.allocations)) {
      ctx.addIssue({
        code: 'custom',
        path: ['target'],
        message: 'a shipping promotion has no eligible lines or line allocations',
      });
    }
    const seen = new Set<string>();
    p.allocations?.forEach((a, i) => {
      if (seen.has(a.lineId)) {
        ctx.addIssue({ code: 'custom', path: ['allocations', i, 'lineId'], message: 'line allocated twice' });
      }
      seen.add(a.lineId);
      if (Math.sign(a.amount) === -Math.sign(p.amount)) {
        ctx.addIssue({
          code: 'custom',
          path: ['allocations', i, 'amount'],
          message: 'a share must have the sign of the promotion amount',
        });
      }
    });
  });
export type OrderPromotion = z.infer<typeof orderPromotionSchema>;
export type OrderPromotionInput = z.input<typeof orderPromotionSchema>;
export type AmountPromotion = Exclude<OrderPromotion, { kind: 'gift' }>;

/** The order fields apportionment reads (a canonical order has them all). */
export interface ApportionLine {
  lineId: string;
  quantity: number;
  unitListPrice: number;
  lineDiscounts: readonly LineDiscount[];
  gift: boolean;
}
export interface ApportionInput {
  lines: readonly ApportionLine[];
  promotions: readonly OrderPromotion[];
  shippingFee: number;
  /** Tax charged on top of prices (0 where prices include tax). */
  taxAdded: number;
  /** What the platform says the buyer paid in total. */
  buyerPaidTotal: number;
}

/** One line's money, all in minor units. buyerPaid = list - seller - platform; sellerRevenue = list - seller. */
export interface LineAmounts {
  lineId: string;
  /** unit list price x quantity. */
  listAmount: number;
  /** Line-level plus apportioned order-level discounts funded by the seller. */
  sellerDiscount: number;
  /** Line-level plus apportioned order-level discounts funded by anyone else. */
  platformDiscount: number;
  buyerPaid: number;
  sellerRevenue: number;
  /** This line's share of each order-level promotion (index into `promotions`), non-zero only. */
  orderShares: { promotionIndex: number; amount: number }[];
}

export interface ShippingAmounts {
  fee: number;
  sellerDiscount: number;
  platformDiscount: number;
  buyerPaid: number;
  sellerRevenue: number;
}

/** Something that does not add up. Amounts stay as the platform gave them; nothing is "fixed". */
export type AmountIssue =
  /** A platform split of a promotion does not sum to the promotion's amount. */
  | {
      type: 'split_mismatch';
      promotionIndex: number;
      promotionAmount: number;
      allocated: number;
      difference: number;
    }
  /** A platform split names a line the promotion cannot apply to (unknown or gift). */
  | { type: 'split_line_unknown'; promotionIndex: number; lineId: string }
  /** A platform split takes a line (or shipping) below zero. */
  | { type: 'split_exceeds_line'; promotionIndex: number; lineId: string; share: number; available: number }
  /** The promotion is larger than what it can discount; it was capped at `applied`. */
  | {
      type: 'discount_exceeds_eligible';
      promotionIndex: number;
      amount: number;
      applied: number;
      unapplied: number;
    }
  /** lines + shipping + tax after all discounts differ from the platform's buyer-paid total. */
  | { type: 'buyer_paid_mismatch'; platformTotal: number; computedTotal: number; difference: number };

export interface OrderApportionment {
  lines: LineAmounts[];
  shipping: ShippingAmounts;
  /** Σ lines + shipping buyer paid + tax added. */
  computedBuyerPaidTotal: number;
  /** Empty when everything adds up. */
  issues: AmountIssue[];
}

/**
 * Gives every line its list amount, seller and platform discounts, buyer paid and seller
 * revenue.
 *
 * Rules:
 * - Line-level discounts stay on their line.
 * - Order-level promotions are applied in the given order (the platform's stacking order).
 *   Each is split over its eligible lines (default: all; gift lines never) in proportion to
 *   each line's amount after line-level discounts and the promotions applied before it —
 *   for a single promotion, exactly "the amount after line-level discounts" — by
 *   {@link allocateLargestRemainder}: shares sum exactly to the amount, the leftover cents go
 *   to the largest remainders, ties to the smallest line id; the result does not depend on
 *   line order.
 * - Capping: a promotion larger than its lines' remaining amount is applied up to that
 *   amount (every eligible line ends at 0, none below) and reported as
 *   `discount_exceeds_eligible`, so an order that sold is still recorded, with a flag.
 * - A negative manual adjustment (price raised) is spread the same way as a surcharge.
 * - A promotion with `allocations` uses the platform's split as given, flagging a sum that
 *   differs from its amount, unknown or gift lines, and shares that take a line below zero.
 * - `target: 'shipping'` promotions lower the shipping fee, capped the same way.
 * - Finally lines + shipping + tax are compared with `buyerPaidTotal` (`buyer_paid_mismatch`).
 */
export function apportionOrder(input: ApportionInput): OrderApportionment {
  const issues: AmountIssue[] = [];
  const byId = new Map<string, { line: ApportionLine; state: LineState }>();
  const states: LineState[] = input.lines.map((line) => {
    const listAmount = multiplyMinor(line.unitListPrice, line.quantity);
    const state: LineState = { lineId: line.lineId, listAmount, seller: 0, platform: 0, shares: [] };
    for (const d of line.lineDiscounts) addDiscount(state, d.funding, d.amount);
    if (byId.has(line.lineId)) throw new RangeError(`duplicate line id ${JSON.stringify(line.lineId)}`);
    byId.set(line.lineId, { line, state });
    return state;
  });
  const shipping: LineState = {
    lineId: '(shipping)',
    listAmount: input.shippingFee,
    seller: 0,
    platform: 0,
    shares: [],
  };

  input.promotions.forEach((p, promotionIndex) => {
    if (p.kind === 'gift' || p.amount === 0) return;
    if (p.allocations) {
      applyProvidedSplit(p, promotionIndex, byId, issues);
      return;
    }
    const targets =
      p.target === 'shipping'
        ? [shipping]
        : (p.eligibleLineIds ?? input.lines.map((l) => l.lineId)).flatMap((id) => {
            const found = byId.get(id);
            if (!found)
              throw new RangeError(`promotion ${promotionIndex} names unknown line ${JSON.stringify(id)}`);
            return found.line.gift ? [] : [found.state];
          });
    const weights = targets.map((s) => ({ key: s.lineId, weight: Math.max(0, remaining(s)) }));
    const available = sumMinor(weights.map((w) => w.weight));
    const magnitude = Math.abs(p.amount);
    const applied = p.amount > 0 ? Math.min(magnitude, available) : available > 0 ? magnitude : 0;
    if (applied < magnitude) {
      issues.push({
        type: 'discount_exceeds_eligible',
        promotionIndex,
        amount: p.amount,
        applied: Math.sign(p.amount) * applied,
        unapplied: Math.sign(p.amount) * (magnitude - applied),
      });
    }
    const shares = allocateLargestRemainder(applied, weights);
    targets.forEach((s, i) => {
      const share = Math.sign(p.amount) * shares[i]!;
      if (share === 0) return;
      addDiscount(s, p.funding, share);
      s.shares.push({ promotionIndex, amount: share });
    });
  });

  const lines = states.map(toAmounts);
  const ship = toAmounts(shipping);
  const computedBuyerPaidTotal = sumMinor([...lines.map((l) => l.buyerPaid), ship.buyerPaid, input.taxAdded]);
  if (computedBuyerPaidTotal !== input.buyerPaidTotal) {
    issues.push({
      type: 'buyer_paid_mismatch',
      platformTotal: input.buyerPaidTotal,
      computedTotal: computedBuyerPaidTotal,
      difference: computedBuyerPaidTotal - input.buyerPaidTotal,
    });
  }
  return {
    lines,
    shipping: {
      fee: ship.listAmount,
      sellerDiscount: ship.sellerDiscount,
      platformDiscount: ship.platformDiscount,
      buyerPaid: ship.buyerPaid,
      sellerRevenue: ship.sellerRevenue,
    },
    computedBuyerPaidTotal,
    issues,
  };
}

interface LineState {
  lineId: string;
  listAmount: number;
  seller: number;
  platform: number;
  shares: { promotionIndex: number; amount: number }[];
}

function addDiscount(state: LineState, funding: Funding, amount: number): void {
  if (funding === 'seller') state.seller = addMinor(state.seller, amount);
  else state.platform = addMinor(state.platform, amount);
}

function remaining(state: LineState): number {
  return state.listAmount - state.seller - state.platform;
}

function toAmounts(s: LineState): LineAmounts {
  return {
    lineId: s.lineId,
    listAmount: s.listAmount,
    sellerDiscount: s.seller,
    platformDiscount: s.platform,
    buyerPaid: remaining(s),
    sellerRevenue: s.listAmount - s.seller,
    orderShares: s.shares,
  };
}

function applyProvidedSplit(
  p: AmountPromotion,
  promotionIndex: number,
  byId: Map<string, { line: ApportionLine; state: LineState }>,
  issues: AmountIssue[],
): void {
  const allocations = p.allocations ?? [];
  const allocated = sumMinor(allocations.map((a) => a.amount));
  if (allocated !== p.amount) {
    issues.push({
      type: 'split_mismatch',
      promotionIndex,
      promotionAmount: p.amount,
      allocated,
      difference: allocated - p.amount,
    });
  }
  for (const a of allocations) {
    const found = byId.get(a.lineId);
    if (!found || found.line.gift || (p.eligibleLineIds && !p.eligibleLineIds.includes(a.lineId))) {
      issues.push({ type: 'split_line_unknown', promotionIndex, lineId: a.lineId });
      if (!found) continue;
    }
    const available = remaining(found.state);
    if (a.amount > available) {
      issues.push({
        type: 'split_exceeds_line',
        promotionIndex,
        lineId: a.lineId,
        share: a.amount,
        available,
      });
    }
    if (a.amount === 0) continue;
    addDiscount(found.state, p.funding, a.amount);
    found.state.shares.push({ promotionIndex, amount: a.amount });
  }
}

/** A per-line split a platform reports in full (e.g. Doudian SKU orders). */
export interface ProvidedLineSplit {
  lineId: string;
  listAmount: number;
  sellerDiscount: number;
  platformDiscount: number;
  buyerPaid: number;
}

/** The platform's order-level totals to check a split against; an absent total is not checked. */
export interface SplitTotals {
  listAmount?: number;
  sellerDiscount?: number;
  platformDiscount?: number;
  buyerPaid?: number;
}

export interface SplitCheck {
  /** The lines exactly as given, with sellerRevenue = list - seller discount. */
  lines: (ProvidedLineSplit & { sellerRevenue: number })[];
  /** Totals whose line sum differs: difference = Σ lines - platform total. */
  totalMismatches: {
    total: keyof SplitTotals;
    platformTotal: number;
    linesSum: number;
    difference: number;
  }[];
  /** Lines where list - seller - platform != buyerPaid: difference = buyerPaid - (list - discounts). */
  lineMismatches: { lineId: string; expectedBuyerPaid: number; buyerPaid: number; difference: number }[];
  /** True when both lists are empty. */
  ok: boolean;
}

/**
 * Checks a platform's own per-line amounts against its order totals and against themselves,
 * and returns them unchanged with what does not add up — never corrected.
 */
export function checkLineSplit(lines: readonly ProvidedLineSplit[], totals: SplitTotals): SplitCheck {
  const lineMismatches: SplitCheck['lineMismatches'] = [];
  for (const l of lines) {
    const expectedBuyerPaid = l.listAmount - l.sellerDiscount - l.platformDiscount;
    if (expectedBuyerPaid !== l.buyerPaid) {
      lineMismatches.push({
        lineId: l.lineId,
        expectedBuyerPaid,
        buyerPaid: l.buyerPaid,
        difference: l.buyerPaid - expectedBuyerPaid,
      });
    }
  }
  const totalMismatches: SplitCheck['totalMismatches'] = [];
  for (const total of ['listAmount', 'sellerDiscount', 'platformDiscount', 'buyerPaid'] as const) {
    const platformTotal = totals[total];
    if (platformTotal === undefined) continue;
    const linesSum = sumMinor(lines.map((l) => l[total]));
    if (linesSum !== platformTotal) {
      totalMismatches.push({ total, platformTotal, linesSum, difference: linesSum - platformTotal });
    }
  }
  return {
    lines: lines.map((l) => ({ ...l, sellerRevenue: l.listAmount - l.sellerDiscount })),
    totalMismatches,
    lineMismatches,
    ok: totalMismatches.length === 0 && lineMismatches.length === 0,
  };
}
