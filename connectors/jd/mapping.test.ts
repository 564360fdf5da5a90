/**
 * JD order -> canonical order, on a search page modelled on the JOS `pop.order.search` docs
 * (fixtures/order-search-page.json): per-SKU coupons as line discounts, order-level coupons with
 * seller vs platform funding left for apportionment, gifts, statuses, cancellation refunds.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { apportionOrder } from '../../src/domain/promotions.js';
import { installLeakGuard } from '../testing/leak-guard.js';
import { couponKind, mapJdOrder, mapOrderState } from './mapping.js';

installLeakGuard();

const page = JSON.parse(readFileSync(new URL('./fixtures/order-search-page.json', import.meta.url), 'utf8'));
const list = page.jingdong_pop_order_search_responce.searchorderinfo_result.orderInfoList as Record<
  string,
  unknown
>[];
const [open, cancelled] = list as [Record<string, unknown>, Record<string, unknown>];
const map = (raw: unknown) => mapJdOrder(raw, { shopId: '10086001' });

describe('mapJdOrder', () => {
  it('maps lines, per-SKU coupons, order-level coupons with funding, gifts and amounts exactly', () => {
    const r = map(open);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const o = r.order;
    expect(o).toMatchObject({
      platform: 'jd',
      shopId: '10086001',
      platformOrderId: '300012345678',
      status: 'paid',
      currency: 'CNY',
      platformCreatedAt: '2024-11-10T15:20:11.000Z',
      platformModifiedAt: '2024-11-10T15:21:05.000Z',
      shippingFee: 600,
      buyerPaidTotal: 28980,
      refunds: [],
    });
    expect(
      o.lines.map((l) => [l.lineId, l.platformItemId, l.outerSkuId, l.quantity, l.unitListPrice, l.gift]),
    ).toEqual([
      ['100012345001', '10020001', 'TEE-RED-M', 1, 19900, false],
      ['100012345002', '10020002', 'SOCK-3P', 2, 5990, false],
      ['100012399999', '10029999', 'GIFT-BAG', 1, 0, true],
    ]);
    expect(o.lines[0]!.lineDiscounts).toEqual([
      { kind: 'fixed', funding: 'seller', amount: 2000, promotionId: '30', name: '单品促销优惠' },
    ]);
    expect(o.promotions).toEqual([
      { kind: 'fixed', funding: 'seller', amount: 1000, id: '100', name: '店铺优惠', target: 'goods' },
      { kind: 'coupon', funding: 'platform', amount: 500, id: '41', name: '京东券优惠', target: 'goods' },
      { kind: 'gift', name: '赠品', giftLineIds: ['100012399999'] },
    ]);
    const a = apportionOrder(o);
    expect(a.issues).toEqual([]);
    // 10.00 seller over 179.00 / 119.80 (gift excluded), 5.00 platform likewise.
    expect(a.lines.map((l) => [l.sellerDiscount, l.platformDiscount])).toEqual([
      [2000 + 599, 300],
      [401, 200],
      [0, 0],
    ]);
    expect(a.computedBuyerPaidTotal).toBe(28980);
  });

  it('a cancelled paid order is cancelled with one order-level refund of the payment', () => {
    const r = map(cancelled);
    expect(r.ok && r.order.status).toBe('cancelled');
    expect(r.ok && r.order.refunds).toEqual([
      {
        refundId: 'cancel-300012345679',
        quantity: 0,
        amount: 8900,
        status: 'succeeded',
        goodsReturn: 'none',
        platformModifiedAt: '2024-11-10T15:40:00.000Z',
      },
    ]);
  });

  it('maps every documented state; LOCKED and PAUSE stay paid; unknown states are rejected', () => {
    expect(
      Object.fromEntries(
        [
          'WAIT_SELLER_STOCK_OUT',
          'WAIT_SELLER_DELIVERY',
          'WAIT_GOODS_RECEIVE_CONFIRM',
          'FINISHED_L',
          'TRADE_CANCELED',
          'LOCKED',
          'PAUSE',
          'POP_ORDER_PAUSE',
        ].map((s) => [s, mapOrderState(s)]),
      ),
    ).toEqual({
      WAIT_SELLER_STOCK_OUT: 'paid',
      WAIT_SELLER_DELIVERY: 'paid',
      WAIT_GOODS_RECEIVE_CONFIRM: 'shipped',
      FINISHED_L: 'completed',
      TRADE_CANCELED: 'cancelled',
      LOCKED: 'paid',
      PAUSE: 'paid',
      POP_ORDER_PAUSE: 'paid',
    });
    const r = map({ ...open, orderState: 'WAIT_SEND_CODE' });
    expect(r).toMatchObject({ ok: false, platformOrderId: '300012345678' });
    expect(!r.ok && r.error).toMatch(/unknown orderState/);
  });

  it('reads couponType codes with or without the name; unknown codes stay seller-funded', () => {
    expect(couponKind('41-京东券优惠')).toMatchObject({ code: '41', kind: 'coupon', funding: 'platform' });
    expect(couponKind('41')).toMatchObject({ code: '41', name: '京东券优惠' });
    expect(couponKind('52-礼品卡优惠')).toMatchObject({ funding: 'platform' });
    expect(couponKind('20-套装优惠')).toMatchObject({ kind: 'fixed', funding: 'seller' });
    expect(couponKind('99-新类型')).toMatchObject({
      code: '99',
      kind: 'fixed',
      funding: 'seller',
      name: '新类型',
    });
  });

  it('rejects what it cannot map exactly: float-like amounts, a coupon on a SKU not sold, no items', () => {
    expect(map({ ...open, orderPayment: '289.805' })).toMatchObject({ ok: false });
    expect(
      map({
        ...open,
        couponDetailList: [{ skuId: '999', couponType: '30-单品促销优惠', couponPrice: '1.00' }],
      }),
    ).toMatchObject({ ok: false, error: expect.stringMatching(/not a paid line/) });
    expect(map({ ...open, itemInfoList: [] })).toMatchObject({ ok: false, platformOrderId: '300012345678' });
    expect(map(null)).toMatchObject({ ok: false, platformOrderId: '?' });
  });

  it('gives a SKU listed twice distinct line ids and accepts numeric amounts without floats', () => {
    const items = open.itemInfoList as Record<string, unknown>[];
    const r = map({
      ...open,
      orderPayment: 289.8,
      itemInfoList: [...items, { ...items[2], itemTotal: 2 }],
    });
    expect(r.ok && r.order.lines.map((l) => l.lineId)).toEqual([
      '100012345001',
      '100012345002',
      '100012399999',
      '100012399999#2',
    ]);
    expect(r.ok && r.order.buyerPaidTotal).toBe(28980);
  });
});
