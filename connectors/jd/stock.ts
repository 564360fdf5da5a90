/**
 * Stock push with `jingdong.stock.write.updateSkuStock` (notes §6.3 [V], SDK classes): sets the
 * absolute sellable stock of one SKU (`skuId`, `stockNum`, optional `storeId`). JD has no batch
 * form of it, so every update is its own call and gets its own result. A third-party note says
 * JD is retiring it for `jingdong.ware.stock.sku.set` [U]: only {@link STOCK_METHOD} would change.
 *
 * Read with `jingdong.stock.read.findSkuStock` (notes §6.3): one `skuId` per call (no batch form
 * in the SDK), answered with a list of `{skuId, storeId, stockNum}`, one per store [U]; every
 * name is in {@link READ}. The request takes no store, so a `locationId` picks the entry of that
 * `storeId`; without one, the only entry, else the one without a store (absent or 0) [U].
 *
 * Listing ids: the JD `skuId` (digits); `locationId`, when set, is the `storeId` (a warehouse of
 * a multi-warehouse seller). The answer `{success: true}` [U] confirms an update; an
 * `error_response` with a business code (3+ digits), or `success: false`, fails that item alone
 * (a read: that listing `ok: false`, e.g. an unknown SKU). A whole-call failure (throttle, token,
 * signature, network) of the first request throws (nothing applied); later ones mark that item
 * and every item not yet sent failed with the error, keeping the results already in.
 */
import {
  ConnectorError,
  failedPush,
  type ListingRef,
  type PushResult,
  type StockReading,
  type StockUpdate,
} from '../contract.js';
import type { JdClient } from './client.js';
import { isGatewayCode } from './errors.js';

export const STOCK_METHOD = 'jingdong.stock.write.updateSkuStock';

/**
 * The read API and the names of its answer (from the JOS SDK classes `StockReadFindSkuStockRequest`
 * / `Response` and `SkuStock`; not checked against a live answer [U]).
 */
export const READ = {
  method: 'jingdong.stock.read.findSkuStock',
  /** Business parameter carrying the SKU. */
  skuParam: 'skuId',
  /** Field of `<method>_responce` holding the list of entries. */
  list: 'skuStocks',
  skuId: 'skuId',
  storeId: 'storeId',
  quantity: 'stockNum',
} as const;

const SKU_RE = /^\d{1,20}$/;

export function pushJdStock(client: JdClient, updates: readonly StockUpdate[]): Promise<PushResult[]> {
  return eachCall<StockUpdate, PushResult>(updates, {
    invalid: ({ listing, quantity }) => {
      const problem =
        listingProblem(listing) ??
        (Number.isInteger(quantity) && quantity >= 0
          ? undefined
          : `quantity must be a whole number >= 0, got ${quantity}`);
      return problem === undefined
        ? undefined
        : { listing, status: 'failed', action: 'config_error', message: problem };
    },
    send: async ({ listing, quantity }) => {
      const res = await client.call(STOCK_METHOD, {
        skuId: listing.listingId,
        stockNum: quantity,
        storeId: listing.locationId,
      });
      if (res.success === false || res.success === 'false') {
        return {
          listing,
          status: 'failed',
          action: 'config_error',
          message: `JD did not apply the stock of sku ${listing.listingId} (success false)`,
        };
      }
      return { listing, status: 'ok', quantity };
    },
    failed: ({ listing }, err) => failedPush(listing, err),
  });
}

const notRead = (listing: ListingRef, error: string): StockReading => ({ listing, ok: false, error });

export function readJdStock(client: JdClient, listings: readonly ListingRef[]): Promise<StockReading[]> {
  return eachCall<ListingRef, StockReading>(listings, {
    invalid: (listing) => {
      const problem = listingProblem(listing);
      return problem === undefined ? undefined : notRead(listing, problem);
    },
    send: async (listing) =>
      reading(listing, await client.call(READ.method, { [READ.skuParam]: listing.listingId })),
    failed: (listing, err) => notRead(listing, `sku ${listing.listingId}: ${err.message}`),
  });
}

/** The listing's quantity in a `findSkuStock` answer, or why there is none. */
function reading(listing: ListingRef, res: Record<string, unknown>): StockReading {
  const text = (v: unknown) => (v === undefined || v === null ? undefined : String(v));
  const list = res[READ.list];
  const mine = (Array.isArray(list) ? list : []).filter(
    (e): e is Record<string, unknown> =>
      typeof e === 'object' && e !== null && [undefined, listing.listingId].includes(text(e[READ.skuId])),
  );
  const store = listing.locationId;
  const at =
    store !== undefined
      ? mine.filter((e) => text(e[READ.storeId]) === store)
      : mine.length === 1
        ? mine
        : mine.filter((e) => [undefined, '0'].includes(text(e[READ.storeId])));
  const where = `sku ${listing.listingId}${store === undefined ? '' : ` at store ${store}`}`;
  if (at.length !== 1) {
    if (store === undefined && mine.length > 1)
      return notRead(listing, `${where}: JD lists several stores; set the listing's locationId`);
    return notRead(listing, at.length === 0 ? `${where} not found on JD` : `${where}: JD lists it twice`);
  }
  const raw = at[0]![READ.quantity];
  const quantity = typeof raw === 'string' && /^-?\d+$/.test(raw) ? Number(raw) : raw;
  return typeof quantity === 'number' && Number.isSafeInteger(quantity)
    ? { listing, ok: true, quantity }
    : notRead(listing, `${where}: JD answered without a whole ${READ.quantity}`);
}

function listingProblem(listing: ListingRef): string | undefined {
  if (!SKU_RE.test(listing.listingId))
    return `listing id must be a JD skuId, got ${JSON.stringify(listing.listingId)}`;
  if (listing.locationId !== undefined && !SKU_RE.test(listing.locationId))
    return `locationId must be a JD storeId, got ${JSON.stringify(listing.locationId)}`;
  return undefined;
}

/**
 * One call per item, in order. `invalid` answers an item without a call. A business refusal
 * (3+ digit code) fails that item alone; any other failure of the first call sent is thrown
 * (nothing done yet, the caller's queue decides), of a later call it fails that item and every
 * item after it without sending them, so the results already in are kept.
 */
async function eachCall<T, R>(
  items: readonly T[],
  on: {
    invalid: (item: T) => R | undefined;
    send: (item: T) => Promise<R>;
    failed: (item: T, err: ConnectorError) => R;
  },
): Promise<R[]> {
  const results: R[] = [];
  let sent = 0;
  let stopped: ConnectorError | undefined;
  for (const item of items) {
    const invalid = on.invalid(item);
    if (invalid !== undefined) {
      results.push(invalid);
      continue;
    }
    if (stopped) {
      results.push(on.failed(item, stopped));
      continue;
    }
    const first = sent === 0;
    sent++;
    try {
      results.push(await on.send(item));
    } catch (err) {
      if (!(err instanceof ConnectorError)) throw err;
      const itemOnly = err.code !== undefined && /^\d+$/.test(err.code) && !isGatewayCode(err.code);
      if (!itemOnly) {
        if (first) throw err;
        stopped = err;
      }
      results.push(on.failed(item, err));
    }
  }
  return results;
}
