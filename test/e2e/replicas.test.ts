/**
 * Two daemons on one PostgreSQL database pulling the same sandbox shop: one replica holds the
 * shop's pull lease at a time, every order is applied exactly once, and when the lease holder
 * stops, the other takes the shop over once the lease runs out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxSession } from '../../connectors/contract.js';
import { getConnector } from '../../connectors/registry.js';
import { type Config, loadConfig } from '../../src/config.js';
import { type Daemon, startDaemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { DEFAULT_PUSH_RULES } from '../../src/sync/channel-rules.js';
import { createTestDb, onPostgres, type TestDb } from '../support/db.js';
import { until } from '../support/e2e.js';

const SHOP = 'shopify-replicated';
let sandbox: SandboxSession;
let own: TestDb;
const daemons: Daemon[] = [];

describe.skipIf(!onPostgres)('replicas on one PostgreSQL', () => {
  let config: Config;
  beforeAll(async () => {
    sandbox = await (await getConnector('shopify').sandbox()).start({ relaxedRateLimits: true });
    own = await createTestDb({ migrate: false });
    const base = loadConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: own.url! });
    config = {
      ...base,
      sync: { ...base.sync, pullCron: '* * * * * *', leaseMs: 2000, inboxIdleMs: 50 },
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
    };
    for (let i = 0; i < 2; i++)
      daemons.push(await startDaemon(config, createLogger({ level: 'silent', pretty: false })));
    const inv = daemons[0]!.inventory;
    const wh = (await inv.catalog.putWarehouse({ code: 'SH', name: 'Shanghai' })).id;
    for (let p = 1; p <= 4; p++) {
      for (const colour of ['GREEN', 'RED', 'BLACK']) {
        const sku = await inv.catalog.putSku({ code: `SKU-${p}-${colour}`, name: `${p} ${colour}` });
        await inv.ledger.receive({ key: `open-${sku.id}`, skuId: sku.id, warehouseId: wh, quantity: 1000 });
      }
    }
  });
  afterAll(async () => {
    for (const d of daemons) await d.stop();
    await sandbox?.stop();
    await own?.drop();
  });

  const state = async () =>
    (
      await daemons.at(-1)!.db.withSession((s) =>
        s.query<{ orders: number; pending: number; dupes: number; owner: string | null }>(`
          SELECT (SELECT COUNT(*)::int FROM sales_order) AS orders,
                 (SELECT COUNT(*)::int FROM inbox_event WHERE status = 'pending') AS pending,
                 (SELECT COUNT(*)::int FROM (SELECT shop_id, platform_order_id FROM sales_order
                    GROUP BY 1, 2 HAVING COUNT(*) > 1) d) AS dupes,
                 (SELECT lease_owner FROM shop WHERE id = '${SHOP}') AS owner`),
      )
    )[0]!;

  it('applies every order once, and a surviving replica takes over the shop', async () => {
    await sandbox.generateOrders(40);
    const first = await until('40 orders applied', state, (s) => s.orders === 40 && s.pending === 0);
    expect(first.dupes).toBe(0);
    expect(first.owner).toMatch(/^stockd-/);
    const [movements] = await daemons
      .at(-1)!
      .db.withSession((s) =>
        s.query<{ n: number; keys: number }>(
          'SELECT COUNT(*)::int AS n, COUNT(DISTINCT idempotency_key)::int AS keys FROM stock_movement',
        ),
      );
    expect(movements!.n).toBe(movements!.keys);

    // Stop the replica holding the lease; the other must pick the shop up when it runs out.
    const owner = (await state()).owner;
    const idx = daemons.findIndex((d) => d.replicaId === owner);
    expect(idx).toBeGreaterThanOrEqual(0);
    const [stopped] = daemons.splice(idx, 1);
    await stopped!.stop();
    await sandbox.generateOrders(10);
    const after = await until(
      'orders after a replica stopped',
      state,
      (s) => s.orders === 50 && s.pending === 0,
      40_000,
    );
    expect(after.dupes).toBe(0);
    expect(after.owner).toBe(daemons[0]!.replicaId);
    expect(await daemons[0]!.inventory.verify()).toMatchObject({ ok: true });
  });
});
