import type { SandboxSession } from '../../connectors/contract.js';
import { getConnector } from '../../connectors/registry.js';
import type { Config } from '../config.js';
import type { Inventory } from '../inventory/index.js';
import type { Logger } from '../log.js';
import type { Orders } from '../orders/index.js';

type ShopConfig = Config['shops'][number];

/**
 * The demo: shops configured with `sandbox` get their platform's sandbox started in this
 * process and are connected to it. Every sandbox's catalog is mapped onto the same demo SKUs
 * (`DEMO-001`, ...: entry i of each catalog), so an order on one platform changes the quantity
 * pushed to all the others. Orders are placed at each shop's rate and, when the daemon's port
 * is known, announced by signed webhooks as well as found by the scheduled pulls.
 */
export class SandboxShops {
  private readonly sessions = new Map<string, SandboxSession>();
  private readonly timers: NodeJS.Timeout[] = [];
  private webhooks = false;

  private constructor(private readonly log: Logger) {}

  /** Starts the sandboxes; returns the shops with `connector` pointing at them. */
  static async start(
    shops: readonly ShopConfig[],
    server: { port: number },
    log: Logger,
  ): Promise<{ sandboxes: SandboxShops; shops: ShopConfig[] }> {
    const self = new SandboxShops(log);
    self.webhooks = server.port !== 0;
    const out: ShopConfig[] = [];
    try {
      for (const shop of shops) {
        if (!shop.sandbox) {
          out.push(shop);
          continue;
        }
        const harness = await getConnector(shop.platform).sandbox();
        const session = await harness.start({
          seed: shop.sandbox.seed,
          relaxedRateLimits: true,
          ...(self.webhooks
            ? { webhookUrl: `http://127.0.0.1:${server.port}/webhooks/${shop.platform}/${shop.id}` }
            : {}),
        });
        self.sessions.set(shop.id, session);
        out.push({ ...shop, connector: session.config as Record<string, unknown> });
        log.info({ shop: shop.id, platform: shop.platform, url: session.url }, 'demo: sandbox shop started');
      }
    } catch (err) {
      await self.stop();
      throw err;
    }
    return { sandboxes: self, shops: out };
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Creates the demo SKUs, opening stock and listings (idempotent: a restart adds nothing). */
  async seed(inv: Inventory, orders: Orders, shops: readonly ShopConfig[]): Promise<void> {
    for (const shop of shops) {
      const session = this.sessions.get(shop.id);
      if (!session || !shop.sandbox) continue;
      const warehouses = [];
      for (const code of shop.warehouses)
        warehouses.push(await inv.catalog.putWarehouse({ code, name: code }));
      const first = warehouses[0]!;
      for (const [i, entry] of session.catalog().entries()) {
        const code = `DEMO-${String(i + 1).padStart(3, '0')}`;
        const sku = await inv.catalog.putSku({ code, name: `Demo item ${i + 1}` });
        if (shop.sandbox.openingStock > 0) {
          await inv.ledger.receive({
            key: `demo-opening:${shop.id}:${code}`,
            skuId: sku.id,
            warehouseId: first.id,
            quantity: shop.sandbox.openingStock,
            reference: 'demo opening stock',
          });
        }
        await orders.putListing({
          shopId: shop.id,
          platformItemId: entry.platformItemId,
          ...(entry.platformSkuId ? { platformSkuId: entry.platformSkuId } : {}),
          sku: code,
          stockRef: {
            listingId: entry.stockRef.listingId,
            ...(entry.stockRef.locationId ? { locationId: entry.stockRef.locationId } : {}),
          },
        });
      }
    }
  }

  /** Starts placing orders at each shop's rate. */
  startOrders(shops: readonly ShopConfig[]): void {
    for (const shop of shops) {
      const session = this.sessions.get(shop.id);
      const rate = shop.sandbox?.ordersPerMinute ?? 0;
      if (!session || rate <= 0) continue;
      const timer = setInterval(() => {
        void this.placeOrder(shop.id, session);
      }, 60_000 / rate);
      timer.unref();
      this.timers.push(timer);
    }
    if (this.timers.length > 0) {
      this.log.info(
        { shops: [...this.sessions.keys()], webhooks: this.webhooks },
        'demo: sandbox shops are placing orders; watch /status, /api/orders and /api/availability',
      );
    }
  }

  private async placeOrder(shopId: string, session: SandboxSession): Promise<void> {
    try {
      const [id] = await session.generateOrders(1);
      if (id && this.webhooks) await session.deliverOrderWebhook(id);
      this.log.debug({ shop: shopId, platformOrderId: id }, 'demo: order placed');
    } catch (err) {
      this.log.warn({ shop: shopId, err }, 'demo: placing an order failed');
    }
  }

  /** Stops placing orders (first step of a shutdown). */
  stopOrders(): void {
    for (const t of this.timers.splice(0)) clearInterval(t);
  }

  async stop(): Promise<void> {
    this.stopOrders();
    for (const s of this.sessions.values()) await s.stop().catch(() => {});
    this.sessions.clear();
  }
}
