import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { BackgroundLoop } from '../../src/sync/background-loop.js';

const log = createLogger({ level: 'silent', pretty: false });

describe('BackgroundLoop', () => {
  it('with minGapMs, wake-ups arriving in a trickle are taken together, steps at least the gap apart', async () => {
    const starts: number[] = [];
    let pending = 0;
    const taken: number[] = [];
    const loop = new BackgroundLoop(
      'test',
      async () => {
        starts.push(performance.now());
        taken.push(pending);
        pending = 0;
        return false;
      },
      log,
      { idleMs: 10_000, minGapMs: 60 },
    );
    loop.start();
    // Three bursts of ten wake-ups, 20 ms apart (the loop's first step ran at start): they wait
    // for the gap and are taken together, in at most three steps.
    for (let burst = 0; burst < 3; burst++) {
      for (let i = 0; i < 10; i++) {
        pending++;
        loop.wake();
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 150));
    await loop.stop();
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(55);
    expect(taken.reduce((a, b) => a + b, 0)).toBe(30);
    expect(taken.filter((n) => n > 0).length).toBeLessThanOrEqual(3);
  });

  it('a gap given as a function is asked before each step: it can follow the load', async () => {
    const starts: number[] = [];
    let busy = false;
    const loop = new BackgroundLoop(
      'test',
      async () => {
        starts.push(performance.now());
        await new Promise((r) => setTimeout(r, 2)); // a step takes a little time
        return true; // always more: only the gap spaces the steps
      },
      log,
      { idleMs: 10_000, minGapMs: () => (busy ? 80 : 0) },
    );
    loop.start();
    await new Promise((r) => setTimeout(r, 60));
    const quiet = starts.length;
    busy = true;
    await new Promise((r) => setTimeout(r, 60));
    const switched = starts.length;
    await new Promise((r) => setTimeout(r, 300));
    await loop.stop();
    // No gap: a step every few ms. Then steps at least 80 ms apart: about four in 360 ms.
    expect(quiet).toBeGreaterThan(3);
    const busyGaps = starts.slice(switched + 1).map((t, i) => t - starts[switched + i]!);
    expect(busyGaps.length).toBeGreaterThanOrEqual(2);
    expect(Math.min(...busyGaps)).toBeGreaterThanOrEqual(75);
    expect(starts.length - switched).toBeLessThanOrEqual(6);
  });

  it('without a gap, every wake-up gets its own step as soon as the previous one ends', async () => {
    let steps = 0;
    const loop = new BackgroundLoop(
      'test',
      async () => {
        steps++;
        return false;
      },
      log,
      { idleMs: 10_000 },
    );
    loop.start();
    for (let i = 0; i < 10; i++) {
      loop.wake();
      await new Promise((r) => setTimeout(r, 5));
    }
    await loop.stop();
    // Each wake-up ends the (10 s) idle sleep at once.
    expect(steps).toBeGreaterThanOrEqual(3);
  });
});
