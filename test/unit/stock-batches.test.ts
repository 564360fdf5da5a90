/**
 * How a pusher round splits its claimed rows into `pushStock` calls (stockBatches), how many
 * platform requests a call makes (pushRequests), and how many a round sends (requestsPerRound).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ListingRef, RateLimitSpec } from '../../connectors/contract.js';
import { pushRequests, requestsPerRound, stockBatches } from '../../src/sync/push-batches.js';

const limits = (maxStockBatch: number, intervalCap = 10, intervalMs = 1000): RateLimitSpec => ({
  concurrency: 2,
  intervalCap,
  intervalMs,
  maxStockBatch,
});
const row = (ref: string) => ({ stock_ref: ref, stock_location: null });
const productKey = (l: ListingRef) => l.listingId.split(':')[0]!;
const refsOf = (b: { rows: { stock_ref: string }[] }) => b.rows.map((r) => r.stock_ref);

describe('stockBatches', () => {
  it('without a key: chunks of maxStockBatch in claim order, one request each', () => {
    const out = stockBatches(['a', 'b', 'c', 'd', 'e'].map(row), { limits: limits(2) });
    expect(out.map(refsOf)).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    expect(out.map((b) => b.requests)).toEqual([1, 1, 1]);
  });

  it("with a key: a key's rows stay in one call, keys packed in the order of their most urgent row", () => {
    const rows = ['p2:1', 'p1:1', 'p2:2', 'p3:1', 'p1:2', 'p2:3'].map(row);
    const byKey = { stockBatchKey: productKey };
    const four = stockBatches(rows, { limits: limits(4), ...byKey });
    expect(four.map(refsOf)).toEqual([
      ['p2:1', 'p2:2', 'p2:3'],
      ['p1:1', 'p1:2', 'p3:1'],
    ]);
    expect(four.map((b) => b.requests)).toEqual([1, 2]);
    // A key with more rows than a request takes is split; the second part comes in its place.
    const two = stockBatches(rows, { limits: limits(2), ...byKey });
    expect(two.map(refsOf)).toEqual([
      ['p2:1', 'p2:2'],
      ['p1:1', 'p1:2'],
      ['p3:1', 'p2:3'],
    ]);
    expect(two.map((b) => b.requests)).toEqual([1, 1, 2]);
    // At most a quarter of an interval's requests in one call.
    const capped = stockBatches(['a:1', 'b:1', 'c:1'].map(row), { limits: limits(50, 8), ...byKey });
    expect(capped.map((b) => b.requests)).toEqual([2, 1]);
  });

  it('keeps every row once, within both limits, with the requests pushStock will make', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 40 })), {
          selector: ([p, s]) => `${p}:${s}`,
          maxLength: 60,
        }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 16 }),
        (pairs, size, cap) => {
          const rows = pairs.map(([p, s]) => row(`${p}:${s}`));
          const connector = { limits: limits(size, cap), stockBatchKey: productKey };
          const out = stockBatches(rows, connector);
          expect(out.flatMap(refsOf).sort()).toEqual(rows.map((r) => r.stock_ref).sort());
          for (const batch of out) {
            expect(batch.rows.length).toBeGreaterThan(0);
            expect(batch.rows.length).toBeLessThanOrEqual(size);
            expect(batch.requests).toBeLessThanOrEqual(Math.max(1, Math.floor(cap / 4)));
            const listings = batch.rows.map((r) => ({ listingId: r.stock_ref }));
            expect(pushRequests(listings, connector)).toBe(batch.requests);
          }
          // A key with no more rows than one request takes is never split over two calls.
          const counts = new Map<string, number>();
          for (const r of rows)
            counts.set(
              productKey({ listingId: r.stock_ref }),
              (counts.get(productKey({ listingId: r.stock_ref })) ?? 0) + 1,
            );
          for (const [key, n] of counts) {
            if (n > size) continue;
            const holding = out.filter((b) =>
              b.rows.some((r) => productKey({ listingId: r.stock_ref }) === key),
            );
            expect(holding.length).toBe(1);
          }
        },
      ),
    );
  });
});

describe('pushRequests', () => {
  it('counts one request per key and maxStockBatch, or per maxStockBatch without a key', () => {
    const listings = ['p1:1', 'p1:2', 'p1:3', 'p2:1'].map((listingId) => ({ listingId }));
    expect(pushRequests(listings, { limits: limits(2), stockBatchKey: productKey })).toBe(3);
    expect(pushRequests(listings, { limits: limits(50), stockBatchKey: productKey })).toBe(2);
    expect(pushRequests(listings, { limits: limits(3) })).toBe(2);
  });
});

describe('requestsPerRound', () => {
  it('is about 2 s of the rate limit, at least one', () => {
    expect(requestsPerRound(limits(1, 10, 1000))).toBe(20);
    expect(requestsPerRound(limits(250, 2, 1000))).toBe(4);
    expect(requestsPerRound(limits(1, 1, 60_000))).toBe(1);
  });
});
