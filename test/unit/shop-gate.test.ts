import { describe, expect, it } from 'vitest';
import { ConnectorConfigError, RateLimitedError } from '../../connectors/contract.js';
import { GATE_PRIORITY, ShopGate } from '../../src/sync/shop-gate.js';

const limits = { concurrency: 1, intervalCap: 100, intervalMs: 1000, maxStockBatch: 1 };

describe('ShopGate', () => {
  it('runs queued calls by priority: pushes, then pulls, then read-backs; in arrival order within one', async () => {
    const gate = new ShopGate('s', limits);
    const order: string[] = [];
    let release!: () => void;
    const first = gate.run(() => new Promise<void>((r) => (release = r)));
    const queued = [
      gate.run(async () => void order.push('read 1')),
      gate.run(async () => void order.push('pull 1'), GATE_PRIORITY.pull),
      gate.run(async () => void order.push('push 1'), GATE_PRIORITY.push),
      gate.run(async () => void order.push('read 2'), GATE_PRIORITY.read),
      gate.run(async () => void order.push('push 2'), GATE_PRIORITY.push),
    ];
    release();
    await Promise.all([first, ...queued]);
    expect(order).toEqual(['push 1', 'push 2', 'pull 1', 'read 1', 'read 2']);
    gate.close();
  });

  it("a call that makes several requests takes that many of the interval's slots", async () => {
    const gate = new ShopGate('s', { concurrency: 4, intervalCap: 3, intervalMs: 300, maxStockBatch: 1 });
    const t0 = performance.now();
    const started: number[] = [];
    const mark = async () => void started.push(performance.now() - t0);
    // 3 slots per 300 ms: a call of 3 requests fills the first interval, so the next call waits.
    await Promise.all([gate.run(mark, GATE_PRIORITY.push, 3), gate.run(mark, GATE_PRIORITY.push)]);
    expect(started[0]!).toBeLessThan(250);
    expect(started[1]!).toBeGreaterThanOrEqual(250);
    // One request each: both fit in one interval.
    const t1 = performance.now();
    const quick: number[] = [];
    await new Promise((r) => setTimeout(r, 320));
    await Promise.all([1, 2].map(() => gate.run(async () => void quick.push(performance.now() - t1))));
    expect(Math.max(...quick) - Math.min(...quick)).toBeLessThan(250);
    gate.close();
  });

  it('pushes that have had their share of recent requests wait behind the calls already waiting', async () => {
    const gate = new ShopGate('s', limits);
    const order: string[] = [];
    // Pushes only, nothing else waiting: they all go at once.
    for (let i = 0; i < 4; i++) await gate.run(async () => void order.push(`push ${i}`), GATE_PRIORITY.push);
    let release!: () => void;
    const blocker = gate.run(() => new Promise<void>((r) => (release = r)), GATE_PRIORITY.push);
    const waiting = [
      gate.run(async () => void order.push('pull'), GATE_PRIORITY.pull),
      gate.run(async () => void order.push('push after'), GATE_PRIORITY.push),
    ];
    release();
    await Promise.all([blocker, ...waiting]);
    expect(order.slice(4)).toEqual(['pull', 'push after']);
    // Under its share, a push still goes first.
    const fresh = new ShopGate('t', limits);
    const seen: string[] = [];
    let open!: () => void;
    const first = fresh.run(() => new Promise<void>((r) => (open = r)), GATE_PRIORITY.read);
    const queued = [
      fresh.run(async () => void seen.push('pull'), GATE_PRIORITY.pull),
      fresh.run(async () => void seen.push('push'), GATE_PRIORITY.push),
    ];
    open();
    await Promise.all([first, ...queued]);
    expect(seen).toEqual(['push', 'pull']);
    gate.close();
    fresh.close();
  });

  it('failedWith: refused credentials do not back the shop off, other failures do, a throttle holds it for its wait', () => {
    const gate = new ShopGate('s', limits);
    expect(gate.failedWith(new ConnectorConfigError('bad key', { platform: 'x', reason: 'test' }))).toEqual({
      action: 'config_error',
      waitMs: 0,
    });
    expect(gate.waitMs()).toBe(0);
    const other = gate.failedWith(new Error('socket hang up'));
    expect(other.action).toBe('retry');
    expect(other.waitMs).toBeGreaterThan(0);
    expect(gate.waitMs()).toBeGreaterThan(0);
    gate.succeeded();
    expect(gate.waitMs()).toBe(0);
    expect(gate.failedWith(new RateLimitedError('429', { platform: 'x', reason: 'test' }, 3000))).toEqual({
      action: 'rate_limited',
      waitMs: 3000,
    });
    expect(gate.waitMs()).toBeGreaterThan(2000);
    gate.close();
  });
});
