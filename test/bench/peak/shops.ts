/**
 * The peak benchmark's marketplace shops: the Shopify, Taobao and Douyin sandboxes, started in
 * the bench process with a catalog of about 200 sellable variants each.
 *
 * Why not `connectors/<platform>/sandbox-harness.ts`: the harnesses start each sandbox with its
 * default catalog (12 variants), and the profile needs ~200 SKUs listed on every shop. This file
 * starts the same sandbox classes with a bigger catalog and bridges ids exactly as the harnesses
 * do (stock refs, platform item and SKU ids), plus what the driver needs: one signed delivery
 * per call, timed by the caller, and a way to keep the sandboxes' own records from growing.
 */
import type { ListingRef } from '../../../connectors/contract.js';
import { DouyinSandbox } from '../../../connectors/douyin/sandbox.js';
import { ShopifySandbox } from '../../../connectors/shopify/sandbox.js';
import { TaobaoSandbox } from '../../../connectors/taobao/sandbox.js';

export type BenchPlatform = 'shopify' | 'taobao' | 'douyin';
export const PLATFORMS: readonly BenchPlatform[] = ['shopify', 'taobao', 'douyin'];

/** One sellable listing of a shop, as a seller maps it (see SandboxSession.catalog). */
export interface ShopListing {
  platformItemId: string;
  platformSkuId?: string;
  stockRef: ListingRef;
  /** A gift item (Taobao's 赠品, Douyin's gift product): only generated orders carry it. */
  gift: boolean;
}

export interface BenchShop {
  readonly id: string;
  readonly platform: BenchPlatform;
  /** The connector settings for the daemon's config (`shops[].connector`). */
  readonly connector: Record<string, unknown>;
  /** Regular listings first (the generator sells these), then gift listings. */
  readonly listings: readonly ShopListing[];
  /**
   * A buyer's paid order, one line per entry; throws (placing nothing) when a listing holds
   * fewer units than its line.
   */
  sell(lines: readonly { ref: ListingRef; quantity: number }[]): string;
  /** One order from the sandbox's own generator (promotions, gifts, several lines, lifecycle), if placed. */
  generate(): string | undefined;
  /** Cancels an unshipped order (its units go back); throws when it cannot. */
  cancel(orderId: string): void;
  /** POSTs one signed webhook about the order (one attempt); resolves the HTTP status, 0 on failure. */
  announce(orderId: string, event: 'created' | 'updated'): Promise<number>;
  quantity(ref: ListingRef): number;
  setQuantity(ref: ListingRef, quantity: number): void;
  /** Drops the sandbox's records of deliveries, API calls and pushes (counting the calls first). */
  trim(): void;
  /** API calls the sandbox served since it started, by method (Shopify: HTTP method and path). */
  apiCalls(): Record<string, number>;
  stop(): Promise<void>;
}

export interface ShopOptions {
  id: string;
  platform: BenchPlatform;
  seed: number;
  webhookUrl: string;
  /** Products (Shopify, Douyin) or items (Taobao) of 3 variants each. */
  products: number;
}

/** Counts API calls by name across trims (the sandboxes' records are dropped every second). */
function callTally() {
  const counted: Record<string, number> = {};
  const add = (into: Record<string, number>, names: Iterable<string>) => {
    for (const name of names) into[name] = (into[name] ?? 0) + 1;
    return into;
  };
  return {
    /** Counts `names` for good (the records are about to be dropped). */
    keep: (names: Iterable<string>) => void add(counted, names),
    /** Counted so far, with `names` (records not dropped yet). */
    totals: (names: Iterable<string>) => add({ ...counted }, names),
  };
}

/** Generated orders are created at most this long before now, so a pull's window sees them. */
const SPREAD_MS = 60_000;

export async function startShop(o: ShopOptions): Promise<BenchShop> {
  switch (o.platform) {
    case 'shopify':
      return startShopify(o);
    case 'taobao':
      return startTaobao(o);
    case 'douyin':
      return startDouyin(o);
  }
}

async function startShopify(o: ShopOptions): Promise<BenchShop> {
  const sandbox = new ShopifySandbox({
    seed: o.seed,
    webhookUrl: o.webhookUrl,
    products: o.products,
    locations: 1,
    initialQuantity: 0,
    restBucket: { capacity: 10_000, leakPerSecond: 1000 },
    graphqlBucket: { capacity: 100_000, restorePerSecond: 10_000 },
    // One attempt per delivery: the driver times exactly one POST.
    webhookRetries: 0,
    maxLifetimeMs: 24 * 3600_000,
  });
  const url = await sandbox.start();
  const location = sandbox.locationIds[0]!;
  const calls = callTally();
  const requestNames = () => sandbox.requests.map((r) => `${r.method} ${r.path.replace(/\d+/g, ':id')}`);
  const key = (ref: ListingRef) => ({
    item: Number(ref.listingId),
    location: ref.locationId === undefined ? location : Number(ref.locationId),
  });
  return {
    id: o.id,
    platform: 'shopify',
    connector: {
      shopDomain: sandbox.shopDomain,
      baseUrl: url,
      accessToken: sandbox.accessToken,
      apiSecret: sandbox.apiSecret,
      locationId: String(location),
      // A 双11-sized seller is on Shopify Plus (REST 20 requests/s; the gate follows the plan).
      plan: 'plus',
      initialLookbackDays: 1,
    },
    listings: sandbox.variants.map((v) => ({
      platformItemId: String(v.product_id),
      platformSkuId: String(v.id),
      stockRef: { listingId: String(v.inventory_item_id), locationId: String(location) },
      gift: false,
    })),
    sell(lines) {
      const location = key(lines[0]!.ref).location;
      return String(
        sandbox.sellLines(
          lines.map((l) => ({ inventoryItemId: key(l.ref).item, quantity: l.quantity })),
          location,
        ).id,
      );
    },
    generate() {
      const [order] = sandbox.generateOrders(1);
      return order ? String(order.id) : undefined;
    },
    cancel(orderId) {
      sandbox.cancel(Number(orderId));
    },
    async announce(orderId, event) {
      const d = await sandbox.deliver(
        event === 'created' ? 'orders/create' : 'orders/updated',
        Number(orderId),
      );
      return d.status;
    },
    quantity(ref) {
      const k = key(ref);
      return sandbox.quantity(k.item, k.location) ?? 0;
    },
    setQuantity(ref, quantity) {
      const k = key(ref);
      sandbox.setQuantity(k.item, k.location, quantity);
    },
    trim() {
      calls.keep(requestNames());
      sandbox.deliveries.length = 0;
      sandbox.requests.length = 0;
      sandbox.pushes.length = 0;
    },
    apiCalls: () => calls.totals(requestNames()),
    stop: () => sandbox.stop(),
  };
}

async function startTaobao(o: ShopOptions): Promise<BenchShop> {
  const sandbox = new TaobaoSandbox({
    seed: o.seed,
    webhookUrl: o.webhookUrl,
    items: o.products,
    initialQuantity: 0,
    throttle: { capacity: 100_000, refillPerSecond: 10_000, banSeconds: 1 },
    spreadMs: SPREAD_MS,
  });
  await sandbox.start();
  const calls = callTally();
  const listing = (numIid: string, skuId?: string) => (skuId === undefined ? numIid : `${numIid}:${skuId}`);
  const entries = (items: typeof sandbox.items, gift: boolean): ShopListing[] =>
    items.flatMap((item) =>
      item.skus.length === 0
        ? [{ platformItemId: item.numIid, stockRef: { listingId: item.numIid }, gift }]
        : item.skus.map((s) => ({
            platformItemId: item.numIid,
            platformSkuId: s.skuId,
            stockRef: { listingId: listing(item.numIid, s.skuId) },
            gift,
          })),
    );
  return {
    id: o.id,
    platform: 'taobao',
    connector: {
      sellerNick: sandbox.sellerNick,
      appKey: sandbox.appKey,
      appSecret: sandbox.appSecret,
      session: sandbox.session,
      gatewayUrl: sandbox.gatewayUrl,
      relaySecret: sandbox.relaySecret,
      initialLookbackDays: 1,
    },
    listings: [...entries(sandbox.items, false), ...entries(sandbox.giftItems, true)],
    sell: (lines) =>
      sandbox.sellLines(lines.map((l) => ({ listingId: l.ref.listingId, quantity: l.quantity }))),
    generate: () => sandbox.generateOrders(1)[0],
    cancel: (orderId) => sandbox.cancel(orderId),
    async announce(orderId, event) {
      const topic = event === 'created' ? 'taobao_trade_TradeBuyerPay' : 'taobao_trade_TradeChanged';
      return (await sandbox.deliverHint(topic, orderId)).status;
    },
    quantity: (ref) => sandbox.quantity(ref.listingId) ?? 0,
    setQuantity: (ref, quantity) => sandbox.setQuantity(ref.listingId, quantity),
    trim() {
      calls.keep(sandbox.calls.map((c) => c.method));
      sandbox.hints.length = 0;
      sandbox.calls.length = 0;
      sandbox.pushes.length = 0;
    },
    apiCalls: () => calls.totals(sandbox.calls.map((c) => c.method)),
    stop: () => sandbox.stop(),
  };
}

async function startDouyin(o: ShopOptions): Promise<BenchShop> {
  const sandbox = new DouyinSandbox({
    seed: o.seed,
    webhookUrl: o.webhookUrl,
    products: o.products,
    initialQuantity: 0,
    throttle: { capacity: 100_000, refillPerSecond: 10_000 },
    spreadMs: SPREAD_MS,
  });
  const url = await sandbox.start();
  const calls = callTally();
  const entries = (products: readonly (typeof sandbox.giftProduct)[], gift: boolean): ShopListing[] =>
    products.flatMap((p) =>
      p.skus.map((s) => ({
        platformItemId: p.productId,
        platformSkuId: s.skuId,
        stockRef: { listingId: `${p.productId}:${s.skuId}` },
        gift,
      })),
    );
  return {
    id: o.id,
    platform: 'douyin',
    connector: {
      shopId: sandbox.shopId,
      appKey: sandbox.appKey,
      appSecret: sandbox.appSecret,
      accessToken: sandbox.accessToken,
      gatewayUrl: url,
      initialLookbackDays: 1,
      // The sandbox indexes an order the moment it changes (the harness does the same).
      lagMs: 0,
    },
    listings: [...entries(sandbox.products, false), ...entries([sandbox.giftProduct], true)],
    sell: (lines) =>
      sandbox.sellLines(lines.map((l) => ({ listingId: l.ref.listingId, quantity: l.quantity }))),
    generate: () => sandbox.generateOrders(1)[0],
    cancel: (orderId) => sandbox.cancel(orderId),
    // Tag 110 (paid) for both: a push message is a re-fetch hint whatever its tag.
    announce: async (orderId) => (await sandbox.deliverPush('110', orderId)).status,
    quantity: (ref) => sandbox.quantity(ref.listingId) ?? 0,
    setQuantity: (ref, quantity) => sandbox.setQuantity(ref.listingId, quantity),
    trim() {
      calls.keep(sandbox.calls.map((c) => c.method));
      sandbox.deliveries.length = 0;
      sandbox.calls.length = 0;
      sandbox.pushes.length = 0;
    },
    apiCalls: () => calls.totals(sandbox.calls.map((c) => c.method)),
    stop: () => sandbox.stop(),
  };
}
