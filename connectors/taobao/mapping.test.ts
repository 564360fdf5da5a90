import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { CanonicalOrder } from '../../src/domain/order.js';
import { apportionOrder } from '../../src/domain/promotions.js';
import { installLeakGuard } from '../testing/leak-guard.js';
import { parseTopJson } from './client.js';
import { mapTaobaoTrade, mapTradeStatus, type TopRefund } from './mapping.js';
import { formatTopTime, parseTopTime } from './time.js';

installLeakGuard();

// biome-ignore lint/suspicious/noExplicitAny: tests edit the fixture freely
type Json = Record<string, any>;
/** The docs' worked example (docId 108471), as TOP writes it: ids as bare 19-digit numbers. */
const example = (): Json =>
  (
    parseTopJson(
      readFileSync(new URL('./fixtures/trade-worked-example.json', import.meta.url), 'utf8'),
    ) as Json
  ).trade_fullinfo_get_response.trade;

function mapOk(raw: unknown, refunds?: Map<string, TopRefund>): CanonicalOrder {
  const r = mapTaobaoTrade(raw, { shopId: '示例店铺', ...(refunds ? { refunds } : {}) });
  if (!r.ok) throw new Error(`did not map: ${r.error}`);
  return r.order;
}

describe('TOP time (GMT+8, whatever the machine zone)', () => {
  it('formats and parses yyyy-MM-dd HH:mm:ss at +08:00', () => {
    const ms = Date.parse('2024-11-10T16:00:05.789Z');
    expect(formatTopTime(ms)).toBe('2024-11-11 00:00:05');
    expect(parseTopTime('2024-11-11 00:00:05')).toBe(Date.parse('2024-11-10T16:00:05Z'));
    expect(formatTopTime(Date.parse('2024-12-31T16:00:00Z'))).toBe('2025-01-01 00:00:00');
    expect(parseTopTime('2024-02-30 00:00:00')).toBeUndefined();
    expect(parseTopTime('2024-11-11T00:00:05')).toBeUndefined();
  });
});

describe('worked example (docId 108471): 5.00 满减 over 79 / 119', () => {
  const order = mapOk(example());

  it('keeps the 19-digit ids exact and the money in fen', () => {
    expect(order).toMatchObject({
      platform: 'taobao',
      platformOrderId: '4100000000000000123',
      platformCreatedAt: '2024-11-10T16:00:05.000Z',
      platformModifiedAt: '2024-11-10T16:01:10.000Z',
      status: 'paid',
      currency: 'CNY',
      shippingFee: 500,
      buyerPaidTotal: 19800,
    });
    expect(
      order.lines.map((l) => [l.lineId, l.platformItemId, l.platformSkuId, l.outerSkuId, l.outerItemId]),
    ).toEqual([
      ['4100000000000000124', '600000000001', '5000000000001', 'ITEM-1-1', 'ITEM-1'],
      ['4100000000000000125', '600000000002', '5000000000004', 'ITEM-2-1', 'ITEM-2'],
    ]);
    expect(
      order.lines.map((l) => [l.unitListPrice, l.lineDiscounts.map((d) => d.amount), l.shippedQuantity]),
    ).toEqual([
      [10800, [2900], 0],
      [26900, [15000], 0],
    ]);
    expect(order.lines[0]!.lineDiscounts[0]).toMatchObject({
      kind: 'fixed',
      funding: 'seller',
      promotionId: 'Tmall$tmallItemPromotion-1001_2001',
      name: '限时打折',
    });
  });

  it("takes Taobao's own split 1.99 / 3.01 as allocations, and everything adds up", () => {
    expect(order.promotions).toEqual([
      {
        kind: 'threshold',
        funding: 'seller',
        id: 'mjs-123024_211143',
        name: '满100元减5元',
        amount: 500,
        threshold: 10000,
        repeat: false,
        target: 'goods',
        allocations: [
          { lineId: '4100000000000000124', amount: 199 },
          { lineId: '4100000000000000125', amount: 301 },
        ],
      },
    ]);
    const a = apportionOrder(order);
    expect(a.issues).toEqual([]);
    expect(a.lines.map((l) => l.buyerPaid)).toEqual([7701, 11599]); // divide_order_fee
    expect(a.computedBuyerPaidTotal).toBe(19800);
  });

  it('a split that does not sum to the promotion is reported by apportionOrder, not fixed', () => {
    const t = example();
    t.orders.order[1].part_mjz_discount = '3.00';
    t.orders.order[1].divide_order_fee = '116.00';
    const a = apportionOrder(mapOk(t));
    expect(a.issues).toContainEqual(
      expect.objectContaining({ type: 'split_mismatch', allocated: 499, promotionAmount: 500 }),
    );
  });

  it('rejects a trade whose divide_order_fee or line payment contradict the formula', () => {
    const t = example();
    t.orders.order[0].divide_order_fee = '77.00';
    expect(mapTaobaoTrade(t, { shopId: 's' })).toMatchObject({
      ok: false,
      error: expect.stringContaining('divide_order_fee'),
    });
    const u = example();
    u.orders.order[0].payment = '80.00';
    expect(mapTaobaoTrade(u, { shopId: 's' })).toMatchObject({
      ok: false,
      error: expect.stringContaining('payment'),
    });
  });
});

describe('adjust_fee, gifts and refunds', () => {
  it('adjust_fee (改价, positive raises the price) becomes a manual adjustment with the opposite sign', () => {
    const t = example();
    t.orders.order[0].adjust_fee = '-3.00';
    t.orders.order[0].payment = '76.00';
    t.orders.order[0].part_mjz_discount = '1.95';
    t.orders.order[0].divide_order_fee = '74.05';
    t.orders.order[1].part_mjz_discount = '3.05';
    t.orders.order[1].divide_order_fee = '115.95';
    t.payment = '195.00';
    const o = mapOk(t);
    expect(o.lines[0]!.lineDiscounts).toContainEqual({
      kind: 'manual_adjustment',
      funding: 'seller',
      amount: 300,
      name: 'adjust_fee',
    });
    expect(apportionOrder(o).issues).toEqual([]);
  });

  it('a 0.00 sub-order is a gift line; a 满就送 gift item becomes a zero-price gift line; both take stock', () => {
    const t = example();
    t.orders.order.push({
      oid: '4100000000000000126',
      num_iid: '600000000009',
      title: '赠品小样',
      price: '0.00',
      num: 1,
      discount_fee: '0.00',
      adjust_fee: '0.00',
      payment: '0.00',
      part_mjz_discount: '0.00',
      divide_order_fee: '0.00',
      status: 'WAIT_SELLER_SEND_GOODS',
      refund_status: 'NO_REFUND',
    });
    t.promotion_details.promotion_detail.push({
      id: '4100000000000000123',
      promotion_id: 'mjs-555001_9001',
      promotion_name: '满就送赠品',
      discount_fee: '0.00',
      gift_item_id: '600000000010',
      gift_item_name: '帆布袋',
      gift_item_num: '2',
    });
    const o = mapOk(t);
    const gifts = o.lines.filter((l) => l.gift);
    expect(gifts.map((l) => [l.lineId, l.platformItemId, l.quantity, l.unitListPrice])).toEqual([
      ['4100000000000000126', '600000000009', 1, 0],
      ['gift-4100000000000000123-600000000010', '600000000010', 2, 0],
    ]);
    expect(o.promotions.at(-1)).toEqual({
      kind: 'gift',
      id: 'mjs-555001_9001',
      name: '满就送赠品',
      giftLineIds: ['4100000000000000126', 'gift-4100000000000000123-600000000010'],
    });
    expect(apportionOrder(o).issues).toEqual([]);
  });

  it('refunds per sub-order from the refund records; TRADE_CLOSED after payment: cancelled before shipping, shipped after', () => {
    const t = example();
    t.status = 'TRADE_CLOSED';
    for (const [i, o] of t.orders.order.entries()) {
      o.status = 'TRADE_CLOSED';
      o.refund_status = 'SUCCESS';
      o.refund_id = `19000000000000${i}`;
    }
    const refunds = new Map<string, TopRefund>([
      [
        '190000000000000',
        { refund_id: '190000000000000', status: 'SUCCESS', refund_fee: '77.01', has_good_return: false },
      ],
      [
        '190000000000001',
        {
          refund_id: '190000000000001',
          status: 'SUCCESS',
          refund_fee: '115.99',
          has_good_return: true,
          num: 1,
        },
      ],
    ]);
    const closed = mapOk(t, refunds);
    expect(closed.status).toBe('cancelled');
    expect(closed.refunds).toEqual([
      {
        refundId: '190000000000000',
        lineId: '4100000000000000124',
        quantity: 1,
        amount: 7701,
        status: 'succeeded',
        goodsReturn: 'none',
      },
      {
        refundId: '190000000000001',
        lineId: '4100000000000000125',
        quantity: 1,
        amount: 11599,
        status: 'succeeded',
        goodsReturn: 'received',
      },
    ]);
    for (const o of t.orders.order) o.consign_time = '2024-11-12 10:00:00';
    const afterShip = mapOk(t, refunds);
    expect(afterShip.status).toBe('shipped');
    expect(afterShip.lines.map((l) => l.shippedQuantity)).toEqual([1, 1]);
    // A refund the connector did not read is not guessed.
    expect(mapTaobaoTrade(t, { shopId: 's' })).toMatchObject({
      ok: false,
      error: expect.stringContaining('not read'),
    });
  });

  it('per-line shipped state from the sub-order status (SELLER_CONSIGNED_PART)', () => {
    const t = example();
    t.status = 'SELLER_CONSIGNED_PART';
    t.orders.order[0].status = 'WAIT_BUYER_CONFIRM_GOODS';
    t.orders.order[0].consign_time = '2024-11-12 10:00:00';
    const o = mapOk(t);
    expect(o.status).toBe('partially_shipped');
    expect(o.lines.map((l) => l.shippedQuantity)).toEqual([1, 0]);
  });
});

describe('status table (notes §3.5)', () => {
  it.each([
    ['TRADE_NO_CREATE_PAY', 'pending_payment'],
    ['WAIT_BUYER_PAY', 'pending_payment'],
    ['PAY_PENDING', 'pending_payment'],
    ['WAIT_PRE_AUTH_CONFIRM', 'pending_payment'],
    ['WAIT_SELLER_SEND_GOODS', 'paid'],
    ['PAID_FORBID_CONSIGN', 'paid'],
    ['SELLER_CONSIGNED_PART', 'partially_shipped'],
    ['WAIT_BUYER_CONFIRM_GOODS', 'shipped'],
    ['TRADE_BUYER_SIGNED', 'shipped'],
    ['TRADE_FINISHED', 'completed'],
    ['TRADE_CLOSED_BY_TAOBAO', 'cancelled'],
    ['TRADE_CLOSED', 'cancelled'],
  ])('%s -> %s', (status, expected) => {
    expect(mapTradeStatus({ status })).toBe(expected);
  });

  it('an unknown status is rejected, never guessed', () => {
    const t = example();
    t.status = 'TRADE_TELEPORTED';
    expect(mapTaobaoTrade(t, { shopId: 's' })).toMatchObject({
      ok: false,
      platformOrderId: '4100000000000000123',
      error: expect.stringContaining('TRADE_TELEPORTED'),
    });
  });
});
