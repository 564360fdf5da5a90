import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ApportionInput,
  type ApportionLine,
  apportionOrder,
  checkLineSplit,
  type LineAmounts,
  type OrderPromotion,
} from '../../src/domain/promotions.js';

const line = (lineId: string, unitListPrice: number, quantity = 1, extra: Partial<ApportionLine> = {}) =>
  ({ lineId, unitListPrice, quantity, lineDiscounts: [], gift: false, ...extra }) satisfies ApportionLine;

const order = (lines: ApportionLine[], promotions: OrderPromotion[], rest: Partial<ApportionInput> = {}) =>
  ({ lines, promotions, shippingFee: 0, taxAdded: 0, buyerPaidTotal: 0, ...rest }) satisfies ApportionInput;

/** [lineId, seller discount, platform discount, buyer paid, seller revenue] per line. */
const table = (lines: LineAmounts[]) =>
  lines.map((l) => [
    l.lineId,
    l.listAmount,
    l.sellerDiscount,
    l.platformDiscount,
    l.buyerPaid,
    l.sellerRevenue,
  ]);

describe("apportionOrder: the issue's cases", () => {
  it('满300减50 over three lines (plus a line discount and a gift line)', () => {
    const result = apportionOrder(
      order(
        [
          line('1', 9900, 2, { lineDiscounts: [{ kind: 'fixed', funding: 'seller', amount: 800 }] }),
          line('2', 7900),
          line('3', 4900),
          line('4', 0, 1, { gift: true }),
        ],
        [
          {
            kind: 'threshold',
            funding: 'seller',
            threshold: 30000,
            amount: 5000,
            target: 'goods',
            repeat: false,
          },
        ],
        { buyerPaidTotal: 26800 },
      ),
    );
    // eligible 190.00 / 79.00 / 49.00 = 318.00; exact shares 29.874 / 12.421 / 7.704:
    // floors leave one cent, which goes to the largest remainder (line 3).
    expect(table(result.lines)).toEqual([
      ['1', 19800, 800 + 2987, 0, 16013, 16013],
      ['2', 7900, 1242, 0, 6658, 6658],
      ['3', 4900, 771, 0, 4129, 4129],
      ['4', 0, 0, 0, 0, 0],
    ]);
    expect(result.lines.map((l) => l.orderShares)).toEqual([
      [{ promotionIndex: 0, amount: 2987 }],
      [{ promotionIndex: 0, amount: 1242 }],
      [{ promotionIndex: 0, amount: 771 }],
      [],
    ]);
    expect(result.issues).toEqual([]);
  });

  it('a 10% seller coupon plus a platform subsidy: the subsidy lowers buyer paid, not seller revenue', () => {
    const result = apportionOrder(
      order(
        [line('A', 12900), line('B', 3333, 3)],
        [
          { kind: 'coupon', funding: 'seller', rateBasisPoints: 1000, amount: 2290, target: 'goods' },
          { kind: 'platform_subsidy', funding: 'platform', amount: 1500, target: 'goods' },
        ],
        { shippingFee: 1000, buyerPaidTotal: 20109 },
      ),
    );
    // coupon 22.90 over 129.00 / 99.99 -> 12.90 / 10.00; subsidy 15.00 over 116.10 / 89.99 -> 8.45 / 6.55
    expect(table(result.lines)).toEqual([
      ['A', 12900, 1290, 845, 10765, 11610],
      ['B', 9999, 1000, 655, 8344, 8999],
    ]);
    expect(result.shipping).toEqual({
      fee: 1000,
      sellerDiscount: 0,
      platformDiscount: 0,
      buyerPaid: 1000,
      sellerRevenue: 1000,
    });
    expect(result.computedBuyerPaidTotal).toBe(20109);
    expect(result.issues).toEqual([]);
  });

  it('1.00 over three lines of 1.99 does not divide evenly: 0.34 / 0.33 / 0.33', () => {
    const result = apportionOrder(
      order(
        [line('1', 199), line('2', 199), line('3', 199)],
        [{ kind: 'fixed', funding: 'seller', amount: 100, target: 'goods' }],
        { buyerPaidTotal: 497 },
      ),
    );
    expect(result.lines.map((l) => l.sellerDiscount)).toEqual([34, 33, 33]);
    expect(result.issues).toEqual([]);
  });

  it('10.00 over three lines of 1.99 is more than they cost: capped at 5.97, flagged, no line below zero', () => {
    const result = apportionOrder(
      order(
        [line('1', 199), line('2', 199), line('3', 199)],
        [{ kind: 'fixed', funding: 'seller', amount: 1000, target: 'goods' }],
        { buyerPaidTotal: 0 },
      ),
    );
    expect(result.lines.map((l) => [l.sellerDiscount, l.buyerPaid])).toEqual([
      [199, 0],
      [199, 0],
      [199, 0],
    ]);
    expect(result.issues).toEqual([
      { type: 'discount_exceeds_eligible', promotionIndex: 0, amount: 1000, applied: 597, unapplied: 403 },
    ]);
  });

  describe("the Taobao worked example (docId 108471) with the platform's own split", () => {
    const taobao = (allocations?: { lineId: string; amount: number }[]) =>
      order(
        [
          line('1001', 10800, 1, { lineDiscounts: [{ kind: 'fixed', funding: 'seller', amount: 2900 }] }),
          line('1002', 26900, 1, { lineDiscounts: [{ kind: 'fixed', funding: 'seller', amount: 15000 }] }),
        ],
        [
          {
            kind: 'coupon',
            funding: 'seller',
            amount: 500,
            target: 'goods',
            ...(allocations && { allocations }),
          },
        ],
        { shippingFee: 500, buyerPaidTotal: 19800 },
      );

    it('a split that adds up is used as given: divide_order_fee 77.01 / 115.99', () => {
      const result = apportionOrder(
        taobao([
          { lineId: '1001', amount: 199 },
          { lineId: '1002', amount: 301 },
        ]),
      );
      expect(result.lines.map((l) => l.buyerPaid)).toEqual([7701, 11599]);
      expect(result.issues).toEqual([]);
    });

    it('the house rule (largest remainder) computes the same split when the platform gives none', () => {
      const result = apportionOrder(taobao());
      expect(result.lines.map((l) => l.orderShares)).toEqual([
        [{ promotionIndex: 0, amount: 199 }],
        [{ promotionIndex: 0, amount: 301 }],
      ]);
      expect(result.lines.map((l) => l.buyerPaid)).toEqual([7701, 11599]);
      expect(result.issues).toEqual([]);
    });

    it('a split that does not add up is flagged, with the amounts, and not corrected', () => {
      const result = apportionOrder(
        taobao([
          { lineId: '1001', amount: 199 },
          { lineId: '1002', amount: 300 },
        ]),
      );
      expect(result.lines.map((l) => l.buyerPaid)).toEqual([7701, 11600]);
      expect(result.issues).toEqual([
        { type: 'split_mismatch', promotionIndex: 0, promotionAmount: 500, allocated: 499, difference: -1 },
        { type: 'buyer_paid_mismatch', platformTotal: 19800, computedTotal: 19801, difference: 1 },
      ]);
    });

    it("a split onto an unknown line or beyond a line's amount is flagged", () => {
      const result = apportionOrder(
        taobao([
          { lineId: '1001', amount: 8000 },
          { lineId: '9999', amount: 1 },
        ]),
      );
      expect(result.issues).toContainEqual({ type: 'split_line_unknown', promotionIndex: 0, lineId: '9999' });
      expect(result.issues).toContainEqual({
        type: 'split_exceeds_line',
        promotionIndex: 0,
        lineId: '1001',
        share: 8000,
        available: 7900,
      });
    });
  });
});

describe('apportionOrder: other rules', () => {
  it('Shopify TENOFF across three 199.00 lines: 3.34 / 3.33 / 3.33, the extra cent on the smallest line id', () => {
    const lines = [line('466157049', 19900), line('518995019', 19900), line('703073504', 19900)];
    const tenoff: OrderPromotion = {
      kind: 'coupon',
      funding: 'seller',
      amount: 1000,
      target: 'goods',
      code: 'TENOFF',
    };
    const result = apportionOrder(order(lines, [tenoff], { buyerPaidTotal: 58700 }));
    expect(result.lines.map((l) => l.sellerDiscount)).toEqual([334, 333, 333]);
    const reversed = apportionOrder(order([...lines].reverse(), [tenoff], { buyerPaidTotal: 58700 }));
    expect(reversed.lines.map((l) => [l.lineId, l.sellerDiscount])).toEqual([
      ['703073504', 333],
      ['518995019', 333],
      ['466157049', 334],
    ]);
  });

  it('only eligible lines share a promotion; shipping promotions lower shipping only', () => {
    const result = apportionOrder(
      order(
        [line('1', 10000), line('2', 5000)],
        [
          { kind: 'fixed', funding: 'seller', amount: 1000, target: 'goods', eligibleLineIds: ['2'] },
          { kind: 'platform_subsidy', funding: 'platform', amount: 800, target: 'shipping' },
        ],
        { shippingFee: 600, buyerPaidTotal: 14000 },
      ),
    );
    expect(result.lines.map((l) => l.sellerDiscount)).toEqual([0, 1000]);
    expect(result.shipping).toEqual({
      fee: 600,
      sellerDiscount: 0,
      platformDiscount: 600,
      buyerPaid: 0,
      sellerRevenue: 600,
    });
    expect(result.issues).toEqual([
      { type: 'discount_exceeds_eligible', promotionIndex: 1, amount: 800, applied: 600, unapplied: 200 },
    ]);
  });

  it('a negative manual adjustment raises the price and is spread like a surcharge', () => {
    const result = apportionOrder(
      order(
        [line('1', 100), line('2', 200)],
        [{ kind: 'manual_adjustment', funding: 'seller', amount: -100, target: 'goods' }],
        { buyerPaidTotal: 400 },
      ),
    );
    expect(result.lines.map((l) => [l.sellerDiscount, l.buyerPaid])).toEqual([
      [-33, 133],
      [-67, 267],
    ]);
    expect(result.issues).toEqual([]);
  });

  it('applies stacked promotions in the given order, each on what is left', () => {
    const result = apportionOrder(
      order(
        [line('1', 1000), line('2', 3000)],
        [
          { kind: 'fixed', funding: 'seller', amount: 1000, target: 'goods', eligibleLineIds: ['1'] },
          { kind: 'fixed', funding: 'seller', amount: 1000, target: 'goods' },
        ],
        { buyerPaidTotal: 2000 },
      ),
    );
    // line 1 is free after the first promotion, so the second falls entirely on line 2
    expect(result.lines.map((l) => l.buyerPaid)).toEqual([0, 2000]);
    expect(result.issues).toEqual([]);
  });
});

describe("checkLineSplit: a platform's own per-line amounts", () => {
  const lines = [
    { lineId: 's1', listAmount: 10000, sellerDiscount: 500, platformDiscount: 300, buyerPaid: 9200 },
    { lineId: 's2', listAmount: 5000, sellerDiscount: 250, platformDiscount: 150, buyerPaid: 4600 },
  ];

  it('returns lines with seller revenue when everything adds up', () => {
    const check = checkLineSplit(lines, {
      listAmount: 15000,
      sellerDiscount: 750,
      platformDiscount: 450,
      buyerPaid: 13800,
    });
    expect(check.ok).toBe(true);
    expect(check.lines.map((l) => l.sellerRevenue)).toEqual([9500, 4750]);
  });

  it('flags each total that differs and each inconsistent line, leaving the amounts as given', () => {
    const broken = [lines[0]!, { ...lines[1]!, platformDiscount: 149 }];
    const check = checkLineSplit(broken, { sellerDiscount: 750, platformDiscount: 450, buyerPaid: 13800 });
    expect(check.ok).toBe(false);
    expect(check.totalMismatches).toEqual([
      { total: 'platformDiscount', platformTotal: 450, linesSum: 449, difference: -1 },
    ]);
    expect(check.lineMismatches).toEqual([
      { lineId: 's2', expectedBuyerPaid: 4601, buyerPaid: 4600, difference: -1 },
    ]);
    expect(check.lines[1]!.platformDiscount).toBe(149);
  });
});

/** Random orders: unique line ids, line discounts within the line amount, some gift lines. */
const lineArb = fc
  .record({
    lineId: fc.oneof(fc.nat({ max: 99_999 }).map(String), fc.string({ minLength: 1, maxLength: 3 })),
    unitListPrice: fc.oneof(fc.constant(0), fc.nat({ max: 100_000 })),
    quantity: fc.integer({ min: 1, max: 20 }),
    gift: fc.boolean(),
    discountShare: fc.double({ min: 0, max: 1, noNaN: true }),
    funding: fc.constantFrom('seller' as const, 'platform' as const),
  })
  .map(({ discountShare, funding, ...l }): ApportionLine => {
    const list = l.unitListPrice * l.quantity;
    // gift lines are usually free, but a gift flag must keep a line out of order-level shares
    // even when something is left to pay on it
    const amount = l.gift && discountShare > 0.5 ? list : Math.floor(list * discountShare);
    return { ...l, lineDiscounts: amount ? [{ kind: l.gift ? 'gift' : 'fixed', funding, amount }] : [] };
  });

const orderArb = fc
  .uniqueArray(lineArb, { selector: (l) => l.lineId, minLength: 1, maxLength: 8 })
  .chain((lines) =>
    fc.record({
      lines: fc.constant(lines),
      promotions: fc.array(
        fc.record({
          kind: fc.constantFrom('fixed' as const, 'coupon' as const),
          funding: fc.constantFrom('seller' as const, 'platform' as const),
          amount: fc.nat({ max: 300_000 }),
          target: fc.constant('goods' as const),
          eligibleLineIds: fc.option(
            fc.subarray(
              lines.map((l) => l.lineId),
              { minLength: 1 },
            ),
            { nil: undefined },
          ),
        }),
        { maxLength: 4 },
      ),
      shippingFee: fc.nat({ max: 2000 }),
      taxAdded: fc.constant(0),
      buyerPaidTotal: fc.constant(0),
    }),
  );

describe('apportionOrder properties', () => {
  it('every promotion is split exactly: shares sum to its amount minus what was capped', () => {
    fc.assert(
      fc.property(orderArb, (input) => {
        const result = apportionOrder(input);
        input.promotions.forEach((p, index) => {
          const shared = result.lines.flatMap((l) => l.orderShares).filter((s) => s.promotionIndex === index);
          const capped = result.issues.find(
            (i) => i.type === 'discount_exceeds_eligible' && i.promotionIndex === index,
          );
          const unapplied = capped?.type === 'discount_exceeds_eligible' ? capped.unapplied : 0;
          expect(shared.reduce((s, x) => s + x.amount, 0)).toBe(p.amount - unapplied);
        });
      }),
    );
  });

  it('no line is discounted below zero, and gift lines take no share', () => {
    fc.assert(
      fc.property(orderArb, (input) => {
        const result = apportionOrder(input);
        result.lines.forEach((l, i) => {
          expect(l.buyerPaid).toBeGreaterThanOrEqual(0);
          expect(l.sellerDiscount).toBeGreaterThanOrEqual(0);
          expect(l.platformDiscount).toBeGreaterThanOrEqual(0);
          expect(l.sellerRevenue).toBeGreaterThanOrEqual(l.buyerPaid);
          expect(l.buyerPaid).toBe(l.listAmount - l.sellerDiscount - l.platformDiscount);
          if (input.lines[i]!.gift) expect(l.orderShares).toEqual([]);
        });
      }),
    );
  });

  it('each line gets the same amounts whatever the order of the lines', () => {
    fc.assert(
      fc.property(
        orderArb.chain((input) =>
          fc.record({
            input: fc.constant(input),
            shuffled: fc.shuffledSubarray(input.lines, {
              minLength: input.lines.length,
              maxLength: input.lines.length,
            }),
          }),
        ),
        ({ input, shuffled }) => {
          const byLine = (o: ApportionInput) => {
            const r = apportionOrder(o);
            return { lines: new Map(r.lines.map((l) => [l.lineId, l])), issues: r.issues };
          };
          expect(byLine({ ...input, lines: shuffled })).toEqual(byLine(input));
        },
      ),
    );
  });

  it('the computed total is what the lines and shipping add up to, and a different platform total is flagged', () => {
    fc.assert(
      fc.property(orderArb, fc.integer({ min: -5, max: 5 }), (input, delta) => {
        const first = apportionOrder(input);
        const linesPaid = first.lines.reduce((s, l) => s + l.buyerPaid, 0);
        expect(first.computedBuyerPaidTotal).toBe(linesPaid + first.shipping.buyerPaid);
        const platformTotal = Math.max(0, first.computedBuyerPaidTotal + delta);
        const second = apportionOrder({ ...input, buyerPaidTotal: platformTotal });
        const flagged = second.issues.some((i) => i.type === 'buyer_paid_mismatch');
        expect(flagged).toBe(platformTotal !== first.computedBuyerPaidTotal);
      }),
    );
  });
});
