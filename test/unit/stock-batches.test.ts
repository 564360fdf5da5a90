/**
 * How a pusher round splits its claimed rows into platform requests (stockBatches) and how many
 * requests a round sends (requestsPerRound).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ListingRef, RateLimitSpec } from '../../connectors/contract.js';
import { requestsPerRound, stockBatches } from '../../src/sync/push-send.js';

const limits = (maxStockBatch: number, intervalCap = 10, intervalMs = 1000): RateLimitSpec => ({
  concurrency: 2,
  intervalCap,
  intervalMs,
  maxStockBatch,
});
const row = (ref: string) => ({ stock_ref: ref, stock_location: null });
const productKey = (l: ListingRef) => l.listingId.split(':')[0]!;

describe('stockBatches', () => {
  it('without a key: chunks of maxStockBatch in claim order', () => {
    const rows = ['a', 'b', 'c', 'd', 'e'].map(row);
    expect(stockBatches(rows, { limits: limits(2) }).map((b) => b.map((r) => r.stock_ref))).toEqual([
      ['a', 'b'],
      ['c', 'd'],
      ['e'],
    ]);
  });

  it('with a key: one key per batch, batches in the order of their most urgent row', () => {
    const rows = ['p2:1', 'p1:1', 'p2:2', 'p3:1', 'p1:2', 'p2:3'].map(row);
    const out = stockBatches(rows, { limits: limits(2), stockBatchKey: productKey });
    expect(out.map((b) => b.map((r) => r.stock_ref))).toEqual([
      ['p2:1', 'p2:2'],
      ['p1:1', 'p1:2'],
      ['p3:1'],
      ['p2:3'],
    ]);
  });

  it('keeps every row once, never mixes keys, never exceeds maxStockBatch', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 40 })), {
          selector: ([p, s]) => `${p}:${s}`,
          maxLength: 60,
        }),
        fc.integer({ min: 1, max: 7 }),
        (pairs, size) => {
          const rows = pairs.map(([p, s]) => row(`${p}:${s}`));
          const out = stockBatches(rows, { limits: limits(size), stockBatchKey: productKey });
          expect(
            out
              .flat()
              .map((r) => r.stock_ref)
              .sort(),
          ).toEqual(rows.map((r) => r.stock_ref).sort());
          for (const batch of out) {
            expect(batch.length).toBeGreaterThan(0);
            expect(batch.length).toBeLessThanOrEqual(size);
            expect(new Set(batch.map((r) => productKey({ listingId: r.stock_ref }))).size).toBe(1);
          }
          // Batches start in claim order: each batch's first row comes after the previous batch's.
          const firsts = out.map((b) => rows.indexOf(b[0]!));
          expect(firsts).toEqual([...firsts].sort((a, b) => a - b));
        },
      ),
    );
  });
});

describe('requestsPerRound', () => {
  it('is about 2 s of the rate limit, at least one', () => {
    expect(requestsPerRound(limits(1, 10, 1000))).toBe(20);
    expect(requestsPerRound(limits(250, 2, 1000))).toBe(4);
    expect(requestsPerRound(limits(1, 1, 60_000))).toBe(1);
  });
});
