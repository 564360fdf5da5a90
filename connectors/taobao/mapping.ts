/**
 * TOP trade (`taobao.trade.fullinfo.get`) -> canonical order (`src/domain/order.ts`).
 *
 * Amounts (notes §3.4, docId 108471 [V]) are yuan strings parsed to fen exactly:
 * - a sub-order's `price` x `num` is the line's list amount; its `discount_fee` (item-level
 *   discount) becomes a seller line discount, its `adjust_fee` (改价; positive *raises* the price:
 *   `payment = price*num + adjust_fee - discount_fee`) a `manual_adjustment` line discount with
 *   the opposite sign;
 * - trade-level promotions (`promotion_details` whose `id` is not a sub-order: 满减, 店铺券) become
 *   ONE order promotion whose amount is the sum of their `discount_fee` and whose `allocations`
 *   are the sub-orders' `part_mjz_discount` — Taobao's own split (the docs' 5.00 over 79/119 ->
 *   1.99/3.01). The split is used as given and checked by `apportionOrder`
 *   (`split_mismatch` etc.), never corrected. TOP gives one `part_mjz_discount` per line for all
 *   trade-level promotions together, hence one combined promotion when there are several;
 * - on multi-line trades the sub-order's own `payment` and `divide_order_fee` are checked against
 *   the formula above and `payment - part_mjz_discount`; a trade where they disagree is rejected
 *   (an `OrderReject` for a human) rather than guessed at;
 * - `post_fee` is the shipping fee, trade `payment` the buyer-paid total.
 *
 * Gifts: a sub-order with payment (or, on single-line trades, price) 0.00 is a gift line
 * (`gift: true`, any list amount discounted by one `gift` line discount); a `promotion_detail`
 * with `gift_item_id` (满就送) adds a zero-price gift line `gift-<promotion id>-<item id>` so the
 * gift takes stock. Both are listed in one `gift` promotion.
 *
 * Status (notes §3.5; the canonical model has no "refunded" state, see order.ts): unpaid states
 * -> pending_payment; WAIT_SELLER_SEND_GOODS / PAID_FORBID_CONSIGN -> paid;
 * SELLER_CONSIGNED_PART -> partially_shipped; WAIT_BUYER_CONFIRM_GOODS / TRADE_BUYER_SIGNED ->
 * shipped; TRADE_FINISHED -> completed; TRADE_CLOSED after payment: shipped if anything had been
 * consigned (refunded after shipping keeps its shipping state), otherwise cancelled with its
 * refund records (the notes' REFUNDED); TRADE_CLOSED without payment and TRADE_CLOSED_BY_TAOBAO
 * -> cancelled. Unknown statuses are rejected, never guessed.
 *
 * Refunds are per sub-order (`refund_id`), with amounts from `taobao.refund.get` records passed
 * in by the connector; shipped units per line come from the sub-order status.
 */
import { z } from 'zod';
import { parseDecimal } from '../../src/domain/money.js';
import {
  type CanonicalOrder,
  type CanonicalOrderInput,
  type OrderStatus,
  parseCanonicalOrder,
} from '../../src/domain/order.js';
import type { OrderPromotionInput } from '../../src/domain/promotions.js';
import { topTimeToIso } from './time.js';

const idText = z.union([z.string().regex(/^\d+$/), z.number().int().nonnegative()]).transform(String);
const optText = z.string().nullish();
const decimal = z.string();

const subOrderSchema = z.object({
  oid: idText,
  oid_str: idText.optional(),
  num_iid: idText,
  sku_id: z
    .union([z.string(), z.number()])
    .nullish()
    .transform((v) => (v === null || v === undefined ? '' : String(v))),
  outer_iid: optText,
  outer_sku_id: optText,
  title: optText,
  price: decimal,
  num: z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]),
  discount_fee: decimal.nullish(),
  adjust_fee: decimal.nullish(),
  payment: decimal.nullish(),
  part_mjz_discount: decimal.nullish(),
  divide_order_fee: decimal.nullish(),
  status: optText,
  refund_status: optText,
  refund_id: idText.nullish(),
  consign_time: optText,
});

const promotionDetailSchema = z.object({
  id: idText.nullish(),
  promotion_id: optText,
  promotion_name: optText,
  promotion_desc: optText,
  discount_fee: decimal.nullish(),
  gift_item_id: idText.nullish(),
  gift_item_name: optText,
  gift_item_num: z.union([z.string().regex(/^\d+$/), z.number().int()]).nullish(),
});

export const topTradeSchema = z.object({
  tid: idText,
  tid_str: idText.optional(),
  status: z.string(),
  created: optText,
  modified: z.string(),
  pay_time: optText,
  consign_time: optText,
  payment: decimal,
  post_fee: decimal.nullish(),
  promotion_details: z.object({ promotion_detail: z.array(promotionDetailSchema).default([]) }).nullish(),
  orders: z.object({ order: z.array(subOrderSchema).min(1) }),
});

export type TopTrade = z.infer<typeof topTradeSchema>;

/** What the connector read with `taobao.refund.get` (refund amounts are not on the trade). */
export const topRefundSchema = z.object({
  refund_id: idText,
  oid: idText.nullish(),
  status: z.string(),
  refund_fee: decimal,
  has_good_return: z.union([z.boolean(), z.string()]).nullish(),
  num: z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]).nullish(),
  modified: optText,
});
export type TopRefund = z.infer<typeof topRefundSchema>;

export interface MappingOptions {
  /** The canonical `shopId` (the seller nick). */
  shopId: string;
  /** Refund records by `refund_id`, for every sub-order that has one. */
  refunds?: ReadonlyMap<string, TopRefund>;
}

export type MapResult =
  | { ok: true; order: CanonicalOrder }
  | { ok: false; platformOrderId: string; error: string };

const PENDING = new Set(['TRADE_NO_CREATE_PAY', 'WAIT_BUYER_PAY', 'PAY_PENDING', 'WAIT_PRE_AUTH_CONFIRM']);
const SHIPPED_SUB = new Set(['WAIT_BUYER_CONFIRM_GOODS', 'TRADE_BUYER_SIGNED', 'TRADE_FINISHED']);

/** Canonical status of a trade; undefined for a status we do not know. */
export function mapTradeStatus(
  t: Pick<TopTrade, 'status' | 'pay_time' | 'consign_time'> & {
    orders?: { order: Pick<TopTrade['orders']['order'][number], 'consign_time' | 'refund_id'>[] };
  },
): OrderStatus | undefined {
  const s = t.status;
  if (PENDING.has(s)) return 'pending_payment';
  switch (s) {
    case 'WAIT_SELLER_SEND_GOODS':
    case 'PAID_FORBID_CONSIGN':
      return 'paid';
    case 'SELLER_CONSIGNED_PART':
      return 'partially_shipped';
    case 'WAIT_BUYER_CONFIRM_GOODS':
    case 'TRADE_BUYER_SIGNED':
      return 'shipped';
    case 'TRADE_FINISHED':
      return 'completed';
    case 'TRADE_CLOSED_BY_TAOBAO':
      return 'cancelled';
    case 'TRADE_CLOSED': {
      const subs = t.orders?.order ?? [];
      const consigned = Boolean(t.consign_time) || subs.some((o) => Boolean(o.consign_time));
      return consigned ? 'shipped' : 'cancelled';
    }
    default:
      return undefined;
  }
}

/** Maps one trade. Never throws. */
export function mapTaobaoTrade(raw: unknown, options: MappingOptions): MapResult {
  const rawId = rawTradeId(raw);
  const parsed = topTradeSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    return {
      ok: false,
      platformOrderId: rawId,
      error: `payload: ${first?.path.join('.')}: ${first?.message}`,
    };
  }
  const id = parsed.data.tid_str ?? parsed.data.tid;
  try {
    const checked = parseCanonicalOrder(toCanonical(parsed.data, options));
    if (!checked.ok) return { ok: false, platformOrderId: id, error: checked.error.message };
    return { ok: true, order: checked.order };
  } catch (err) {
    return { ok: false, platformOrderId: id, error: err instanceof Error ? err.message : String(err) };
  }
}

/** The trade id of an unparsed payload, for error reports; `?` if there is none. */
export function rawTradeId(raw: unknown): string {
  if (typeof raw !== 'object' || raw === null) return '?';
  const r = raw as { tid?: unknown; tid_str?: unknown };
  const v = r.tid_str ?? r.tid;
  return typeof v === 'number' || typeof v === 'string' ? String(v) : '?';
}

class MappingError extends Error {}

function money(text: string | null | undefined, what: string, allowNegative = false): number {
  if (text === null || text === undefined || text === '') return 0;
  const p = parseDecimal(text, 'CNY', { allowNegative });
  if (!p.ok) throw new MappingError(`${what}: ${p.reason}`);
  return p.minor;
}

const yuan = (fen: number) =>
  `${fen < 0 ? '-' : ''}${Math.floor(Math.abs(fen) / 100)}.${String(Math.abs(fen) % 100).padStart(2, '0')}`;

function toCanonical(t: TopTrade, options: MappingOptions): CanonicalOrderInput {
  const tid = t.tid_str ?? t.tid;
  const status = mapTradeStatus(t);
  if (status === undefined) throw new MappingError(`unknown trade status ${JSON.stringify(t.status)}`);
  const modified = topTimeToIso(t.modified);
  if (modified === undefined)
    throw new MappingError(`modified: not a TOP time: ${JSON.stringify(t.modified)}`);
  const created = topTimeToIso(t.created);

  const subs = t.orders.order;
  const multi = subs.length > 1;
  const oids = new Set(subs.map((o) => o.oid_str ?? o.oid));
  const details = t.promotion_details?.promotion_detail ?? [];
  const itemPromos = new Map<string, { id?: string; name?: string }>();
  for (const d of details) {
    if (d.id && oids.has(d.id) && !d.gift_item_id) {
      itemPromos.set(d.id, {
        ...(d.promotion_id ? { id: d.promotion_id.slice(0, 128) } : {}),
        ...(d.promotion_name ? { name: d.promotion_name.slice(0, 500) } : {}),
      });
    }
  }

  const giftLineIds: string[] = [];
  const allocations: { lineId: string; amount: number }[] = [];
  let anyMjz = false;
  const lines = subs.map((o) => {
    const lineId = o.oid_str ?? o.oid;
    const where = `sub-order ${lineId}`;
    if (o.num < 1) throw new MappingError(`${where}: num ${o.num}`);
    const unit = money(o.price, `${where} price`);
    const list = unit * o.num;
    const discount = money(o.discount_fee, `${where} discount_fee`);
    const adjust = money(o.adjust_fee, `${where} adjust_fee`, true);
    const payment =
      o.payment === null || o.payment === undefined ? undefined : money(o.payment, `${where} payment`);
    const mjz = money(o.part_mjz_discount, `${where} part_mjz_discount`);
    if (o.part_mjz_discount !== null && o.part_mjz_discount !== undefined) anyMjz = true;
    if (multi && payment !== undefined && payment !== list + adjust - discount) {
      throw new MappingError(
        `${where}: payment ${o.payment} != price*num + adjust_fee - discount_fee (${yuan(list + adjust - discount)})`,
      );
    }
    if (multi && payment !== undefined && o.divide_order_fee !== null && o.divide_order_fee !== undefined) {
      const divide = money(o.divide_order_fee, `${where} divide_order_fee`);
      if (divide !== payment - mjz) {
        throw new MappingError(
          `${where}: divide_order_fee ${o.divide_order_fee} != payment - part_mjz_discount (${yuan(payment - mjz)})`,
        );
      }
    }
    const gift = multi ? payment === 0 : unit === 0;
    const promo = itemPromos.get(lineId);
    const lineDiscounts: NonNullable<CanonicalOrderInput['lines'][number]['lineDiscounts']> = [];
    if (gift) {
      giftLineIds.push(lineId);
      if (list > 0) lineDiscounts.push({ kind: 'gift', funding: 'seller', amount: list, name: '赠品' });
    } else {
      if (discount !== 0) {
        lineDiscounts.push({
          kind: 'fixed',
          funding: 'seller',
          amount: discount,
          ...(promo?.id ? { promotionId: promo.id } : {}),
          ...(promo?.name ? { name: promo.name } : {}),
        });
      }
      if (adjust !== 0) {
        lineDiscounts.push({
          kind: 'manual_adjustment',
          funding: 'seller',
          amount: -adjust,
          name: 'adjust_fee',
        });
      }
    }
    if (mjz !== 0 || (!gift && o.part_mjz_discount)) allocations.push({ lineId, amount: mjz });
    const shipped =
      o.status === null || o.status === undefined
        ? undefined
        : SHIPPED_SUB.has(o.status) || (o.status === 'TRADE_CLOSED' && o.consign_time)
          ? o.num
          : 0;
    return {
      lineId,
      platformItemId: o.num_iid,
      ...(o.sku_id && o.sku_id !== '0' ? { platformSkuId: o.sku_id } : {}),
      ...(o.outer_sku_id?.trim() ? { outerSkuId: o.outer_sku_id.trim() } : {}),
      ...(o.outer_iid?.trim() ? { outerItemId: o.outer_iid.trim() } : {}),
      ...(o.title ? { title: o.title.slice(0, 500) } : {}),
      quantity: o.num,
      unitListPrice: unit,
      lineDiscounts,
      gift,
      ...(shipped === undefined ? {} : { shippedQuantity: shipped }),
    };
  });

  // 满就送 gifts: no sub-order of their own; add a zero-price line so the gift takes stock.
  const giftPromos: { id?: string; name?: string }[] = [];
  details.forEach((d, i) => {
    if (!d.gift_item_id) return;
    const lineId = `gift-${d.id ?? i}-${d.gift_item_id}`.slice(0, 128);
    const num = d.gift_item_num === null || d.gift_item_num === undefined ? 1 : Number(d.gift_item_num);
    if (!(num >= 1)) return;
    lines.push({
      lineId,
      platformItemId: d.gift_item_id,
      ...(d.gift_item_name ? { title: d.gift_item_name.slice(0, 500) } : {}),
      quantity: num,
      unitListPrice: 0,
      lineDiscounts: [],
      gift: true,
    });
    giftLineIds.push(lineId);
    giftPromos.push({
      ...(d.promotion_id ? { id: d.promotion_id.slice(0, 128) } : {}),
      ...(d.promotion_name ? { name: d.promotion_name.slice(0, 500) } : {}),
    });
  });

  // Trade-level promotions: not attached to a sub-order, not a gift-only entry.
  const tradeLevel = details.filter(
    (d) => !(d.id && oids.has(d.id)) && money(d.discount_fee, 'promotion discount_fee') > 0,
  );
  const promotions: OrderPromotionInput[] = [];
  const tradeAmount = tradeLevel.reduce((s, d) => s + money(d.discount_fee, 'promotion discount_fee'), 0);
  const allocated = allocations.reduce((s, a) => s + a.amount, 0);
  if (tradeAmount > 0 || allocated > 0) {
    const names = tradeLevel.map((d) => d.promotion_name ?? d.promotion_id ?? '').filter(Boolean);
    const ids = tradeLevel.map((d) => d.promotion_id ?? '').filter(Boolean);
    const couponLike = tradeLevel.some((d) =>
      /coupon|shopbonus|券/i.test(`${d.promotion_id ?? ''}${d.promotion_name ?? ''}`),
    );
    const threshold = tradeLevel.length === 1 ? thresholdOf(tradeLevel[0]!) : undefined;
    const base = {
      funding: 'seller' as const,
      amount: tradeAmount > 0 ? tradeAmount : allocated,
      ...(ids.length > 0 ? { id: ids.join(',').slice(0, 128) } : {}),
      name: (names.length > 0 ? names.join(' + ') : 'part_mjz_discount without a promotion detail').slice(
        0,
        500,
      ),
      ...(anyMjz ? { allocations } : {}),
    };
    if (couponLike) promotions.push({ kind: 'coupon', ...base });
    else if (threshold !== undefined) promotions.push({ kind: 'threshold', ...base, threshold });
    else promotions.push({ kind: 'fixed', ...base });
  }
  if (giftLineIds.length > 0) {
    const name =
      giftPromos
        .map((g) => g.name)
        .filter(Boolean)
        .join(' + ') || '赠品';
    const gid = giftPromos.find((g) => g.id)?.id;
    promotions.push({ kind: 'gift', ...(gid ? { id: gid } : {}), name: name.slice(0, 500), giftLineIds });
  }

  return {
    shopId: options.shopId,
    platform: 'taobao',
    platformOrderId: tid,
    ...(created ? { platformCreatedAt: created } : {}),
    platformModifiedAt: modified,
    status,
    currency: 'CNY',
    lines,
    promotions,
    shippingFee: money(t.post_fee, 'post_fee'),
    taxAdded: 0,
    buyerPaidTotal: money(t.payment, 'payment'),
    refunds: mapRefunds(subs, options.refunds),
  };
}

/** 满300减50 / 满300元减50 / 每满... in the promotion name -> threshold in fen; undefined otherwise. */
function thresholdOf(d: z.infer<typeof promotionDetailSchema>): number | undefined {
  const m = /满\s*(\d+(?:\.\d{1,2})?)\s*元?\s*[减送]/.exec(
    `${d.promotion_name ?? ''} ${d.promotion_desc ?? ''}`,
  );
  if (!m) return undefined;
  const p = parseDecimal(m[1]!, 'CNY');
  return p.ok ? p.minor : undefined;
}

const REFUND_STATUS: Record<string, 'requested' | 'succeeded' | 'closed'> = {
  WAIT_SELLER_AGREE: 'requested',
  WAIT_BUYER_RETURN_GOODS: 'requested',
  WAIT_SELLER_CONFIRM_GOODS: 'requested',
  SELLER_REFUSE_BUYER: 'closed',
  CLOSED: 'closed',
  SUCCESS: 'succeeded',
};

function mapRefunds(
  subs: TopTrade['orders']['order'],
  refunds: ReadonlyMap<string, TopRefund> | undefined,
): NonNullable<CanonicalOrderInput['refunds']> {
  const out: NonNullable<CanonicalOrderInput['refunds']> = [];
  for (const o of subs) {
    if (!o.refund_id || !o.refund_status || o.refund_status === 'NO_REFUND') continue;
    const lineId = o.oid_str ?? o.oid;
    const r = refunds?.get(o.refund_id);
    if (!r) throw new MappingError(`sub-order ${lineId}: refund ${o.refund_id} was not read`);
    const status = REFUND_STATUS[r.status];
    if (!status) throw new MappingError(`refund ${r.refund_id}: unknown status ${JSON.stringify(r.status)}`);
    const withGoods = r.has_good_return === true || r.has_good_return === 'true';
    const goodsReturn =
      !withGoods || status === 'closed'
        ? ('none' as const)
        : r.status === 'SUCCESS'
          ? ('received' as const)
          : ('expected' as const);
    const modified = topTimeToIso(r.modified);
    out.push({
      refundId: r.refund_id,
      lineId,
      quantity: Math.min(r.num ?? o.num, o.num),
      amount: money(r.refund_fee, `refund ${r.refund_id} refund_fee`),
      status,
      goodsReturn,
      ...(modified ? { platformModifiedAt: modified } : {}),
    });
  }
  return out;
}

/** Refund ids the trade refers to (the connector reads each with `taobao.refund.get`). */
export function refundIdsOf(raw: unknown): string[] {
  const parsed = topTradeSchema.safeParse(raw);
  if (!parsed.success) return [];
  return parsed.data.orders.order
    .filter((o) => o.refund_id && o.refund_status && o.refund_status !== 'NO_REFUND')
    .map((o) => o.refund_id!);
}
