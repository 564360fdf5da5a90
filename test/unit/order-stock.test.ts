import { describe, expect, it } from 'vitest';
import { type CanonicalOrderInput, canonicalOrderSchema } from '../../src/domain/order.js';
import { lineStockTargets, type StockPolicy } from '../../src/domain/order-stock.js';

const order = (patch: Partial<CanonicalOrderInput>) =>
  canonicalOrderSchema.parse({
    shopId: 's1',
    platform: 'shopify',
    platformOrderId: '1001',
    platformModifiedAt: '2026-11-11T00:00:00Z',
    status: 'paid',
    currency: 'CNY',
    lines: [
      { lineId: 'a', platformItemId: 'i1', quantity: 3, unitListPrice: 1000 },
      { lineId: 'g', platformItemId: 'i2', quantity: 1, unitListPrice: 0, gift: true },
    ],
    buyerPaidTotal: 3000,
    ...patch,
  });

const onPaid: StockPolicy = { reserveOn: 'paid', restockOn: 'receipt' };
const onCreated: StockPolicy = { reserveOn: 'created', restockOn: 'receipt' };

describe('lineStockTargets', () => {
  it('holds every line of a paid order, gifts included', () => {
    expect(lineStockTargets(order({}), onPaid)).toEqual([
      { lineId: 'a', hold: 3, shipped: 0, restocked: 0 },
      { lineId: 'g', hold: 1, shipped: 0, restocked: 0 },
    ]);
  });

  it('an unpaid order holds stock only when the shop reserves on creation', () => {
    const unpaid = order({ status: 'pending_payment' });
    expect(lineStockTargets(unpaid, onPaid).map((t) => t.hold)).toEqual([0, 0]);
    expect(lineStockTargets(unpaid, onCreated).map((t) => t.hold)).toEqual([3, 1]);
  });

  it('a cancelled order holds nothing', () => {
    expect(lineStockTargets(order({ status: 'cancelled' }), onCreated).map((t) => t.hold)).toEqual([0, 0]);
  });

  it('a partial shipment of one line moves those units from held to shipped', () => {
    const o = order({
      status: 'partially_shipped',
      lines: [
        { lineId: 'a', platformItemId: 'i1', quantity: 3, unitListPrice: 1000, shippedQuantity: 2 },
        { lineId: 'g', platformItemId: 'i2', quantity: 1, unitListPrice: 0, gift: true },
      ],
    });
    expect(lineStockTargets(o, onPaid)).toEqual([
      { lineId: 'a', hold: 1, shipped: 2, restocked: 0 },
      { lineId: 'g', hold: 1, shipped: 0, restocked: 0 },
    ]);
  });

  it('a refund before shipment frees the refunded units; a requested or closed one does not', () => {
    const o = order({
      refunds: [
        { refundId: 'r1', lineId: 'a', quantity: 1, amount: 1000, status: 'succeeded', goodsReturn: 'none' },
        { refundId: 'r2', lineId: 'a', quantity: 1, amount: 1000, status: 'requested', goodsReturn: 'none' },
        { refundId: 'r3', lineId: 'a', quantity: 1, amount: 1000, status: 'closed', goodsReturn: 'none' },
      ],
    });
    expect(lineStockTargets(o, onPaid)[0]).toEqual({ lineId: 'a', hold: 2, shipped: 0, restocked: 0 });
  });

  it('returned goods restock when received, or on refund when the shop says so, never beyond what shipped', () => {
    const o = order({
      status: 'shipped',
      refunds: [
        {
          refundId: 'r1',
          lineId: 'a',
          quantity: 2,
          amount: 2000,
          status: 'succeeded',
          goodsReturn: 'expected',
        },
        { refundId: 'r2', lineId: 'g', quantity: 1, amount: 0, status: 'requested', goodsReturn: 'received' },
      ],
    });
    expect(lineStockTargets(o, onPaid)).toEqual([
      { lineId: 'a', hold: 0, shipped: 3, restocked: 0 },
      { lineId: 'g', hold: 0, shipped: 1, restocked: 1 },
    ]);
    expect(lineStockTargets(o, { reserveOn: 'paid', restockOn: 'refund' })[0]).toEqual({
      lineId: 'a',
      hold: 0,
      shipped: 3,
      restocked: 2,
    });
  });

  it('a refund without return after shipment changes no stock (the buyer keeps the goods)', () => {
    const o = order({
      status: 'shipped',
      refunds: [
        { refundId: 'r1', lineId: 'a', quantity: 3, amount: 3000, status: 'succeeded', goodsReturn: 'none' },
      ],
    });
    expect(lineStockTargets(o, onPaid)[0]).toEqual({ lineId: 'a', hold: 0, shipped: 3, restocked: 0 });
  });

  it('refuses a shipped quantity above the line quantity', () => {
    expect(() =>
      order({
        lines: [{ lineId: 'a', platformItemId: 'i1', quantity: 1, unitListPrice: 1, shippedQuantity: 2 }],
      }),
    ).toThrow(/shippedQuantity \(2\) exceeds quantity \(1\)/);
  });
});

describe('unpaid hold expiry', () => {
  const policy: StockPolicy = { reserveOn: 'created', restockOn: 'receipt', unpaidHoldMinutes: 30 };
  const unpaid = order({ status: 'pending_payment', platformCreatedAt: '2026-11-11T00:00:00Z' });

  it('an unpaid order holds stock until its hold expires, then nothing', () => {
    const at = (iso: string) => lineStockTargets(unpaid, policy, new Date(iso)).map((t) => t.hold);
    expect(at('2026-11-11T00:29:59Z')).toEqual([3, 1]);
    expect(at('2026-11-11T00:30:00Z')).toEqual([0, 0]);
  });

  it('payment after expiry holds again; no clock or no limit means no expiry', () => {
    const paid = order({ status: 'paid', platformCreatedAt: '2026-11-11T00:00:00Z' });
    expect(lineStockTargets(paid, policy, new Date('2026-11-12T00:00:00Z')).map((t) => t.hold)).toEqual([
      3, 1,
    ]);
    expect(lineStockTargets(unpaid, policy).map((t) => t.hold)).toEqual([3, 1]);
    expect(
      lineStockTargets(
        unpaid,
        { reserveOn: 'created', restockOn: 'receipt' },
        new Date('2027-01-01T00:00:00Z'),
      ).map((t) => t.hold),
    ).toEqual([3, 1]);
  });
});
