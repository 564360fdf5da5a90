import { ConnectorError } from '../../connectors/contract.js';
import { sql } from '../db/sql.js';
import type { Inventory } from '../inventory/index.js';
import type { Tx } from '../inventory/tx.js';
import { raiseException } from '../orders/exceptions.js';
import {
  type InboxDelivery,
  notStoredYet,
  orderRevisionKey,
  settleHints,
  settleHintsBefore,
} from '../orders/inbox.js';
import type { Orders } from '../orders/index.js';
import type { ShopConnector } from './shop-connectors.js';
import { GATE_PRIORITY, type ShopGate } from './shop-gate.js';

export interface PullReport {
  shopId: string;
  pages: number;
  orders: number;
  rejects: number;
  /** Re-fetch hints this pull made unnecessary: their orders were on its pages. */
  hintsSettled: number;
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
 * Each page also settles the pending re-fetch hints of its orders that arrived before the pull
 * started (the page read them after the hint), and the caught-up page every hint that arrived
 * before the pull started less the connector's lag: they need no read of their own.
 * A paused shop is not pulled (nothing read, an empty report).
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
    /** Read only past the watermark (see the connector contract): a pull prompted by hints. */
    skipOverlap?: boolean;
  } = {},
): Promise<PullReport> {
  const shopId = sc.shop.id;
  const report: PullReport = { shopId, pages: 0, orders: 0, rejects: 0, hintsSettled: 0, caughtUp: false };
  // The database's time now: every page is read after it, so it settles the re-fetch hints
  // received before it of the orders the page holds.
  const [row] = await inv.statement<{ pull_cursor: string | null; started: string; paused: boolean }>(
    sql`SELECT pull_cursor, to_json(now())#>>'{}' AS started, paused_at IS NOT NULL AS paused
        FROM shop WHERE id = ${shopId}`,
  );
  if (!row) throw new Error(`shop ${shopId} is not registered`);
  if (row.paused) return report;
  try {
    const pages = sc.connector.pullOrders(row.pull_cursor, {
      signal: options.signal,
      skipOverlap: options.skipOverlap === true,
    });
    const gate = options.gate;
    // Each page waits for the shop's gate (rate limits, throttle).
    const next = () => (gate ? gate.run(() => pages.next(), GATE_PRIORITY.pull) : pages.next());
    for (let it = await next(); !it.done; it = await next()) {
      const page = it.value;
      // A page that took several requests (Taobao reads each listed trade) takes their slots
      // too: the calls after it wait for them.
      if (gate && (page.requests ?? 1) > 1)
        void gate.run(async () => {}, GATE_PRIORITY.pull, page.requests! - 1);
      const deliveries: InboxDelivery[] = page.orders.map((o) => {
        const order = { ...o, shopId };
        // One inbox row per order revision, however many times and ways it is read.
        return { shopId, source: 'pull', dedupeKey: orderRevisionKey(order), payload: { order } };
      });
      await inv.transaction(async (tx) => {
        await orders.receiveAll(await notStoredYet(tx, shopId, deliveries), tx);
        report.hintsSettled += await settleHints(
          tx,
          shopId,
          [...page.orders.map((o) => o.platformOrderId), ...page.rejects.map((r) => r.platformOrderId)],
          row.started,
        );
        // Caught up: every change made before the pull started, less the connector's lag, has
        // been delivered by now, so a hint received before that about an order the ledger holds
        // names a change already read (by this pull or an earlier one), whichever pages its
        // order was on.
        if (page.caughtUp) {
          report.hintsSettled += await settleHintsBefore(
            tx,
            shopId,
            row.started,
            sc.connector.pullLagMs + 1000,
          );
        }
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
    const action = options.gate
      ? options.gate.failedWith(err).action
      : err instanceof ConnectorError
        ? err.action
        : 'retry';
    if (action === 'config_error' || action === 'refresh_token') report.pause = report.error;
    await inv.transaction((tx) =>
      tx.execute(sql`
        UPDATE shop SET last_pull_error = ${report.error!.slice(0, 2000)} WHERE id = ${shopId}`),
    );
  }
  return report;
}

/**
 * Whether a scheduled pull should re-read the connector's overlap, given the last pull that did
 * and ended caught up (its start and duration): not while less than five times that duration
 * has passed (at most a fifth of the shop's time re-reading), but always once half the overlap
 * has (every instant is then re-read at least once). Always before the first.
 */
export function overlapDue(
  last: { started: number; tookMs: number } | undefined,
  now: number,
  overlapMs: number,
): boolean {
  return last === undefined || now - last.started >= Math.min(overlapMs / 2, 5 * last.tookMs);
}

async function saveCursor(tx: Tx, shopId: string, cursor: string): Promise<void> {
  await tx.execute(sql`
    UPDATE shop SET pull_cursor = ${cursor}, last_pull_at = now(), last_pull_error = NULL WHERE id = ${shopId}`);
}
