/**
 * A daemon connected over real HTTP to sandbox shops started by the test (so the test can drive
 * them: sell, cancel, inject faults, read what they received). Every shop's catalog entry i maps
 * to the shared SKU `SKU-<i+1>`, so an order on one platform changes what the others must show.
 */
import type { ListingRef, SandboxSession } from '../../connectors/contract.js';
import { getConnector } from '../../connectors/registry.js';
import { type Config, loadConfig } from '../../src/config.js';
import { type Daemon, startDaemon } from '../../src/daemon.js';
import type { Inventory } from '../../src/inventory/index.js';
import { createLogger } from '../../src/log.js';
import type { Orders } from '../../src/orders/index.js';
import { type PushRules, pushRulesSchema } from '../../src/sync/channel-rules.js';
import { createTestDb, onPostgres, type TestDb } from './db.js';
import { freePort } from './e2e.js';

export type RigPlatform = 'shopify' | 'taobao' | 'douyin' | 'pinduoduo' | 'jd' | 'woocommerce';

export interface RigShop {
  id: string;
  platform: RigPlatform;
  seed?: number;
  /** Deliver webhooks to the daemon (default true). */
  webhooks?: boolean;
  push?: Partial<PushRules>;
  /** Overrides of the connector config the sandbox hands out (e.g. a wrong token). */
  connector?: Record<string, unknown>;
  /** Default `paid`. The sandboxes take stock when an order is placed (拍下减库存): `created` matches them. */
  reserveOn?: 'paid' | 'created';
  /** The shop's request quota (`shops[].rateLimit`); default the connector's. */
  rateLimit?: { requestsPerSecond?: number; concurrency?: number };
}

export interface Rig {
  daemon: Daemon;
  config: Config;
  sessions: Map<string, SandboxSession>;
  /** SKU code -> id. */
  skus: Map<string, number>;
  warehouseId: number;
  /** Where each SKU is listed in each shop: `${shopId}:${skuCode}` -> stock ref. */
  refs: Map<string, ListingRef>;
  /** The ledger's available-to-sell per SKU code. */
  ats(): Promise<Map<string, number>>;
  /** The quantity a shop's platform shows now for a SKU. */
  platformQuantity(shopId: string, sku: string): number;
  q<T>(text: string): Promise<T[]>;
  stop(): Promise<void>;
}

export async function startRig(options: {
  shops: RigShop[];
  openingStock?: number;
  /** Catalog entries of each sandbox to map (default all). */
  skuCount?: number;
  sync?: Partial<Config['sync']>;
  db?: TestDb;
  log?: string;
}): Promise<Rig> {
  const port = await freePort();
  const own = options.db ?? (onPostgres ? await createTestDb({ migrate: false }) : undefined);
  const sessions = new Map<string, SandboxSession>();
  try {
    for (const s of options.shops) {
      const harness = await getConnector(s.platform).sandbox();
      sessions.set(
        s.id,
        await harness.start({
          seed: s.seed ?? 1,
          relaxedRateLimits: true,
          ...(s.webhooks === false
            ? {}
            : { webhookUrl: `http://127.0.0.1:${port}/webhooks/${s.platform}/${s.id}` }),
        }),
      );
    }
    const base = loadConfig({
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: own?.url ?? 'pglite:memory',
    });
    const config: Config = {
      ...base,
      sync: {
        ...base.sync,
        pullCron: '*/2 * * * * *',
        inboxIdleMs: 50,
        pushIdleMs: 50,
        leaseMs: 3000,
        pauseProbeMs: 1000,
        ...options.sync,
      },
      shops: options.shops.map((s) => ({
        id: s.id,
        platform: s.platform,
        warehouses: ['MAIN'],
        reserveOn: s.reserveOn ?? ('paid' as const),
        restockOn: 'receipt' as const,
        matchOuterId: false,
        push: pushRulesSchema.parse(s.push ?? {}),
        connector: { ...(sessions.get(s.id)!.config as Record<string, unknown>), ...s.connector },
        ...(s.rateLimit ? { rateLimit: s.rateLimit } : {}),
      })),
    };
    const daemon = await startDaemon(
      config,
      createLogger({ level: (options.log ?? process.env.TEST_LOG ?? 'silent') as 'info', pretty: false }),
    );
    const inv = daemon.inventory;
    const { skus, refs, warehouseId } = await seedCatalog(
      inv,
      daemon.orders,
      options.shops.map((s) => ({ id: s.id, session: sessions.get(s.id)! })),
      options,
    );
    const q = <T>(text: string) => daemon.db.withSession((s) => s.query<T>(text));
    return {
      daemon,
      config,
      sessions,
      skus,
      warehouseId,
      refs,
      q,
      ats: () => atsByCode(inv, { skus, warehouseId }),
      platformQuantity: (shopId, sku) => {
        const ref = refs.get(`${shopId}:${sku}`)!;
        const found = sessions
          .get(shopId)!
          .listings()
          .find((l) => l.listing.listingId === ref.listingId && l.listing.locationId === ref.locationId);
        if (!found) throw new Error(`${shopId} does not list ${sku}`);
        return found.quantity;
      },
      stop: async () => {
        await daemon.stop();
        for (const s of sessions.values()) await s.stop();
        if (!options.db) await own?.drop();
      },
    };
  } catch (err) {
    for (const s of sessions.values()) await s.stop().catch(() => {});
    if (!options.db) await own?.drop();
    throw err;
  }
}

export interface SeededCatalog {
  /** SKU code -> id. */
  skus: Map<string, number>;
  /** The warehouse `MAIN`. */
  warehouseId: number;
  /** Where each SKU is listed in each shop: `${shopId}:${skuCode}` -> stock ref. */
  refs: Map<string, ListingRef>;
}

/**
 * The rig's catalog: warehouse `MAIN`; for every sandbox catalog entry i (the first `skuCount`),
 * the shared SKU `SKU-<i+1>` with `openingStock` (default 100) received once, and a listing per
 * shop mapping the entry to it, pushed to its `stockRef`. The shops must be registered already.
 */
export async function seedCatalog(
  inv: Inventory,
  orders: Pick<Orders, 'putListing'>,
  shops: readonly { id: string; session: SandboxSession }[],
  options: { openingStock?: number; skuCount?: number } = {},
): Promise<SeededCatalog> {
  const warehouseId = (await inv.catalog.putWarehouse({ code: 'MAIN', name: 'main' })).id;
  const skus = new Map<string, number>();
  const refs = new Map<string, ListingRef>();
  for (const s of shops) {
    const catalog = s.session.catalog();
    for (const [i, entry] of catalog.slice(0, options.skuCount ?? catalog.length).entries()) {
      const code = `SKU-${i + 1}`;
      if (!skus.has(code)) {
        const sku = await inv.catalog.putSku({ code, name: code });
        skus.set(code, sku.id);
        await inv.ledger.receive({
          key: `open-${code}`,
          skuId: sku.id,
          warehouseId,
          quantity: options.openingStock ?? 100,
        });
      }
      refs.set(`${s.id}:${code}`, entry.stockRef);
      await orders.putListing({
        shopId: s.id,
        platformItemId: entry.platformItemId,
        ...(entry.platformSkuId ? { platformSkuId: entry.platformSkuId } : {}),
        sku: code,
        stockRef: entry.stockRef,
      });
    }
  }
  return { skus, warehouseId, refs };
}

/** The ledger's available-to-sell in the catalog's warehouse, per SKU code. */
export async function atsByCode(
  inv: Inventory,
  catalog: Pick<SeededCatalog, 'skus' | 'warehouseId'>,
): Promise<Map<string, number>> {
  const rows = await inv.availability.ats({
    skuIds: [...catalog.skus.values()],
    warehouseIds: [catalog.warehouseId],
  });
  const code = new Map([...catalog.skus].map(([c, id]) => [id, c]));
  return new Map(rows.map((r) => [code.get(r.skuId)!, r.ats]));
}
