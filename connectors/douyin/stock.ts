/**
 * Stock push (notes §5.4 [V]): absolute quantities (`incremental=false`, so no `idempotent_id`
 * is needed), `stock_num` may be 0, no `out_warehouse_id` (normal stock).
 *
 * SKUs of one product go together in `sku.syncStockBatch` (`product_id`, `sku_sync_list` of
 * `{sku_id, stock_num}`; the official SDK's request struct [V]). The call is all or nothing: one
 * bad SKU fails the whole request and nothing is applied (the SDK's field comment [V]). So when a
 * batch is refused for a business reason (`isv.*`), its SKUs are sent again one by one with
 * `sku.syncStock` and each gets its own result (at most n+1 calls for a batch of n). A single
 * SKU, and a SKU given twice in one call, goes through `sku.syncStock`. At most
 * {@link MAX_SKUS_PER_BATCH} SKUs per request (Doudian documents no cap [U]).
 *
 * Listing ids: `<product_id>:<sku_id>` (both numeric, sent as JSON integers: the SDK types them
 * int64). A malformed id or quantity fails alone without a call. A whole-call failure (token,
 * throttle, network) of the first request throws (nothing applied); of a later request marks
 * its items `failed` with the error's action.
 *
 * Stock read with `sku.list` (request `product_id` [V: SDK struct]; `data` is the array of the
 * product's SKUs, each with `id`, `sku_type` and `stock_num` [V: SDK response struct; a
 * proxied sample agrees]): one call per product, so the SKUs of one product cost one call.
 */
import {
  ConnectorError,
  failedPush,
  type ListingRef,
  type PushResult,
  type StockReading,
  type StockUpdate,
} from '../contract.js';
import { type DoudianClient, idText } from './client.js';
import { MAX_SKUS_PER_BATCH } from './config.js';

const LISTING_RE = /^(\d{1,20}):(\d{1,20})$/;

const badListingId = (l: ListingRef) =>
  `listing id must be <product_id>:<sku_id>, got ${JSON.stringify(l.listingId)}`;

/** The product of a listing id: the key of the SKUs one `sku.syncStockBatch` call can carry. */
export function doudianStockBatchKey(listing: ListingRef): string {
  const m = LISTING_RE.exec(listing.listingId);
  return m ? m[1]! : `?${listing.listingId}`;
}

/** Requests `readDoudianStock` makes: one `sku.list` per product (a malformed id makes none). */
export function doudianReadRequests(listings: readonly ListingRef[]): number {
  const products = new Set<string>();
  for (const l of listings) {
    const m = LISTING_RE.exec(l.listingId);
    if (m) products.add(m[1]!);
  }
  return products.size;
}

interface Prepared {
  index: number;
  update: StockUpdate;
  productId: string;
  skuId: string;
}

export async function pushDoudianStock(
  client: DoudianClient,
  updates: readonly StockUpdate[],
): Promise<PushResult[]> {
  const results: (PushResult | undefined)[] = updates.map(() => undefined);
  const byProduct = new Map<string, Prepared[]>();
  const alone: Prepared[] = [];
  updates.forEach((update, index) => {
    const m = LISTING_RE.exec(update.listing.listingId);
    if (!m || !Number.isInteger(update.quantity) || update.quantity < 0) {
      results[index] = {
        listing: update.listing,
        status: 'failed',
        action: 'config_error',
        message: m
          ? `quantity must be a whole number >= 0, got ${update.quantity}`
          : badListingId(update.listing),
      };
      return;
    }
    const p: Prepared = { index, update, productId: m[1]!, skuId: m[2]! };
    const group = byProduct.get(p.productId) ?? [];
    // A SKU given twice goes alone, after the batch: one request never sets one SKU twice.
    if (group.some((g) => g.skuId === p.skuId)) alone.push(p);
    else group.push(p);
    byProduct.set(p.productId, group);
  });
  const requests: Prepared[][] = [];
  for (const group of byProduct.values())
    for (let i = 0; i < group.length; i += MAX_SKUS_PER_BATCH)
      requests.push(group.slice(i, i + MAX_SKUS_PER_BATCH));
  for (const p of alone) requests.push([p]);

  let sent = 0;
  // One request; false when it failed as a whole for a business reason (a batch is then re-sent
  // one by one). A whole-call failure of the first request throws; of a later one, marks its items.
  const send = async (items: Prepared[], method: string, params: Record<string, unknown>) => {
    const first = sent === 0;
    sent++;
    try {
      await client.call(method, params);
      for (const p of items)
        results[p.index] = { listing: p.update.listing, status: 'ok', quantity: p.update.quantity };
      return true;
    } catch (err) {
      if (!(err instanceof ConnectorError)) throw err;
      const itemLevel =
        /\|isv\./.test(err.code ?? '') && err.action !== 'refresh_token' && err.action !== 'rate_limited';
      if (itemLevel && items.length > 1) return false;
      if (first && !itemLevel) throw err;
      for (const p of items) results[p.index] = failedPush(p.update.listing, err);
      return true;
    }
  };
  const single = (p: Prepared) =>
    send([p], 'sku.syncStock', {
      product_id: BigInt(p.productId),
      sku_id: BigInt(p.skuId),
      stock_num: p.update.quantity,
      incremental: false,
    });
  for (const items of requests) {
    if (items.length === 1) {
      await single(items[0]!);
      continue;
    }
    const applied = await send(items, 'sku.syncStockBatch', {
      product_id: BigInt(items[0]!.productId),
      incremental: false,
      sku_sync_list: items.map((p) => ({ sku_id: BigInt(p.skuId), stock_num: p.update.quantity })),
    });
    if (!applied) for (const p of items) await single(p);
  }
  return results.map(
    (r, i) => r ?? { listing: updates[i]!.listing, status: 'failed', action: 'retry', message: 'not sent' },
  );
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
