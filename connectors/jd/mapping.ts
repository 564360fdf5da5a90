/**
 * JOS POP order (`jingdong.pop.order.search` / `jingdong.pop.order.get` `orderInfo`) ->
 * canonical order (`src/domain/order.ts`).
 *
 * Amounts (notes §6.2 [S]) are yuan strings parsed to fen exactly (`parseDecimal`, never floats;
 * a JSON number is accepted through `parsePlatformNumber`):
 * - `itemInfoList[]`: one line per entry; `jdPrice` is the unit list price, `itemTotal` the
 *   quantity, `skuId` the line id (JD has no separate line id; a SKU listed twice gets `#2`...);
 * - `couponDetailList[]` entries WITH a `skuId` are JD's own per-line split: a line discount on
 *   that SKU's (first non-gift) line. Entries with an EMPTY `skuId` are order-level: one order
 *   promotion each, without allocations, left for `apportionOrder` to split (notes §8.3);
 * - `couponType` is `"<code>-<名称>"` or just the code. Codes (JdSdk `CouponDetail` doc comment
 *   [S], funding [U]): 20 套装优惠, 28 闪团优惠, 29 团购优惠, 30 单品促销优惠, 35 满返满送(返现),
 *   100 店铺优惠 -> seller-funded `fixed`; 41 京东券优惠 -> `coupon`, platform-funded; 52 礼品卡优惠
 *   -> `coupon`, platform-funded. Unknown codes -> seller-funded `fixed` named after the type, so
 *   the order still books its stock (the amounts are then checked by `apportionOrder`);
 * - `freightPrice` is the shipping fee, `orderPayment` what the buyer pays (shipping included).
 *
 * Gifts (notes §6.2 [U]): an `itemInfoList` entry with `jdPrice` 0 is a gift line (`gift: true`),
 * listed in one `gift` promotion.
 *
 * Status (notes §6.2 [S]; the canonical model has no "refunded" or "on hold" state):
 * WAIT_SELLER_STOCK_OUT / WAIT_SELLER_DELIVERY -> paid; WAIT_GOODS_RECEIVE_CONFIRM -> shipped;
 * FINISHED_L -> completed; TRADE_CANCELED -> cancelled; LOCKED (a cancel request is being
 * handled), PAUSE, POP_ORDER_PAUSE (held) -> paid: the stock stays reserved until JD says
 * cancelled or shipped. Unknown states are rejected, never guessed. `jingdong.pop.order.search`
 * only lists paid orders, so there is no pending_payment here.
 *
 * Refunds: JD's search carries no refund records (after-sales is a separate API family, not
 * integrated, see README). A TRADE_CANCELED order with a payment gets one order-level refund
 * record `cancel-<orderId>` for `orderPayment` (succeeded, no goods) [U]. JD reports shipping
 * per order only, so `shippedQuantity` is left to the status.
 */
import { z } from 'zod';
import { parseDecimal, parsePlatformNumber } from '../../src/domain/money.js';
import {
  type CanonicalOrder,
  type CanonicalOrderInput,
  type OrderStatus,
  parseCanonicalOrder,
} from '../../src/domain/order.js';
import type { LineDiscount, OrderPromotionInput } from '../../src/domain/promotions.js';
import { jdTimeToIso } from './time.js';

const idText = z.union([z.string().regex(/^\d{1,20}$/), z.number().int().nonnegative()]).transform(String);
const optText = z.string().nullish();
const amount = z.union([z.string(), z.number()]);
const qty = z.union([
  z.number().int(),
  z
    .string()
    .regex(/^\d{1,6}$/)
    .transform(Number),
]);

const itemSchema = z.object({
  skuId: idText,
  wareId: idText.nullish(),
  outerSkuId: optText,
  productNo: optText,
  skuName: optText,
  jdPrice: amount,
  itemTotal: qty,
  giftPoint: z.union([z.string(), z.number()]).nullish(),
});

const couponSchema = z.object({
  orderId: idText.nullish(),
  skuId: z
    .union([z.string(), z.number()])
    .nullish()
    .transform((v) => (v === null || v === undefined ? '' : String(v).trim())),
  couponType: z.union([z.string(), z.number()]).transform(String),
  couponPrice: amount,
});

export const jdOrderSchema = z.object({
  orderId: idText,
  venderId: idText.nullish(),
  orderState: z.string(),
  orderStateRemark: optText,
  orderStartTime: optText,
  modified: z.string(),
  paymentConfirmTime: optText,
  orderTotalPrice: amount.nullish(),
  orderSellerPrice: amount.nullish(),
  orderPayment: amount,
  freightPrice: amount.nullish(),
  sellerDiscount: amount.nullish(),
  itemInfoList: z.array(itemSchema).min(1),
  couponDetailList: z.array(couponSchema).nullish(),
});

export type JdOrder = z.infer<typeof jdOrderSchema>;

export type MapResult =
  | { ok: true; order: CanonicalOrder }
  | { ok: false; platformOrderId: string; error: string };

/** Order states the search is asked for (all that a paid SOP order can be in). */
export const ORDER_STATES = [
  'WAIT_SELLER_STOCK_OUT',
  'WAIT_SELLER_DELIVERY',
  'WAIT_GOODS_RECEIVE_CONFIRM',
  'FINISHED_L',
  'TRADE_CANCELED',
  'LOCKED',
  'PAUSE',
  'POP_ORDER_PAUSE',
] as const;

const STATUS: Record<string, OrderStatus> = {
  WAIT_SELLER_STOCK_OUT: 'paid',
  WAIT_SELLER_DELIVERY: 'paid',
  LOCKED: 'paid',
  PAUSE: 'paid',
  POP_ORDER_PAUSE: 'paid',
  WAIT_GOODS_RECEIVE_CONFIRM: 'shipped',
  FINISHED_L: 'completed',
  TRADE_CANCELED: 'cancelled',
};

/** Canonical status of a JD `orderState`; undefined for a state we do not know. */
export function mapOrderState(state: string): OrderStatus | undefined {
  return STATUS[state];
}

interface CouponKind {
  kind: 'fixed' | 'coupon';
  funding: 'seller' | 'platform';
  name: string;
}

const COUPONS: Record<string, CouponKind> = {
  '20': { kind: 'fixed', funding: 'seller', name: '套装优惠' },
  '28': { kind: 'fixed', funding: 'seller', name: '闪团优惠' },
  '29': { kind: 'fixed', funding: 'seller', name: '团购优惠' },
  '30': { kind: 'fixed', funding: 'seller', name: '单品促销优惠' },
  '35': { kind: 'fixed', funding: 'seller', name: '满返满送' },
  '41': { kind: 'coupon', funding: 'platform', name: '京东券优惠' },
  '52': { kind: 'coupon', funding: 'platform', name: '礼品卡优惠' },
  '100': { kind: 'fixed', funding: 'seller', name: '店铺优惠' },
};

/** Kind, funding and name of a `couponType` (`"41-京东券优惠"` or `"41"`). */
export function couponKind(couponType: string): CouponKind & { code: string } {
  const m = /^\s*(\d{1,6})\s*(?:-\s*(.*))?$/.exec(couponType);
  const code = m?.[1] ?? couponType.trim();
  const known = COUPONS[code];
  const name = (m?.[2]?.trim() || known?.name || `couponType ${couponType}`).slice(0, 500);
  return known ? { ...known, name, code } : { kind: 'fixed', funding: 'seller', name, code };
}

/** Maps one order. Never throws. */
export function mapJdOrder(raw: unknown, options: { shopId: string }): MapResult {
  const rawId = rawOrderId(raw);
  const parsed = jdOrderSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    return {
      ok: false,
      platformOrderId: rawId,
      error: `payload: ${first?.path.join('.')}: ${first?.message}`,
    };
  }
  try {
    const checked = parseCanonicalOrder(toCanonical(parsed.data, options.shopId));
    if (!checked.ok) return { ok: false, platformOrderId: parsed.data.orderId, error: checked.error.message };
    return { ok: true, order: checked.order };
  } catch (err) {
    return {
      ok: false,
      platformOrderId: parsed.data.orderId,
      error: err instanceof Error ? err.message : String(err),
    };
  }
}

/** The order id of an unparsed payload, for error reports; `?` if there is none. */
export function rawOrderId(raw: unknown): string {
  if (typeof raw !== 'object' || raw === null) return '?';
  const v = (raw as { orderId?: unknown }).orderId;
  return typeof v === 'number' || typeof v === 'string' ? String(v) : '?';
}

class MappingError extends Error {}

function money(value: string | number | null | undefined, what: string): number {
  if (value === null || value === undefined || value === '') return 0;
  const p = typeof value === 'number' ? parsePlatformNumber(value, 'CNY') : parseDecimal(value, 'CNY');
  if (!p.ok) throw new MappingError(`${what}: ${p.reason}`);
  return p.minor;
}

function toCanonical(o: JdOrder, shopId: string): CanonicalOrderInput {
  const status = mapOrderState(o.orderState);
  if (status === undefined) throw new MappingError(`unknown orderState ${JSON.stringify(o.orderState)}`);
  const modified = jdTimeToIso(o.modified);
  if (modified === undefined)
    throw new MappingError(`modified: not a JOS time: ${JSON.stringify(o.modified)}`);
  const created = jdTimeToIso(o.orderStartTime);

  const seenSku = new Map<string, number>();
  const giftLineIds: string[] = [];
  const lines = o.itemInfoList.map((it) => {
    const n = (seenSku.get(it.skuId) ?? 0) + 1;
    seenSku.set(it.skuId, n);
    const lineId = n === 1 ? it.skuId : `${it.skuId}#${n}`;
    if (it.itemTotal < 1) throw new MappingError(`sku ${it.skuId}: itemTotal ${it.itemTotal}`);
    const unit = money(it.jdPrice, `sku ${it.skuId} jdPrice`);
    const gift = unit === 0;
    if (gift) giftLineIds.push(lineId);
    const outer = it.outerSkuId?.trim();
    return {
      lineId,
      platformItemId: it.wareId ?? it.skuId,
      platformSkuId: it.skuId,
      ...(outer ? { outerSkuId: outer.slice(0, 128) } : {}),
      ...(it.productNo?.trim() ? { outerItemId: it.productNo.trim().slice(0, 128) } : {}),
      ...(it.skuName ? { title: it.skuName.slice(0, 500) } : {}),
      quantity: it.itemTotal,
      unitListPrice: unit,
      lineDiscounts: [] as LineDiscount[],
      gift,
    };
  });

  const promotions: OrderPromotionInput[] = [];
  for (const c of o.couponDetailList ?? []) {
    const value = money(c.couponPrice, `coupon ${c.couponType} couponPrice`);
    if (value === 0) continue;
    const k = couponKind(c.couponType);
    if (c.skuId === '') {
      promotions.push({ kind: k.kind, funding: k.funding, amount: value, id: k.code, name: k.name });
      continue;
    }
    const line = lines.find((l) => l.platformSkuId === c.skuId && !l.gift);
    if (!line)
      throw new MappingError(`coupon ${c.couponType} names sku ${c.skuId}, which is not a paid line`);
    line.lineDiscounts.push({
      kind: k.kind,
      funding: k.funding,
      amount: value,
      promotionId: k.code,
      name: k.name,
    });
  }
  if (giftLineIds.length > 0) promotions.push({ kind: 'gift', name: '赠品', giftLineIds });

  const payment = money(o.orderPayment, 'orderPayment');
  const refunds: NonNullable<CanonicalOrderInput['refunds']> = [];
  if (status === 'cancelled' && payment > 0) {
    refunds.push({
      refundId: `cancel-${o.orderId}`,
      quantity: 0,
      amount: payment,
      status: 'succeeded',
      goodsReturn: 'none',
      platformModifiedAt: modified,
    });
  }

  return {
    shopId,
    platform: 'jd',
    platformOrderId: o.orderId,
    ...(created ? { platformCreatedAt: created } : {}),
    platformModifiedAt: modified,
    status,
    currency: 'CNY',
    lines,
    promotions,
    shippingFee: money(o.freightPrice, 'freightPrice'),
    taxAdded: 0,
    buyerPaidTotal: payment,
    refunds,
  };
}
