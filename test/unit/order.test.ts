import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors.js';
import {
  type CanonicalOrderInput,
  canonicalStatusOrder,
  compareRevisions,
  compareStatusProgress,
  MAX_LINES_PER_ORDER,
  ORDER_STATUSES,
  type OrderRevision,
  parseCanonicalOrder,
  summarizeRefunds,
  supersedes,
} from '../../src/domain/order.js';
import { apportionOrder } from '../../src/domain/promotions.js';

const validOrder = (): CanonicalOrderInput => ({
  shopId: 'tmall-main',
  platform: 'taobao',
  platformOrderId: '3051234567890123',
  platformModifiedAt: '2024-11-11T00:00:05+08:00',
  status: 'paid',
  currency: 'CNY',
  lines: [
    {
      lineId: '3051234567890124',
      platformItemId: '680001',
      platformSkuId: '5000001',
      outerSkuId: 'TEA-500G',
      quantity: 2,
      unitListPrice: 9900,
      lineDiscounts: [{ kind: 'fixed', funding: 'seller', amount: 800 }],
    },
    { lineId: '3051234567890125', platformItemId: '680002', quantity: 1, unitListPrice: 0, gift: true },
  ],
  promotions: [
    { kind: 'threshold', funding: 'seller', threshold: 15000, amount: 1000, id: 'mjs-123024_211143' },
    { kind: 'gift', giftLineIds: ['3051234567890125'] },
  ],
  shippingFee: 0,
  buyerPaidTotal: 18000,
});

/** Parses, expecting failure, and returns the issue lines. */
const problems = (input: unknown): string[] => {
  const r = parseCanonicalOrder(input);
  if (r.ok) throw new Error('expected the order to be rejected');
  expect(r.error).toBeInstanceOf(ValidationError);
  return r.error.issues;
};

const withLine = (patch: Record<string, unknown>) => {
  const o = validOrder();
  return { ...o, lines: [{ ...o.lines[0]!, ...patch }, o.lines[1]!] };
};

describe('parseCanonicalOrder', () => {
  it('accepts a valid order and fills the defaults', () => {
    const r = parseCanonicalOrder(validOrder());
    if (!r.ok) throw r.error;
    expect(r.order.lines[1]!.lineDiscounts).toEqual([]);
    expect(r.order.lines[0]!.gift).toBe(false);
    expect(r.order.refunds).toEqual([]);
    expect(r.order.taxAdded).toBe(0);
    expect(r.order.promotions[0]).toMatchObject({ target: 'goods', repeat: false });
  });

  it('is what apportionOrder takes: a parsed order apportions without issues', () => {
    const r = parseCanonicalOrder(validOrder());
    if (!r.ok) throw r.error;
    const result = apportionOrder(r.order);
    expect(result.lines.map((l) => l.buyerPaid)).toEqual([18000, 0]);
    expect(result.issues).toEqual([]);
  });

  it.each([
    ['a negative price', { unitListPrice: -100 }, 'lines.0.unitListPrice: amount must not be negative'],
    [
      'a price in yuan as a float',
      { unitListPrice: 99.5 },
      'lines.0.unitListPrice: amount must be an integer',
    ],
    ['a price as a string', { unitListPrice: '99.00' }, 'lines.0.unitListPrice: amount must be a number'],
    ['zero quantity', { quantity: 0 }, 'lines.0.quantity: quantity must be at least 1'],
    ['a huge quantity', { quantity: 100_001 }, 'lines.0.quantity: quantity must be at most 100000'],
    ['a fractional quantity', { quantity: 1.5 }, 'lines.0.quantity: quantity must be a whole number'],
    ['a missing line id', { lineId: undefined }, 'lines.0.lineId: id must be a string'],
    ['an empty item id', { platformItemId: '' }, 'lines.0.platformItemId: id must not be empty'],
    [
      'an id with whitespace',
      { platformItemId: ' 680001' },
      'lines.0.platformItemId: id must not have surrounding',
    ],
    ['an overlong id', { platformSkuId: 'x'.repeat(129) }, 'lines.0.platformSkuId: id must be at most 128'],
    ['an unknown field', { price: '99.00' }, 'lines.0: Unrecognized key: "price"'],
    [
      'a line discounted below zero',
      { lineDiscounts: [{ kind: 'fixed', funding: 'seller', amount: 19801 }] },
      'lines.0.lineDiscounts: line discounts (19801) exceed the line amount (19800)',
    ],
    [
      'a negative discount that is not a manual adjustment',
      { lineDiscounts: [{ kind: 'coupon', funding: 'seller', amount: -1 }] },
      'lines.0.lineDiscounts.0.amount: only a manual adjustment may be negative',
    ],
    [
      'unit price x quantity too large',
      { unitListPrice: 10_000_000_000_000, quantity: 2 },
      'lines.0.unitListPrice: unit price x quantity is too large',
    ],
  ])('rejects %s', (_what, patch, message) => {
    expect(problems(withLine(patch)).join('\n')).toContain(message);
  });

  it.each([
    ['a missing order id', { platformOrderId: undefined }, 'platformOrderId: id must be a string'],
    ['an unknown platform', { platform: 'ebay' }, 'platform: platform must be one of'],
    ['an unknown currency', { currency: 'XYZ' }, 'currency: unsupported currency "XYZ"'],
    ['a refunded status', { status: 'refunded' }, 'status: status must be one of'],
    [
      'a local time without offset',
      { platformModifiedAt: '2024-11-11 00:00:05' },
      'platformModifiedAt: must be an ISO',
    ],
    [
      'neither modified time nor version',
      { platformModifiedAt: undefined },
      'platformModifiedAt: platformModifiedAt or platformVersion is required',
    ],
    ['no lines', { lines: [] }, 'lines: an order needs at least one line'],
    ['a negative total', { buyerPaidTotal: -1 }, 'buyerPaidTotal: amount must not be negative'],
    ['a body that is not an object', null, '(root):'],
  ])('rejects %s', (_what, patch, message) => {
    const input = patch === null ? null : { ...validOrder(), ...patch };
    expect(problems(input).join('\n')).toContain(message);
  });

  it(`rejects more than ${MAX_LINES_PER_ORDER} lines`, () => {
    const line = validOrder().lines[0]!;
    const lines = Array.from({ length: MAX_LINES_PER_ORDER + 1 }, (_, i) => ({ ...line, lineId: `L${i}` }));
    expect(problems({ ...validOrder(), lines })).toContain('lines: at most 500 lines per order');
    expect(parseCanonicalOrder({ ...validOrder(), lines: lines.slice(1), promotions: [] }).ok).toBe(true);
  });

  it('rejects duplicate line ids and references to lines that do not exist', () => {
    const o = validOrder();
    const dup = { ...o, lines: [o.lines[0]!, { ...o.lines[1]!, lineId: o.lines[0]!.lineId }] };
    expect(problems(dup).join('\n')).toContain('lines.1.lineId: duplicate line id 3051234567890124');
    const ghost = {
      ...o,
      promotions: [{ kind: 'fixed', funding: 'seller', amount: 1, eligibleLineIds: ['nope'] }],
    };
    expect(problems(ghost)).toContain('promotions.0.eligibleLineIds.0: unknown line id nope');
  });

  it('rejects unknown promotion kinds and a platform subsidy funded by the seller', () => {
    const o = validOrder();
    expect(problems({ ...o, promotions: [{ kind: 'bogo', amount: 1 }] }).join('\n')).toContain(
      'promotions.0.kind: promotion kind must be one of',
    );
    expect(
      problems({ ...o, promotions: [{ kind: 'platform_subsidy', funding: 'seller', amount: 1 }] }).join('\n'),
    ).toContain('promotions.0.funding: a platform subsidy is platform-funded');
  });

  it('validates refunds: known lines, at most the line quantity, order-level refunds carry no goods', () => {
    const o = validOrder();
    const refund = {
      refundId: 'R1',
      lineId: '3051234567890124',
      quantity: 1,
      amount: 9000,
      status: 'succeeded',
      goodsReturn: 'received',
    };
    expect(parseCanonicalOrder({ ...o, refunds: [refund] }).ok).toBe(true);
    const tooMany = [refund, { ...refund, refundId: 'R2', quantity: 2, status: 'requested' }];
    expect(problems({ ...o, refunds: tooMany })).toContain(
      'refunds: refunds of line 3051234567890124 cover 3 units, the line has 2',
    );
    // a closed (refused) refund does not count
    expect(parseCanonicalOrder({ ...o, refunds: [tooMany[0], { ...tooMany[1], status: 'closed' }] }).ok).toBe(
      true,
    );
    expect(problems({ ...o, refunds: [{ ...refund, lineId: 'x' }] })).toContain(
      'refunds.0.lineId: unknown line id x',
    );
    expect(problems({ ...o, refunds: [{ ...refund, lineId: undefined }] })).toEqual([
      'refunds.0.quantity: a refund without a line has quantity 0',
      'refunds.0.goodsReturn: a refund without a line returns no goods',
    ]);
  });

  it('summarizes refunds into the partially/fully refunded flags', () => {
    const r = parseCanonicalOrder({
      ...validOrder(),
      refunds: [
        {
          refundId: 'R1',
          lineId: '3051234567890124',
          quantity: 2,
          amount: 1,
          status: 'succeeded',
          goodsReturn: 'none',
        },
        {
          refundId: 'R2',
          lineId: '3051234567890125',
          quantity: 1,
          amount: 0,
          status: 'requested',
          goodsReturn: 'none',
        },
      ],
    });
    if (!r.ok) throw r.error;
    const summary = summarizeRefunds(r.order);
    expect(summary.byLine.get('3051234567890125')).toEqual({ requested: 1, succeeded: 0 });
    expect([summary.partiallyRefunded, summary.fullyRefunded]).toEqual([true, false]);
    r.order.refunds[1]!.status = 'succeeded';
    expect(summarizeRefunds(r.order)).toMatchObject({ partiallyRefunded: false, fullyRefunded: true });
  });
});

describe('status order', () => {
  it('ranks the lifecycle in order, cancelled last', () => {
    expect([...ORDER_STATUSES].sort(compareStatusProgress)).toEqual([
      'pending_payment',
      'paid',
      'partially_shipped',
      'shipped',
      'completed',
      'cancelled',
    ]);
    expect(canonicalStatusOrder.paid).toBeLessThan(canonicalStatusOrder.shipped);
  });
});

describe('compareRevisions: an older update never overwrites a newer one', () => {
  const base: OrderRevision = {
    shopId: 's1',
    platform: 'taobao',
    platformOrderId: 'o1',
    platformModifiedAt: '2024-11-11T00:00:05+08:00',
    status: 'paid',
    refunds: [],
  };
  const rev = (patch: Partial<OrderRevision>): OrderRevision => ({ ...base, ...patch });

  it('decides by modified time first, even against status progress', () => {
    const later = rev({ platformModifiedAt: '2024-11-11T00:00:06+08:00', status: 'paid' });
    const earlierButShipped = rev({ status: 'shipped' });
    expect(compareRevisions(later, earlierButShipped)).toEqual({ result: 'newer', by: 'modified_at' });
    expect(compareRevisions(earlierButShipped, later)).toEqual({ result: 'older', by: 'modified_at' });
    expect(supersedes(earlierButShipped, later)).toBe(false);
  });

  it('compares instants, not strings: the same moment in two offsets is a tie', () => {
    const utc = rev({ platformModifiedAt: '2024-11-10T16:00:05Z', status: 'cancelled' });
    expect(compareRevisions(utc, base)).toEqual({ result: 'newer', by: 'status' });
    const laterInUtc = rev({ platformModifiedAt: '2024-11-10T16:00:06Z' });
    expect(compareRevisions(laterInUtc, base).by).toBe('modified_at');
  });

  it('then by version, then status, then the number of refund records', () => {
    const v = (platformVersion: number, patch: Partial<OrderRevision> = {}) =>
      rev({ platformModifiedAt: undefined, platformVersion, ...patch });
    expect(compareRevisions(v(3), v(2))).toEqual({ result: 'newer', by: 'version' });
    expect(compareRevisions(v(3, { status: 'cancelled' }), v(3))).toEqual({ result: 'newer', by: 'status' });
    // a time on only one side cannot be compared: fall through to version
    expect(compareRevisions(v(2), { ...v(3), platformModifiedAt: '2030-01-01T00:00:00Z' })).toEqual({
      result: 'older',
      by: 'version',
    });
    const refund = {
      refundId: 'R',
      quantity: 1,
      amount: 1,
      status: 'requested',
      goodsReturn: 'none',
    } as const;
    expect(compareRevisions(rev({ refunds: [refund] }), base)).toEqual({ result: 'newer', by: 'refunds' });
  });

  it('treats a replay as the same, so it changes nothing', () => {
    expect(compareRevisions(base, { ...base })).toEqual({ result: 'same', by: 'none' });
    expect(supersedes(base, base)).toBe(false);
  });

  it('refuses to compare two different orders', () => {
    expect(() => compareRevisions(rev({ platformOrderId: 'o2' }), base)).toThrow(RangeError);
    expect(() => compareRevisions(rev({ shopId: 's2' }), base)).toThrow(RangeError);
  });

  it('is antisymmetric, so delivery order does not change which revision wins', () => {
    const revision = fc.record({
      platformModifiedAt: fc.option(
        fc.integer({ min: 0, max: 20 }).map((s) => `2024-11-11T00:00:${String(s).padStart(2, '0')}+08:00`),
        { nil: undefined },
      ),
      platformVersion: fc.option(fc.nat(5), { nil: undefined }),
      status: fc.constantFrom(...ORDER_STATUSES),
      refundCount: fc.nat(2),
    });
    type RevisionDraft = typeof revision extends fc.Arbitrary<infer T> ? T : never;
    const toRev = ({ refundCount, ...r }: RevisionDraft): OrderRevision => ({
      ...base,
      ...r,
      refunds: Array.from({ length: refundCount }, (_, i) => ({
        refundId: `R${i}`,
        quantity: 0,
        amount: 1,
        status: 'requested' as const,
        goodsReturn: 'none' as const,
      })),
    });
    fc.assert(
      fc.property(revision, revision, (a, b) => {
        const ab = compareRevisions(toRev(a), toRev(b)).result;
        const ba = compareRevisions(toRev(b), toRev(a)).result;
        expect(ba).toBe(ab === 'newer' ? 'older' : ab === 'older' ? 'newer' : 'same');
      }),
    );
  });
});
