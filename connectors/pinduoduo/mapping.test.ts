/**
 * PDD order -> canonical order: money from DOUBLE yuan, derived line ids, order-level promotions
 * split by `apportionOrder`, gifts, statuses and after-sales records.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { apportionOrder } from '../../src/domain/promotions.js';
import { installLeakGuard } from '../testing/leak-guard.js';
import { parsePddJson } from './client.js';
import { mapOrderStatus, mapPddOrder } from './mapping.js';
import { parsePddTime } from './time.js';

installLeakGuard();

const page = parsePddJson(
  readFileSync(new URL('./fixtures/order-sn-increment.json', import.meta.url), 'utf8'),
) as {
  order_sn_increment_get_response: { order_sn_list: Record<string, unknown>[] };
};
const [twoLines, afterSales] = page.order_sn_increment_get_response.order_sn_list as [
  Record<string, unknown>,
  Record<string, unknown>,
];
const map = (o: unknown) => {
  const r = mapPddOrder(o, { shopId: '880011' });
  if (!r.ok) throw new Error(r.error);
  return r.order;
};

describe('PDD time', () => {
  it('reads updated_at as Beijing time, whatever the machine zone', () => {
    expect(new Date(parsePddTime('2024-11-11 00:01:41')!).toISOString()).toBe('2024-11-10T16:01:41.000Z');
    expect(parsePddTime('2024-02-30 00:00:00')).toBeUndefined();
    expect(parsePddTime('2024-11-11T00:01:41')).toBeUndefined();
  });
});

describe('mapPddOrder', () => {
  it('maps a two-line order: derived line ids, exact yuan, seller and platform discounts split by apportionOrder', () => {
    const o = map(twoLines);
    expect(o).toMatchObject({
      platform: 'pinduoduo',
      shopId: '880011',
      platformOrderId: '241111-384920175630481',
      platformModifiedAt: '2024-11-10T16:01:41.000Z',
      platformCreatedAt: '2024-11-10T16:01:12.000Z',
      status: 'paid',
      currency: 'CNY',
      shippingFee: 0,
      buyerPaidTotal: 19000,
      refunds: [],
    });
    expect(o.lines.map((l) => [l.lineId, l.unitListPrice, l.quantity, l.gift])).toEqual([
      ['612000000001:1234500000000', 7900, 1, false],
      ['612000007920:1234500000101', 5950, 2, false],
      ['gift:612999000001:1234599999901', 0, 1, true],
    ]);
    expect(o.lines[0]).toMatchObject({
      outerSkuId: 'TEA-GREEN-250',
      outerItemId: 'TEA-GREEN',
      platformSkuId: '1234500000000',
    });
    expect(o.promotions).toEqual([
      expect.objectContaining({ kind: 'fixed', funding: 'seller', amount: 500 }),
      expect.objectContaining({ kind: 'platform_subsidy', funding: 'platform', amount: 300 }),
      expect.objectContaining({ kind: 'gift', giftLineIds: ['gift:612999000001:1234599999901'] }),
    ]);
    expect(o.promotions.some((p) => p.kind !== 'gift' && p.allocations)).toBe(false);
    const a = apportionOrder(o);
    expect(a.issues).toEqual([]);
    // The reference split (notes §8.3): 5.00 over 79 / 119 -> 1.99 / 3.01.
    expect(a.lines.map((l) => l.sellerDiscount)).toEqual([199, 301, 0]);
    expect(a.lines.map((l) => l.platformDiscount)).toEqual([120, 180, 0]);
    expect(a.lines.map((l) => l.sellerRevenue)).toEqual([7701, 11599, 0]);
  });

  it('maps an after-sales order: shipped, postage, one requested refund record per line with goods coming back', () => {
    const o = map(afterSales);
    expect(o.status).toBe('shipped');
    expect(o.shippingFee).toBe(500);
    expect(o.buyerPaidTotal).toBe(2490);
    expect(o.lines[0]).not.toHaveProperty('outerSkuId');
    expect(o.refunds).toEqual([
      {
        refundId: '241110-384920175630480-AS',
        lineId: '612000015839:1234500000202',
        quantity: 1,
        amount: 2490,
        status: 'requested',
        goodsReturn: 'expected',
      },
    ]);
    expect(apportionOrder(o).issues).toEqual([]);
  });

  it('turns a goods_amount below Σ price × count into a seller manual adjustment (改价)', () => {
    const o = map({
      ...afterSales,
      goods_amount: 17.9,
      pay_amount: 22.9,
      after_sales_status: 0,
      refund_status: 1,
    });
    expect(o.promotions).toEqual([
      expect.objectContaining({ kind: 'manual_adjustment', funding: 'seller', amount: 200 }),
    ]);
    expect(apportionOrder(o).issues).toEqual([]);
  });

  it('keeps 团长免单 as platform-funded and lets apportionOrder flag totals that do not add up', () => {
    const o = map({
      ...afterSales,
      capital_free_discount: 19.9,
      pay_amount: 5,
      refund_status: 1,
      after_sales_status: 0,
    });
    expect(o.promotions).toEqual([
      expect.objectContaining({ kind: 'platform_subsidy', funding: 'platform', amount: 1990 }),
    ]);
    expect(apportionOrder(o).issues).toEqual([]);
    const off = map({ ...afterSales, pay_amount: 30, refund_status: 1, after_sales_status: 0 });
    expect(apportionOrder(off).issues).toEqual([
      expect.objectContaining({ type: 'buyer_paid_mismatch', difference: -510 }),
    ]);
  });

  it('gives a repeated SKU a stable suffixed line id', () => {
    const item = (twoLines.item_list as unknown[])[0];
    const o = map({
      ...twoLines,
      item_list: [item, item],
      gift_list: [],
      goods_amount: 158,
      seller_discount: 0,
      platform_discount: 0,
      pay_amount: 158,
    });
    expect(o.lines.map((l) => l.lineId)).toEqual([
      '612000000001:1234500000000',
      '612000000001:1234500000000#2',
    ]);
  });

  it('rejects amounts that are not whole fen instead of rounding them', () => {
    const r = mapPddOrder({ ...afterSales, pay_amount: 0.1 + 0.2 }, { shopId: 's' });
    expect(r).toMatchObject({ ok: false, platformOrderId: '241110-384920175630480' });
    if (!r.ok) expect(r.error).toMatch(/pay_amount/);
  });

  it('rejects unknown statuses and malformed payloads with the order id', () => {
    expect(mapPddOrder({ ...afterSales, order_status: 9 }, { shopId: 's' })).toMatchObject({ ok: false });
    expect(mapPddOrder({ order_sn: 'x-1' }, { shopId: 's' })).toMatchObject({
      ok: false,
      platformOrderId: 'x-1',
    });
    expect(mapPddOrder(null, { shopId: 's' })).toMatchObject({ ok: false, platformOrderId: '?' });
  });
});

describe('mapOrderStatus', () => {
  it.each([
    [{ order_status: 1, confirm_status: 1, refund_status: 1 }, 'paid'],
    [{ order_status: 1, confirm_status: 0, group_status: 0, refund_status: 1 }, 'paid'],
    [{ order_status: 2, confirm_status: 1, refund_status: 1 }, 'shipped'],
    [{ order_status: 3, confirm_status: 1, refund_status: 1 }, 'completed'],
    [{ order_status: 3, confirm_status: 1, refund_status: 4 }, 'completed'],
    [{ order_status: 1, confirm_status: 1, refund_status: 4 }, 'cancelled'],
    [{ order_status: 1, confirm_status: 2, refund_status: 1 }, 'cancelled'],
    [{ order_status: 1, confirm_status: 0, group_status: 2, refund_status: 4 }, 'cancelled'],
    [{ order_status: 7, confirm_status: 1, refund_status: 1 }, undefined],
  ])('%j -> %s', (o, want) => {
    expect(mapOrderStatus(o)).toBe(want);
  });

  it('records a refund before shipping as cancelled with succeeded refunds covering pay_amount', () => {
    const o = map({ ...twoLines, refund_status: 4, after_sales_status: 10 });
    expect(o.status).toBe('cancelled');
    expect(o.refunds.map((r) => [r.lineId, r.amount, r.status])).toEqual([
      ['612000000001:1234500000000', 7581, 'succeeded'],
      ['612000007920:1234500000101', 11419, 'succeeded'],
      ['gift:612999000001:1234599999901', 0, 'succeeded'],
    ]);
  });
});
