/**
 * Stock push with `sku.syncStock` (notes §5.4 [V]): absolute quantities (`incremental=false`, so
 * no `idempotent_id` is needed), one SKU per call (the API has no batch form), `stock_num` may
 * be 0, no `out_warehouse_id` (normal stock).
 *
 * Listing ids: `<product_id>:<sku_id>` (both numeric, sent as JSON integers: the SDK types them
 * int64). A malformed id or quantity fails alone without a call. A business refusal of one SKU
 * (`isv.*`) fails that item only; a whole-call failure (token, throttle, network) of the first
 * call throws (nothing applied), of a later call marks that item `failed` with the error's action.
 *
 * Stock read with `sku.list` (request `product_id` [V: SDK struct]; `data` is the array of the
 * product's SKUs, each with `id`, `sku_type` and `stock_num` [V: SDK response struct; a
 * proxied sample agrees]): one call per product, so the SKUs of one product cost one call.
 */
import {
  ConnectorError,
  type ListingRef,
  type PushResult,
  type RateLimitedError,
  type StockReading,
  type StockUpdate,
} from '../contract.js';
import { type DoudianClient, idText } from './client.js';

const LISTING_RE = /^(\d{1,20}):(\d{1,20})$/;

const badListingId = (l: ListingRef) =>
  `listing id must be <product_id>:<sku_id>, got ${JSON.stringify(l.listingId)}`;

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
          : badListingId(update.listing),
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

/**
 * One reading per listing, same order. A malformed id, a SKU the product does not list, or one on
 * regional stock (`sku_type` 1: quantities per warehouse in `stock_map`, not read) reads
 * `ok: false`; so do the listings of a product Doudian refuses as a business failure
 * (`isv.business-failed:*`, e.g. an unknown product). A whole-call failure (token, sign,
 * throttle, network) of the first call throws; of a later call marks that product's listings.
 */
export async function readDoudianStock(
  client: DoudianClient,
  listings: readonly ListingRef[],
): Promise<StockReading[]> {
  const out: StockReading[] = listings.map((listing) => ({
    listing,
    ok: false,
    error: badListingId(listing),
  }));
  const byProduct = new Map<string, { index: number; skuId: string }[]>();
  listings.forEach((listing, index) => {
    const m = LISTING_RE.exec(listing.listingId);
    if (m) byProduct.set(m[1]!, [...(byProduct.get(m[1]!) ?? []), { index, skuId: m[2]! }]);
  });
  let sent = 0;
  for (const [productId, wanted] of byProduct) {
    sent++;
    let skus: unknown[];
    try {
      skus = await client.callList('sku.list', { product_id: BigInt(productId) });
    } catch (err) {
      if (!(err instanceof ConnectorError)) throw err;
      const refused =
        /\|isv\.business-failed:/.test(err.code ?? '') &&
        (err.action === 'config_error' || err.action === 'ignore');
      if (sent === 1 && !refused) throw err;
      for (const { index } of wanted) {
        const listing = listings[index]!;
        out[index] = { listing, ok: false, error: `listing ${listing.listingId}: ${err.message}` };
      }
      continue;
    }
    const byId = new Map<string, Record<string, unknown>>();
    for (const sku of skus as Record<string, unknown>[]) {
      const id = idText(sku?.id);
      if (id) byId.set(id, sku);
    }
    for (const { index, skuId } of wanted) out[index] = reading(listings[index]!, byId.get(skuId));
  }
  return out;
}

function reading(listing: ListingRef, sku: Record<string, unknown> | undefined): StockReading {
  const fail = (why: string): StockReading => ({
    listing,
    ok: false,
    error: `listing ${listing.listingId}: ${why}`,
  });
  if (!sku) return fail('sku.list of its product does not return this SKU');
  if ((sku.sku_type ?? 0) !== 0) return fail(`regional stock (sku_type ${String(sku.sku_type)}) is not read`);
  const q = sku.stock_num;
  if (typeof q !== 'number' || !Number.isSafeInteger(q) || q < 0) return fail('sku.list gave no stock_num');
  return { listing, ok: true, quantity: q };
}
