/**
 * The Taobao sandbox seen through the platform-neutral {@link SandboxHarness}: used by the
 * contract tests, the demo and the benchmark. Bridges ids only; the sandbox itself shares no
 * code with the connector.
 */
import type { SandboxHarness, SandboxSession, SandboxStartOptions } from '../contract.js';
import type { TaobaoConfigInput } from './config.js';
import { TaobaoSandbox } from './sandbox.js';

export const harness: SandboxHarness<TaobaoConfigInput> = {
  async start(options: SandboxStartOptions = {}): Promise<SandboxSession<TaobaoConfigInput>> {
    const sandbox = new TaobaoSandbox({
      seed: options.seed ?? 1,
      ...(options.webhookUrl ? { webhookUrl: options.webhookUrl } : {}),
      ...(options.relaxedRateLimits
        ? { throttle: { capacity: 100_000, refillPerSecond: 10_000, banSeconds: 1 } }
        : {}),
    });
    const url = await sandbox.start();
    return {
      url,
      config: {
        sellerNick: sandbox.sellerNick,
        appKey: sandbox.appKey,
        appSecret: sandbox.appSecret,
        session: sandbox.session,
        gatewayUrl: sandbox.gatewayUrl,
        relaySecret: sandbox.relaySecret,
        // Orders spread over the last 6 hours: one day back, 30-minute windows, small pages.
        pageSize: 5,
        windowMinutes: 30,
        initialLookbackDays: 1,
        maxPagesPerPull: 10_000,
      },
      async generateOrders(count) {
        return sandbox.generateOrders(count);
      },
      listings() {
        return sandbox.listings().map((l) => ({ listing: { listingId: l.listingId }, quantity: l.quantity }));
      },
      setQuantity(listing, quantity) {
        sandbox.setQuantity(listing.listingId, quantity);
      },
      stockPushes() {
        return sandbox.pushes.map((p) => ({
          listing: { listingId: p.skuId ? `${p.numIid}:${p.skuId}` : p.numIid },
          quantity: p.quantity,
        }));
      },
      async deliverOrderWebhook(platformOrderId) {
        const h = await sandbox.deliverHint('taobao_trade_TradeChanged', platformOrderId);
        if (h.status < 200 || h.status >= 300) throw new Error(`hint delivery answered ${h.status}`);
      },
      shipments(platformOrderId) {
        return sandbox.trackingNumbers(platformOrderId);
      },
      stop: () => sandbox.stop(),
    };
  },
};
