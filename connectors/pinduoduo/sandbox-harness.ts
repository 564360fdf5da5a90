/**
 * The Pinduoduo sandbox seen through the platform-neutral {@link SandboxHarness}: used by the
 * contract tests, the demo and the benchmark. Bridges ids only; the sandbox itself shares no code
 * with the connector.
 */
import type { SandboxHarness, SandboxSession, SandboxStartOptions } from '../contract.js';
import type { PinduoduoConfigInput } from './config.js';
import { PddSandbox } from './sandbox.js';

/** The sandbox accepts any logistics_id; these map the carriers the demo and tests use. */
const LOGISTICS_IDS = { UPS: 44, SF: 44, YTO: 85, ZTO: 115 };

export const harness: SandboxHarness<PinduoduoConfigInput> = {
  async start(options: SandboxStartOptions = {}): Promise<SandboxSession<PinduoduoConfigInput>> {
    const sandbox = new PddSandbox({
      seed: options.seed ?? 1,
      ...(options.webhookUrl ? { webhookUrl: options.webhookUrl } : {}),
      ...(options.relaxedRateLimits ? { throttle: { capacity: 100_000, refillPerSecond: 10_000 } } : {}),
    });
    const url = await sandbox.start();
    const message = async (topic: string, orderSn: string) => {
      const status = await sandbox.deliverMessage(topic, orderSn);
      if (status < 200 || status >= 300) throw new Error(`message delivery answered ${status}`);
    };
    return {
      url,
      config: {
        mallId: sandbox.mallId,
        clientId: sandbox.clientId,
        clientSecret: sandbox.clientSecret,
        accessToken: sandbox.accessToken,
        gatewayUrl: sandbox.gatewayUrl,
        relaySecret: sandbox.relaySecret,
        logisticsIds: LOGISTICS_IDS,
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
        const orderSn = sandbox.sell(listing.listingId, quantity);
        if (options.notify) await message('pdd_trade_TradeConfirmed', orderSn);
        return orderSn;
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
        // One entry per SKU (the gift goods included): orders carry goods_id / sku_id and the
        // SKU's outer_id (商家编码); stock goes to `goods_id:sku_id`.
        const stock = new Map(sandbox.listings().map((l) => [l.listingId, l.quantity]));
        return [...sandbox.goods, sandbox.giftGoods].flatMap((g) =>
          g.skus.map((s) => ({
            skuCode: s.outerId,
            title: `${g.name} ${s.spec}`,
            platformItemId: g.goodsId,
            platformSkuId: s.skuId,
            stockRef: { listingId: `${g.goodsId}:${s.skuId}` },
            quantity: stock.get(`${g.goodsId}:${s.skuId}`) ?? 0,
          })),
        );
      },
      setQuantity(listing, quantity) {
        sandbox.setQuantity(listing.listingId, quantity);
      },
      stockPushes() {
        return sandbox.pushes.map((p) => ({
          listing: { listingId: `${p.goodsId}:${p.skuId}` },
          quantity: p.quantity,
        }));
      },
      async deliverOrderWebhook(platformOrderId) {
        await message('pdd_trade_TradeSellerShip', platformOrderId);
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
