/**
 * Stock push (notes §3.6 [V]): absolute quantities (`type=1`).
 *
 * Listing ids: `<num_iid>` for an item without SKUs, `<num_iid>:<sku_id>` for a SKU
 * (`locationId` is not used: TOP item stock has no locations). SKUs of one item go together in
 * `taobao.skus.quantity.update` (`skuid_quantities = "sku:qty;sku:qty"`, at most 20 per call, the
 * same SKU never twice in one call so the last value wins); items without SKUs, and single SKUs,
 * go through `taobao.item.quantity.update` (`num_iid`, `sku_id`, `quantity`, `type=1`).
 *
 * Per-item results: when a batch call is refused for a business reason (`isv.*`: one SKU unknown
 * or deleted), TOP does not say which SKU [U], so its SKUs are re-sent one by one with
 * `item.quantity.update` and each gets its own result (at most n+1 calls for a batch of n).
 * A whole-call failure (throttle, session, network) of the first request throws (nothing
 * applied); later ones mark that request's items `failed` with the error's action.
 *
 * Read (`readStock`): `taobao.items.seller.list.get` with `num_iids` (at most 20 per call, each
 * item once however many of its SKUs are asked for) and `fields=num_iid,num,sku` (the field is
 * `sku`, the answer `skus.sku[]`). An item listing reads the item's `num`, a SKU listing that
 * SKU's `quantity`. TOP answers an unknown or foreign `num_iid` with no item rather than an error
 * [S], so a listing whose item or (non-deleted) SKU is missing reads `ok: false` alone. Whole-call
 * failures follow the push rule: the first call throws, a later one marks its listings `ok: false`.
 */
import {
  ConnectorError,
  failedPush,
  type ListingRef,
  type PushResult,
  type StockReading,
  type StockUpdate,
} from '../contract.js';
import type { TopClient } from './client.js';
import { MAX_ITEMS_PER_READ, MAX_SKUS_PER_CALL } from './config.js';

interface Prepared {
  index: number;
  update: StockUpdate;
  numIid: string;
  skuId?: string;
}

const LISTING_RE = /^(\d{1,20})(?::(\d{1,20}))?$/;

/** What `readStock` asks `taobao.items.seller.list.get` for. */
export const READ_FIELDS = 'num_iid,num,sku';

/** An item of `items.seller.list.get` as far as the read uses it (ids are strings: `parseTopJson`). */
interface TopItem {
  num_iid?: string;
  num?: number;
  skus?: { sku?: { sku_id?: string; quantity?: number; status?: string }[] };
}

const badListingId = (id: string) =>
  `listing id must be <num_iid> or <num_iid>:<sku_id>, got ${JSON.stringify(id)}`;

/**
 * The request a listing's push goes in: the SKUs of one item share `skus.quantity.update`; an
 * item without SKUs is a request of its own (the pusher keeps a key's listings in one call).
 */
export function taobaoStockBatchKey(listing: ListingRef): string {
  const m = LISTING_RE.exec(listing.listingId);
  if (!m) return `?${listing.listingId}`;
  return m[2] ? `sku:${m[1]}` : `item:${m[1]}`;
}

/** Requests `read` makes: one per {@link MAX_ITEMS_PER_READ} items (a malformed id makes none). */
export function taobaoReadRequests(listings: readonly ListingRef[]): number {
  const items = new Set<string>();
  for (const l of listings) {
    const m = LISTING_RE.exec(l.listingId);
    if (m) items.add(m[1]!);
  }
  return Math.ceil(items.size / MAX_ITEMS_PER_READ);
}

export class TaobaoStockPusher {
  private sent = 0;

  constructor(private readonly client: TopClient) {}

  async push(updates: readonly StockUpdate[]): Promise<PushResult[]> {
    this.sent = 0;
    const results: (PushResult | undefined)[] = updates.map(() => undefined);
    const groups = new Map<string, Prepared[]>();
    updates.forEach((update, index) => {
      const m = LISTING_RE.exec(update.listing.listingId);
      if (!m || !Number.isInteger(update.quantity) || update.quantity < 0) {
        results[index] = {
          listing: update.listing,
          status: 'failed',
          action: 'config_error',
          message: m
            ? `quantity must be a whole number >= 0, got ${update.quantity}`
            : badListingId(update.listing.listingId),
        };
        return;
      }
      const p: Prepared = { index, update, numIid: m[1]!, ...(m[2] ? { skuId: m[2] } : {}) };
      const key = p.skuId ? `sku:${p.numIid}` : `item:${p.numIid}:${index}`;
      const list = groups.get(key) ?? [];
      list.push(p);
      groups.set(key, list);
    });

    for (const group of groups.values()) {
      for (const chunk of chunks(group)) {
        if (chunk.length === 1) await this.single(chunk[0]!, results);
        else await this.batch(chunk, results);
      }
    }
    return results.map(
      (r, i) => r ?? { listing: updates[i]!.listing, status: 'failed', action: 'retry', message: 'not sent' },
    );
  }

  async read(listings: readonly ListingRef[]): Promise<StockReading[]> {
    const out: StockReading[] = [];
    const byItem = new Map<string, { index: number; skuId?: string }[]>();
    listings.forEach((listing, index) => {
      const m = LISTING_RE.exec(listing.listingId);
      if (!m) {
        out[index] = { listing, ok: false, error: badListingId(listing.listingId) };
        return;
      }
      const list = byItem.get(m[1]!) ?? [];
      list.push({ index, ...(m[2] ? { skuId: m[2] } : {}) });
      byItem.set(m[1]!, list);
    });
    const numIids = [...byItem.keys()];
    for (let start = 0; start < numIids.length; start += MAX_ITEMS_PER_READ) {
      const part = numIids.slice(start, start + MAX_ITEMS_PER_READ);
      let items: Map<string, TopItem> | undefined;
      let failure: string | undefined;
      try {
        const res = await this.client.call('taobao.items.seller.list.get', {
          num_iids: part.join(','),
          fields: READ_FIELDS,
        });
        const list = (res.items as { item?: unknown } | undefined)?.item;
        items = new Map((Array.isArray(list) ? (list as TopItem[]) : []).map((i) => [String(i.num_iid), i]));
      } catch (err) {
        if (start === 0 || !(err instanceof ConnectorError)) throw err;
        failure = err.message;
      }
      for (const numIid of part) {
        for (const { index, skuId } of byItem.get(numIid)!) {
          const listing = listings[index]!;
          out[index] = items
            ? reading(listing, skuId, items.get(numIid))
            : { listing, ok: false, error: failure! };
        }
      }
    }
    return out;
  }

  private async batch(chunk: Prepared[], results: (PushResult | undefined)[]): Promise<void> {
    try {
      await this.send('taobao.skus.quantity.update', {
        num_iid: chunk[0]!.numIid,
        skuid_quantities: chunk.map((p) => `${p.skuId}:${p.update.quantity}`).join(';'),
        type: 1,
      });
      for (const p of chunk) results[p.index] = ok(p);
    } catch (err) {
      if (!isItemError(err)) return this.wholeFailure(err, chunk, results);
      for (const p of chunk) await this.single(p, results);
    }
  }

  private async single(p: Prepared, results: (PushResult | undefined)[]): Promise<void> {
    try {
      await this.send('taobao.item.quantity.update', {
        num_iid: p.numIid,
        sku_id: p.skuId,
        quantity: p.update.quantity,
        type: 1,
      });
      results[p.index] = ok(p);
    } catch (err) {
      if (!isItemError(err)) return this.wholeFailure(err, [p], results);
      results[p.index] = failedPush(p.update.listing, err as ConnectorError);
    }
  }

  private async send(method: string, params: Record<string, string | number | undefined>): Promise<void> {
    const first = this.sent === 0;
    this.sent++;
    try {
      await this.client.call(method, params);
    } catch (err) {
      if (err instanceof ConnectorError) Object.assign(err, { firstOfPush: first });
      throw err;
    }
  }

  private wholeFailure(err: unknown, items: Prepared[], results: (PushResult | undefined)[]): void {
    if (!(err instanceof ConnectorError) || (err as { firstOfPush?: boolean }).firstOfPush) throw err;
    for (const p of items) results[p.index] = failedPush(p.update.listing, err);
  }
}

/** A failure about the item itself (`isv.*` sub-code), as opposed to the whole call. */
function isItemError(err: unknown): boolean {
  return err instanceof ConnectorError && /\|isv\./.test(err.code ?? '');
}

/** SKUs of one item in calls of at most 20, a SKU at most once per call (in input order). */
function chunks(group: Prepared[]): Prepared[][] {
  const out: { items: Prepared[]; skus: Set<string> }[] = [];
  for (const p of group) {
    const target = out.find((c) => c.items.length < MAX_SKUS_PER_CALL && !c.skus.has(p.skuId ?? ''));
    const c = target ?? { items: [], skus: new Set<string>() };
    if (!target) out.push(c);
    c.items.push(p);
    c.skus.add(p.skuId ?? '');
  }
  // A later chunk must not overtake an earlier value of the same SKU: chunks run in creation order.
  return out.map((c) => c.items);
}

function reading(listing: ListingRef, skuId: string | undefined, item: TopItem | undefined): StockReading {
  const sku = item?.skus?.sku?.find((s) => String(s.sku_id) === skuId && s.status !== 'delete');
  const q = skuId === undefined ? item?.num : sku?.quantity;
  if (typeof q === 'number' && Number.isInteger(q) && q >= 0) return { listing, ok: true, quantity: q };
  const why = !item
    ? "item not returned by items.seller.list.get (unknown, deleted or not this seller's)"
    : skuId === undefined
      ? 'item returned without a num'
      : sku
        ? 'SKU returned without a quantity'
        : 'SKU not on the item (unknown or deleted)';
  return { listing, ok: false, error: `Taobao listing ${JSON.stringify(listing.listingId)}: ${why}` };
}

function ok(p: Prepared): PushResult {
  return { listing: p.update.listing, status: 'ok', quantity: p.update.quantity };
}
