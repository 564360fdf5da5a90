import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { takeFromPool } from '../../src/domain/allocation.js';
import { bundleAts, simpleAts } from '../../src/domain/ats.js';
import { expandToPhysical, findCycle } from '../../src/domain/bundles.js';
import { BundleCycleError } from '../../src/domain/errors.js';

describe('bundles', () => {
  const graph = new Map([
    [
      10,
      new Map([
        [1, 2],
        [2, 1],
      ]),
    ],
    [
      20,
      new Map([
        [10, 3],
        [1, 1],
      ]),
    ],
  ]);

  it('expands nested bundles to physical SKUs, summing shared components', () => {
    expect(expandToPhysical(graph, 20, 2)).toEqual(
      new Map([
        [1, 14],
        [2, 6],
      ]),
    );
    expect(expandToPhysical(graph, 5, 4)).toEqual(new Map([[5, 4]]));
  });

  it('finds cycles through other bundles, and none where there is none', () => {
    expect(findCycle(graph, 10, [20])).toEqual([10, 20, 10]);
    expect(findCycle(graph, 30, [20, 10])).toBeNull();
    expect(() => expandToPhysical(new Map([[1, new Map([[1, 1]])]]), 1, 1)).toThrow(BundleCycleError);
  });
});

describe('allocation', () => {
  it('fills warehouses in priority order and never takes more than is free', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(20), { minLength: 1, maxLength: 5 }), fc.nat(60), (frees, qty) => {
        const pool = frees.map((free, i) => ({ warehouseId: i + 1, free }));
        const { allocations, missing } = takeFromPool(7, qty, pool);
        const taken = allocations.reduce((s, a) => s + a.quantity, 0);
        const total = frees.reduce((s, x) => s + x, 0);
        expect(taken + missing).toBe(qty);
        expect(taken).toBe(Math.min(qty, total));
        allocations.forEach((a) => {
          expect(a.quantity).toBeGreaterThan(0);
          expect(a.quantity).toBeLessThanOrEqual(frees[a.warehouseId - 1]!);
        });
        // Priority: a later warehouse is used only when every earlier one is exhausted.
        const last = allocations.at(-1)?.warehouseId ?? 0;
        for (let w = 1; w < last; w++) expect(pool[w - 1]!.free).toBe(0);
      }),
    );
  });
});

describe('available to sell', () => {
  it('subtracts reserved and safety stock, floored at 0', () => {
    expect(
      simpleAts(
        [
          { onHand: 10, reserved: 3 },
          { onHand: 5, reserved: 5 },
        ],
        2,
      ),
    ).toBe(5);
    expect(simpleAts([{ onHand: 1, reserved: 0 }], 3)).toBe(0);
    expect(simpleAts([], 0)).toBe(0);
  });

  it('a bundle offers the whole units its scarcest component allows', () => {
    expect(
      bundleAts(
        new Map([
          [1, 2],
          [2, 1],
        ]),
        new Map([
          [1, 9],
          [2, 7],
        ]),
      ),
    ).toBe(4);
    expect(bundleAts(new Map([[1, 2]]), new Map())).toBe(0);
    expect(bundleAts(new Map(), new Map())).toBe(0);
  });
});
