/**
 * The demo wiring: shops configured with `sandbox` run their platform's sandbox in-process,
 * share the demo SKUs, place orders (announced by signed webhooks), and every shop receives the
 * ledger's new quantity for the SKUs sold anywhere.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { type Daemon, startDaemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { DEFAULT_PUSH_RULES } from '../../src/sync/channel-rules.js';
import { createTestDb, onPostgres, type TestDb } from '../support/db.js';
import { freePort, until } from '../support/e2e.js';

let daemon: Daemon;
let own: TestDb | undefined;

beforeAll(async () => {
  own = onPostgres ? await createTestDb({ migrate: false }) : undefined;
  const base = loadConfig({
    PORT: String(await freePort()),
    HOST: '127.0.0.1',
    DATABASE_URL: own?.url ?? 'pglite:memory',
  });
  const shop = (id: string, platform: 'shopify' | 'taobao' | 'douyin', seed: number) => ({
    id,
    platform,
    warehouses: ['MAIN'],
    reserveOn: 'paid' as const,
    restockOn: 'receipt' as const,
    matchOuterId: true,
    push: DEFAULT_PUSH_RULES,
    sandbox: { ordersPerMinute: 600, seed, openingStock: 500 },
  });
  daemon = await startDaemon(
    {
      ...base,
      sync: { ...base.sync, pullCron: '*/2 * * * * *', inboxIdleMs: 50, pushIdleMs: 50 },
      shops: [
        shop('shopify-demo', 'shopify', 1),
        shop('tmall-demo', 'taobao', 2),
        shop('douyin-demo', 'douyin', 3),
      ],
    },
    createLogger({ level: 'silent', pretty: false }),
  );
});
afterAll(async () => {
  await daemon?.stop();
  await own?.drop();
});

const q = async <T>(text: string) => (await daemon.db.withSession((s) => s.query<T>(text)))[0]!;

describe('demo with sandbox shops', () => {
  it('orders flow in from every shop, stock is reserved, and the new quantities reach all shops', async () => {
    await until(
      'orders from all three shops reserved',
      () =>
        q<{ shops: number; reserved: number }>(`
          SELECT (SELECT COUNT(DISTINCT shop_id)::int FROM sales_order) AS shops,
                 (SELECT COALESCE(SUM(reserved), 0)::int FROM stock_level) AS reserved`),
      (r) => r.shops === 3 && r.reserved > 0,
      45_000,
    );
    // A SKU sold somewhere is pushed to every shop that lists it, with the ledger's ATS.
    const synced = await until(
      'pushes caught up',
      () =>
        q<{ listings: number; synced: number; shops: number }>(`
          SELECT COUNT(*)::int AS listings, COUNT(*) FILTER (WHERE p.status = 'synced')::int AS synced,
                 COUNT(DISTINCT l.shop_id)::int AS shops
          FROM stock_push p JOIN listing l ON l.id = p.listing_id`),
      (r) => r.shops === 3 && r.synced > 0,
      45_000,
    );
    expect(synced.listings).toBeGreaterThan(0);
    const status = (await (await fetch(`${daemon.url}/api/status`)).json()) as {
      shops: { id: string; connected: boolean }[];
    };
    expect(status.shops.map((s) => [s.id, s.connected])).toEqual([
      ['shopify-demo', true],
      ['tmall-demo', true],
      ['douyin-demo', true],
    ]);
    expect(await daemon.inventory.verify()).toMatchObject({ ok: true });
  });
});
