/**
 * The Taobao sandbox seen through the platform-neutral {@link SandboxHarness}: used by the
 * contract tests, the demo and the benchmark. Bridges ids only; the sandbox itself shares no
 * code with the connector.
 */
import type { SandboxHarness, SandboxSession, SandboxStartOptions } from '../contract.js';
import type { TaobaoConfigInput } from './config.js';
import { COLORS, TaobaoSandbox } from './sandbox.js';

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
    const hint = async (topic: string, tid: string) => {
      const h = await sandbox.deliverHint(topic, tid);
      if (h.status < 200 || h.status >= 300) throw new Error(`hint delivery answered ${h.status}`);
    };
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
      async sell(listing, quantity, options = {}) {
        const tid = sandbox.sell(listing.listingId, quantity);
        if (options.notify) await hint('taobao_trade_TradeBuyerPay', tid);
        return tid;
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
        // Items with SKUs: one entry per SKU (outer_sku_id, num_iid:sku_id). Items without SKUs
        // (the single-spec bag, the gift items): the item's outer_iid and num_iid alone; their
        // order lines carry no sku_id and no outer_sku_id, so they map by (num_iid, '').
        return [...sandbox.items, ...sandbox.giftItems].flatMap((item) =>
          item.skus.length === 0
            ? [
                {
                  skuCode: item.outerId,
                  title: item.title,
                  platformItemId: item.numIid,
                  stockRef: { listingId: item.numIid },
                  quantity: sandbox.quantity(item.numIid) ?? 0,
                },
              ]
            : item.skus.map((s, j) => ({
                skuCode: s.outerId,
                title: `${item.title} ${COLORS[j] ?? s.outerId}`,
                platformItemId: item.numIid,
                platformSkuId: s.skuId,
                stockRef: { listingId: `${item.numIid}:${s.skuId}` },
                quantity: sandbox.quantity(`${item.numIid}:${s.skuId}`) ?? 0,
              })),
        );
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
        await hint('taobao_trade_TradeChanged', platformOrderId);
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
