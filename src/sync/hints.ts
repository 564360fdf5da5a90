import type { HintReport, Orders } from '../orders/index.js';
import type { ShopConnector } from './shop-connectors.js';
import type { ShopGate } from './shop-gate.js';

/**
 * How long a hint waits for a pull to read its order, in the backlog mode, before it is read
 * back on its own. Longer than the connectors' default indexing lag (Douyin 30 s): a pull cannot
 * see changes newer than that, and most hints of a backlog are settled by the next pull anyway.
 */
export const HINT_PULL_PATIENCE_MS = 60_000;

export interface HintStep {
  mode: 'idle' | 'one-by-one' | 'pull';
  /** Hints read back one by one in this step (the backlog mode reads only the overdue ones). */
  report?: HintReport;
}

/**
 * One step of resolving a shop's re-fetch hints (webhooks that name an order without carrying
 * it), on the replica holding the shop. Every platform call waits for the shop's gate.
 *
 * - A few due hints (up to two seconds of the shop's call rate): each order is read back with
 *   `fetchOrder`, about one call per order. Fast when traffic is light.
 * - More than that (a sale, 双11): one incremental pull of the shop without the overlap
 *   (`pull`), which reads up to a page of orders per call and settles the hints of every order
 *   it reads (see pullShop). Where the list carries whole orders (Douyin, Pinduoduo) a page of
 *   100 is one call instead of 100. Taobao's list is partial: each listed trade is read with
 *   `trade.fullinfo.get`, so a page is 101 requests on the platform (the gate counts them all:
 *   `OrderPage.requests`), and only a quota above the default makes its pull worth more.
 *   Hints the pull cannot see yet (the connector's indexing lag) wait for the next one; those
 *   older than {@link HINT_PULL_PATIENCE_MS} are read back one by one, a second of the gate's
 *   rate per step (the pulls share it), so a change the listing shows late, or under an older
 *   modified time than the watermark, is not left to the next overlap re-read.
 */
export async function hintStep(
  orders: Orders,
  sc: ShopConnector,
  gate: ShopGate,
  pull: () => Promise<void>,
): Promise<HintStep> {
  const shopId = sc.shop.id;
  const limits = sc.limits;
  const perSecond = Math.max(1, Math.floor((limits.intervalCap * 1000) / Math.max(1, limits.intervalMs)));
  const due = await orders.dueHints(shopId, 2 * perSecond + 1);
  if (due === 0) return { mode: 'idle' };
  const fetch = (platformOrderId: string) =>
    gate
      .run(() => sc.connector.fetchOrder(platformOrderId))
      .then(
        (order) => {
          gate.succeeded();
          return order;
        },
        (err: unknown) => {
          gate.failedWith(err);
          throw err;
        },
      );
  if (due <= 2 * perSecond) {
    return { mode: 'one-by-one', report: await orders.resolveHints(shopId, fetch, perSecond) };
  }
  await pull();
  const report = await orders.resolveHints(shopId, fetch, perSecond, HINT_PULL_PATIENCE_MS);
  return { mode: 'pull', report };
}
