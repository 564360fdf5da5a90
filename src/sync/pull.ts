import { ConnectorError, type RateLimitedError } from '../../connectors/contract.js';
import { sql } from '../db/sql.js';
import { type CanonicalOrder, supersedes } from '../domain/order.js';
import type { Inventory } from '../inventory/index.js';
import type { Tx } from '../inventory/tx.js';
import { raiseException } from '../orders/exceptions.js';
import { type InboxDelivery, orderRevisionKey } from '../orders/inbox.js';
import type { Orders } from '../orders/index.js';
import type { ShopConnector } from './shop-connectors.js';
import type { ShopGate } from './shop-gate.js';

export interface PullReport {
  shopId: string;
  pages: number;
  orders: number;
  rejects: number;
  /** The connector reached the newest data (false: stopped at its page bound; pull again soon). */
  caughtUp: boolean;
  error?: string;
  /** Set when the shop must be paused: its credentials or configuration were refused. */
  pause?: string;
}

/**
 * One incremental pull of a shop. Each page's orders go into the inbox in the same transaction
 * that stores the page's cursor, so the watermark never runs ahead of what is stored (a crash
 * re-reads, never skips). Orders the connector could not map are recorded as exceptions, not
 * dropped. A failure keeps the cursor of the last stored page and is recorded on the shop.
 */
export async function pullShop(
  inv: Inventory,
  orders: Orders,
  sc: ShopConnector,
  options: {
    signal?: AbortSignal;
    gate?: ShopGate;
    /** False once this replica no longer holds the shop: the pull stops after the stored page. */
    holds?: () => boolean;
  } = {},
): Promise<PullReport> {
  const shopId = sc.shop.id;
  const report: PullReport = { shopId, pages: 0, orders: 0, rejects: 0, caughtUp: false };
  const [row] = await inv.transaction((tx) =>
    tx.query<{ pull_cursor: string | null }>(sql`SELECT pull_cursor FROM shop WHERE id = ${shopId}`),
  );
  try {
    const pages = sc.connector.pullOrders(row?.pull_cursor ?? null, { signal: options.signal });
    const gate = options.gate;
    // Each page is one platform call: it waits for the shop's gate (rate limits, throttle).
    const next = () => (gate ? gate.run(() => pages.next()) : pages.next());
    for (let it = await next(); !it.done; it = await next()) {
      const page = it.value;
      const deliveries: InboxDelivery[] = page.orders.map((o) => {
        const order = { ...o, shopId };
        // One inbox row per order revision, however many times and ways it is read.
        return { shopId, source: 'pull', dedupeKey: orderRevisionKey(order), payload: { order } };
      });
      await inv.transaction(async (tx) => {
        await orders.receiveAll(await notStoredYet(tx, shopId, deliveries), tx);
        for (const r of page.rejects) {
          await raiseException(tx, {
            kind: 'parked_event',
            subject: `reject:${shopId}:${r.platformOrderId}`,
            shopId,
            platformOrderId: r.platformOrderId,
            message: `order ${r.platformOrderId} could not be read from ${sc.shop.platform}: ${r.error}`,
          });
        }
        await saveCursor(tx, shopId, page.nextCursor);
      });
      report.pages++;
      report.orders += page.orders.length;
      report.rejects += page.rejects.length;
      report.caughtUp = page.caughtUp;
      if (options.holds && !options.holds()) {
        await pages.return?.(undefined);
        break;
      }
    }
    options.gate?.succeeded();
  } catch (err) {
    report.error = (err as Error).message;
    const action = err instanceof ConnectorError ? err.action : 'retry';
    if (action === 'config_error' || action === 'refresh_token') report.pause = report.error;
    else if (action === 'rate_limited') options.gate?.throttle((err as RateLimitedError).retryAfterMs);
    else options.gate?.failed();
    await inv.transaction((tx) =>
      tx.execute(sql`
        UPDATE shop SET last_pull_error = ${report.error!.slice(0, 2000)} WHERE id = ${shopId}`),
    );
  }
  return report;
}

/**
 * The deliveries whose order the ledger does not hold at this revision or a newer one. The pull
 * re-reads an overlap window, and most orders in it arrived by webhook already: storing them
 * again would apply each a second time, to change nothing (see compareRevisions).
 */
async function notStoredYet(tx: Tx, shopId: string, deliveries: InboxDelivery[]): Promise<InboxDelivery[]> {
  const incoming = deliveries.map((d) => (d.payload as { order: CanonicalOrder }).order);
  if (incoming.length === 0) return deliveries;
  const rows = await tx.query<{
    platform_order_id: string;
    platform: CanonicalOrder['platform'];
    modified_at: string | null;
    version: string | null;
    status: CanonicalOrder['status'];
    refunds: CanonicalOrder['refunds'];
  }>(sql`
    SELECT platform_order_id, platform, to_json(platform_modified_at)#>>'{}' AS modified_at,
           platform_version::text AS version, status::text AS status, data->'refunds' AS refunds
    FROM sales_order WHERE shop_id = ${shopId} AND platform_order_id = ANY(${incoming.map((o) => o.platformOrderId)}::text[])`);
  const stored = new Map(rows.map((r) => [r.platform_order_id, r]));
  return deliveries.filter((_, k) => {
    const o = incoming[k]!;
    const s = stored.get(o.platformOrderId);
    if (!s) return true;
    return supersedes(o, {
      shopId,
      platform: s.platform,
      platformOrderId: s.platform_order_id,
      status: s.status,
      refunds: s.refunds ?? [],
      ...(s.modified_at !== null ? { platformModifiedAt: s.modified_at } : {}),
      ...(s.version !== null ? { platformVersion: Number(s.version) } : {}),
    });
  });
}

async function saveCursor(tx: Tx, shopId: string, cursor: string): Promise<void> {
  await tx.execute(sql`
    UPDATE shop SET pull_cursor = ${cursor}, last_pull_at = now(), last_pull_error = NULL WHERE id = ${shopId}`);
}
