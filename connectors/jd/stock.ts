/**
 * Stock push with `jingdong.stock.write.updateSkuStock` (notes §6.3 [V], SDK classes): sets the
 * absolute sellable stock of one SKU (`skuId`, `stockNum`, optional `storeId`). JD has no batch
 * form of it, so every update is its own call and gets its own result. A third-party note says
 * JD is retiring it for `jingdong.ware.stock.sku.set` [U]: only {@link STOCK_METHOD} would change.
 *
 * Listing ids: the JD `skuId` (digits); `locationId`, when set, is sent as `storeId` (a
 * warehouse of a multi-warehouse seller). The answer `{success: true}` [U] confirms an item; an
 * `error_response` with a business code (3+ digits), or `success: false`, fails that item alone.
 * A whole-call failure (throttle, token, signature, network) of the first request throws
 * (nothing applied); later ones mark that item and every item not yet sent `failed` with the
 * error's action, keeping the results already applied.
 */
import { ConnectorError, type PushResult, type RateLimitedError, type StockUpdate } from '../contract.js';
import type { JdClient } from './client.js';
import { isGatewayCode } from './errors.js';

export const STOCK_METHOD = 'jingdong.stock.write.updateSkuStock';

const SKU_RE = /^\d{1,20}$/;

export async function pushJdStock(client: JdClient, updates: readonly StockUpdate[]): Promise<PushResult[]> {
  const results: PushResult[] = [];
  let sent = 0;
  let stopped: ConnectorError | undefined;
  for (const update of updates) {
    const { listing, quantity } = update;
    if (!SKU_RE.test(listing.listingId) || !Number.isInteger(quantity) || quantity < 0) {
      results.push({
        listing,
        status: 'failed',
        action: 'config_error',
        message: SKU_RE.test(listing.listingId)
          ? `quantity must be a whole number >= 0, got ${quantity}`
          : `listing id must be a JD skuId, got ${JSON.stringify(listing.listingId)}`,
      });
      continue;
    }
    if (listing.locationId !== undefined && !SKU_RE.test(listing.locationId)) {
      results.push({
        listing,
        status: 'failed',
        action: 'config_error',
        message: `locationId must be a JD storeId, got ${JSON.stringify(listing.locationId)}`,
      });
      continue;
    }
    if (stopped) {
      results.push(failed(listing, stopped));
      continue;
    }
    const first = sent === 0;
    sent++;
    try {
      const res = await client.call(STOCK_METHOD, {
        skuId: listing.listingId,
        stockNum: quantity,
        storeId: listing.locationId,
      });
      if (res.success === false || res.success === 'false') {
        results.push({
          listing,
          status: 'failed',
          action: 'config_error',
          message: `JD did not apply the stock of sku ${listing.listingId} (success false)`,
        });
        continue;
      }
      results.push({ listing, status: 'ok', quantity });
    } catch (err) {
      if (!(err instanceof ConnectorError)) throw err;
      const itemOnly = err.code !== undefined && /^\d+$/.test(err.code) && !isGatewayCode(err.code);
      if (itemOnly) {
        results.push(failed(listing, err));
        continue;
      }
      if (first) throw err;
      stopped = err;
      results.push(failed(listing, err));
    }
  }
  return results;
}

function failed(listing: StockUpdate['listing'], err: ConnectorError): PushResult {
  return {
    listing,
    status: 'failed',
    action: err.action,
    ...(err.code ? { code: err.code } : {}),
    ...(err.action === 'rate_limited' ? { retryAfterMs: (err as RateLimitedError).retryAfterMs } : {}),
    message: err.message,
  };
}
