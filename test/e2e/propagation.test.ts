/**
 * Propagation latency over real HTTP: a buyer's order accepted by sandbox A (announced by its
 * signed webhook) until sandboxes B and C have received the new quantity. Measured and printed
 * (the README quotes it); what is asserted is that every round arrives, with the right value.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../support/e2e.js';
import { type Rig, startRig } from '../support/sync-rig.js';

const A = 'shopify-a';
const B = 'tmall-b';
const C = 'douyin-c';
const ROUNDS = Number(process.env.PROPAGATION_ROUNDS ?? 30);
let rig: Rig;

beforeAll(async () => {
  rig = await startRig({
    shops: [
      { id: A, platform: 'shopify', seed: 1 },
      { id: B, platform: 'taobao', seed: 2 },
      { id: C, platform: 'douyin', seed: 3 },
    ],
    skuCount: 3,
    openingStock: 1000,
    // Only the webhooks carry orders here: no scheduled pull hides the latency.
    sync: { pullCron: '0 0 0 1 1 *' },
  });
});
afterAll(async () => rig?.stop());

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe('propagation latency', () => {
  it('every order on A reaches the quantities shown by B and C, and the latency is printed', async () => {
    for (const shop of [A, B, C])
      for (const sku of ['SKU-1', 'SKU-2', 'SKU-3'])
        await until(
          `${shop} ${sku} 1000`,
          () => rig.platformQuantity(shop, sku),
          (q) => q === 1000,
        );
    const latencies = { [B]: [] as number[], [C]: [] as number[] };
    let expected = 1000;
    for (let i = 0; i < ROUNDS; i++) {
      const sku = 'SKU-1';
      const t0 = performance.now();
      await rig.sessions.get(A)!.sell(rig.refs.get(`${A}:${sku}`)!, 1, { notify: true });
      expected--;
      const seen = new Map<string, number>();
      while (seen.size < 2) {
        for (const shop of [B, C])
          if (!seen.has(shop) && rig.platformQuantity(shop, sku) === expected)
            seen.set(shop, performance.now() - t0);
        if (performance.now() - t0 > 30_000)
          throw new Error(
            `round ${i}: quantity ${expected} not seen by ${[B, C].filter((s) => !seen.has(s))}`,
          );
        await new Promise((r) => setTimeout(r, 2));
      }
      latencies[B].push(seen.get(B)!);
      latencies[C].push(seen.get(C)!);
    }
    const lines: string[] = [];
    for (const [shop, values] of Object.entries(latencies)) {
      const s = [...values].sort((a, b) => a - b);
      lines.push(
        `${shop}: p50 ${percentile(s, 50).toFixed(0)} ms, p95 ${percentile(s, 95).toFixed(0)} ms, max ${s.at(-1)!.toFixed(0)} ms`,
      );
    }
    console.log(
      `propagation over ${ROUNDS} orders (${rig.daemon.db.kind}), order on ${A} -> quantity on ${lines.join('; ')}`,
    );
    // A itself is not pushed back the unit it sold.
    await until(
      'A settles',
      () => rig.platformQuantity(A, 'SKU-1'),
      (q) => q === expected,
    );
    expect(await rig.daemon.inventory.verify()).toMatchObject({ ok: true });
  });
});
