/**
 * Re-fetch hints through the whole daemon, over real HTTP: a Taobao sandbox announcing its
 * orders by TMC-style messages (ids only) and a Shopify sandbox sending whole orders.
 * - A burst of hints is read back by pulls of the shop (a page of orders per call), not one
 *   call per order; every order lands once.
 * - While Taobao's API hangs, its hints wait and Shopify's orders are applied all the same;
 *   once Taobao answers again, its orders land too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxSession } from '../../connectors/contract.js';
import { getConnector } from '../../connectors/registry.js';
import { loadConfig } from '../../src/config.js';
import { type Daemon, startDaemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { DEFAULT_PUSH_RULES } from '../../src/sync/channel-rules.js';
import { createTestDb, onPostgres, type TestDb } from '../support/db.js';
import { freePort, until } from '../support/e2e.js';

const TAOBAO = 'tmall-main';
const SHOPIFY = 'shopify-main';
let taobao: SandboxSession;
let shopify: SandboxSession;
let daemon: Daemon;
let own: TestDb | undefined;

beforeAll(async () => {
  const port = await freePort();
  taobao = await (await getConnector('taobao').sandbox()).start({
    webhookUrl: `http://127.0.0.1:${port}/webhooks/taobao/${TAOBAO}`,
    relaxedRateLimits: true,
    seed: 21,
  });
  shopify = await (await getConnector('shopify').sandbox()).start({
    webhookUrl: `http://127.0.0.1:${port}/webhooks/shopify/${SHOPIFY}`,
    relaxedRateLimits: true,
    seed: 22,
  });
  own = onPostgres ? await createTestDb({ migrate: false }) : undefined;
  const base = loadConfig({
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: own?.url ?? 'pglite:memory',
  });
  const shop = (id: string, platform: 'taobao' | 'shopify', sandbox: SandboxSession) => ({
    id,
    platform,
    warehouses: ['SH'],
    reserveOn: 'paid' as const,
    restockOn: 'receipt' as const,
    matchOuterId: true,
    push: DEFAULT_PUSH_RULES,
    connector: sandbox.config as Record<string, unknown>,
  });
  daemon = await startDaemon(
    {
      ...base,
      // No scheduled pulls or reconciliation in the test's time: what reads orders back here
      // is the hint resolver.
      sync: { ...base.sync, pullCron: '0 0 0 1 1 *', reconcileCron: '0 0 0 1 1 *', inboxIdleMs: 50 },
      shops: [shop(TAOBAO, 'taobao', taobao), shop(SHOPIFY, 'shopify', shopify)],
    },
    createLogger({ level: 'silent', pretty: false }),
  );
  await daemon.inventory.catalog.putWarehouse({ code: 'SH', name: 'Shanghai' });
});
afterAll(async () => {
  await daemon?.stop();
  await taobao?.stop();
  await shopify?.stop();
  await own?.drop();
});

const one = async (sqlText: string) =>
  (await daemon.db.withSession((s) => s.query<{ n: number }>(sqlText)))[0]!.n;
const ordersOf = (shop: string) =>
  one(`SELECT COUNT(*)::int AS n FROM sales_order WHERE shop_id = '${shop}'`);

describe('re-fetch hints in the daemon', () => {
  it('reads a burst of hints back by pulling the shop, and applies every order once', async () => {
    const ids = await taobao.generateOrders(150);
    await Promise.all(ids.map((id) => taobao.deliverOrderWebhook(id)));
    await until(
      'taobao orders applied',
      async () => ({ orders: await ordersOf(TAOBAO), inbox: await daemon.orders.inboxCounts() }),
      (v) => v.orders === ids.length && v.inbox.pending === 0,
    );
    // One call per order would be 150 reads through a 10 calls/s gate. Orders read back one
    // by one are queued as webhook events, those read by a pull as pull events.
    const oneByOne = await one(
      `SELECT COUNT(*)::int AS n FROM inbox_event WHERE shop_id = '${TAOBAO}' AND source = 'webhook' AND refetch_order_id IS NULL`,
    );
    const pulled = await one(
      `SELECT COUNT(*)::int AS n FROM inbox_event WHERE shop_id = '${TAOBAO}' AND source = 'pull'`,
    );
    expect(oneByOne).toBeLessThan(40);
    expect(pulled + oneByOne).toBeGreaterThanOrEqual(ids.length);
    expect(
      await one(
        `SELECT COUNT(*)::int AS n FROM inbox_event WHERE shop_id = '${TAOBAO}' AND status <> 'done'`,
      ),
    ).toBe(0);
    expect(await daemon.inventory.verify()).toMatchObject({ ok: true });
  });

  it("a hanging platform's hints wait; another shop's orders are applied meanwhile", async () => {
    const taobaoBefore = await ordersOf(TAOBAO);
    const shopifyBefore = await ordersOf(SHOPIFY);
    // Taobao's API stops answering: each read back hangs for 15 s, then its socket drops.
    taobao.faults({ rateTimeout: 1, timeoutMs: 15_000 });
    const hinted = await taobao.generateOrders(5);
    await Promise.all(hinted.map((id) => taobao.deliverOrderWebhook(id)));
    await until(
      'taobao read back and hanging',
      () => taobao.faultCounts().timeout,
      (n) => n > 0,
    );
    const full = await shopify.generateOrders(20);
    await Promise.all(full.map((id) => shopify.deliverOrderWebhook(id)));
    // Well inside the hang: nothing Shopify's orders go through waits for Taobao.
    await until(
      'shopify orders applied',
      () => ordersOf(SHOPIFY),
      (n) => n === shopifyBefore + full.length,
      8000,
    );
    expect(await ordersOf(TAOBAO)).toBe(taobaoBefore);
    expect((await daemon.orders.inboxCounts()).hints).toBeGreaterThanOrEqual(hinted.length);

    taobao.faults(null);
    await until(
      'taobao orders applied once its API answers',
      () => ordersOf(TAOBAO),
      (n) => n === taobaoBefore + hinted.length,
      45_000,
    );
    expect(await daemon.inventory.verify()).toMatchObject({ ok: true });
  });
});
