/**
 * The order in which a pusher works through a backlog, on a platform that takes one SKU per
 * call (JD, 10 calls/s): a round claims about 2 s of calls (claimSize), most urgent first,
 * so a listing sold out in the ledger and still shown for sale is pushed before listings that
 * merely gained stock, unless those have waited 30 s longer (its head start). On a platform
 * whose batch call is per product (Douyin), a round sends one product's SKUs per request, the
 * product of the most urgent listing first.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { claimSize, requestsPerRound } from '../../src/sync/push-batches.js';
import { planPushes } from '../../src/sync/push-plan.js';
import { pushShop } from '../../src/sync/push-send.js';
import { createShopConnectors } from '../../src/sync/shop-connectors.js';
import { ShopGate } from '../../src/sync/shop-gate.js';
import { type Rig, startRig } from '../support/sync-rig.js';

let rig: Rig | undefined;
let gate: ShopGate | undefined;
afterEach(async () => {
  gate?.close();
  await rig?.stop();
  rig = undefined;
});

/**
 * One shop of `platform` (no webhooks, the sync engine off), its connector and gate, and the
 * planner and pusher run by hand: `plan` until nothing is dirty, `drain` until nothing is sent.
 */
async function pusherRig(platform: 'jd' | 'douyin') {
  const r = await startRig({
    shops: [{ id: 'd', platform, webhooks: false }],
    openingStock: 100,
    sync: { enabled: false },
  });
  const log = createLogger({ level: 'silent', pretty: false });
  rig = r;
  const sc = createShopConnectors(r.config.shops, log, { now: () => new Date() }).get('d')!;
  const g = new ShopGate('d', sc.limits);
  gate = g;
  const plans = new Map(r.config.shops.map((s) => [s.id, s]));
  const plan = async () => {
    while ((await planPushes(r.daemon.inventory, plans)).skus > 0);
  };
  const drain = async () => {
    while ((await pushShop(r.daemon.inventory, sc, g, { maxAttempts: 8 })).sent > 0);
  };
  return { rig: r, gate: g, sc, plan, drain };
}

describe('pusher backlog order', () => {
  it('pushes the listings closest to selling out first, about 2 s of calls per round', async () => {
    const { rig, gate, sc, plan, drain } = await pusherRig('jd');
    const size = claimSize(sc.limits);
    expect(sc.limits.maxStockBatch).toBe(1);
    expect(size).toBe(20);
    // The sandbox's catalog has 10 SKUs: rounds of 4 here stand for rounds of 20.
    const skus = [...rig.skus.keys()];
    const limit = 4;
    expect(skus.length).toBeGreaterThan(limit + 2);
    await plan();
    await drain();
    const session = rig.sessions.get('d')!;
    const before = session.stockPushes().length;

    // Every listing gains a unit; then two SKUs run low, the last one out.
    const move = (sku: string, delta: number) =>
      rig!.daemon.inventory.ledger.adjust({
        key: `move-${sku}-${delta}`,
        skuId: rig!.skus.get(sku)!,
        warehouseId: rig!.warehouseId,
        delta,
        reason: 'push order test',
      });
    for (const sku of skus) await move(sku, 1);
    await plan();
    const low = skus.at(-2)!;
    const out = skus.at(-1)!;
    await move(low, -96); // 5 left: shows 101 meanwhile
    await move(out, -101); // none left: shows 101 meanwhile
    await plan();
    // One listing has waited two minutes, more than any head start: it goes before them all.
    const waited = skus[3]!;
    await rig.q(`UPDATE stock_push SET pending_since = now() - interval '2 minutes'
                 WHERE listing_id = (SELECT id FROM listing WHERE sku_id = ${rig.skus.get(waited)})`);

    const round = await pushShop(rig.daemon.inventory, sc, gate, { maxAttempts: 8, limit });
    expect(round.sent).toBe(limit);
    const sent = session.stockPushes().slice(before);
    const refOf = (sku: string) => rig!.refs.get(`d:${sku}`)!.listingId;
    // The one that waited, then the sold-out one, the low one, then the rest by age.
    expect(sent.slice(0, 3).map((p) => [p.listing.listingId, p.quantity])).toEqual([
      [refOf(waited), 101],
      [refOf(out), 0],
      [refOf(low), 5],
    ]);
    expect(sent.slice(3).every((p) => p.quantity === 101)).toBe(true);
    // A round sends its budget of requests (about 2 s of calls) and gives the rest of its claim
    // back at once: the next round takes it, without waiting for the claim's lease.
    expect(requestsPerRound(sc.connector.limits)).toBe(20);
    const pending = async () =>
      (await rig!.q<{ n: number }>(`SELECT count(*)::int AS n FROM stock_push WHERE status = 'pending'`))[0]!
        .n;
    const left = await pending();
    expect(left).toBeGreaterThan(2);
    const budgeted = await pushShop(rig.daemon.inventory, sc, gate, { maxAttempts: 8, requests: 2 });
    expect(budgeted.sent).toBe(2);
    expect(await pending()).toBe(left - 2);
    const next = await pushShop(rig.daemon.inventory, sc, gate, { maxAttempts: 8, requests: 2 });
    expect(next.sent).toBe(2);
    await drain();
    for (const sku of skus) {
      expect(rig.platformQuantity('d', sku)).toBe(sku === out ? 0 : sku === low ? 5 : 101);
    }
  });
  it("sends one product's SKUs per request on Douyin, the most urgent product first", async () => {
    const { rig, gate, sc, plan, drain } = await pusherRig('douyin');
    await plan();
    await drain();
    const session = rig.sessions.get('d')!;
    const skus = [...rig.skus.keys()];
    const productOf = (sku: string) => rig!.refs.get(`d:${sku}`)!.listingId.split(':')[0]!;
    const products = new Set(skus.map(productOf));
    expect(products.size).toBeGreaterThan(1);
    expect(products.size).toBeLessThan(skus.length);

    for (const sku of skus)
      await rig.daemon.inventory.ledger.adjust({
        key: `gain-${sku}`,
        skuId: rig.skus.get(sku)!,
        warehouseId: rig.warehouseId,
        delta: 1,
        reason: 'push order test',
      });
    const out = skus[skus.length - 1]!;
    await rig.daemon.inventory.ledger.adjust({
      key: `out-${out}`,
      skuId: rig.skus.get(out)!,
      warehouseId: rig.warehouseId,
      delta: -101,
      reason: 'push order test',
    });
    await plan();

    // One round: every product's SKUs in one request (recorded together), the sold-out
    // listing's product first.
    const before = session.stockPushes().length;
    const round = await pushShop(rig.daemon.inventory, sc, gate, { maxAttempts: 8 });
    expect(round.sent).toBe(skus.length);
    const sent = session.stockPushes().slice(before);
    const order = sent.map((p) => p.listing.listingId.split(':')[0]!);
    const runs = order.filter((p, k) => k === 0 || p !== order[k - 1]);
    expect(runs).toEqual([...new Set(order)]);
    expect(runs[0]).toBe(productOf(out));
    expect(new Set(order)).toEqual(products);
    await drain();
    for (const sku of skus) expect(rig.platformQuantity('d', sku)).toBe(sku === out ? 0 : 101);
  });
});
