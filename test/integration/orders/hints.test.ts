/**
 * Re-fetch hints (webhooks that name an order without carrying it): the inbox worker leaves
 * them to the shop's resolver, which reads each order back once and queues it by revision, or
 * lets a pull's pages settle them. Nothing a platform does (slow, failing, unknown order) holds
 * up the events that carry their orders.
 */
import axios from 'axios';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxSession } from '../../../connectors/contract.js';
import { getConnector } from '../../../connectors/registry.js';
import type { CanonicalOrderInput } from '../../../src/domain/order.js';
import { settleHints } from '../../../src/orders/inbox.js';
import { systemClock } from '../../../src/server/app.js';
import { pullShop } from '../../../src/sync/pull.js';
import { ShopGate } from '../../../src/sync/shop-gate.js';
import { type OrdersFixture, order, ordersFixture, SHOP } from '../../support/orders.js';

let f: OrdersFixture;
let hintNo = 0;

beforeAll(async () => {
  f = await ordersFixture();
  const sh = await f.warehouse('SH');
  await f.warehouse('BJ');
  await f.receive(await f.sku('TEA'), sh, 100);
});
afterAll(async () => {
  await f?.close();
});

const hint = (platformOrderId: string) =>
  f.orders.receive({
    shopId: SHOP.id,
    source: 'webhook',
    dedupeKey: `tmc-${++hintNo}`,
    topic: 'taobao_trade_TradeBuyerPay',
    payload: { refetch: platformOrderId, reason: 'test' },
    refetchOrderId: platformOrderId,
  });

const rows = (sqlText: string) => f.t.db.prisma.$queryRawUnsafe<Record<string, unknown>[]>(sqlText);
const hintStates = async (ids: readonly string[]) =>
  (
    await rows(
      `SELECT refetch_order_id AS id, status::text AS status, attempts, last_error FROM inbox_event
       WHERE refetch_order_id IN (${ids.map((id) => `'${id}'`).join(',')}) ORDER BY id`,
    )
  ).map((r) => ({ id: r.id, status: r.status, attempts: r.attempts, error: r.last_error }));

describe('re-fetch hints', () => {
  it('the inbox worker applies the orders of a batch and leaves its hints alone', async () => {
    const full = order();
    await hint('T-waiting');
    await f.orders.receive({ shopId: SHOP.id, source: 'webhook', payload: { order: full } });
    const counts = await f.orders.inboxCounts();
    expect(counts.hints).toBe(1);
    const report = await f.orders.processBatch(100);
    expect(report).toMatchObject({ claimed: 1, applied: 1 });
    expect(await f.orders.inboxCounts()).toMatchObject({ pending: counts.pending - 1, hints: 1 });
    expect(await f.orders.getOrder(SHOP.id, full.platformOrderId)).toMatchObject({ status: 'paid' });
    // Settle it so the next tests start from no pending hints.
    await f.orders.resolveHints(SHOP.id, async () => order({ platformOrderId: 'T-waiting' }), 10);
    await f.drain();
  });

  it('reads each named order back once, queues it by revision, and the worker applies it', async () => {
    const x = order({ minute: 1 });
    const y = order({ minute: 1 });
    await hint(x.platformOrderId);
    await hint(x.platformOrderId);
    await hint(y.platformOrderId);
    const calls: string[] = [];
    const platform = new Map([x, y].map((o) => [o.platformOrderId, o]));
    const fetch = async (id: string): Promise<CanonicalOrderInput | null> => {
      calls.push(id);
      return platform.get(id) ?? null;
    };
    expect(await f.orders.resolveHints(SHOP.id, fetch, 10)).toEqual({
      claimed: 3,
      orders: 2,
      stored: 2,
      retried: 0,
      parked: 0,
    });
    expect(calls.sort()).toEqual([x.platformOrderId, y.platformOrderId].sort());
    expect(await f.orders.inboxCounts()).toMatchObject({ hints: 0, due: 2 });
    await f.drain();
    expect(await f.orders.getOrder(SHOP.id, x.platformOrderId)).toMatchObject({ status: 'paid' });
    expect(await f.lineState(`${SHOP.id}:${y.platformOrderId}:L1`)).toMatchObject({ active: 2 });

    // The same revision hinted again: read back, nothing new queued; a newer one is.
    await hint(x.platformOrderId);
    expect(await f.orders.resolveHints(SHOP.id, fetch, 10)).toMatchObject({
      claimed: 1,
      orders: 1,
      stored: 0,
    });
    platform.set(x.platformOrderId, {
      ...x,
      status: 'cancelled',
      platformModifiedAt: order({ minute: 2 }).platformModifiedAt,
    });
    await hint(x.platformOrderId);
    expect(await f.orders.resolveHints(SHOP.id, fetch, 10)).toMatchObject({
      claimed: 1,
      orders: 1,
      stored: 1,
    });
    await f.drain();
    expect(await f.orders.getOrder(SHOP.id, x.platformOrderId)).toMatchObject({ status: 'cancelled' });
    expect(await f.lineState(`${SHOP.id}:${x.platformOrderId}:L1`)).toMatchObject({ active: 0, released: 2 });
  });

  it('parks a hint whose order the platform does not know; retries a failed read, then parks it', async () => {
    await hint('T-unknown');
    await hint('T-flaky');
    const fetch = async (id: string) => {
      if (id === 'T-flaky') throw new Error('platform answered 500');
      return null;
    };
    expect(await f.orders.resolveHints(SHOP.id, fetch, 10)).toMatchObject({
      claimed: 2,
      parked: 1,
      retried: 1,
    });
    expect(await hintStates(['T-unknown', 'T-flaky'])).toEqual([
      { id: 'T-flaky', status: 'pending', attempts: 1, error: 'platform answered 500' },
      {
        id: 'T-unknown',
        status: 'parked',
        attempts: 1,
        error: expect.stringMatching(/T-unknown.*not found/),
      },
    ]);
    expect((await f.openExceptions('parked_event')).length).toBeGreaterThanOrEqual(1);
    // The fixture retries after about a millisecond; the eighth failure parks it.
    for (let i = 0; i < 20 && (await hintStates(['T-flaky']))[0]!.status === 'pending'; i++) {
      await new Promise((r) => setTimeout(r, 300));
      await f.orders.resolveHints(SHOP.id, fetch, 10);
    }
    expect(await hintStates(['T-flaky'])).toEqual([
      { id: 'T-flaky', status: 'parked', attempts: 8, error: 'platform answered 500' },
    ]);
  });
});

describe('a pull settles the hints of the orders it reads', () => {
  let sandbox: SandboxSession;
  beforeAll(async () => {
    sandbox = await (await getConnector('taobao').sandbox()).start({ relaxedRateLimits: true, seed: 5 });
  });
  afterAll(async () => {
    await sandbox?.stop();
  });

  it('received before the pull started, for orders on its pages; other hints stay', async () => {
    const ids = await sandbox.generateOrders(8);
    for (const id of ids.slice(0, 5)) await hint(id);
    await hint('404404404');
    const connector = getConnector('taobao').create(sandbox.config, {
      http: axios.create(),
      log: pino({ level: 'silent' }),
      clock: systemClock,
    });
    // The gate is charged for every request the pull made: a list call per page and a
    // trade.fullinfo.get per listed trade, not one slot per page.
    const gate = new ShopGate(SHOP.id, { ...connector.limits, intervalCap: 10_000 });
    let charged = 0;
    const run = gate.run.bind(gate);
    gate.run = ((call: () => Promise<unknown>, priority?: number, requests = 1) => {
      charged += requests;
      return run(call, priority, requests);
    }) as typeof gate.run;
    const report = await pullShop(
      f.inv,
      f.orders,
      { shop: SHOP, registered: getConnector('taobao'), connector, limits: connector.limits },
      { gate },
    );
    gate.close();
    expect(report.error).toBeUndefined();
    expect(report).toMatchObject({ hintsSettled: 5, caughtUp: true });
    expect(report.orders).toBeGreaterThanOrEqual(ids.length);
    expect(charged).toBeGreaterThanOrEqual(report.orders + report.pages);
    expect(await hintStates([...ids.slice(0, 5), '404404404'])).toEqual(
      [...ids.slice(0, 5), '404404404'].sort().map((id) => ({
        id,
        status: id === '404404404' ? 'pending' : 'done',
        attempts: 0,
        error: null,
      })),
    );
    // A hint that arrives after a pull started is not settled by it: that pull may have read
    // the order before the change the hint announces.
    await hint(ids[6]!);
    const started = String((await rows(`SELECT (now() - interval '1 second')::text AS s`))[0]!.s);
    expect(await f.inv.transaction((tx) => settleHints(tx, SHOP.id, [ids[6]!], started))).toBe(0);
    expect(
      await f.inv.transaction((tx) =>
        settleHints(tx, SHOP.id, [ids[6]!], new Date(Date.now() + 60_000).toISOString()),
      ),
    ).toBe(1);
  });
});
