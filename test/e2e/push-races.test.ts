/**
 * Races of the pusher, forced deterministically by holding a connector call open:
 * - an order applied while a guarded push is between its compare-and-set miss and its
 *   read-back must not make the pusher send the same quantity twice;
 * - a second pusher of the same shop (an old and a new lease holder overlapping) must not claim
 *   a row whose push is in flight, or both would subtract the same sales and under-list it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { StockUpdate } from '../../connectors/contract.js';
import { createLogger } from '../../src/log.js';
import { pullShop } from '../../src/sync/pull.js';
import { planPushes } from '../../src/sync/push-plan.js';
import { pushShop } from '../../src/sync/push-send.js';
import { createShopConnectors, type ShopConnector } from '../../src/sync/shop-connectors.js';
import { ShopGate } from '../../src/sync/shop-gate.js';
import { type Rig, startRig } from '../support/sync-rig.js';

let rig: Rig | undefined;
const gates: ShopGate[] = [];
afterEach(async () => {
  for (const g of gates.splice(0)) g.close();
  await rig?.stop();
  rig = undefined;
});

async function setup() {
  rig = await startRig({
    shops: [{ id: 's', platform: 'shopify', webhooks: false }],
    skuCount: 1,
    openingStock: 100,
    sync: { enabled: false },
  });
  const log = createLogger({ level: 'silent', pretty: false });
  const connector = () => {
    const sc = createShopConnectors(rig!.config.shops, log, { now: () => new Date() }).get('s')!;
    const gate = new ShopGate('s', sc.connector.limits);
    gates.push(gate);
    return { sc, gate };
  };
  const plans = new Map(rig.config.shops.map((s) => [s.id, s]));
  const ref = rig.refs.get('s:SKU-1')!;
  const session = rig.sessions.get('s')!;
  const pushes = () =>
    session
      .stockPushes()
      .filter((p) => p.listing.listingId === ref.listingId)
      .map((p) => p.quantity);
  const row = async () =>
    (
      await rig!.q<{
        desired: number;
        pushed: number;
        status: string;
        own_since_push: number;
        held_back: number;
      }>(
        // Imported sales not folded in yet (the own-sales log) count as the fold would count them.
        `SELECT desired, pushed, status::text AS status, held_back,
                own_since_push + (SELECT COALESCE(SUM(n), 0)::int FROM stock_push_sale) AS own_since_push
         FROM stock_push`,
      )
    )[0]!;
  const plan = () => planPushes(rig!.daemon.inventory, plans);
  const push = (c: { sc: ShopConnector; gate: ShopGate }) =>
    pushShop(rig!.daemon.inventory, c.sc, c.gate, { maxAttempts: 8 });
  return { connector, ref, session, pushes, row, plan, push };
}

describe('pusher races', () => {
  it('does not send the same quantity twice when an order lands during a guarded push', async () => {
    const t = await setup();
    const a = t.connector();
    await t.plan();
    await t.push(a);
    expect(t.session.quantity(t.ref)).toBe(100);
    await rig!.daemon.inventory.ledger.receive({
      key: 'more',
      skuId: rig!.skus.get('SKU-1')!,
      warehouseId: rig!.warehouseId,
      quantity: 5,
    });
    await t.plan(); // desired 105
    await t.session.sell(t.ref, 2); // the platform shows 98; the order is not imported yet
    const read = a.sc.connector.readStock!.bind(a.sc.connector);
    let hooked = false;
    a.sc.connector.readStock = async (refs) => {
      if (!hooked) {
        hooked = true;
        // The order arrives between the compare-and-set miss and the read-back.
        await pullShop(rig!.daemon.inventory, rig!.daemon.orders, a.sc);
        await rig!.daemon.orders.processBatch(100);
        await t.plan(); // desired 103
      }
      return read(refs);
    };
    await t.push(a);
    expect(await t.row()).toMatchObject({ desired: 103, pushed: 103, status: 'synced', own_since_push: 0 });
    expect((await t.push(a)).sent).toBe(0);
    expect(t.pushes()).toEqual([100, 103]);
    // The 2 units held back by that push were this order's: once its sale is folded in (the next
    // planner pass), nothing is outstanding and no grace is running.
    await t.plan();
    expect(await t.row()).toMatchObject({ own_since_push: 0, held_back: 0 });
  });

  it('a second pusher does not claim a row whose push is in flight', async () => {
    const t = await setup();
    const a = t.connector();
    const b = t.connector();
    await t.plan();
    await t.push(b);
    await t.session.sell(t.ref, 2);
    await pullShop(rig!.daemon.inventory, rig!.daemon.orders, b.sc);
    await rig!.daemon.orders.processBatch(100);
    await t.plan(); // desired 98
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let entered!: () => void;
    const inside = new Promise<void>((r) => {
      entered = r;
    });
    const send = a.sc.connector.pushStock.bind(a.sc.connector);
    a.sc.connector.pushStock = async (u: StockUpdate[]) => {
      entered();
      await held;
      return send(u);
    };
    const stepA = t.push(a); // the old holder: its call is in flight
    await inside;
    await rig!.daemon.inventory.ledger.receive({
      key: 'one-more',
      skuId: rig!.skus.get('SKU-1')!,
      warehouseId: rig!.warehouseId,
      quantity: 1,
    });
    await t.plan(); // desired 99 while A's push of 98 is in flight
    expect((await t.push(b)).sent).toBe(0);
    release();
    await stepA;
    a.sc.connector.pushStock = send;
    await t.push(b);
    expect(await t.row()).toMatchObject({ desired: 99, pushed: 99, status: 'synced', own_since_push: 0 });
    expect(t.session.quantity(t.ref)).toBe(99);
    expect(t.pushes()).toEqual([100, 98, 99]);
  });
});
