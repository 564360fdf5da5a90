/**
 * Pushes sent as changes (Douyin: `incremental=true` with `idempotent_id`, see
 * src/sync/push-changes.ts), against the Douyin sandbox over HTTP, the pusher driven by hand:
 * - a change needs no read: units sold there and not imported stay sold;
 * - a change of unknown outcome is sent again under its key and lands once, whether the
 *   platform took it (a lost reply) or not (a timeout);
 * - a change the platform refuses (below 0), and a listing reconciliation found drifted, are
 *   set absolutely after a read.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ListingRef } from '../../connectors/contract.js';
import { createLogger } from '../../src/log.js';
import { pullShop } from '../../src/sync/pull.js';
import { planPushes } from '../../src/sync/push-plan.js';
import { pushShop } from '../../src/sync/push-send.js';
import { reconcileShop } from '../../src/sync/reconcile.js';
import { createShopConnectors } from '../../src/sync/shop-connectors.js';
import { ShopGate } from '../../src/sync/shop-gate.js';
import type { StatusReport } from '../../src/sync/status.js';
import { type Rig, startRig } from '../support/sync-rig.js';

let rig: Rig | undefined;
const gates: ShopGate[] = [];
afterEach(async () => {
  for (const g of gates.splice(0)) g.close();
  await rig?.stop();
  rig = undefined;
});

interface Row {
  desired: number;
  pushed: number;
  /** `read-back due`: pending with no unpushed change (in sync by our books). */
  state: string;
  own_since_push: number;
  held_back: number;
  attempt_key: string | null;
}

/**
 * A Douyin shop with SKU-1 (100 units), pushed absolutely, then read back (read counts start
 * after it). Pushes read back every `readBackMs` (default 60 s: not within a test) for
 * `readBackForMs` (default 15 min) after the absolute push. `onRead(f)`: f runs after each read.
 */
async function setup(
  o: { beforeFirstPush?: (r: Rig) => Promise<unknown>; readBackMs?: number; readBackForMs?: number } = {},
) {
  rig = await startRig({
    shops: [{ id: 'd', platform: 'douyin', webhooks: false }],
    skuCount: 1,
    openingStock: 100,
    sync: { enabled: false },
  });
  const r = rig;
  const log = createLogger({ level: 'silent', pretty: false });
  const plans = new Map(r.config.shops.map((s) => [s.id, s]));
  const ref = r.refs.get('d:SKU-1')!;
  const session = r.sessions.get('d')!;
  // A fresh connector and gate per push: a failed call backs the gate off, and the tests do not wait.
  let reads = 0;
  let afterRead: (() => Promise<unknown>) | undefined;
  const connector = () => {
    const sc = createShopConnectors(r.config.shops, log, { now: () => new Date() }).get('d')!;
    const read = sc.connector.readStock!.bind(sc.connector);
    sc.connector.readStock = async (refs: readonly ListingRef[]) => {
      reads++;
      const readings = await read(refs);
      await afterRead?.();
      return readings;
    };
    const gate = new ShopGate('d', sc.connector.limits);
    gates.push(gate);
    return { sc, gate };
  };
  const pushes = () =>
    session
      .stockPushes()
      .filter((p) => p.listing.listingId === ref.listingId)
      .map((p) => p.quantity);
  const row = async () =>
    (
      await r.q<Row>(
        `SELECT desired, pushed, held_back, attempt_key,
                CASE WHEN status = 'pending' AND pending_since IS NULL THEN 'read-back due'
                     ELSE status::text END AS state,
                own_since_push + (SELECT COALESCE(SUM(n), 0)::int FROM stock_push_sale) AS own_since_push
         FROM stock_push`,
      )
    )[0]!;
  const plan = () => planPushes(r.daemon.inventory, plans);
  const push = async () => {
    const c = connector();
    return pushShop(r.daemon.inventory, c.sc, c.gate, {
      maxAttempts: 8,
      changeReadBackMs: o.readBackMs ?? 60_000,
      changeReadBackForMs: o.readBackForMs ?? 900_000,
    });
  };
  /** Imports the shop's orders (a pull and the inbox), then plans. */
  const importOrders = async () => {
    await pullShop(r.daemon.inventory, r.daemon.orders, connector().sc);
    await r.daemon.orders.processBatch(100);
    await plan();
  };
  const receive = async (key: string, quantity: number) => {
    await r.daemon.inventory.ledger.receive({
      key,
      skuId: r.skus.get('SKU-1')!,
      warehouseId: r.warehouseId,
      quantity,
    });
    await plan();
  };
  /** Due now: a failed push backs the row off, and the tests do not wait. */
  const due = () => r.q(`UPDATE stock_push SET next_attempt_at = now()`);
  await o.beforeFirstPush?.(r);
  await plan();
  await push(); // the first push is absolute: nothing was pushed before
  expect(session.quantity(ref)).toBe(100);
  // Then a read-back (the platform shows 100: nothing written): our books start from it.
  await r.q(`UPDATE stock_push SET status = 'pending', next_attempt_at = now()`);
  expect(await push()).toMatchObject({ sent: 0, synced: 1 });
  expect(reads).toBe(1);
  reads = 0;
  const onRead = (f: () => Promise<unknown>) => {
    afterRead = f;
  };
  return { r, ref, session, pushes, row, plan, push, importOrders, receive, due, onRead, reads: () => reads };
}

describe('pushes sent as changes (Douyin)', () => {
  it('needs no read: units sold there and not imported stay sold', async () => {
    const t = await setup();
    await t.receive('more', 10); // desired 110
    const orderId = await t.session.sell(t.ref, 3); // the platform shows 97; not imported
    expect((await t.push()).sent).toBe(1);
    expect(t.session.quantity(t.ref)).toBe(107); // +10, not set to 110
    expect(await t.row()).toMatchObject({
      desired: 110,
      pushed: 110,
      state: 'read-back due',
      attempt_key: null,
    });
    // In sync by our books: the admin API and the status report count it synced, not waiting.
    const api = async (query: string) =>
      ((await (await fetch(`${t.r.daemon.url}/api/push?${query}`)).json()) as { items: { status: string }[] })
        .items;
    expect((await api('shopId=d')).map((i) => i.status)).toEqual(['synced']);
    expect(await api('status=pending')).toEqual([]);
    expect(await api('status=synced')).toHaveLength(1);
    const report = (await (await fetch(`${t.r.daemon.url}/status`)).json()) as StatusReport;
    expect(report.shops[0]!.push).toMatchObject({ pending: 0, synced: 1, oldestPendingSeconds: null });

    // The order arrives: the ledger agrees with the platform, and nothing is sent.
    await t.importOrders();
    expect(await t.row()).toMatchObject({ desired: 107, own_since_push: 3 });
    expect((await t.push()).sent).toBe(0);
    expect(await t.row()).toMatchObject({
      desired: 107,
      pushed: 107,
      own_since_push: 0,
      state: 'read-back due',
    });

    // The buyer cancels: the platform gives the 3 back, so does the ledger; nothing is sent.
    await t.session.cancel(orderId);
    await t.importOrders();
    expect((await t.push()).sent).toBe(0);
    expect(t.session.quantity(t.ref)).toBe(110);
    expect(await t.row()).toMatchObject({
      desired: 110,
      pushed: 110,
      own_since_push: 0,
      state: 'read-back due',
    });

    expect(t.pushes()).toEqual([100, 107]);
    expect(t.reads()).toBe(0);
    expect(await t.r.daemon.inventory.verify()).toMatchObject({ ok: true });
  });

  for (const fault of ['lost reply', 'timeout'] as const) {
    it(`sends a change of unknown outcome (${fault}) again under its key: it lands once`, async () => {
      const t = await setup();
      await t.receive('more', 10); // desired 110
      t.session.faults(fault === 'lost reply' ? { rateLost: 1 } : { rateTimeout: 1, timeoutMs: 50 });
      const failed = await t.push();
      t.session.faults(null);
      expect(failed.error).toBeTruthy();
      // The platform took it (lost reply) or not (timeout); the row cannot tell and keeps its change.
      expect(t.session.quantity(t.ref)).toBe(fault === 'lost reply' ? 110 : 100);
      const { attempt_key: key } = await t.row();
      expect(key).toEqual(expect.any(String));

      // More stock arrives meanwhile: the old change goes first, under its key, then the new one.
      await t.receive('even-more', 5); // desired 115
      await t.due();
      await t.push();
      expect(t.session.quantity(t.ref)).toBe(110);
      expect(await t.row()).toMatchObject({ pushed: 110, attempt_key: null, state: 'pending' });
      await t.push();
      expect(t.session.quantity(t.ref)).toBe(115);
      expect(await t.row()).toMatchObject({
        desired: 115,
        pushed: 115,
        state: 'read-back due',
        attempt_key: null,
      });
      // Applied once each: the resend of a change the platform had taken changed nothing.
      expect(t.pushes()).toEqual([100, 110, 115]);
      expect(t.reads()).toBe(0);
    });
  }

  it('reads a listing back within changeReadBackMs of a change sent without a read: a sale an absolute push erased is set right', async () => {
    const t = await setup({
      readBackMs: 1500,
      // Sold before the first push and imported after it: the absolute push gave its 2 units back there.
      beforeFirstPush: (r) => r.sessions.get('d')!.sell(r.refs.get('d:SKU-1')!, 2),
    });
    expect(t.session.quantity(t.ref)).toBe(100);
    await t.r.q(`UPDATE stock_push SET read_back_at = now()`); // read back just now
    await t.importOrders(); // desired 98, and 2 sold there since our push, by our books
    expect(await t.push()).toMatchObject({ sent: 0 }); // nothing to change, by our books
    expect(t.reads()).toBe(0);
    expect(t.session.quantity(t.ref)).toBe(100); // 2 more than there are
    const [due] = await t.r.q<{ gap: number }>(
      `SELECT (EXTRACT(EPOCH FROM next_attempt_at - read_back_at) * 1000)::int AS gap FROM stock_push`,
    );
    expect(due!.gap).toBe(1500);
    expect(await t.row()).toMatchObject({ desired: 98, pushed: 98, state: 'read-back due' });
    expect(await t.push()).toMatchObject({ sent: 0 }); // not due yet
    expect(t.reads()).toBe(0);

    await new Promise((r) => setTimeout(r, 1600));
    expect(await t.push()).toMatchObject({ sent: 1 });
    expect(t.reads()).toBe(1);
    expect(t.session.quantity(t.ref)).toBe(98);
    expect(await t.row()).toMatchObject({ desired: 98, pushed: 98, state: 'synced' });
    expect(t.pushes()).toEqual([100, 98]);
  });

  it('a change read first whose reply was lost keeps its held-back units exact while their orders arrive', async () => {
    const t = await setup();
    await t.session.sell(t.ref, 3); // the platform shows 97; not imported
    await t.r.q(`UPDATE stock_push SET read_back_at = NULL`); // due for a read
    await t.receive('more', 10); // desired 110
    // Read 97: 3 sold there, held back; +10 sent, applied, its answer lost.
    t.onRead(async () => {
      t.onRead(async () => {});
      t.session.faults({ rateLost: 1 });
    });
    await t.push();
    t.session.faults(null);
    expect(t.session.quantity(t.ref)).toBe(107);
    expect(await t.row()).toMatchObject({ held_back: 0, attempt_key: expect.any(String) });
    // The order of the 3 arrives before the change is sent again and booked.
    await t.importOrders(); // desired 107
    await t.due();
    await t.push(); // sent again under its key: applied once, booked with its 3 held back
    await t.due();
    await t.push(); // the 3 arrived: nothing outstanding, nothing to send
    expect(t.session.quantity(t.ref)).toBe(107);
    expect(await t.row()).toMatchObject({
      desired: 107,
      pushed: 107,
      held_back: 0,
      own_since_push: 0,
      attempt_key: null,
    });
    expect(t.pushes()).toEqual([100, 107]);
  });

  it('a push read first sends a change too: a sale between the read and the write stays sold', async () => {
    const t = await setup();
    await t.r.q(`UPDATE stock_push SET read_back_at = NULL`); // due for a read
    await t.receive('more', 10); // desired 110
    let orderId = '';
    t.onRead(async () => {
      t.onRead(async () => {});
      orderId = await t.session.sell(t.ref, 1); // sold there after our read, before our write
    });
    expect(await t.push()).toMatchObject({ sent: 1 });
    expect(t.reads()).toBe(1);
    // The platform read 100, sold 1, then took +10: 109. An absolute 110 would have sold it twice.
    expect(t.session.quantity(t.ref)).toBe(109);
    expect(await t.row()).toMatchObject({ desired: 110, pushed: 110, held_back: 0 });
    // The order arrives: the ledger agrees (109) and nothing is sent.
    await t.importOrders();
    expect(orderId).not.toBe('');
    expect((await t.push()).sent).toBe(0);
    expect(t.session.quantity(t.ref)).toBe(109);
    expect(await t.row()).toMatchObject({ desired: 109, pushed: 109, own_since_push: 0 });
    expect(t.pushes()).toEqual([100, 109]);
    expect(t.reads()).toBe(1);
  });

  it('reads back only for changeReadBackForMs after the last absolute write: later, a listing in sync is synced', async () => {
    const t = await setup({ readBackForMs: 1000 });
    await new Promise((r) => setTimeout(r, 1100));
    await t.receive('more', 5); // desired 105
    expect(await t.push()).toMatchObject({ sent: 1 });
    expect(t.session.quantity(t.ref)).toBe(105);
    expect(await t.row()).toMatchObject({ desired: 105, pushed: 105, state: 'synced' });
    expect(t.reads()).toBe(0);
  });

  it('sends a refused change (below 0) again after a read, holding back what sold there', async () => {
    const t = await setup();
    await t.session.sell(t.ref, 99); // the platform shows 1; not imported
    await t.r.daemon.inventory.ledger.adjust({
      key: 'damaged',
      skuId: t.r.skus.get('SKU-1')!,
      warehouseId: t.r.warehouseId,
      delta: -50,
      reason: 'water damage',
    });
    await t.plan(); // desired 50: a change of -50 would take the platform below 0
    await t.push();
    expect(t.reads()).toBe(1);
    // 99 sold there and not imported: of the 50 left, none can be offered.
    expect(t.session.quantity(t.ref)).toBe(0);
    expect(await t.row()).toMatchObject({ desired: 50, pushed: 0, held_back: 50, attempt_key: null });
    expect(t.pushes()).toEqual([100, 0]);
  });

  it('reads a listing reconciliation found drifted before its change, then goes back to changes', async () => {
    const t = await setup();
    t.session.setQuantity(t.ref, 90); // lowered by hand (or 10 sold and not imported)
    const c = createShopConnectors(t.r.config.shops, createLogger({ level: 'silent', pretty: false }), {
      now: () => new Date(),
    }).get('d')!;
    const gate = new ShopGate('d', c.connector.limits);
    gates.push(gate);
    const report = await reconcileShop(t.r.daemon.inventory, c, t.r.config.shops[0]!, gate, {
      heldBackGraceMs: 60_000,
    });
    expect(report.drifted).toBe(1);
    await t.receive('more', 5); // desired 105
    await t.push();
    expect(t.reads()).toBe(1);
    // The 10 may be sales not imported yet: held back, and 95 set.
    expect(t.session.quantity(t.ref)).toBe(95);
    expect(await t.row()).toMatchObject({ desired: 105, pushed: 95, held_back: 10 });

    await t.receive('again', 5); // desired 110
    await t.push();
    expect(t.reads()).toBe(1);
    expect(t.session.quantity(t.ref)).toBe(100);
    expect(await t.row()).toMatchObject({ desired: 110, pushed: 100, held_back: 10 });
    expect(t.pushes()).toEqual([100, 95, 100]);
  });
});
