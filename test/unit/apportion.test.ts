import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  allocateLargestRemainder,
  allocateLastLineRemainder,
  compareLineIds,
  type Weighted,
} from '../../src/domain/apportion.js';

const w = (...weights: number[]): Weighted[] => weights.map((weight, i) => ({ key: String(i + 1), weight }));

/** Unique keys (numeric and not) with weights; about a third zero. */
const weightedItems = fc.uniqueArray(
  fc.record({
    key: fc.oneof(fc.nat({ max: 10_000 }).map(String), fc.string({ minLength: 1, maxLength: 4 })),
    weight: fc.oneof(fc.constant(0), fc.nat({ max: 5_000_000 })),
  }),
  { selector: (item) => item.key, minLength: 1, maxLength: 12 },
);

const withTotal = weightedItems.chain((items) => {
  const sum = items.reduce((s, i) => s + i.weight, 0);
  return fc.record({
    items: fc.constant(items),
    total: sum === 0 ? fc.constant(0) : fc.nat({ max: sum }),
  });
});

describe('allocateLargestRemainder', () => {
  it('reproduces the Taobao worked example: 5.00 over lines paying 79 and 119 -> 1.99 / 3.01', () => {
    expect(allocateLargestRemainder(500, w(7900, 11900))).toEqual([199, 301]);
  });

  it('reproduces the Shopify example: 10.00 over three 199.00 lines -> 3.34 / 3.33 / 3.33 (tie to the smallest id)', () => {
    const lines = [
      { key: '466157049', weight: 19900 },
      { key: '518995019', weight: 19900 },
      { key: '703073504', weight: 19900 },
    ];
    expect(allocateLargestRemainder(1000, lines)).toEqual([334, 333, 333]);
    expect(allocateLargestRemainder(1000, [...lines].reverse())).toEqual([333, 333, 334]);
  });

  it('never goes negative or above a weight where the last-line rule does', () => {
    expect(allocateLargestRemainder(5, w(10, 10, 10, 1))).toEqual([2, 2, 1, 0]);
    expect(allocateLargestRemainder(26, w(10, 10, 10, 1))).toEqual([9, 8, 8, 1]);
  });

  it('refuses what cannot be split', () => {
    expect(() => allocateLargestRemainder(1, w(0, 0))).toThrow(RangeError);
    expect(() => allocateLargestRemainder(-1, w(1))).toThrow(RangeError);
    expect(() => allocateLargestRemainder(1.5, w(1))).toThrow(RangeError);
    expect(() => allocateLargestRemainder(1, w(-1, 2))).toThrow(RangeError);
    expect(() =>
      allocateLargestRemainder(1, [
        { key: 'a', weight: 1 },
        { key: 'a', weight: 1 },
      ]),
    ).toThrow('duplicate key');
    expect(allocateLargestRemainder(0, w(0, 0))).toEqual([0, 0]);
  });

  it('shares sum exactly to the total, each within one cent of its exact value', () => {
    fc.assert(
      fc.property(withTotal, ({ items, total }) => {
        const shares = allocateLargestRemainder(total, items);
        const sum = items.reduce((s, i) => s + i.weight, 0);
        expect(shares.reduce((s, x) => s + x, 0)).toBe(total);
        shares.forEach((share, i) => {
          const exact = (BigInt(total) * BigInt(items[i]!.weight)) / BigInt(Math.max(sum, 1));
          expect(BigInt(share) - exact === 0n || BigInt(share) - exact === 1n).toBe(true);
        });
      }),
    );
  });

  it('gives zero weight nothing and no share exceeds its weight', () => {
    fc.assert(
      fc.property(withTotal, ({ items, total }) => {
        const shares = allocateLargestRemainder(total, items);
        shares.forEach((share, i) => {
          expect(share).toBeGreaterThanOrEqual(0);
          expect(share).toBeLessThanOrEqual(items[i]!.weight);
        });
      }),
    );
  });

  it('gives each key the same share whatever the order of the items', () => {
    fc.assert(
      fc.property(
        withTotal.chain(({ items, total }) =>
          fc.record({
            items: fc.constant(items),
            shuffled: fc.shuffledSubarray(items, { minLength: items.length, maxLength: items.length }),
            total: fc.constant(total),
          }),
        ),
        ({ items, shuffled, total }) => {
          const byKey = (list: Weighted[]) => {
            const shares = allocateLargestRemainder(total, list);
            return new Map(list.map((item, i) => [item.key, shares[i]]));
          };
          expect(byKey(shuffled)).toEqual(byKey(items));
        },
      ),
    );
  });
});

describe('allocateLastLineRemainder (Taobao rule, for reproducing a platform split)', () => {
  it('reproduces the Taobao worked example', () => {
    expect(allocateLastLineRemainder(500, w(7900, 11900))).toEqual([199, 301]);
  });

  it('does not reproduce Shopify: the extra cent lands on the last line', () => {
    expect(allocateLastLineRemainder(1000, w(19900, 19900, 19900))).toEqual([333, 333, 334]);
  });

  it('rounds half up and skips zero-weight lines when choosing the last line', () => {
    expect(allocateLastLineRemainder(3, w(1, 1, 0))).toEqual([2, 1, 0]);
  });

  it('throws where the rule would produce a negative or oversized last share', () => {
    expect(() => allocateLastLineRemainder(5, w(10, 10, 10, 1))).toThrow(/gives "4" -1/);
    expect(() => allocateLastLineRemainder(26, w(10, 10, 10, 1))).toThrow(/gives "4" 2 for weight 1/);
  });
});

describe('compareLineIds', () => {
  it('orders numeric ids as numbers and everything else by code unit', () => {
    expect(['10', '9', '100', '09'].sort(compareLineIds)).toEqual(['09', '9', '10', '100']);
    expect(['b', 'a', 'B', '1'].sort(compareLineIds)).toEqual(['1', 'B', 'a', 'b']);
    expect(compareLineIds('12345678901234567890', '12345678901234567891')).toBeLessThan(0);
    expect(compareLineIds('x', 'x')).toBe(0);
  });
});
