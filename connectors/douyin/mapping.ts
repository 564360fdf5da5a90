/**
 * Doudian shop order (`shop_order_list[]` of `order.searchList`, `shop_order_detail` of
 * `order.orderDetail`) -> canonical order.
 *
 * Amounts are integer fen (notes §5.3 [V]) and go through `parseMinorInteger`, never floats.
 * Discounts are already split per SKU order, so they become that line's `lineDiscounts` with
 * their funding (promotions.ts): `promotion_shop_amount` seller-funded; `promotion_platform_amount`,
 * `promotion_talent_amount` (达人) and `promotion_pay_amount` (payment channel) platform-funded,
 * i.e. they lower what the buyer paid but not the seller's revenue; `modify_amount` (改价,
 * negative = price lowered [U]) a seller-funded manual adjustment. No order-level amount
 * promotions remain, so `apportionOrder` has nothing to split. Gift lines
 * (`given_product_type = "FREE"`) are `gift: true` and listed in one `gift` promotion.
 *
 * Line buyer-paid = `sum_amount` - discounts, which the SKU order's `pay_amount` should equal;
 * the order's `pay_amount` is the buyer-paid total and `post_amount` the shipping fee. What does
 * not add up is left as given (apportionOrder reports it), never corrected.
 */
import { z } from 'zod';
import { parseMinorInteger } from '../../src/domain/money.js';
import type { CanonicalOrder, CanonicalOrderInput, OrderStatus } from '../../src/domain/order.js';
import { parseCanonicalOrder } from '../../src/domain/order.js';
import type { LineDiscount, OrderPromotionInput } from '../../src/domain/promotions.js';
import { idText } from './client.js';

/** `order_status` -> canonical (notes §5.3 [V]). */
export const ORDER_STATUS: Readonly<Record<number, OrderStatus>> = {
  1: 'pending_payment',
  105: 'paid',
  2: 'paid',
  101: 'partially_shipped',
  3: 'shipped',
  4: 'cancelled',
  5: 'completed',
};

const fenSchema = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const p = parseMinorInteger(v);
  if (p.ok) return p.minor;
  ctx.issues.push({ code: 'custom', message: p.reason, input: v });
  return z.NEVER;
});
const signedFenSchema = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const p = parseMinorInteger(v, { allowNegative: true });
  if (p.ok) return p.minor;
  ctx.issues.push({ code: 'custom', message: p.reason, input: v });
  return z.NEVER;
});
const idSchema = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const t = idText(v);
  if (t !== undefined) return t;
  ctx.issues.push({ code: 'custom', message: `not an id: ${String(v)}`, input: v });
  return z.NEVER;
});
const optText = z
  .union([z.string(), z.number()])
  .optional()
  .nullable()
  .transform((v) => (v === undefined || v === null || v === '' ? undefined : String(v).slice(0, 255)));
const seconds = z.number().int().min(0);
const fen0 = fenSchema.optional().transform((v) => v ?? 0);

export const skuOrderSchema = z.looseObject({
  order_id: idSchema,
  product_id: idSchema,
  sku_id: idSchema.optional().nullable(),
  out_sku_id: optText,
  out_product_id: optText,
  code: optText,
  product_name: optText,
  order_status: z.number().int(),
  item_num: z.number().int().min(1),
  origin_amount: fenSchema,
  sum_amount: fenSchema.optional(),
  pay_amount: fenSchema,
  promotion_shop_amount: fen0,
  promotion_platform_amount: fen0,
  promotion_talent_amount: fen0,
  promotion_pay_amount: fen0,
  modify_amount: signedFenSchema.optional().transform((v) => v ?? 0),
  given_product_type: z.string().optional().nullable(),
  after_sale_info: z
    .looseObject({
      after_sale_status: z.number().int().optional(),
      after_sale_type: z.number().int().optional(),
      refund_status: z.number().int().optional(),
      after_sale_id: idSchema.optional(),
      refund_amount: fenSchema.optional(),
      update_time: seconds.optional(),
    })
    .optional()
    .nullable(),
});
export type DoudianSkuOrder = z.infer<typeof skuOrderSchema>;

export const shopOrderSchema = z.looseObject({
  order_id: idSchema,
  order_status: z.number().int(),
  create_time: seconds,
  update_time: seconds,
  pay_amount: fenSchema,
  post_amount: fen0,
  sku_order_list: z.array(skuOrderSchema).min(1).max(500),
});
export type DoudianShopOrder = z.infer<typeof shopOrderSchema>;

/**
 * After-sale states that end without money back (refused / closed / cancelled) [U: Doudian's
 * after_sale_status list; 27 拒绝售后申请, 28 售后失败, 29 售后退货拒绝收货, 51 订单取消成功 is NOT one].
 */
const CLOSED_AFTER_SALE = new Set([27, 28, 29, 53]);
/** `after_sale_status` 12 = 售后成功 [U]. */
const AFTER_SALE_SUCCESS = 12;
/** `refund_status` 3 = 退款成功 [U]. */
const REFUND_SUCCESS = 3;

export type MapResult =
  | { ok: true; order: CanonicalOrder }
  | { ok: false; platformOrderId: string; error: string };

/** The shop order id of a raw payload, for rejects ("?" when absent). */
export function rawOrderId(raw: unknown): string {
  const id = (raw as { order_id?: unknown } | null)?.order_id;
  return idText(id) ?? (typeof id === 'string' ? id.slice(0, 40) : '?');
}

const iso = (s: number) => new Date(s * 1000).toISOString();

/** Maps one shop order. Never throws. */
export function mapDoudianOrder(raw: unknown, ctx: { shopId: string }): MapResult {
  const parsed = shopOrderSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`);
    return { ok: false, platformOrderId: rawOrderId(raw), error: `unexpected shape: ${issues.join('; ')}` };
  }
  const o = parsed.data;
  const status = ORDER_STATUS[o.order_status];
  if (!status)
    return { ok: false, platformOrderId: o.order_id, error: `unknown order_status ${o.order_status}` };

  const giftLineIds: string[] = [];
  const refunds: NonNullable<CanonicalOrderInput['refunds']> = [];
  const lines = o.sku_order_list.map((s) => {
    const gift = s.given_product_type === 'FREE';
    if (gift) giftLineIds.push(s.order_id);
    const lineDiscounts: LineDiscount[] = [];
    const add = (d: LineDiscount) => {
      if (d.amount !== 0) lineDiscounts.push(d);
    };
    add({ kind: 'fixed', funding: 'seller', amount: s.promotion_shop_amount, name: '店铺优惠' });
    add({
      kind: 'platform_subsidy',
      funding: 'platform',
      amount: s.promotion_platform_amount,
      name: '平台优惠',
    });
    add({
      kind: 'platform_subsidy',
      funding: 'platform',
      amount: s.promotion_talent_amount,
      name: '达人优惠',
    });
    add({ kind: 'platform_subsidy', funding: 'platform', amount: s.promotion_pay_amount, name: '支付优惠' });
    add({ kind: 'manual_adjustment', funding: 'seller', amount: -s.modify_amount, name: '改价' });
    const shippedQuantity = lineShipped(s.order_status, s.item_num);
    const refund = refundOf(s);
    if (refund) refunds.push(refund);
    return {
      lineId: s.order_id,
      platformItemId: s.product_id,
      ...(s.sku_id ? { platformSkuId: s.sku_id } : {}),
      ...((s.code ?? s.out_sku_id) ? { outerSkuId: s.code ?? s.out_sku_id } : {}),
      ...(s.out_product_id ? { outerItemId: s.out_product_id } : {}),
      ...(s.product_name ? { title: s.product_name } : {}),
      quantity: s.item_num,
      unitListPrice: s.origin_amount,
      lineDiscounts,
      gift,
      ...(shippedQuantity === undefined ? {} : { shippedQuantity }),
    };
  });
  const promotions: OrderPromotionInput[] =
    giftLineIds.length > 0 ? [{ kind: 'gift', name: '赠品', giftLineIds }] : [];
  const input: CanonicalOrderInput = {
    shopId: ctx.shopId,
    platform: 'douyin',
    platformOrderId: o.order_id,
    platformCreatedAt: iso(o.create_time),
    platformModifiedAt: iso(o.update_time),
    status,
    currency: 'CNY',
    lines,
    promotions,
    shippingFee: o.post_amount,
    buyerPaidTotal: o.pay_amount,
    refunds,
  };
  const checked = parseCanonicalOrder(input);
  if (!checked.ok) return { ok: false, platformOrderId: o.order_id, error: checked.error.message };
  return { ok: true, order: checked.order };
}

/** Per-line shipped units from the SKU order's own status; undefined when the status is unknown. */
function lineShipped(status: number, quantity: number): number | undefined {
  if (status === 3 || status === 5) return quantity;
  if (status === 1 || status === 105 || status === 2 || status === 4) return 0;
  return undefined;
}

/**
 * The SKU order's after-sale as a refund record. The list carries no after-sale id or amount
 * (notes §5.3): the id falls back to `<sku order id>` (one live after-sale per SKU order) and the
 * amount to the line's `pay_amount` ("refunded lines keep their own amounts"). Exchanges
 * (`after_sale_type` 3) are not refunds.
 */
function refundOf(s: DoudianSkuOrder): NonNullable<CanonicalOrderInput['refunds']>[number] | undefined {
  const a = s.after_sale_info;
  if (!a?.after_sale_status || a.after_sale_type === 3) return undefined;
  const status = CLOSED_AFTER_SALE.has(a.after_sale_status)
    ? 'closed'
    : a.refund_status === REFUND_SUCCESS || a.after_sale_status === AFTER_SALE_SUCCESS
      ? 'succeeded'
      : 'requested';
  const returnsGoods = a.after_sale_type === 0;
  const goodsReturn = !returnsGoods ? 'none' : status === 'succeeded' ? 'received' : 'expected';
  return {
    refundId: a.after_sale_id ?? s.order_id,
    lineId: s.order_id,
    quantity: s.item_num,
    amount: a.refund_amount ?? s.pay_amount,
    status,
    goodsReturn,
    ...(a.update_time ? { platformModifiedAt: iso(a.update_time) } : {}),
  };
}
