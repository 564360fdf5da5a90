/**
 * The Douyin sandbox seen through the platform-neutral {@link SandboxHarness}: used by the
 * contract tests, the demo and the benchmark. Bridges ids only; the sandbox itself shares no
 * code with the connector.
 */
import type { SandboxHarness, SandboxSession, SandboxStartOptions } from '../contract.js';
import type { DouyinConfigInput } from './config.js';
import { DouyinSandbox } from './sandbox.js';

export const harness: SandboxHarness<DouyinConfigInput> = {
  async start(options: SandboxStartOptions = {}): Promise<SandboxSession<DouyinConfigInput>> {
    const sandbox = new DouyinSandbox({
      seed: options.seed ?? 1,
      ...(options.webhookUrl ? { webhookUrl: options.webhookUrl } : {}),
      ...(options.relaxedRateLimits ? { throttle: { capacity: 100_000, refillPerSecond: 10_000 } } : {}),
    });
    const url = await sandbox.start();
    const push = async (tag: string, orderId: string) => {
      const r = await sandbox.deliverPush(tag, orderId);
      if (r.status < 200 || r.status >= 300) throw new Error(`push delivery answered ${r.status}`);
    };
    return {
      url,
      config: {
        shopId: sandbox.shopId,
        appKey: sandbox.appKey,
        appSecret: sandbox.appSecret,
        accessToken: sandbox.accessToken,
        gatewayUrl: url,
        // Orders spread over the last 6 hours: one day back, 60-minute windows, small pages.
        pageSize: 5,
        windowMinutes: 60,
        initialLookbackDays: 1,
        lagMs: 0,
        maxPagesPerPull: 10_000,
      },
      async generateOrders(count) {
        return sandbox.generateOrders(count);
      },
      async sell(listing, quantity, options = {}) {
        const orderId = sandbox.sell(listing.listingId, quantity);
        if (options.notify) await push('110', orderId);
        return orderId;
      },
      async cancel(platformOrderId) {
        sandbox.cancel(platformOrderId);
      },
      quantity(listing) {
        const q = sandbox.quantity(listing.listingId);
        if (q === undefined) throw new Error(`unknown listing ${listing.listingId}`);
        return q;
      },
      listings() {
        return sandbox.listings().map((l) => ({ listing: { listingId: l.listingId }, quantity: l.quantity }));
      },
      catalog() {
        // One entry per SKU (the gift product included): orders carry product_id / sku_id and
        // the SKU's `code` (商家编码, which the connector prefers over out_sku_id); stock goes to
        // `product_id:sku_id`.
        const stock = new Map(sandbox.listings().map((l) => [l.listingId, l.quantity]));
        return [...sandbox.products, sandbox.giftProduct].flatMap((p) =>
          p.skus.map((s) => ({
            skuCode: s.code,
            title: p.skus.length > 1 ? `${p.name} ${s.outSkuId.split('-')[0]}` : p.name,
            platformItemId: p.productId,
            platformSkuId: s.skuId,
            stockRef: { listingId: `${p.productId}:${s.skuId}` },
            quantity: stock.get(`${p.productId}:${s.skuId}`) ?? 0,
          })),
        );
      },
      setQuantity(listing, quantity) {
        sandbox.setQuantity(listing.listingId, quantity);
      },
      stockPushes() {
        return sandbox.pushes.map((p) => ({
          listing: { listingId: `${p.productId}:${p.skuId}` },
          quantity: p.quantity,
        }));
      },
      async deliverOrderWebhook(platformOrderId) {
        await push('110', platformOrderId);
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
