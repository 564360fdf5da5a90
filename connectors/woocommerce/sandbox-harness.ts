/**
 * The WooCommerce sandbox seen through the platform-neutral {@link SandboxHarness}: used by the
 * contract tests, the demo and the benchmark. Bridges ids only; the sandbox itself shares no
 * code with the connector.
 */
import type { ListingRef, SandboxHarness, SandboxSession, SandboxStartOptions } from '../contract.js';
import type { WooConfigInput } from './config.js';
import { WooSandbox } from './sandbox.js';

export const harness: SandboxHarness<WooConfigInput> = {
  async start(options: SandboxStartOptions = {}): Promise<SandboxSession<WooConfigInput>> {
    const sandbox = new WooSandbox({
      seed: options.seed ?? 1,
      ...(options.webhookUrl ? { webhookUrl: options.webhookUrl } : {}),
      ...(options.relaxedRateLimits ? { throttle: { capacity: 100_000, refillPerSecond: 100_000 } } : {}),
    });
    const url = await sandbox.start();
    // `"<id>"` or `"<parent>:<variation>"`: the stock lives on the last id.
    const productOf = (listing: ListingRef) => Number(listing.listingId.split(':').at(-1));
    const deliver = async (topic: string, orderId: number) => {
      const d = await sandbox.deliver(topic, orderId);
      if (d.status < 200 || d.status > 302) throw new Error(`webhook delivery answered ${d.status}`);
    };
    return {
      url,
      config: {
        storeUrl: url,
        allowInsecureHttp: true,
        consumerKey: sandbox.consumerKey,
        consumerSecret: sandbox.consumerSecret,
        webhookSecret: sandbox.webhookSecret,
        // Orders spread over the last 6 hours: one day back, 2-hour windows, small pages.
        pageSize: 5,
        windowMs: 2 * 3600_000,
        initialLookbackDays: 1,
        maxPagesPerPull: 10_000,
        shipmentMode: 'shipment_tracking',
      },
      async generateOrders(count) {
        return sandbox.generateOrders(count).map(String);
      },
      async sell(listing, quantity, options = {}) {
        const id = sandbox.sell(productOf(listing), quantity);
        if (options.notify) await deliver('order.created', id);
        return String(id);
      },
      async cancel(platformOrderId) {
        sandbox.cancel(Number(platformOrderId));
      },
      quantity(listing) {
        const q = sandbox.quantity(productOf(listing));
        if (q === undefined) throw new Error(`no stock-managed product for listing ${listing.listingId}`);
        return q;
      },
      listings() {
        return sandbox.stocked().map((s) => ({ listing: { listingId: s.listingId }, quantity: s.quantity }));
      },
      catalog() {
        // One entry per stock-managed simple product or variation (variable parents hold no
        // stock and are never sold as such): orders carry product_id (the parent for a
        // variation), variation_id (0 = none) and the `sku`; stock goes to `"<id>"` or
        // `"<parent>:<variation>"`.
        return sandbox.sellable().map((p) => ({
          skuCode: p.sku,
          title: p.name,
          platformItemId: String(p.parentId || p.id),
          ...(p.parentId ? { platformSkuId: String(p.id) } : {}),
          stockRef: { listingId: p.parentId ? `${p.parentId}:${p.id}` : String(p.id) },
          quantity: p.stock,
        }));
      },
      setQuantity(listing, quantity) {
        sandbox.setQuantity(productOf(listing), quantity);
      },
      stockPushes() {
        return sandbox.pushes.map((p) => ({
          listing: { listingId: p.variationId ? `${p.productId}:${p.variationId}` : String(p.productId) },
          quantity: p.quantity,
        }));
      },
      async deliverOrderWebhook(platformOrderId) {
        await deliver('order.updated', Number(platformOrderId));
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
