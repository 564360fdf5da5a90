import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { overlapDue } from '../../src/sync/pull.js';

const MIN = 60_000;

describe('overlapDue: when a scheduled pull re-reads the overlap', () => {
  it('always before the first such pull', () => {
    expect(overlapDue(undefined, 0, 10 * MIN)).toBe(true);
  });

  it('a quiet shop: every schedule (its overlap pull took a few calls)', () => {
    expect(overlapDue({ started: 0, tookMs: 200 }, 30_000, 10 * MIN)).toBe(true);
  });

  it('a busy shop: not until five times the last one took, at most half the overlap', () => {
    const last = { started: 0, tookMs: 20_000 };
    expect(overlapDue(last, 30_000, 10 * MIN)).toBe(false);
    expect(overlapDue(last, 99_999, 10 * MIN)).toBe(false);
    expect(overlapDue(last, 100_000, 10 * MIN)).toBe(true);
    // A pull that took ten minutes still leaves no instant un-re-read: due after five.
    expect(overlapDue({ started: 0, tookMs: 10 * MIN }, 5 * MIN, 10 * MIN)).toBe(true);
  });

  it('never waits longer than half the overlap, nor re-reads more than a fifth of the time', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3_600_000 }),
        fc.integer({ min: 0, max: 3_600_000 }),
        fc.integer({ min: 1, max: 24 * 3_600_000 }),
        (tookMs, elapsed, overlapMs) => {
          const due = overlapDue({ started: 1_000, tookMs }, 1_000 + elapsed, overlapMs);
          if (elapsed >= overlapMs / 2) expect(due).toBe(true);
          if (elapsed < overlapMs / 2 && elapsed < 5 * tookMs) expect(due).toBe(false);
        },
      ),
    );
  });
});
