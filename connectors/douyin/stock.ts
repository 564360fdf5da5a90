/**
 * Stock push with `sku.syncStock` (notes §5.4 [V]): absolute quantities (`incremental=false`, so
 * no `idempotent_id` is needed), one SKU per call (the API has no batch form), `stock_num` may
 * be 0, no `out_warehouse_id` (normal stock).
 *
 * Listing ids: `<product_id>:<sku_id>` (both numeric, sent as JSON integers: the SDK types them
 * int64). A malformed id or quantity fails alone without a call. A business refusal of one SKU
 * (`isv.*`) fails that item only; a whole-call failure (token, throttle, network) of the first
 * call throws (nothing applied), of a later call marks that item `failed` with the error's action.
 */
import { ConnectorError, type PushResult, type RateLimitedError, type StockUpdate } from '../contract.js';
import type { DoudianClient } from './client.js';

const LISTING_RE = /^(\d{1,20}):(\d{1,20})$/;

export async function pushDoudianStock(
  client: DoudianClient,
  updates: readonly StockUpdate[],
): Promise<PushResult[]> {
  const results: PushResult[] = [];
  let sent = 0;
  for (const update of updates) {
    const m = LISTING_RE.exec(update.listing.listingId);
    if (!m || !Number.isInteger(update.quantity) || update.quantity < 0) {
      results.push({
        listing: update.listing,
        status: 'failed',
        action: 'config_error',
        message: m
          ? `quantity must be a whole number >= 0, got ${update.quantity}`
          : `listing id must be <product_id>:<sku_id>, got ${JSON.stringify(update.listing.listingId)}`,
      });
      continue;
    }
    const first = sent === 0;
    sent++;
    try {
      await client.call('sku.syncStock', {
        product_id: BigInt(m[1]!),
        sku_id: BigInt(m[2]!),
        stock_num: update.quantity,
        incremental: false,
      });
      results.push({ listing: update.listing, status: 'ok', quantity: update.quantity });
    } catch (err) {
      if (!(err instanceof ConnectorError)) throw err;
      const itemLevel =
        /\|isv\./.test(err.code ?? '') && err.action !== 'refresh_token' && err.action !== 'rate_limited';
      if (first && !itemLevel) throw err;
      results.push({
        listing: update.listing,
        status: 'failed',
        action: err.action,
        ...(err.code ? { code: err.code } : {}),
        ...(err.action === 'rate_limited' ? { retryAfterMs: (err as RateLimitedError).retryAfterMs } : {}),
        message: err.message,
      });
    }
  }
  return results;
}
