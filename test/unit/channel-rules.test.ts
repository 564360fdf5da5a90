import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bufferItems, listedQuantity, pushRulesSchema } from '../../src/sync/channel-rules.js';

const rules = fc.record({
  sharePercent: fc.integer({ min: 0, max: 100 }),
  safetyStock: fc.integer({ min: 0, max: 50 }),
  minQuantity: fc.integer({ min: 0, max: 20 }),
  maxQuantity: fc.option(fc.integer({ min: 20, max: 500 }), { nil: undefined }),
});

describe('listedQuantity', () => {
  it('never lists more than the stock (in items), the share, or the maximum; never negative', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -5, max: 100_000 }),
        fc.integer({ min: 1, max: 12 }),
        rules,
        fc.integer({ min: 0, max: 100 }),
        (ats, per, r, buffer) => {
          const q = listedQuantity(ats, per, r, buffer);
          expect(Number.isInteger(q)).toBe(true);
          expect(q).toBeGreaterThanOrEqual(0);
          expect(q * per).toBeLessThanOrEqual(Math.max(0, ats));
          // The share is rounded down: q / items never exceeds the percentage.
          expect(q * 100).toBeLessThanOrEqual(Math.floor(Math.max(0, ats) / per) * r.sharePercent);
          if (r.maxQuantity !== undefined) expect(q).toBeLessThanOrEqual(r.maxQuantity);
          expect(q === 0 || q >= r.minQuantity).toBe(true);
        },
      ),
    );
  });

  it('is monotonic in the stock and antitone in safety stock and buffer', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 1, max: 6 }),
        rules,
        fc.integer({ min: 0, max: 30 }),
        (ats, more, per, r, buffer) => {
          expect(listedQuantity(ats + more, per, r, buffer)).toBeGreaterThanOrEqual(
            listedQuantity(ats, per, r, buffer),
          );
          expect(listedQuantity(ats, per, r, buffer + 1)).toBeLessThanOrEqual(
            listedQuantity(ats, per, r, buffer),
          );
        },
      ),
    );
  });

  it('rounds shares down explicitly and hides quantities below the minimum', () => {
    const base = { sharePercent: 100, safetyStock: 0, minQuantity: 0, maxQuantity: undefined };
    expect(listedQuantity(7, 1, { ...base, sharePercent: 50 })).toBe(3);
    expect(listedQuantity(13, 6, base)).toBe(2); // boxes of 6
    expect(listedQuantity(10, 1, { ...base, safetyStock: 3 }, 2)).toBe(5);
    expect(listedQuantity(4, 1, { ...base, minQuantity: 5 })).toBe(0);
    expect(listedQuantity(5, 1, { ...base, minQuantity: 5 })).toBe(5);
    expect(listedQuantity(900, 1, { ...base, maxQuantity: 200 })).toBe(200);
    // 33% of 10 items is 3.3: 3, with no float error at large counts either.
    expect(listedQuantity(10, 1, { ...base, sharePercent: 33 })).toBe(3);
    expect(listedQuantity(100_000_000, 1, { ...base, sharePercent: 29 })).toBe(29_000_000);
  });
});

describe('bufferItems', () => {
  it('off holds nothing, fixed holds its units, adaptive holds velocity x latency rounded up, capped', () => {
    expect(bufferItems({ mode: 'off' }, 100, 5000, 1)).toBe(0);
    expect(bufferItems({ mode: 'fixed', units: 4 }, 0, 0, 1)).toBe(4);
    const adaptive = { mode: 'adaptive' as const, windowMinutes: 15, minLatencyMs: 2000, maxUnits: 50 };
    // 1.5 units/s over at least 2 s: 3 units; 3.2 s measured: 4.8 -> 5.
    expect(bufferItems(adaptive, 1.5, 500, 1)).toBe(3);
    expect(bufferItems(adaptive, 1.5, 3200, 1)).toBe(5);
    // In items: boxes of 6.
    expect(bufferItems(adaptive, 6, 2000, 6)).toBe(2);
    expect(bufferItems(adaptive, 1000, 60_000, 1)).toBe(50);
    expect(bufferItems(adaptive, 0, 60_000, 1)).toBe(0);
  });
});

describe('push rules config', () => {
  it('defaults to everything, no buffer; refuses a maximum below the minimum with a clear message', () => {
    expect(pushRulesSchema.parse({})).toEqual({
      enabled: true,
      sharePercent: 100,
      safetyStock: 0,
      minQuantity: 0,
      buffer: { mode: 'off' },
    });
    const bad = pushRulesSchema.safeParse({ minQuantity: 10, maxQuantity: 5 });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.message).toMatch(/maxQuantity must not be below minQuantity/);
    const mode = pushRulesSchema.safeParse({ buffer: { mode: 'sometimes' } });
    expect(mode.success).toBe(false);
    expect(pushRulesSchema.safeParse({ buffer: { mode: 'adaptive' } }).data?.buffer).toEqual({
      mode: 'adaptive',
      windowMinutes: 15,
      minLatencyMs: 2000,
      maxUnits: 50,
    });
  });
});
