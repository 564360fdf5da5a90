/**
 * Shopify REST order -> canonical order (`src/domain/order.ts`).
 *
 * Promotions: Shopify already splits every discount per line (`discount_allocations`, each the
 * total for the whole line, summing across a line's units), so nothing is apportioned here:
 * - an application with `allocation_method: across` (an order-level code, e.g. TENOFF $10 over
 *   three $199 lines = 3.34/3.33/3.33) becomes an order promotion with the platform's split as
 *   `allocations`;
 * - `each` / `one` applications (line-targeted: automatic line discounts, BXGY) stay on their
 *   line as `lineDiscounts`;
 * - `target_type: shipping_line` applications lower the shipping fee (`target: 'shipping'`).
 * Applications stack in `discount_applications` order, which is the order kept here.
 *
 * Gifts: Shopify has no gift flag. A line whose line-targeted allocations add up to its whole
 * `price x quantity` (BXGY "get Y free"), or a line priced 0.00 (draft-order freebie), is a gift
 * line: `gift: true`, its discount of kind `gift`, and one `gift` promotion lists such lines.
 *
 * Status (notes §1.5, with the canonical model of order.ts, which has no "refunded" state):
 * cancelled_at or voided -> cancelled; anything fulfilled -> partially_shipped / shipped /
 * completed (closed); refunded with nothing shipped -> cancelled (refund records kept);
 * pending / partially_paid / expired -> pending_payment; authorized -> paid (configurable);
 * paid / partially_refunded -> paid. Partial refunds are refund records, never a state.
 */
import { z } from 'zod';
import {
  type CurrencyCode,
  currencySchema,
  parseDecimal,
  parsePlatformNumber,
} from '../../src/domain/money.js';
import {
  type CanonicalOrder,
  type CanonicalOrderInput,
  parseCanonicalOrder,
} from '../../src/domain/order.js';
import type { OrderPromotionInput } from '../../src/domain/promotions.js';

// -- Payload schema: only the fields the mapping reads; everything else passes through. --------

const id = z.union([z.number().int().nonnegative(), z.string().regex(/^\d+$/)]).transform(String);
const decimal = z.string();
const numberOrDecimal = z.union([z.string(), z.number()]);

const allocationSchema = z.object({ amount: decimal, discount_application_index: z.number().int().min(0) });

const applicationSchema = z.object({
  type: z.string(),
  value: z.string().optional(),
  value_type: z.string().optional(),
  allocation_method: z.string(),
  target_selection: z.string().optional(),
  target_type: z.string(),
  code: z.string().nullish(),
  title: z.string().nullish(),
  description: z.string().nullish(),
});

const lineItemSchema = z.object({
  id,
  variant_id: id.nullish(),
  product_id: id.nullish(),
  sku: z.string().nullish(),
  title: z.string().nullish(),
  name: z.string().nullish(),
  quantity: z.number().int(),
  price: decimal,
  discount_allocations: z.array(allocationSchema).default([]),
});

const refundSchema = z.object({
  id,
  created_at: z.string().nullish(),
  processed_at: z.string().nullish(),
  refund_line_items: z
    .array(
      z.object({
        line_item_id: id,
        quantity: z.number().int().min(0),
        restock_type: z.string().nullish(),
        subtotal: numberOrDecimal,
      }),
    )
    .default([]),
  transactions: z
    .array(z.object({ kind: z.string(), amount: decimal, status: z.string().nullish() }))
    .default([]),
  order_adjustments: z.array(z.object({ amount: numberOrDecimal, kind: z.string().nullish() })).default([]),
});

export const shopifyOrderSchema = z.object({
  id,
  name: z.string().nullish(),
  created_at: z.string(),
  updated_at: z.string(),
  cancelled_at: z.string().nullish(),
  closed_at: z.string().nullish(),
  currency: z.string(),
  financial_status: z.string().nullish(),
  fulfillment_status: z.string().nullish(),
  taxes_included: z.boolean().default(false),
  total_tax: decimal.default('0.00'),
  total_price: decimal,
  discount_applications: z.array(applicationSchema).default([]),
  line_items: z.array(lineItemSchema),
  shipping_lines: z
    .array(z.object({ price: decimal, discount_allocations: z.array(allocationSchema).default([]) }))
    .default([]),
  refunds: z.array(refundSchema).default([]),
});

export type ShopifyOrder = z.infer<typeof shopifyOrderSchema>;
type Application = z.infer<typeof applicationSchema>;

/** Options that change the mapping. */
export interface MappingOptions {
  /** The canonical `shopId` (the shop's myshopify domain). */
  shopId: string;
  /** `financial_status: authorized` counts as paid. Default true. */
  authorizedIsPaid: boolean;
}

export type MapResult =
  | { ok: true; order: CanonicalOrder }
  | { ok: false; platformOrderId: string; error: string };

/** Maps one raw REST order (any version with the fields above). Never throws. */
export function mapShopifyOrder(raw: unknown, options: MappingOptions): MapResult {
  const rawId = rawOrderId(raw);
  const parsed = shopifyOrderSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    return {
      ok: false,
      platformOrderId: rawId,
      error: `payload: ${first?.path.join('.')}: ${first?.message}`,
    };
  }
  try {
    const input = toCanonical(parsed.data, options);
    const checked = parseCanonicalOrder(input);
    if (!checked.ok) return { ok: false, platformOrderId: parsed.data.id, error: checked.error.message };
    return { ok: true, order: checked.order };
  } catch (err) {
    return {
      ok: false,
      platformOrderId: parsed.data.id,
      error: err instanceof Error ? err.message : String(err),
    };
  }
}

/** The order id of an unparsed payload, for error reports; `?` if there is none. */
export function rawOrderId(raw: unknown): string {
  const v = typeof raw === 'object' && raw !== null ? (raw as { id?: unknown }).id : undefined;
  return typeof v === 'number' || typeof v === 'string' ? String(v) : '?';
}

class MappingError extends Error {}

function toCanonical(o: ShopifyOrder, options: MappingOptions): CanonicalOrderInput {
  const currencyParse = currencySchema.safeParse(o.currency);
  if (!currencyParse.success) throw new MappingError(`unsupported currency ${o.currency}`);
  const currency = currencyParse.data;
  const money = (text: string, what: string): number => {
    const p = parseDecimal(text, currency);
    if (!p.ok) throw new MappingError(`${what}: ${p.reason}`);
    return p.minor;
  };
  const apps = o.discount_applications;
  const appAt = (i: number, where: string): Application => {
    const a = apps[i];
    if (!a) throw new MappingError(`${where}: discount_application_index ${i} out of range`);
    return a;
  };

  // Order-level ("across") applications collect their per-line allocations here, by index.
  const acrossShares = new Map<number, { lineId: string; amount: number }[]>();
  const shippingByApp = new Map<number, number>();
  const giftLineIds: string[] = [];

  const lines = o.line_items
    .filter((li) => li.quantity > 0)
    .map((li) => {
      const lineId = li.id;
      const unitListPrice = money(li.price, `line ${lineId} price`);
      const listAmount = unitListPrice * li.quantity;
      const own: { app: Application; index: number; amount: number }[] = [];
      for (const alloc of li.discount_allocations) {
        const amount = money(alloc.amount, `line ${lineId} allocation`);
        if (amount === 0) continue;
        const app = appAt(alloc.discount_application_index, `line ${lineId}`);
        if (app.allocation_method === 'across') {
          const shares = acrossShares.get(alloc.discount_application_index) ?? [];
          shares.push({ lineId, amount });
          acrossShares.set(alloc.discount_application_index, shares);
        } else own.push({ app, index: alloc.discount_application_index, amount });
      }
      const ownTotal = own.reduce((s, d) => s + d.amount, 0);
      const gift = unitListPrice === 0 || (ownTotal > 0 && ownTotal === listAmount);
      if (gift) giftLineIds.push(lineId);
      return {
        lineId,
        platformItemId: li.product_id ?? `custom-${lineId}`,
        ...(li.variant_id ? { platformSkuId: li.variant_id } : {}),
        ...(li.sku ? { outerSkuId: li.sku.trim() || undefined } : {}),
        ...(li.name || li.title ? { title: (li.name ?? li.title ?? '').slice(0, 500) } : {}),
        quantity: li.quantity,
        unitListPrice,
        gift,
        lineDiscounts: own.map((d) => ({
          kind: gift ? ('gift' as const) : lineDiscountKind(d.app),
          funding: 'seller' as const,
          amount: d.amount,
          promotionId: String(d.index),
          ...nameOf(d.app),
        })),
      };
    });
  if (lines.length === 0) throw new MappingError('order has no line with a quantity');
  const knownLines = new Set(lines.map((l) => l.lineId));

  let shippingFee = 0;
  for (const s of o.shipping_lines) {
    shippingFee += money(s.price, 'shipping price');
    for (const alloc of s.discount_allocations) {
      appAt(alloc.discount_application_index, 'shipping line');
      const amount = money(alloc.amount, 'shipping allocation');
      shippingByApp.set(
        alloc.discount_application_index,
        (shippingByApp.get(alloc.discount_application_index) ?? 0) + amount,
      );
    }
  }

  const promotions: OrderPromotionInput[] = [];
  apps.forEach((app, index) => {
    const shares = acrossShares.get(index)?.filter((s) => knownLines.has(s.lineId));
    if (shares && shares.length > 0) {
      promotions.push({
        ...orderPromotionKind(app),
        funding: 'seller',
        id: String(index),
        ...nameOf(app),
        amount: shares.reduce((s, x) => s + x.amount, 0),
        allocations: shares,
      } as OrderPromotionInput);
    }
    const ship = shippingByApp.get(index);
    if (ship && ship > 0) {
      promotions.push({
        ...orderPromotionKind(app),
        funding: 'seller',
        id: String(index),
        ...nameOf(app),
        amount: ship,
        target: 'shipping',
      } as OrderPromotionInput);
    }
  });
  if (giftLineIds.length > 0) promotions.push({ kind: 'gift', name: 'Shopify free items', giftLineIds });

  return {
    shopId: options.shopId,
    platform: 'shopify',
    platformOrderId: o.id,
    platformCreatedAt: iso(o.created_at, 'created_at'),
    platformModifiedAt: iso(o.updated_at, 'updated_at'),
    status: mapStatus(o, options),
    currency,
    lines,
    promotions,
    shippingFee,
    taxAdded: o.taxes_included ? 0 : money(o.total_tax, 'total_tax'),
    buyerPaidTotal: money(o.total_price, 'total_price'),
    refunds: mapRefunds(o, currency, knownLines),
  };
}

/** Canonical status of a Shopify order (see the module comment for the table). */
export function mapStatus(
  o: Pick<ShopifyOrder, 'cancelled_at' | 'closed_at' | 'financial_status' | 'fulfillment_status'>,
  options: Pick<MappingOptions, 'authorizedIsPaid'>,
): CanonicalOrder['status'] {
  const fin = o.financial_status ?? 'pending';
  const ful = o.fulfillment_status ?? null;
  if (o.cancelled_at || fin === 'voided') return 'cancelled';
  if (ful === 'fulfilled') return o.closed_at ? 'completed' : 'shipped';
  if (ful === 'partial') return 'partially_shipped';
  switch (fin) {
    case 'refunded':
      return 'cancelled';
    case 'pending':
    case 'partially_paid':
    case 'expired':
      return 'pending_payment';
    case 'authorized':
      return options.authorizedIsPaid ? 'paid' : 'pending_payment';
    case 'paid':
    case 'partially_refunded':
      return 'paid';
    default:
      throw new MappingError(`unknown financial_status ${JSON.stringify(fin)}`);
  }
}

function mapRefunds(
  o: ShopifyOrder,
  currency: CurrencyCode,
  knownLines: Set<string>,
): CanonicalOrderInput['refunds'] {
  const amount = (v: string | number, what: string): number => {
    const p =
      typeof v === 'number'
        ? parsePlatformNumber(Math.abs(v), currency)
        : parseDecimal(v.replace(/^-/, ''), currency);
    if (!p.ok) throw new MappingError(`${what}: ${p.reason}`);
    return p.minor;
  };
  const out: NonNullable<CanonicalOrderInput['refunds']> = [];
  for (const r of o.refunds) {
    const txs = r.transactions.filter((t) => t.kind === 'refund');
    const status =
      txs.length === 0 || txs.some((t) => t.status === 'success')
        ? ('succeeded' as const)
        : txs.some((t) => t.status === 'pending')
          ? ('requested' as const)
          : ('closed' as const);
    const modified = r.processed_at ?? r.created_at;
    const at = modified ? { platformModifiedAt: iso(modified, 'refund processed_at') } : {};
    const byLine = new Map<string, { quantity: number; amount: number; restock: string }>();
    for (const rli of r.refund_line_items) {
      if (!knownLines.has(rli.line_item_id)) continue;
      const prev = byLine.get(rli.line_item_id);
      const a = amount(rli.subtotal, `refund ${r.id} subtotal`);
      byLine.set(rli.line_item_id, {
        quantity: (prev?.quantity ?? 0) + rli.quantity,
        amount: (prev?.amount ?? 0) + a,
        restock: rli.restock_type ?? prev?.restock ?? 'no_restock',
      });
    }
    for (const [lineId, v] of byLine) {
      out.push({
        refundId: r.id,
        lineId,
        quantity: v.quantity,
        amount: v.amount,
        status,
        goodsReturn: v.restock === 'return' || v.restock === 'legacy_restock' ? 'received' : 'none',
        ...at,
      });
    }
    let rest = r.order_adjustments.reduce((s, a) => s + amount(a.amount, `refund ${r.id} adjustment`), 0);
    if (byLine.size === 0 && rest === 0) {
      rest = txs.reduce((s, t) => s + amount(t.amount, `refund ${r.id} transaction`), 0);
    }
    if (rest > 0) {
      out.push({ refundId: r.id, quantity: 0, amount: rest, status, goodsReturn: 'none', ...at });
    }
  }
  return out;
}

function lineDiscountKind(app: Application): 'coupon' | 'percentage' | 'fixed' {
  if (app.type === 'discount_code') return 'coupon';
  return app.value_type === 'percentage' ? 'percentage' : 'fixed';
}

function orderPromotionKind(
  app: Application,
): { kind: 'coupon'; code?: string } | { kind: 'percentage'; rateBasisPoints: number } | { kind: 'fixed' } {
  if (app.type === 'discount_code') return { kind: 'coupon', ...(app.code ? { code: app.code } : {}) };
  if (app.value_type === 'percentage' && app.value) {
    const p = parseDecimal(app.value, 'USD');
    if (p.ok && p.minor > 0 && p.minor <= 10_000) return { kind: 'percentage', rateBasisPoints: p.minor };
  }
  return { kind: 'fixed' };
}

function nameOf(app: Application): { name?: string } {
  const name = app.code ?? app.title ?? app.description;
  return name ? { name: name.slice(0, 500) } : {};
}

/** Shopify timestamps already carry an offset; re-emit them as UTC ISO. */
function iso(text: string, what: string): string {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new MappingError(`${what} is not a timestamp: ${JSON.stringify(text)}`);
  return new Date(ms).toISOString();
}
