import { describe, expect, it } from 'vitest';
import { InboxBatchSize } from '../../src/sync/inbox-batch.js';

describe('InboxBatchSize', () => {
  it('without a time budget always claims the most', () => {
    const s = new InboxBatchSize(500, null);
    expect(s.next).toBe(500);
    s.record(500, 10_000);
    expect(s.next).toBe(500);
  });

  it('with a budget starts small, grows while batches are fast, and settles near the budget', () => {
    const s = new InboxBatchSize(500, 100, 20);
    expect(s.next).toBe(20);
    // 1 ms per event: the budget fits 100 events; the size moves half way each batch.
    const sizes: number[] = [];
    for (let i = 0; i < 12; i++) {
      const n = s.next;
      s.record(n, n * 1);
      sizes.push(s.next);
    }
    expect(sizes[0]).toBe(60);
    expect(sizes.every((n, i) => i === 0 || n >= sizes[i - 1]!)).toBe(true);
    expect(sizes.at(-1)).toBeGreaterThanOrEqual(99);
    expect(sizes.at(-1)).toBeLessThanOrEqual(100);
  });

  it('shrinks after slow batches, never below the least or above the most', () => {
    const s = new InboxBatchSize(500, 100, 20);
    for (let i = 0; i < 10; i++) s.record(s.next, 0); // instant: up to the most
    expect(s.next).toBe(500);
    s.record(500, 5000); // 10 ms per event: 10 would fit, the least is 20
    expect(s.next).toBe(260);
    for (let i = 0; i < 10; i++) s.record(s.next, s.next * 10);
    expect(s.next).toBe(20);
  });

  it('ignores batches too small to measure', () => {
    const s = new InboxBatchSize(500, 100, 20);
    s.record(3, 3000);
    s.record(19, 1);
    expect(s.next).toBe(20);
  });
});
