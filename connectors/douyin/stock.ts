/**
 * Stock push (notes §5.4 [V]): `stock_num` may be 0, no `out_warehouse_id` (normal stock).
 * An absolute update sends `incremental=false` (no `idempotent_id` needed). A change
 * (`StockUpdate.change`) sends `incremental=true`, `stock_num` = its delta (may be negative) and
 * the `idempotent_id` Doudian then requires [V]; the update's `quantity` is not sent.
 *
 * SKUs of one product go together in `sku.syncStockBatch` (`product_id`, `sku_sync_list` of
 * `{sku_id, stock_num}`; the official SDK's request struct [V]). The call is all or nothing: one
 * bad SKU fails the whole request and nothing is applied (the SDK's field comment [V]). So when a
 * batch is refused for a business reason (`isv.*`), its SKUs are sent again one by one with
 * `sku.syncStock` and each gets its own result (at most n+1 calls for a batch of n). A single
 * SKU, and a SKU given twice in one call, goes through `sku.syncStock`. At most
 * {@link MAX_SKUS_PER_BATCH} SKUs per request (Doudian documents no cap [U]).
 *
 * Changes are batched by product and key, apart from absolute updates, sorted by SKU id, so the
 * same updates always make the same requests. A request's `idempotent_id` is derived from the
 * key, the product and its SKU ids ({@link idempotentId}), so a resend with the same key
 * reproduces it and Doudian applies each request at most once (a repeated id is answered OK and
 * not applied again: the sandbox does so, the real platform's answer is [U]). A change Doudian
 * refuses (`isv.parameter-invalid`, `isv.business-failed`: below 0, say) comes back
 * `compare_mismatch` with `expected` = `quantity - delta`; the caller then reads the quantity
 * back and sets it absolutely. A refused change batch is not re-sent SKU by SKU: every change of
 * it comes back refused. Were it re-sent one by one, a later resend of the whole set under the
 * same key would make the batch request again, and if Doudian then took it the SKUs applied one
 * by one would change twice. A lone change to a SKU Doudian does not know fails as a mapping
 * error (`config_error`).
 *
 * Listing ids: `<product_id>:<sku_id>` (both numeric, sent as JSON integers: the SDK types them
 * int64). A malformed id, quantity or change (a listing repeated under one key too) fails alone
 * without a call. A whole-call failure (token, throttle, network) of the first request throws
 * (nothing applied); of a later request marks its items `failed` with the error's action.
 *
 * Stock read with `sku.list` (request `product_id` [V: SDK struct]; `data` is the array of the
 * product's SKUs, each with `id`, `sku_type` and `stock_num` [V: SDK response struct; a
 * proxied sample agrees]): one call per product, so the SKUs of one product cost one call.
 */
import { createHash } from 'node:crypto';
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

/** Doudian refused a request over the listing itself: its product or SKU is unknown. */
const UNKNOWN_LISTING_RE = /\|isv\.business-failed:(sku|product)-/;

/** Doudian refused a request for what it asks (a parameter, a business rule), not who asks. */
const REFUSED_CHANGE_RE = /\|isv\.(parameter-invalid|business-failed)/;

/** A change Doudian refused: the caller reads the quantity back and sets it absolutely. */
function refusedChange(p: Prepared, err: ConnectorError): PushResult {
  const change = p.update.change!;
  return {
    listing: p.update.listing,
    status: 'compare_mismatch',
    expected: p.update.quantity - change.delta,
    message: `Doudian refused the change ${change.delta} (to end at ${p.update.quantity}): ${err.message} (${err.code ?? ''})`,
  };
}

/** Why an update cannot be sent, or undefined when it can. */
function updateProblem(update: StockUpdate, listing: RegExpExecArray | null): string | undefined {
  if (!listing) return badListingId(update.listing);
  if (!Number.isInteger(update.quantity) || update.quantity < 0)
    return `quantity must be a whole number >= 0, got ${update.quantity}`;
  const change = update.change;
  if (change && !Number.isSafeInteger(change.delta))
    return `change.delta must be a safe integer, got ${change.delta}`;
  if (change && (typeof change.key !== 'string' || change.key === ''))
    return `change.key must be a non-empty string, got ${JSON.stringify(change.key)}`;
  return undefined;
}

/**
 * The `idempotent_id` of a change request: the first 32 hex chars of SHA-256 over the JSON
 * array `[key, productId, ...skuIds]` (JSON, not a joined string, so a key containing the
 * separator cannot collide with another key and product).
 */
function idempotentId(key: string, productId: string, skuIds: readonly string[]): string {
  return createHash('sha256')
    .update(JSON.stringify([key, productId, ...skuIds]))
    .digest('hex')
    .slice(0, 32);
}

/** Numeric order for ids without leading zeros; a total order on the id texts either way. */
const bySkuId = (a: Prepared, b: Prepared) =>
  a.skuId.length - b.skuId.length || (a.skuId < b.skuId ? -1 : a.skuId > b.skuId ? 1 : 0);

export async function pushDoudianStock(
  client: DoudianClient,
  updates: readonly StockUpdate[],
): Promise<PushResult[]> {
  const results: (PushResult | undefined)[] = updates.map(() => undefined);
  const configError = (update: StockUpdate, message: string): PushResult => ({
    listing: update.listing,
    status: 'failed',
    action: 'config_error',
    message,
  });
  // Absolute updates by product id; changes by `<product id>:<key>`.
  const groups = new Map<string, Prepared[]>();
  const alone: Prepared[] = [];
  updates.forEach((update, index) => {
    const m = LISTING_RE.exec(update.listing.listingId);
    const problem = updateProblem(update, m);
    if (problem) {
      results[index] = configError(update, problem);
      return;
    }
    const p: Prepared = { index, update, productId: m![1]!, skuId: m![2]! };
    const groupKey = update.change ? `${p.productId}:${update.change.key}` : p.productId;
    const group = groups.get(groupKey) ?? [];
    if (group.some((g) => g.skuId === p.skuId)) {
      // The contract rules it out, and a second request with the same id would not be applied.
      if (update.change) {
        results[index] = configError(update, `listing given twice under change key ${update.change.key}`);
        return;
      }
      // A SKU given twice goes alone, after the batch: one request never sets one SKU twice.
      alone.push(p);
    } else group.push(p);
    groups.set(groupKey, group);
  });
  const requests: Prepared[][] = [];
  for (const group of groups.values()) {
    if (group[0]!.update.change) group.sort(bySkuId);
    for (let i = 0; i < group.length; i += MAX_SKUS_PER_BATCH)
      requests.push(group.slice(i, i + MAX_SKUS_PER_BATCH));
  }
  for (const p of alone) requests.push([p]);

  let sent = 0;
  // One request; false when an absolute batch failed as a whole for a business reason (it is then
  // re-sent one by one). A whole-call failure of the first request throws; of a later one, marks
  // its items. A refused change is not re-sent one by one (see above): it comes back refused.
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
      const code = err.code ?? '';
      const itemLevel =
        /\|isv\./.test(code) && err.action !== 'refresh_token' && err.action !== 'rate_limited';
      const change = items[0]!.update.change;
      // A batch refused does not say which SKU: every change of it is refused. A single SKU
      // unknown to Doudian is a mapping error, not a refused change.
      const refused =
        change !== undefined &&
        REFUSED_CHANGE_RE.test(code) &&
        (items.length > 1 || !UNKNOWN_LISTING_RE.test(code));
      if (refused) {
        for (const p of items) results[p.index] = refusedChange(p, err);
        return true;
      }
      if (itemLevel && items.length > 1 && !change) return false;
      if (first && !itemLevel) throw err;
      for (const p of items) results[p.index] = failedPush(p.update.listing, err);
      return true;
    }
  };
  // `incremental` and, for a change, its `idempotent_id`; `stock_num` is then the delta.
  const mode = (items: Prepared[]) => {
    const { productId, update } = items[0]!;
    if (!update.change) return { incremental: false };
    const skuIds = items.map((p) => p.skuId);
    return { incremental: true, idempotent_id: idempotentId(update.change.key, productId, skuIds) };
  };
  const stockNum = (p: Prepared) => p.update.change?.delta ?? p.update.quantity;
  const single = (p: Prepared) =>
    send([p], 'sku.syncStock', {
      product_id: BigInt(p.productId),
      sku_id: BigInt(p.skuId),
      stock_num: stockNum(p),
      ...mode([p]),
    });
  for (const items of requests) {
    if (items.length === 1) {
      await single(items[0]!);
      continue;
    }
    const applied = await send(items, 'sku.syncStockBatch', {
      product_id: BigInt(items[0]!.productId),
      ...mode(items),
      sku_sync_list: items.map((p) => ({ sku_id: BigInt(p.skuId), stock_num: stockNum(p) })),
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
