/**
 * WooCommerce order -> canonical order, on the documented payloads (order 727 and the refund
 * list of order 723 from woocommerce-rest-api-docs `_orders.md` / `_order-refunds.md`) and on
 * variations of them with coupons, negative fees, gift lines and refunds.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { apportionOrder } from '../../src/domain/promotions.js';
import { installLeakGuard } from '../testing/leak-guard.js';
import { type MappingOptions, mapStatus, mapWooOrder } from './mapping.js';

installLeakGuard();

const fixture = <T>(name: string) =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as T;
const base = () =>
  fixture<Record<string, unknown> & { line_items: Record<string, unknown>[] }>('order-727.json');
const opts: MappingOptions = { shopId: 'example.com', customStatuses: {} };

function mapOk(raw: unknown, details?: unknown[]) {
  const r = mapWooOrder(raw, opts, details);
  if (!r.ok) throw new Error(r.error);
  expect(apportionOrder(r.order).issues).toEqual([]);
  return r.order;
}

describe('mapWooOrder', () => {
  it('maps the documented order 727: lines, variation, tax on top, shipping, GMT times', () => {
    const o = mapOk(base());
    expect(o).toMatchObject({
      shopId: 'example.com',
      platform: 'woocommerce',
      platformOrderId: '727',
      platformCreatedAt: '2017-03-22T19:28:02.000Z',
      platformModifiedAt: '2017-03-22T19:28:08.000Z',
      status: 'paid',
      currency: 'USD',
      shippingFee: 1000,
      taxAdded: 135,
      buyerPaidTotal: 2935,
      promotions: [],
      refunds: [],
    });
    expect(o.lines).toEqual([
      expect.objectContaining({
        lineId: '315',
        platformItemId: '93',
        quantity: 2,
        unitListPrice: 300,
        gift: false,
        lineDiscounts: [],
      }),
      expect.objectContaining({
        lineId: '316',
        platformItemId: '22',
        platformSkuId: '23',
        outerSkuId: 'Bar3',
        quantity: 1,
        unitListPrice: 1200,
      }),
    ]);
    expect(o.lines[0]).not.toHaveProperty('platformSkuId');
    expect(o.lines[0]).not.toHaveProperty('outerSkuId');
  });

  it('one coupon: an order-level coupon with the per-line split (subtotal - total) as allocations', () => {
    const raw = base();
    raw.line_items[0]!.total = '5.40';
    raw.line_items[0]!.total_tax = '0.41';
    raw.line_items[1]!.total = '10.80';
    raw.line_items[1]!.total_tax = '0.81';
    raw.coupon_lines = [
      {
        id: 320,
        code: 'save10',
        discount: '1.80',
        discount_tax: '0.13',
        discount_type: 'percent',
        nominal_amount: 10,
      },
    ];
    raw.total_tax = '1.22';
    raw.total = '27.42';
    const o = mapOk(raw);
    expect(o.promotions).toEqual([
      {
        kind: 'coupon',
        funding: 'seller',
        id: '320',
        code: 'save10',
        name: 'save10',
        rateBasisPoints: 1000,
        amount: 180,
        target: 'goods',
        allocations: [
          { lineId: '315', amount: 60 },
          { lineId: '316', amount: 120 },
        ],
      },
    ]);
    expect(o.lines.every((l) => l.lineDiscounts.length === 0)).toBe(true);
  });

  it('several coupons: the per-line discount stays on the line (core does not split it by coupon)', () => {
    const raw = base();
    raw.line_items[0]!.total = '4.40';
    raw.line_items[1]!.total = '10.80';
    raw.coupon_lines = [
      { id: 1, code: 'save10', discount: '1.80' },
      { id: 2, code: 'single1', discount: '1.00' },
    ];
    raw.total_tax = '0.00';
    raw.total = '25.20';
    const o = mapOk(raw);
    expect(o.promotions).toEqual([]);
    expect(o.lines.map((l) => l.lineDiscounts)).toEqual([
      [{ kind: 'coupon', funding: 'seller', amount: 160, name: 'save10, single1' }],
      [{ kind: 'coupon', funding: 'seller', amount: 120, name: 'save10, single1' }],
    ]);
  });

  it('a negative fee line is a seller-funded manual adjustment left for apportionment', () => {
    const raw = base();
    raw.fee_lines = [{ id: 330, name: 'Loyalty discount', total: '-5.00', total_tax: '0.00' }];
    raw.total = '24.35';
    const o = mapOk(raw);
    expect(o.promotions).toEqual([
      {
        kind: 'manual_adjustment',
        funding: 'seller',
        id: '330',
        name: 'Loyalty discount',
        amount: 500,
        target: 'goods',
      },
    ]);
    const a = apportionOrder(o);
    expect(a.lines.map((l) => l.sellerDiscount)).toEqual([167, 333]);
  });

  it('a 0.00 line is a gift: takes stock, never a share, listed in a gift promotion', () => {
    const raw = base();
    raw.line_items.push({
      id: 319,
      name: 'Free Tote',
      product_id: 50,
      variation_id: 0,
      quantity: 1,
      subtotal: '0.00',
      total: '0.00',
      sku: 'GIFT',
    });
    raw.fee_lines = [{ id: 330, name: 'Discount', total: '-3.00' }];
    raw.total = '26.35';
    const o = mapOk(raw);
    expect(o.lines[2]).toMatchObject({ lineId: '319', gift: true, unitListPrice: 0, outerSkuId: 'GIFT' });
    expect(o.promotions.at(-1)).toEqual({ kind: 'gift', name: 'free items', giftLineIds: ['319'] });
    expect(apportionOrder(o).lines[2]!.sellerDiscount).toBe(0);
  });

  it('a line discounted to 0.00 by a product coupon is a gift with a gift discount', () => {
    const raw = base();
    raw.line_items[0]!.total = '0.00';
    raw.line_items[0]!.total_tax = '0.00';
    raw.coupon_lines = [{ id: 9, code: 'bogo', discount: '6.00' }];
    raw.total = '22.90';
    raw.total_tax = '0.90';
    const o = mapOk(raw);
    expect(o.lines[0]).toMatchObject({
      gift: true,
      lineDiscounts: [{ kind: 'gift', funding: 'seller', amount: 600, name: 'free item' }],
    });
    expect(o.promotions).toEqual([{ kind: 'gift', name: 'free items', giftLineIds: ['315'] }]);
  });

  it('a subtotal that does not divide by the quantity keeps the cents with a rounding adjustment', () => {
    const raw = base();
    raw.line_items[0]!.quantity = 3;
    raw.line_items[0]!.subtotal = '10.00';
    raw.line_items[0]!.total = '10.00';
    raw.total = '33.35';
    const o = mapOk(raw);
    expect(o.lines[0]).toMatchObject({
      unitListPrice: 334,
      lineDiscounts: [{ kind: 'manual_adjustment', funding: 'seller', amount: 2, name: 'rounding' }],
    });
  });

  it('refund details: negative quantities onto the refunded line, the rest at order level', () => {
    const raw = base();
    raw.id = 723;
    raw.line_items[0]!.id = 311;
    raw.line_items[0]!.quantity = 1;
    raw.line_items[0]!.subtotal = '9.00';
    raw.line_items[0]!.total = '9.00';
    raw.line_items[0]!.total_tax = '0.00';
    raw.total_tax = '0.90';
    raw.total = '31.90';
    raw.refunds = [
      { id: 726, reason: '', total: '-10.00' },
      { id: 724, reason: '', total: '-9.00' },
    ];
    const o = mapOk(raw, fixture('refunds-723.json'));
    expect(o.refunds).toEqual([
      {
        refundId: '726',
        quantity: 0,
        amount: 1000,
        status: 'succeeded',
        goodsReturn: 'none',
        platformModifiedAt: '2017-03-21T20:07:11.000Z',
      },
      {
        refundId: '724',
        lineId: '311',
        quantity: 1,
        amount: 900,
        status: 'succeeded',
        goodsReturn: 'none',
        platformModifiedAt: '2017-03-21T19:55:37.000Z',
      },
    ]);
    // Without details (a webhook payload): the summaries, order level.
    expect(mapOk(raw).refunds).toEqual([
      { refundId: '726', quantity: 0, amount: 1000, status: 'succeeded', goodsReturn: 'none' },
      { refundId: '724', quantity: 0, amount: 900, status: 'succeeded', goodsReturn: 'none' },
    ]);
  });

  it('ignores trash and checkout-draft; rejects unknown statuses and bad money with the reason', () => {
    for (const status of ['trash', 'checkout-draft']) {
      expect(mapWooOrder({ ...base(), status }, opts)).toMatchObject({
        ok: false,
        ignored: true,
        platformOrderId: '727',
      });
    }
    expect(mapWooOrder({ ...base(), status: 'shipped' }, opts)).toMatchObject({
      ok: false,
      ignored: false,
      error: /unknown order status "shipped"/,
    });
    expect(
      mapWooOrder({ ...base(), status: 'shipped' }, { ...opts, customStatuses: { shipped: 'shipped' } }),
    ).toMatchObject({
      ok: true,
      order: { status: 'shipped' },
    });
    expect(mapWooOrder({ ...base(), total: '29.3' + '5e0' }, opts)).toMatchObject({
      ok: false,
      error: /total: .*not a plain decimal/,
    });
    expect(mapWooOrder({ id: 1 }, opts)).toMatchObject({
      ok: false,
      platformOrderId: '1',
      error: /^payload: /,
    });
  });
});

describe('mapStatus', () => {
  it.each([
    ['pending', null, 'pending_payment'],
    ['on-hold', null, 'pending_payment'],
    ['processing', null, 'paid'],
    ['completed', '2024-01-01T00:00:00', 'completed'],
    ['cancelled', null, 'cancelled'],
    ['failed', null, 'cancelled'],
    ['refunded', null, 'cancelled'],
    ['refunded', '2024-01-01T00:00:00', 'completed'],
  ] as const)('%s (completed %s) -> %s', (status, completed, expected) => {
    expect(mapStatus(status, completed, {})).toBe(expected);
  });
});
