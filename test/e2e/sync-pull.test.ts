/**
 * The daemon's background sync against a sandbox shop over real HTTP: the scheduler pulls the
 * shop (cursor stored with each page), the inbox worker applies what arrives, and webhooks wake
 * it. Every generated order ends up in the ledger exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxSession } from '../../connectors/contract.js';
import { getConnector } from '../../connectors/registry.js';
import { loadConfig } from '../../src/config.js';
import { type Daemon, startDaemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { systemClock } from '../../src/server/app.js';
import { DEFAULT_PUSH_RULES } from '../../src/sync/channel-rules.js';
import { createShopConnectors } from '../../src/sync/shop-connectors.js';
import type { StatusReport } from '../../src/sync/status.js';
import { createTestDb, onPostgres, type TestDb } from '../support/db.js';
import { until } from '../support/e2e.js';

const SHOP = 'shopify-pull';
let sandbox: SandboxSession;
let daemon: Daemon;
let own: TestDb | undefined;

beforeAll(async () => {
  sandbox = await (await getConnector('shopify').sandbox()).start({ relaxedRateLimits: true });
  own = onPostgres ? await createTestDb({ migrate: false }) : undefined;
  const base = loadConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: own?.url ?? 'pglite:memory' });
  daemon = await startDaemon(
    {
      ...base,
      sync: { ...base.sync, pullCron: '* * * * * *', inboxIdleMs: 50 },
      shops: [
        {
          id: SHOP,
          platform: 'shopify',
          warehouses: ['SH'],
          reserveOn: 'paid',
          restockOn: 'receipt',
          matchOuterId: true,
          push: DEFAULT_PUSH_RULES,
          connector: sandbox.config as Record<string, unknown>,
        },
      ],
    },
    createLogger({ level: 'silent', pretty: false }),
  );
  const wh = (await daemon.inventory.catalog.putWarehouse({ code: 'SH', name: 'Shanghai' })).id;
  for (let p = 1; p <= 4; p++) {
    for (const colour of ['GREEN', 'RED', 'BLACK']) {
      const sku = await daemon.inventory.catalog.putSku({
        code: `SKU-${p}-${colour}`,
        name: `${p} ${colour}`,
      });
      await daemon.inventory.ledger.receive({
        key: `open-${sku.id}`,
        skuId: sku.id,
        warehouseId: wh,
        quantity: 1000,
      });
    }
  }
});
afterAll(async () => {
  await daemon?.stop();
  await sandbox?.stop();
  await own?.drop();
});

const orderCount = async () =>
  (
    await daemon.db.withSession((s) =>
      s.query<{ n: number; pending: number }>(`
        SELECT (SELECT COUNT(*)::int FROM sales_order WHERE shop_id = '${SHOP}') AS n,
               (SELECT COUNT(*)::int FROM inbox_event WHERE status = 'pending') AS pending`),
    )
  )[0]!;

describe('background sync', () => {
  it('pulls every generated order on schedule and applies each exactly once', async () => {
    const ids = await sandbox.generateOrders(30);
    const seen = await until(
      'orders pulled and applied',
      orderCount,
      (c) => c.n === ids.length && c.pending === 0,
    );
    expect(seen.n).toBe(30);
    const [shop] = await daemon.db.withSession((s) =>
      s.query<{ pull_cursor: string | null; last_pull_error: string | null }>(
        `SELECT pull_cursor, last_pull_error FROM shop WHERE id = '${SHOP}'`,
      ),
    );
    expect(shop!.pull_cursor).not.toBeNull();
    expect(shop!.last_pull_error).toBeNull();
    // More orders later: the next pulls pick up only what is new.
    await sandbox.generateOrders(5);
    await until('new orders pulled', orderCount, (c) => c.n === 35 && c.pending === 0);
    expect(await daemon.inventory.verify()).toMatchObject({ ok: true });
    const status = (await (await fetch(`${daemon.url}/status`)).json()) as StatusReport;
    expect(status.replicaId).toBe(daemon.replicaId);
    expect(status.shops).toEqual([
      expect.objectContaining({
        id: SHOP,
        platform: 'shopify',
        connected: true,
        health: 'ok',
        leaseOwner: daemon.replicaId,
        inbox: { pending: 0, parked: 0 },
      }),
    ]);
    expect(status.shops[0]!.pull.lagSeconds).toBeLessThan(60);
    expect(status.shops[0]!.pull.lastError).toBeNull();
  });

  it('a pull does not store again an order the ledger holds at that revision, and stores a newer one', async () => {
    const shops = createShopConnectors(
      [
        {
          id: SHOP,
          platform: 'shopify',
          warehouses: ['SH'],
          reserveOn: 'paid',
          restockOn: 'receipt',
          matchOuterId: true,
          connector: sandbox.config,
        },
      ],
      createLogger({ level: 'silent', pretty: false }),
      systemClock,
    );
    const admin = (path: string, body: unknown) =>
      fetch(`${daemon.url}/api/shops/${SHOP}/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    // Pulls stopped while the order arrives by webhook (here: stored as the webhook route would).
    expect((await admin('pause', { reason: 'test: webhook first' })).status).toBe(200);
    const id = await sandbox.sell(sandbox.listings()[0]!.listing, 1, { notify: false });
    const order = await shops.get(SHOP)!.connector.fetchOrder(id!);
    await daemon.orders.receive({
      shopId: SHOP,
      source: 'webhook',
      dedupeKey: `wh-${id}`,
      payload: { order: { ...order, shopId: SHOP } },
    });
    await until('applied', orderCount, (c) => c.pending === 0);
    const rows = async () =>
      (
        await daemon.db.withSession((s) =>
          s.query<{ source: string; n: number }>(`
            SELECT source, COUNT(*)::int AS n FROM inbox_event
            WHERE payload->'order'->>'platformOrderId' = '${id}' GROUP BY source ORDER BY source`),
        )
      ).map((r) => `${r.source}:${r.n}`);
    // Pulls every second again, each re-reading the order in its overlap window: not stored.
    expect((await admin('resume', {})).status).toBe(200);
    const resumed = Date.now();
    await until(
      'two pulls since',
      async () => (await lastPull()) ?? 0,
      (t) => t > resumed + 1500,
    );
    expect(await rows()).toEqual(['webhook:1']);
    // A new revision on the platform is stored and applied.
    await sandbox.cancel(id!);
    await until('the cancellation pulled', rows, (r) => r.includes('pull:1'));
    await until('applied', orderCount, (c) => c.pending === 0);
    const [stored] = await daemon.db.withSession((s) =>
      s.query<{ status: string }>(
        `SELECT status::text AS status FROM sales_order WHERE platform_order_id = '${id}'`,
      ),
    );
    expect(stored!.status).toBe('cancelled');
  });
});

const lastPull = async () => {
  const [row] = await daemon.db.withSession((s) =>
    s.query<{ t: number | null }>(
      `SELECT (extract(epoch FROM last_pull_at) * 1000)::float8 AS t FROM shop WHERE id = '${SHOP}'`,
    ),
  );
  return row?.t ?? null;
};
