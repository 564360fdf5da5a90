/**
 * Stock push with `pdd.goods.quantity.update` (notes §4.4 [V]): `goods_id`, `sku_id`, `quantity`,
 * `update_type=1` (absolute set). PDD has no multi-SKU variant of this API, so every update is one
 * request (`maxStockBatch` 1) and one bad listing fails alone.
 *
 * Listing ids are `<goods_id>:<sku_id>` (every PDD goods has at least one SKU). A per-item business
 * error (10000 parameter, 50001 business such as "stock of a goods in a promotion slot cannot be
 * reduced", 52101 goods unknown [U]) fails that item only; a whole-call failure (auth, throttle,
 * network) on the first request throws (nothing applied), on a later one marks the remaining
 * items failed with its action, keeping the results already applied.
 */
import { ConnectorError, type PushResult, type RateLimitedError, type StockUpdate } from '../contract.js';
import type { PddClient } from './client.js';

const LISTING_RE = /^(\d{1,20}):(\d{1,20})$/;
const ITEM_ERROR_RE = /^(10000|50001|52101)\|/;

export class PddStockPusher {
  constructor(private readonly client: PddClient) {}

  async push(updates: readonly StockUpdate[]): Promise<PushResult[]> {
    const results: PushResult[] = [];
    let sent = 0;
    let stopped: ConnectorError | undefined;
    for (const update of updates) {
      const m = LISTING_RE.exec(update.listing.listingId);
      if (!m || !Number.isInteger(update.quantity) || update.quantity < 0) {
        results.push({
          listing: update.listing,
          status: 'failed',
          action: 'config_error',
          message: m
            ? `quantity must be a whole number >= 0, got ${update.quantity}`
            : `listing id must be <goods_id>:<sku_id>, got ${JSON.stringify(update.listing.listingId)}`,
        });
        continue;
      }
      if (stopped) {
        results.push(failed(update, stopped));
        continue;
      }
      try {
        sent++;
        const res = await this.client.call('pdd.goods.quantity.update', {
          goods_id: m[1],
          sku_id: m[2],
          quantity: update.quantity,
          update_type: 1,
        });
        if (res.is_success === false || res.is_success === 'false') {
          results.push({
            listing: update.listing,
            status: 'failed',
            action: 'retry',
            message: 'PDD answered is_success=false',
          });
        } else {
          results.push({ listing: update.listing, status: 'ok', quantity: update.quantity });
        }
      } catch (err) {
        if (!(err instanceof ConnectorError)) throw err;
        if (ITEM_ERROR_RE.test(err.code ?? '')) {
          results.push(failed(update, err));
          continue;
        }
        if (sent === 1 && results.every((r) => r.status !== 'ok')) throw err;
        stopped = err;
        results.push(failed(update, err));
      }
    }
    return results;
  }
}

function failed(update: StockUpdate, err: ConnectorError): PushResult {
  return {
    listing: update.listing,
    status: 'failed',
    action: err.action,
    ...(err.code ? { code: err.code } : {}),
    ...(err.action === 'rate_limited' ? { retryAfterMs: (err as RateLimitedError).retryAfterMs } : {}),
    message: err.message,
  };
}
