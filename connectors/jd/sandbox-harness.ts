/**
 * The JD sandbox seen through the platform-neutral {@link SandboxHarness}: used by the contract
 * tests, the demo and the benchmark. Bridges ids only; the sandbox itself shares no code with
 * the connector.
 */
import type { SandboxHarness, SandboxSession, SandboxStartOptions } from '../contract.js';
import type { JdConfigInput } from './config.js';
import { JdSandbox } from './sandbox.js';

export const harness: SandboxHarness<JdConfigInput> = {
  async start(options: SandboxStartOptions = {}): Promise<SandboxSession<JdConfigInput>> {
    const sandbox = new JdSandbox({
      seed: options.seed ?? 1,
      ...(options.webhookUrl ? { webhookUrl: options.webhookUrl } : {}),
      ...(options.relaxedRateLimits ? { throttle: { capacity: 100_000, refillPerSecond: 10_000 } } : {}),
    });
    const url = await sandbox.start();
    const message = async (topic: string, orderId: string) => {
      const status = await sandbox.deliverMessage(topic, orderId);
      if (status < 200 || status >= 300) throw new Error(`message delivery answered ${status}`);
    };
    return {
      url,
      config: {
        venderId: sandbox.venderId,
        appKey: sandbox.appKey,
        appSecret: sandbox.appSecret,
        accessToken: sandbox.accessToken,
        gatewayUrl: sandbox.gatewayUrl,
        relaySecret: sandbox.relaySecret,
        // Orders spread over the last 6 hours: one day back, 60-minute windows, small pages.
        pageSize: 5,
        windowMinutes: 60,
        initialLookbackDays: 1,
        maxPagesPerPull: 10_000,
      },
      async generateOrders(count) {
        return sandbox.generateOrders(count);
      },
      async sell(listing, quantity, options = {}) {
        const orderId = sandbox.sell(listing.listingId, quantity);
        if (options.notify) await message('jos_order_create', orderId);
        return orderId;
      },
      async cancel(platformOrderId) {
        sandbox.cancel(platformOrderId);
      },
      quantity(listing) {
        const q = sandbox.quantity(listing.listingId);
        if (q === undefined) throw new Error(`unknown sku ${listing.listingId}`);
        return q;
      },
      listings() {
        return sandbox.listings().map((l) => ({ listing: { listingId: l.skuId }, quantity: l.quantity }));
      },
      catalog() {
        // One entry per SKU (gift SKUs included): orders carry wareId / skuId and outerSkuId
        // (商家编码); stock goes to the skuId (no store).
        const stock = new Map(sandbox.listings().map((l) => [l.skuId, l.quantity]));
        return [...sandbox.skus, ...sandbox.giftSkus].map((s) => ({
          skuCode: s.outerSkuId,
          title: s.name,
          platformItemId: s.wareId,
          platformSkuId: s.skuId,
          stockRef: { listingId: s.skuId },
          quantity: stock.get(s.skuId) ?? 0,
        }));
      },
      setQuantity(listing, quantity) {
        sandbox.setQuantity(listing.listingId, quantity);
      },
      stockPushes() {
        return sandbox.pushes.map((p) => ({
          listing: { listingId: p.skuId, ...(p.storeId ? { locationId: p.storeId } : {}) },
          quantity: p.quantity,
        }));
      },
      async deliverOrderWebhook(platformOrderId) {
        await message('jos_order_change', platformOrderId);
      },
      shipments(platformOrderId) {
        return sandbox.trackingNumbers(platformOrderId);
      },
      faults: (spec) => sandbox.faults(spec),
      faultCounts: () => sandbox.faultCounts(),
      stop: () => sandbox.stop(),
    };
  },
};
