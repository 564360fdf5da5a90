import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { CanonicalOrder } from '../../src/domain/order.js';
import { apportionOrder } from '../../src/domain/promotions.js';
import { installLeakGuard } from '../testing/leak-guard.js';
import { mapShopifyOrder, mapStatus } from './mapping.js';

installLeakGuard();

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;
const opts = { shopId: 'jsmith.myshopify.com', authorizedIsPaid: true };

function mapOk(raw: unknown): CanonicalOrder {
  const r = mapShopifyOrder(raw, opts);
  if (!r.ok) throw new Error(`did not map: ${r.error}`);
  return r.order;
}

describe('Shopify order mapping: docs order #1001', () => {
  const order = mapOk(fixture('order-1001.json'));

  it('keeps ids, times (as UTC) and money in cents', () => {
    expect(order).toMatchObject({
      shopId: 'jsmith.myshopify.com',
      platform: 'shopify',
      platformOrderId: '450789469',
      platformCreatedAt: '2008-01-10T16:00:00.000Z',
      platformModifiedAt: '2008-01-10T16:00:00.000Z',
      currency: 'USD',
      buyerPaidTotal: 59894,
      taxAdded: 1194,
      shippingFee: 0,
    });
    expect(
      order.lines.map((l) => [l.lineId, l.platformItemId, l.platformSkuId, l.outerSkuId, l.unitListPrice]),
    ).toEqual([
      ['466157049', '632910392', '39072856', 'IPOD2008GREEN', 19900],
      ['518995019', '632910392', '49148385', 'IPOD2008RED', 19900],
      ['703073504', '632910392', '457924702', 'IPOD2008BLACK', 19900],
    ]);
  });

  it("takes the across code with Shopify's own split 3.34 / 3.33 / 3.33", () => {
    expect(order.promotions).toEqual([
      {
        kind: 'coupon',
        code: 'TENOFF',
        funding: 'seller',
        id: '0',
        name: 'TENOFF',
        amount: 1000,
        target: 'goods',
        allocations: [
          { lineId: '466157049', amount: 334 },
          { lineId: '518995019', amount: 333 },
          { lineId: '703073504', amount: 333 },
        ],
      },
    ]);
    expect(order.lines.every((l) => l.lineDiscounts.length === 0 && !l.gift)).toBe(true);
    const a = apportionOrder(order);
    expect(a.issues).toEqual([]);
    expect(a.lines.map((l) => l.buyerPaid)).toEqual([19566, 19567, 19567]);
  });

  it('is paid (partially_refunded keeps the shipping state) and records the refund of the black iPod', () => {
    expect(order.status).toBe('paid');
    expect(order.refunds).toEqual([
      {
        refundId: '509562969',
        lineId: '703073504',
        quantity: 1,
        amount: 19566,
        status: 'succeeded',
        goodsReturn: 'received',
        platformModifiedAt: '2024-04-02T13:59:11.000Z',
      },
    ]);
  });
});

describe('Shopify order mapping: stacked discounts, BXGY gift, shipping discount', () => {
  const order = mapOk(fixture('order-stacked-discounts.json'));
  const line = (id: string) => order.lines.find((l) => l.lineId === id)!;

  it('keeps the automatic $5 on its line and the 15% code as a split promotion (14.10 / 15.00)', () => {
    expect(line('14521870000001').lineDiscounts).toEqual([
      { kind: 'fixed', funding: 'seller', amount: 500, promotionId: '0', name: 'Auto $5' },
    ]);
    const code = order.promotions.find((p) => p.kind === 'coupon');
    expect(code).toMatchObject({
      code: 'SPRING15',
      amount: 2910,
      allocations: [
        { lineId: '14521870000001', amount: 1410 },
        { lineId: '14521870000002', amount: 1500 },
      ],
    });
  });

  it('marks the fully discounted BXGY line as a gift and lists it in a gift promotion', () => {
    expect(line('14521870000003')).toMatchObject({
      gift: true,
      unitListPrice: 3000,
      lineDiscounts: [{ kind: 'gift', funding: 'seller', amount: 3000 }],
    });
    expect(order.promotions).toContainEqual({
      kind: 'gift',
      name: 'Shopify free items',
      giftLineIds: ['14521870000003'],
    });
    expect(line('14521870000001').gift).toBe(false);
  });

  it('turns the shipping-line allocation into a shipping promotion and adds up to total_price', () => {
    expect(order.shippingFee).toBe(1500);
    expect(order.promotions).toContainEqual(
      expect.objectContaining({ kind: 'fixed', amount: 500, target: 'shipping', name: 'Shipping $5 off' }),
    );
    expect(order.taxAdded).toBe(0); // taxes_included
    const a = apportionOrder(order);
    expect(a.issues).toEqual([]);
    expect(a.computedBuyerPaidTotal).toBe(17490);
  });

  it('keeps non-ASCII titles and the order currency', () => {
    expect(line('14521870000001').title).toBe('Thé vert 绿茶');
    expect(order.currency).toBe('HKD');
  });
});

describe('Shopify status -> canonical', () => {
  const base = { cancelled_at: null, closed_at: null, financial_status: 'paid', fulfillment_status: null };
  it.each([
    [{ financial_status: 'pending' }, 'pending_payment'],
    [{ financial_status: 'partially_paid' }, 'pending_payment'],
    [{ financial_status: 'authorized' }, 'paid'],
    [{ financial_status: 'paid' }, 'paid'],
    [{ financial_status: 'partially_refunded' }, 'paid'],
    [{ fulfillment_status: 'partial' }, 'partially_shipped'],
    [{ fulfillment_status: 'fulfilled' }, 'shipped'],
    [{ fulfillment_status: 'fulfilled', closed_at: '2024-01-02T00:00:00Z' }, 'completed'],
    [{ cancelled_at: '2024-01-02T00:00:00Z', financial_status: 'refunded' }, 'cancelled'],
    [{ financial_status: 'voided' }, 'cancelled'],
    [{ financial_status: 'refunded' }, 'cancelled'],
    [{ financial_status: 'refunded', fulfillment_status: 'fulfilled' }, 'shipped'],
    [{ financial_status: 'partially_refunded', fulfillment_status: 'partial' }, 'partially_shipped'],
  ] as const)('%o -> %s', (patch, expected) => {
    expect(mapStatus({ ...base, ...patch }, { authorizedIsPaid: true })).toBe(expected);
  });

  it('authorized is pending_payment when configured so', () => {
    expect(mapStatus({ ...base, financial_status: 'authorized' }, { authorizedIsPaid: false })).toBe(
      'pending_payment',
    );
  });

  it('rejects an unknown financial_status instead of guessing', () => {
    const raw = { ...fixture('order-1001.json'), financial_status: 'teleported' };
    const r = mapShopifyOrder(raw, opts);
    expect(r).toMatchObject({ ok: false, platformOrderId: '450789469' });
    expect(!r.ok && r.error).toContain('teleported');
  });
});

describe('Shopify order mapping: edge cases', () => {
  it('a cancelled paid order is cancelled with its refunds (restock cancel returns no goods)', () => {
    const raw = {
      ...fixture('order-1001.json'),
      cancelled_at: '2008-01-11T11:00:00-05:00',
      financial_status: 'refunded',
      refunds: [
        {
          id: 1,
          processed_at: '2008-01-11T11:00:00-05:00',
          transactions: [{ kind: 'refund', amount: '598.94', status: 'success' }],
          order_adjustments: [],
          refund_line_items: [
            { line_item_id: 466157049, quantity: 1, restock_type: 'cancel', subtotal: 195.66 },
            { line_item_id: 518995019, quantity: 1, restock_type: 'cancel', subtotal: '195.67' },
          ],
        },
      ],
    };
    const o = mapOk(raw);
    expect(o.status).toBe('cancelled');
    expect(o.refunds.map((r) => [r.lineId, r.amount, r.goodsReturn, r.status])).toEqual([
      ['466157049', 19566, 'none', 'succeeded'],
      ['518995019', 19567, 'none', 'succeeded'],
    ]);
  });

  it('a shipping refund (order adjustment) is a line-less refund record', () => {
    const raw = {
      ...fixture('order-1001.json'),
      refunds: [
        {
          id: 7,
          transactions: [{ kind: 'refund', amount: '5.00', status: 'pending' }],
          order_adjustments: [{ amount: '-5.00', kind: 'shipping_refund' }],
          refund_line_items: [],
        },
      ],
    };
    expect(mapOk(raw).refunds).toEqual([
      { refundId: '7', quantity: 0, amount: 500, status: 'requested', goodsReturn: 'none' },
    ]);
  });

  it('a 0.00 custom line (draft-order freebie) is a gift line; a custom line without product gets an item id', () => {
    const raw = fixture('order-1001.json');
    const lines = raw.line_items as Record<string, unknown>[];
    lines.push({
      id: 999,
      product_id: null,
      variant_id: null,
      sku: '',
      title: 'Sample',
      quantity: 1,
      price: '0.00',
    });
    const o = mapOk(raw);
    const free = o.lines.find((l) => l.lineId === '999')!;
    expect(free).toMatchObject({ gift: true, platformItemId: 'custom-999', unitListPrice: 0 });
    expect(free.outerSkuId).toBeUndefined();
  });

  it('rejects a discount allocation that points at no application, and a payload without line items', () => {
    const raw = fixture('order-1001.json');
    (raw.line_items as { discount_allocations: { discount_application_index: number }[] }[])[0]!
      .discount_allocations[0]!.discount_application_index = 5;
    expect(mapShopifyOrder(raw, opts)).toMatchObject({ ok: false, platformOrderId: '450789469' });
    expect(mapShopifyOrder({ id: 1, created_at: 'x' }, opts)).toMatchObject({
      ok: false,
      platformOrderId: '1',
    });
    expect(mapShopifyOrder('nonsense', opts)).toMatchObject({ ok: false, platformOrderId: '?' });
  });

  it('rejects float-looking money it cannot represent exactly', () => {
    const raw = { ...fixture('order-1001.json'), total_price: '598.945' };
    expect(mapShopifyOrder(raw, opts).ok).toBe(false);
  });
});
