import { afterEach, describe, expect, it } from 'vitest';
import { ProcessMonitor } from '../../src/process-stats.js';

const block = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ProcessMonitor', () => {
  let m: ProcessMonitor | undefined;
  afterEach(() => m?.stop());

  it('reports how long the event loop was blocked, and the memory in use', async () => {
    m = new ProcessMonitor();
    await tick(50);
    block(150);
    await tick(50);
    const s = m.stats();
    expect(s.eventLoopDelay.max).toBeGreaterThanOrEqual(120);
    expect(s.eventLoopDelay.p50).toBeLessThan(s.eventLoopDelay.max);
    expect(s.rssMb).toBeGreaterThan(s.heapUsedMb);
    expect(s.heapUsedMb).toBeGreaterThan(0);
  });

  it('reports the last full window once there is one, so an old stall ages out', async () => {
    m = new ProcessMonitor(3_600_000);
    await tick(20);
    block(150);
    await tick(20);
    m.rotate(); // the stall's window closes
    expect(m.stats().eventLoopDelay.max).toBeGreaterThanOrEqual(120);
    await tick(100);
    m.rotate(); // the next one saw no stall
    expect(m.stats().eventLoopDelay.max).toBeLessThan(100);
    expect(m.stats().eventLoopDelay.windowSeconds).toBeLessThanOrEqual(1);
  });
});
