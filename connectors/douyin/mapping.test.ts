/**
 * Doudian shop order -> canonical order: per-SKU discounts with their funding, 改价, gifts,
 * statuses, per-line shipment and after-sales. The fixture follows the documented
 * `order.searchList` response (notes §5.3; the SDK sample OrderSearchListResponse.json) with
 * amounts that add up.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { apportionOrder } from '../../src/domain/promotions.js';
import { parseDoudianJson } from './client.js';
import { mapDoudianOrder, ORDER_STATUS } from './mapping.js';

const page = parseDoudianJson(
  readFileSync(new URL('./fixtures/search-list.json', import.meta.url), 'utf8'),
) as {
  data: { shop_order_list: Record<string, unknown>[] };
};
const fixture = page.data.shop_order_list[0]!;
const clone = () =>
  structuredClone(fixture) as Record<string, unknown> & { sku_order_list: Record<string, unknown>[] };
const map = (raw: unknown) => mapDoudianOrder(raw, { shopId: '77977' });

describe('mapDoudianOrder', () => {
  it('maps the documented shop order with per-line funded discounts that add up', () => {
    const r = map(fixture);
    if (!r.ok) throw new Error(r.error);
    const o = r.order;
    expect(o).toMatchObject({
      platform: 'douyin',
      shopId: '77977',
      platformOrderId: '6920000000000001000',
      status: 'paid',
      currency: 'CNY',
      shippingFee: 800,
      buyerPaidTotal: 22330,
      platformCreatedAt: '2024-11-10T14:46:40.000Z',
      platformModifiedAt: '2024-11-10T15:03:20.000Z',
    });
    const [a, b, gift] = o.lines;
    expect(a).toMatchObject({
      lineId: '6920000000000001001',
      platformItemId: '3473196049974326307',
      platformSkuId: '1730000000000',
      outerSkuId: 'SKU-1-1',
      outerItemId: 'OP-1',
      quantity: 2,
      unitListPrice: 9900,
      gift: false,
      shippedQuantity: 0,
    });
    expect(a!.lineDiscounts).toEqual([
      { kind: 'fixed', funding: 'seller', amount: 1980, name: '店铺优惠' },
      { kind: 'platform_subsidy', funding: 'platform', amount: 300, name: '平台优惠' },
      { kind: 'platform_subsidy', funding: 'platform', amount: 200, name: '达人优惠' },
      { kind: 'platform_subsidy', funding: 'platform', amount: 100, name: '支付优惠' },
      { kind: 'manual_adjustment', funding: 'seller', amount: 100, name: '改价' },
    ]);
    expect(b!.title).toBe('保温杯 <350ml> & 杯套');
    expect(gift).toMatchObject({ gift: true, unitListPrice: 0, lineDiscounts: [] });
    expect(o.promotions).toEqual([{ kind: 'gift', name: '赠品', giftLineIds: ['6920000000000001009'] }]);
    expect(o.refunds).toEqual([
      {
        refundId: '6920000000000001002',
        lineId: '6920000000000001002',
        quantity: 1,
        amount: 4410,
        status: 'requested',
        goodsReturn: 'none',
      },
    ]);
    const ap = apportionOrder(o);
    expect(ap.issues).toEqual([]);
    expect(ap.lines[0]).toMatchObject({
      sellerDiscount: 2080,
      platformDiscount: 600,
      buyerPaid: 17120,
      sellerRevenue: 17720,
    });
    expect(ap.computedBuyerPaidTotal).toBe(22330);
  });

  it('maps every documented order_status and rejects an unknown one', () => {
    expect(ORDER_STATUS).toEqual({
      1: 'pending_payment',
      105: 'paid',
      2: 'paid',
      101: 'partially_shipped',
      3: 'shipped',
      4: 'cancelled',
      5: 'completed',
    });
    for (const [code, status] of Object.entries(ORDER_STATUS)) {
      const raw = clone();
      raw.order_status = Number(code);
      const r = map(raw);
      expect(r.ok && r.order.status).toBe(status);
    }
    const raw = clone();
    raw.order_status = 999;
    expect(map(raw)).toMatchObject({
      ok: false,
      platformOrderId: '6920000000000001000',
      error: 'unknown order_status 999',
    });
  });

  it('takes per-line shipment from the SKU orders of a partly shipped order', () => {
    const raw = clone();
    raw.order_status = 101;
    raw.sku_order_list[0]!.order_status = 3;
    const r = map(raw);
    if (!r.ok) throw new Error(r.error);
    expect(r.order.status).toBe('partially_shipped');
    expect(r.order.lines.map((l) => l.shippedQuantity)).toEqual([2, 0, 0]);
  });

  it('maps after-sales: refund succeeded with goods returned, closed, exchange ignored', () => {
    const raw = clone();
    raw.order_status = 5;
    for (const s of raw.sku_order_list) s.order_status = 5;
    raw.sku_order_list[0]!.after_sale_info = { after_sale_status: 12, after_sale_type: 0, refund_status: 3 };
    raw.sku_order_list[1]!.after_sale_info = { after_sale_status: 28, after_sale_type: 1, refund_status: 4 };
    raw.sku_order_list[2]!.after_sale_info = { after_sale_status: 6, after_sale_type: 3, refund_status: 0 };
    const r = map(raw);
    if (!r.ok) throw new Error(r.error);
    expect(r.order.refunds.map((x) => [x.lineId, x.status, x.goodsReturn, x.amount])).toEqual([
      ['6920000000000001001', 'succeeded', 'received', 17120],
      ['6920000000000001002', 'closed', 'none', 4410],
    ]);
  });

  it('reports schema drift as a reject instead of throwing (floats, missing lines)', () => {
    const raw = clone();
    raw.sku_order_list[0]!.origin_amount = 99.5;
    expect(map(raw)).toMatchObject({ ok: false, platformOrderId: '6920000000000001000' });
    expect(map({ order_id: '1' })).toMatchObject({ ok: false, platformOrderId: '1' });
    expect(map(null)).toMatchObject({ ok: false, platformOrderId: '?' });
  });
});
