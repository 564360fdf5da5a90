/**
 * The Shopify sandbox seen through the platform-neutral {@link SandboxHarness}: used by the
 * contract tests, the demo and the benchmark. Bridges ids only; the sandbox itself shares no
 * code with the connector.
 */
import type { ListingRef, SandboxHarness, SandboxSession, SandboxStartOptions } from '../contract.js';
import type { ShopifyConfigInput } from './config.js';
import { ShopifySandbox } from './sandbox.js';

export const harness: SandboxHarness<ShopifyConfigInput> = {
  async start(options: SandboxStartOptions = {}): Promise<SandboxSession<ShopifyConfigInput>> {
    const sandbox = new ShopifySandbox({
      seed: options.seed ?? 1,
      ...(options.webhookUrl ? { webhookUrl: options.webhookUrl } : {}),
      ...(options.relaxedRateLimits
        ? {
            restBucket: { capacity: 10_000, leakPerSecond: 1000 },
            graphqlBucket: { capacity: 100_000, restorePerSecond: 10_000 },
          }
        : {}),
    });
    const url = await sandbox.start();
    const deliver = async (topic: string, orderId: number) => {
      const d = await sandbox.deliver(topic, orderId);
      if (d.status < 200 || d.status >= 300) throw new Error(`webhook delivery answered ${d.status}`);
    };
    const key = (l: ListingRef) => ({
      item: Number(l.listingId.replace(/^gid:\/\/shopify\/InventoryItem\//, '')),
      location: Number(
        (l.locationId ?? String(sandbox.locationIds[0])).replace(/^gid:\/\/shopify\/Location\//, ''),
      ),
    });
    return {
      url,
      config: {
        shopDomain: sandbox.shopDomain,
        baseUrl: url,
        accessToken: sandbox.accessToken,
        apiSecret: sandbox.apiSecret,
        locationId: String(sandbox.locationIds[0]),
        // The sandbox keeps the pull's page loop busy: small pages, many of them.
        pageSize: 7,
        maxPagesPerPull: 1000,
      },
      async generateOrders(count) {
        return sandbox.generateOrders(count).map((o) => String(o.id));
      },
      async sell(listing, quantity, options = {}) {
        const k = key(listing);
        const id = sandbox.sell(k.item, quantity, k.location).id;
        if (options.notify) await deliver('orders/create', id);
        return String(id);
      },
      async cancel(platformOrderId) {
        sandbox.cancel(Number(platformOrderId));
      },
      quantity(listing) {
        const k = key(listing);
        const q = sandbox.quantity(k.item, k.location);
        if (q === undefined)
          throw new Error(`inventory item ${k.item} is not stocked at location ${k.location}`);
        return q;
      },
      listings() {
        return sandbox.stocked().map((s) => ({
          listing: { listingId: String(s.inventoryItemId), locationId: String(s.locationId) },
          quantity: s.quantity,
        }));
      },
      catalog() {
        // One entry per variant: orders carry product_id / variant_id and the variant's `sku`;
        // stock is pushed to the variant's inventory item at the config's (first) location.
        const location = sandbox.locationIds[0]!;
        return sandbox.variants.map((v) => ({
          skuCode: v.sku,
          title: `${v.product_title} - ${v.title}`,
          platformItemId: String(v.product_id),
          platformSkuId: String(v.id),
          stockRef: { listingId: String(v.inventory_item_id), locationId: String(location) },
          quantity: sandbox.quantity(v.inventory_item_id, location) ?? 0,
        }));
      },
      setQuantity(listing, quantity) {
        const k = key(listing);
        sandbox.setQuantity(k.item, k.location, quantity);
      },
      stockPushes() {
        return sandbox.pushes.map((p) => ({
          listing: { listingId: String(p.inventoryItemId), locationId: String(p.locationId) },
          quantity: p.quantity,
        }));
      },
      async deliverOrderWebhook(platformOrderId) {
        await deliver('orders/updated', Number(platformOrderId));
      },
      shipments(platformOrderId) {
        return sandbox.trackingNumbers(Number(platformOrderId));
      },
      faults: (spec) => sandbox.faults(spec),
      faultCounts: () => sandbox.faultCounts(),
      stop: () => sandbox.stop(),
    };
  },
};
