/**
 * Stock push and read-back.
 *
 * Push: absolute quantities through the batch endpoints [V]:
 * - simple products: `POST products/batch` `{update: [{id, manage_stock: true, stock_quantity}]}`;
 * - variations: `POST products/{product_id}/variations/batch`, same items.
 * At most {@link MAX_BATCH} (100, WooCommerce's default batch limit) items per request. The
 * response's `update` array answers each item in order: the updated object, or
 * `{id, error: {code, message, data: {status}}}` for that item alone, classified through the
 * error table. WooCommerce has no relative update and no compare-and-set.
 *
 * Read: `GET products?include=<ids>&per_page=100` and `GET products/{product_id}/variations?
 * include=<ids>&per_page=100` (one call per parent), at most {@link MAX_PER_PAGE} ids per call
 * so one page answers them all; `stock_quantity` counts only where `manage_stock` is `true` (a
 * variation reports `"parent"` when its parent holds the stock [V `WC_Product_Variation`]). An
 * id the answer leaves out (unknown, trashed, or a variation asked for as a product) fails
 * alone; the variations list of an unknown parent is simply empty [V: `post_parent` query].
 *
 * Listing ids: `"<product id>"` for a simple product, `"<product id>:<variation id>"` for a
 * variation (the parent is part of the URL). `locationId` is unused (core has one stock level).
 * For both calls the first request failing as a whole throws (nothing done); a later one marks
 * only its own items, so earlier results are kept.
 */
import {
  type ConnectorError,
  classify,
  type ListingRef,
  type PushResult,
  type StockReading,
  type StockUpdate,
} from '../contract.js';
import { isConnectorError, type WooClient } from './client.js';
import { MAX_BATCH } from './config.js';
import { WOO_ERRORS } from './errors.js';

const LISTING_RE = /^(\d{1,19})(?::(\d{1,19}))?$/;
/** Most `per_page` a WooCommerce collection accepts [V]. */
const MAX_PER_PAGE = 100;

interface Job {
  index: number;
  /** Product or variation id, normalised (no leading zeros). */
  id: string;
}

/**
 * Groups listings by collection (`products` or `products/{parent}/variations`). A malformed id
 * goes to `bad` with the reason; `accept` may leave out others (it records why itself).
 */
function groupListings(
  listings: readonly ListingRef[],
  bad: (index: number, message: string) => void,
  accept: (index: number) => boolean = () => true,
): Map<string, Job[]> {
  const groups = new Map<string, Job[]>();
  listings.forEach((listing, index) => {
    const m = LISTING_RE.exec(listing.listingId.trim());
    if (!m) {
      bad(
        index,
        `listing id must be "<product id>" or "<product id>:<variation id>", got ${JSON.stringify(listing.listingId)}`,
      );
      return;
    }
    if (!accept(index)) return;
    const [, product, variation] = m;
    const collection = variation === undefined ? 'products' : `products/${product}/variations`;
    const jobs = groups.get(collection) ?? [];
    jobs.push({ index, id: String(BigInt(variation ?? product ?? '0')) });
    groups.set(collection, jobs);
  });
  return groups;
}

/**
 * Calls `send` for each group in chunks of `size`, in order. The first request failing as a
 * whole throws (nothing applied yet); a later one hands its chunk to `failed` instead.
 */
async function inChunks(
  groups: Map<string, Job[]>,
  size: number,
  send: (collection: string, chunk: Job[]) => Promise<void>,
  failed: (chunk: Job[], err: ConnectorError) => void,
): Promise<void> {
  let sent = 0;
  for (const [collection, jobs] of groups) {
    for (let start = 0; start < jobs.length; start += size) {
      const chunk = jobs.slice(start, start + size);
      try {
        await send(collection, chunk);
      } catch (err) {
        if (sent === 0 || !isConnectorError(err)) throw err;
        failed(chunk, err);
        continue;
      }
      sent++;
    }
  }
}

export async function pushWooStock(
  client: WooClient,
  updates: readonly StockUpdate[],
  maxBatch: number = MAX_BATCH,
): Promise<PushResult[]> {
  const results: (PushResult | undefined)[] = new Array(updates.length);
  const groups = groupListings(
    updates.map((u) => u.listing),
    (index, message) => {
      results[index] = {
        listing: updates[index]!.listing,
        status: 'failed',
        action: 'config_error',
        code: 'BAD_LISTING_ID',
        message,
      };
    },
    (index) => {
      const u = updates[index]!;
      if (Number.isInteger(u.quantity) && u.quantity >= 0) return true;
      results[index] = {
        listing: u.listing,
        status: 'failed',
        action: 'ignore',
        code: 'BAD_QUANTITY',
        message: `quantity must be an integer >= 0, got ${u.quantity}`,
      };
      return false;
    },
  );

  await inChunks(
    groups,
    maxBatch,
    async (collection, chunk) => {
      const items = chunk.map((j) => ({
        id: Number(j.id),
        manage_stock: true,
        stock_quantity: updates[j.index]!.quantity,
      }));
      const res = await client.request('POST', `${collection}/batch`, { data: { update: items } });
      const upd = (res.data as { update?: unknown } | null)?.update;
      const answer = Array.isArray(upd) ? upd : [];
      chunk.forEach((j, i) => {
        results[j.index] = itemResult(updates[j.index]!, j.id, answer[i]);
      });
    },
    (chunk, err) => {
      for (const j of chunk) results[j.index] = wholeFailure(updates[j.index]!, err);
    },
  );
  return results.map(
    (r, i) =>
      r ?? {
        listing: updates[i]!.listing,
        status: 'failed',
        action: 'retry',
        message: 'no result for this item',
      },
  );
}

/** Current quantities, one reading per listing in input order (see the module doc). */
export async function readWooStock(
  client: WooClient,
  listings: readonly ListingRef[],
): Promise<StockReading[]> {
  const out: (StockReading | undefined)[] = new Array(listings.length);
  const groups = groupListings(listings, (index, error) => {
    out[index] = { listing: listings[index]!, ok: false, error };
  });
  await inChunks(
    groups,
    MAX_PER_PAGE,
    async (collection, chunk) => {
      const res = await client.request('GET', collection, {
        params: { include: [...new Set(chunk.map((j) => j.id))].join(','), per_page: MAX_PER_PAGE },
      });
      const found = new Map<string, unknown>();
      for (const item of Array.isArray(res.data) ? res.data : []) {
        const id = (item as { id?: unknown } | null)?.id;
        if (id !== undefined) found.set(String(id), item);
      }
      for (const j of chunk) out[j.index] = reading(listings[j.index]!, j.id, found.get(j.id));
    },
    (chunk, err) => {
      for (const j of chunk) out[j.index] = { listing: listings[j.index]!, ok: false, error: err.message };
    },
  );
  return out.map((r, i) => r ?? { listing: listings[i]!, ok: false, error: 'not read' });
}

function reading(listing: ListingRef, id: string, item: unknown): StockReading {
  const name = `listing ${JSON.stringify(listing.listingId)}`;
  const variation = listing.listingId.includes(':');
  if (typeof item !== 'object' || item === null) {
    return {
      listing,
      ok: false,
      error: variation
        ? `${name}: variation ${id} not found under that product`
        : `${name}: product ${id} not found (a variation needs "<product id>:<variation id>")`,
    };
  }
  const it = item as { manage_stock?: unknown; stock_quantity?: unknown };
  if (it.manage_stock === 'parent') {
    return {
      listing,
      ok: false,
      error: `${name}: stock not managed on variation ${id} (manage_stock "parent": its parent product holds the stock)`,
    };
  }
  if (it.manage_stock !== true || typeof it.stock_quantity !== 'number') {
    return {
      listing,
      ok: false,
      error: `${name}: stock not managed (manage_stock ${JSON.stringify(it.manage_stock)}, stock_quantity ${JSON.stringify(it.stock_quantity)})`,
    };
  }
  return { listing, ok: true, quantity: it.stock_quantity };
}

function wholeFailure(u: StockUpdate, err: ConnectorError): PushResult {
  return {
    listing: u.listing,
    status: 'failed',
    action: err.action,
    ...(err.code ? { code: err.code } : {}),
    ...('retryAfterMs' in err && typeof err.retryAfterMs === 'number'
      ? { retryAfterMs: err.retryAfterMs }
      : {}),
    message: err.message,
  };
}

function itemResult(u: StockUpdate, id: string, item: unknown): PushResult {
  if (typeof item !== 'object' || item === null) {
    return {
      listing: u.listing,
      status: 'failed',
      action: 'retry',
      message: 'batch response has no entry for this item',
    };
  }
  const it = item as {
    id?: unknown;
    stock_quantity?: unknown;
    error?: { code?: unknown; message?: unknown; data?: { status?: unknown } };
  };
  if (it.error) {
    const code = typeof it.error.code === 'string' ? it.error.code : undefined;
    const status = typeof it.error.data?.status === 'number' ? it.error.data.status : undefined;
    // Per-item errors go through the same table as whole responses.
    const c = classify(WOO_ERRORS, {
      ...(status === undefined ? {} : { status }),
      ...(code === undefined ? {} : { code }),
    });
    return {
      listing: u.listing,
      status: 'failed',
      action: c.action,
      ...(code ? { code } : {}),
      ...(c.retryAfterMs === undefined ? {} : { retryAfterMs: c.retryAfterMs }),
      message: `${c.reason}${typeof it.error.message === 'string' ? `: ${it.error.message.slice(0, 200)}` : ''}`,
    };
  }
  if (it.id !== undefined && String(it.id) !== id) {
    return {
      listing: u.listing,
      status: 'failed',
      action: 'retry',
      message: `batch answered id ${String(it.id)} where ${id} was expected`,
    };
  }
  const q = typeof it.stock_quantity === 'number' ? it.stock_quantity : u.quantity;
  return { listing: u.listing, status: 'ok', quantity: q };
}
