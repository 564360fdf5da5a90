/**
 * PDD order (`pdd.order.number.list.increment.get` / `pdd.order.information.get`) -> canonical
 * order (`src/domain/order.ts`).
 *
 * Money (notes §0 rule 4, §4.3): PDD sends yuan as JSON numbers (DOUBLE). Each is converted with
 * `parsePlatformNumber` (the number's shortest text, parsed as a decimal: never float arithmetic);
 * a value that is not a whole number of fen is rejected, not rounded.
 *
 * Lines: `item_list[]` has no line id, so the line id is derived as `<goods_id>:<sku_id>`, stable
 * across pulls because PDD does not reorder or re-key the items of an order; a second entry with
 * the same SKU gets `#2`, `#3`… in list order. `goods_price` is the unit list price, `goods_count`
 * the quantity. An item with price 0 is a gift line, and `gift_list[]` entries [U] become
 * zero-price gift lines `gift:<goods_id>:<sku_id>` so gifts take stock.
 *
 * Promotions: PDD gives order-level discounts only, with no per-line split (notes §4.3, §8.3):
 * `seller_discount` becomes a seller-funded `fixed` promotion, `platform_discount` a
 * `platform_subsidy`, `capital_free_discount` (团长免单) another platform subsidy [U on who pays];
 * none has `allocations`, so `apportionOrder` splits them in proportion to the lines. When
 * `goods_amount` differs from Σ price x count (a seller price change, 改价 [U]), the difference is
 * a seller `manual_adjustment` (negative when the price was raised). `pay_amount` is the
 * buyer-paid total and `postage` the shipping fee; whether they add up (notes: `pay_amount ≈
 * goods_amount + postage − discount_amount` [U]) is checked by `apportionOrder`, never forced.
 *
 * Status (notes §4.3; only paid orders are visible, so never pending_payment):
 * `confirm_status` 2 (已取消) or `group_status` 2 (团失败) -> cancelled; `refund_status` 4 (退款成功)
 * before shipping (`order_status` 1) -> cancelled with its refund records; `order_status` 1 ->
 * paid (ship only once `confirm_status` is 1: the group formed), 2 -> shipped, 3 -> completed.
 * Anything else is rejected, never guessed.
 *
 * Refunds: the order carries only its after-sales state, not the after-sales records (those come
 * from the refund APIs, not read here: README "Known gaps"). So an order-level after-sales state
 * becomes one refund record per line, id `<order_sn>-AS`, quantity = the whole line, amount =
 * `pay_amount` split over the lines in proportion to their list amounts: `after_sales_status` 10 /
 * `refund_status` 4 -> succeeded; `refund_status` 2/3 or an open after-sales state -> requested;
 * a closed after-sales state (9, 11, 12, 13) -> closed; exchanges (14-18) -> none.
 */
import { z } from 'zod';
import { allocateLargestRemainder } from '../../src/domain/apportion.js';
import { parseDecimal, parsePlatformNumber } from '../../src/domain/money.js';
import {
  type CanonicalOrder,
  type CanonicalOrderInput,
  type OrderStatus,
  parseCanonicalOrder,
} from '../../src/domain/order.js';
import type { OrderPromotionInput } from '../../src/domain/promotions.js';
import { pddTimeToIso } from './time.js';

const idText = z.union([z.string().regex(/^\d+$/), z.number().int().nonnegative()]).transform(String);
const optText = z.string().nullish();
const amount = z.union([z.number(), z.string()]).nullish();
const count = z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]);
const code = z.union([
  z.number().int(),
  z
    .string()
    .regex(/^-?\d+$/)
    .transform(Number),
]);

const itemSchema = z.object({
  goods_id: idText,
  sku_id: idText.nullish(),
  outer_id: optText,
  outer_goods_id: optText,
  goods_name: optText,
  goods_spec: optText,
  goods_price: amount,
  goods_count: count,
});

export const pddOrderSchema = z.object({
  order_sn: z.string().min(1).max(128),
  order_status: code,
  confirm_status: code.nullish(),
  group_status: code.nullish(),
  refund_status: code.nullish(),
  after_sales_status: code.nullish(),
  updated_at: z.string(),
  created_time: optText,
  confirm_time: optText,
  shipping_time: optText,
  goods_amount: amount,
  discount_amount: amount,
  seller_discount: amount,
  platform_discount: amount,
  capital_free_discount: amount,
  postage: amount,
  pay_amount: z.union([z.number(), z.string()]),
  item_list: z.array(itemSchema).min(1),
  gift_list: z.array(itemSchema.partial({ goods_price: true })).nullish(),
});

export type PddOrder = z.infer<typeof pddOrderSchema>;

export interface MappingOptions {
  /** The canonical `shopId` (the mall id). */
  shopId: string;
}

export type MapResult =
  | { ok: true; order: CanonicalOrder }
  | { ok: false; platformOrderId: string; error: string };

/** `after_sales_status` values [S] (qihangerp PddRefund field comment, SDK docs). */
const AFTER_SALES_OPEN = new Set([2, 3, 4, 5, 6, 7, 8, 31, 32]);
const AFTER_SALES_CLOSED = new Set([9, 11, 12, 13]);
const AFTER_SALES_SUCCESS = 10;
/** 3 = 退货退款待商家处理, 7 = 已同意退货退款待用户发货: goods are coming back. */
const AFTER_SALES_RETURNING = new Set([3, 7]);

/** Canonical status of an order; undefined for a combination we do not know. */
export function mapOrderStatus(
  o: Pick<PddOrder, 'order_status' | 'confirm_status' | 'group_status' | 'refund_status'>,
): OrderStatus | undefined {
  if (o.confirm_status === 2 || o.group_status === 2) return 'cancelled';
  switch (o.order_status) {
    case 1:
      return o.refund_status === 4 ? 'cancelled' : 'paid';
    case 2:
      return 'shipped';
    case 3:
      return 'completed';
    default:
      return undefined;
  }
}

/** Maps one order. Never throws. */
export function mapPddOrder(raw: unknown, options: MappingOptions): MapResult {
  const rawId = rawOrderSn(raw);
  const parsed = pddOrderSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    return {
      ok: false,
      platformOrderId: rawId,
      error: `payload: ${first?.path.join('.')}: ${first?.message}`,
    };
  }
  try {
    const checked = parseCanonicalOrder(toCanonical(parsed.data, options));
    if (!checked.ok)
      return { ok: false, platformOrderId: parsed.data.order_sn, error: checked.error.message };
    return { ok: true, order: checked.order };
  } catch (err) {
    return {
      ok: false,
      platformOrderId: parsed.data.order_sn,
      error: err instanceof Error ? err.message : String(err),
    };
  }
}

/** The order_sn of an unparsed payload, for error reports; `?` if there is none. */
export function rawOrderSn(raw: unknown): string {
  if (typeof raw !== 'object' || raw === null) return '?';
  const v = (raw as { order_sn?: unknown }).order_sn;
  return typeof v === 'string' && v !== '' ? v : '?';
}

class MappingError extends Error {}

/** Yuan (DOUBLE, or a decimal string from a proxy) -> fen, exactly; absent = 0. */
function fen(value: number | string | null | undefined, what: string): number {
  if (value === null || value === undefined || value === '') return 0;
  const p = typeof value === 'number' ? parsePlatformNumber(value, 'CNY') : parseDecimal(value, 'CNY');
  if (!p.ok) throw new MappingError(`${what}: ${p.reason}`);
  return p.minor;
}

function toCanonical(o: PddOrder, options: MappingOptions): CanonicalOrderInput {
  const status = mapOrderStatus(o);
  if (status === undefined) {
    throw new MappingError(
      `unknown status combination order_status=${o.order_status} confirm_status=${o.confirm_status} refund_status=${o.refund_status}`,
    );
  }
  const modified = pddTimeToIso(o.updated_at);
  if (modified === undefined)
    throw new MappingError(`updated_at: not a PDD time: ${JSON.stringify(o.updated_at)}`);
  const created = pddTimeToIso(o.created_time);

  const used = new Map<string, number>();
  const lineIdFor = (prefix: string, goodsId: string, skuId: string | null | undefined) => {
    const base = `${prefix}${goodsId}:${skuId ?? '0'}`;
    const n = (used.get(base) ?? 0) + 1;
    used.set(base, n);
    return n === 1 ? base : `${base}#${n}`;
  };

  const giftLineIds: string[] = [];
  type Line = CanonicalOrderInput['lines'][number];
  const lines: Line[] = o.item_list.map((it) => {
    const lineId = lineIdFor('', it.goods_id, it.sku_id);
    if (it.goods_count < 1) throw new MappingError(`item ${lineId}: goods_count ${it.goods_count}`);
    const unit = fen(it.goods_price, `item ${lineId} goods_price`);
    const gift = unit === 0;
    if (gift) giftLineIds.push(lineId);
    return line(lineId, it, unit, gift);
  });
  const listTotal = lines.reduce((s, l) => s + l.unitListPrice * l.quantity, 0);
  for (const g of o.gift_list ?? []) {
    if (g.goods_count < 1) continue;
    const lineId = lineIdFor('gift:', g.goods_id, g.sku_id);
    giftLineIds.push(lineId);
    lines.push(line(lineId, g, 0, true));
  }

  const promotions: OrderPromotionInput[] = [];
  const goodsAmount =
    o.goods_amount === null || o.goods_amount === undefined ? listTotal : fen(o.goods_amount, 'goods_amount');
  if (goodsAmount !== listTotal) {
    promotions.push({
      kind: 'manual_adjustment',
      funding: 'seller',
      amount: listTotal - goodsAmount,
      name: 'goods_amount differs from Σ goods_price × goods_count (改价)',
    });
  }
  const seller = fen(o.seller_discount, 'seller_discount');
  if (seller > 0)
    promotions.push({ kind: 'fixed', funding: 'seller', amount: seller, name: '商家优惠 (seller_discount)' });
  const platform = fen(o.platform_discount, 'platform_discount');
  if (platform > 0) {
    promotions.push({
      kind: 'platform_subsidy',
      funding: 'platform',
      amount: platform,
      name: '平台优惠 (platform_discount)',
    });
  }
  const capitalFree = fen(o.capital_free_discount, 'capital_free_discount');
  if (capitalFree > 0) {
    promotions.push({
      kind: 'platform_subsidy',
      funding: 'platform',
      amount: capitalFree,
      name: '团长免单 (capital_free_discount)',
    });
  }
  if (giftLineIds.length > 0) promotions.push({ kind: 'gift', name: '赠品', giftLineIds });

  const payAmount = fen(o.pay_amount, 'pay_amount');
  return {
    shopId: options.shopId,
    platform: 'pinduoduo',
    platformOrderId: o.order_sn,
    ...(created ? { platformCreatedAt: created } : {}),
    platformModifiedAt: modified,
    status,
    currency: 'CNY',
    lines,
    promotions,
    shippingFee: fen(o.postage, 'postage'),
    taxAdded: 0,
    buyerPaidTotal: payAmount,
    refunds: mapRefunds(o, lines, payAmount),
  };
}

function line(
  lineId: string,
  it: Partial<z.infer<typeof itemSchema>> & { goods_id: string; goods_count: number },
  unit: number,
  gift: boolean,
): CanonicalOrderInput['lines'][number] {
  const title = [it.goods_name, it.goods_spec].filter((s) => s?.trim()).join(' ');
  return {
    lineId,
    platformItemId: it.goods_id,
    ...(it.sku_id && it.sku_id !== '0' ? { platformSkuId: it.sku_id } : {}),
    ...(it.outer_id?.trim() ? { outerSkuId: it.outer_id.trim().slice(0, 128) } : {}),
    ...(it.outer_goods_id?.trim() ? { outerItemId: it.outer_goods_id.trim().slice(0, 128) } : {}),
    ...(title ? { title: title.slice(0, 500) } : {}),
    quantity: it.goods_count,
    unitListPrice: unit,
    lineDiscounts: [],
    gift,
  };
}

function mapRefunds(
  o: PddOrder,
  lines: CanonicalOrderInput['lines'],
  payAmount: number,
): NonNullable<CanonicalOrderInput['refunds']> {
  const as = o.after_sales_status ?? 0;
  let status: 'requested' | 'succeeded' | 'closed' | undefined;
  if (as === AFTER_SALES_SUCCESS || o.refund_status === 4) status = 'succeeded';
  else if (o.refund_status === 2 || o.refund_status === 3 || AFTER_SALES_OPEN.has(as)) status = 'requested';
  else if (AFTER_SALES_CLOSED.has(as)) status = 'closed';
  if (status === undefined) return [];
  const weights = lines.map((l) => ({ key: l.lineId, weight: l.unitListPrice * l.quantity }));
  const shares = weights.some((w) => w.weight > 0)
    ? allocateLargestRemainder(payAmount, weights)
    : weights.map(() => 0);
  const goodsReturn =
    status !== 'closed' && AFTER_SALES_RETURNING.has(as) ? ('expected' as const) : ('none' as const);
  return lines.map((l, i) => ({
    refundId: `${o.order_sn}-AS`,
    lineId: l.lineId,
    quantity: l.quantity,
    amount: shares[i]!,
    status: status!,
    goodsReturn,
  }));
}
