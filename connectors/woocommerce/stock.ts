/**
 * Stock push: absolute quantities through the batch endpoints [V]:
 * - simple products: `POST products/batch` `{update: [{id, manage_stock: true, stock_quantity}]}`;
 * - variations: `POST products/{product_id}/variations/batch`, same items.
 * At most {@link MAX_BATCH} (100, WooCommerce's default batch limit) items per request. The
 * response's `update` array answers each item in order: the updated object, or
 * `{id, error: {code, message, data: {status}}}` for that item alone, classified through the
 * error table. WooCommerce has no relative update and no compare-and-set.
 *
 * Listing ids: `"<product id>"` for a simple product, `"<product id>:<variation id>"` for a
 * variation (the parent is part of the URL). `locationId` is unused (core has one stock level).
 */
import { type ConnectorError, classify, type PushResult, type StockUpdate } from '../contract.js';
import { isConnectorError, type WooClient } from './client.js';
import { MAX_BATCH } from './config.js';
import { WOO_ERRORS } from './errors.js';

const LISTING_RE = /^(\d{1,19})(?::(\d{1,19}))?$/;

interface Job {
  index: number;
  id: string;
}

export async function pushWooStock(
  client: WooClient,
  updates: readonly StockUpdate[],
  maxBatch: number = MAX_BATCH,
): Promise<PushResult[]> {
  const results: (PushResult | undefined)[] = new Array(updates.length);
  const groups = new Map<string, Job[]>();
  updates.forEach((u, index) => {
    const m = LISTING_RE.exec(u.listing.listingId.trim());
    if (!m) {
      results[index] = {
        listing: u.listing,
        status: 'failed',
        action: 'config_error',
        code: 'BAD_LISTING_ID',
        message: `listing id must be "<product id>" or "<product id>:<variation id>", got ${JSON.stringify(u.listing.listingId)}`,
      };
      return;
    }
    if (!Number.isInteger(u.quantity) || u.quantity < 0) {
      results[index] = {
        listing: u.listing,
        status: 'failed',
        action: 'ignore',
        code: 'BAD_QUANTITY',
        message: `quantity must be an integer >= 0, got ${u.quantity}`,
      };
      return;
    }
    const [, product, variation] = m;
    const path = variation === undefined ? 'products/batch' : `products/${product}/variations/batch`;
    const jobs = groups.get(path) ?? [];
    jobs.push({ index, id: String(BigInt(variation ?? product ?? '0')) });
    groups.set(path, jobs);
  });

  let sent = 0;
  for (const [path, jobs] of groups) {
    for (let start = 0; start < jobs.length; start += maxBatch) {
      const chunk = jobs.slice(start, start + maxBatch);
      const items = chunk.map((j) => ({
        id: Number(j.id),
        manage_stock: true,
        stock_quantity: updates[j.index]!.quantity,
      }));
      let answer: unknown[];
      try {
        const res = await client.request('POST', path, { data: { update: items } });
        const upd = (res.data as { update?: unknown } | null)?.update;
        answer = Array.isArray(upd) ? upd : [];
      } catch (err) {
        if (sent === 0 || !isConnectorError(err)) throw err;
        for (const j of chunk) results[j.index] = wholeFailure(updates[j.index]!, err);
        continue;
      }
      sent++;
      chunk.forEach((j, i) => {
        results[j.index] = itemResult(updates[j.index]!, j.id, answer[i]);
      });
    }
  }
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
