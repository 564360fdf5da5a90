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
 *
 * Reads use `pdd.goods.detail.get` (`goods_id` -> `goods_detail_get_response`, [V] pdd crate; the
 * crate marks the older `pdd.goods.information.get` unmaintained in its favour), whose `sku_list[]`
 * carries `sku_id`, `quantity` (库存), `reserve_quantity` (预扣库存) and `out_sku_sn` [S: SDK types].
 * One call per goods, so the SKUs of one goods cost one call. `quantity` is taken as the value
 * `pdd.goods.quantity.update` sets [U: whether it already excludes `reserve_quantity`].
 */
import {
  ConnectorError,
  failedPush,
  type ListingRef,
  type PushResult,
  type StockReading,
  type StockUpdate,
} from '../contract.js';
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
        results.push(failedPush(update.listing, stopped));
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
          results.push(failedPush(update.listing, err));
          continue;
        }
        if (sent === 1 && results.every((r) => r.status !== 'ok')) throw err;
        stopped = err;
        results.push(failedPush(update.listing, err));
      }
    }
    return results;
  }

  /**
   * One reading per listing, same order. A per-goods business error (the same codes as a push:
   * goods unknown, parameter) or a SKU missing from `sku_list` fails those listings only; a
   * whole-call failure throws on the first call and, on a later one, fails its goods and every
   * goods not read yet, keeping the readings already made.
   */
  async read(listings: readonly ListingRef[]): Promise<StockReading[]> {
    const out: StockReading[] = [];
    const byGoods = new Map<string, { index: number; skuId: string }[]>();
    listings.forEach((listing, index) => {
      const m = LISTING_RE.exec(listing.listingId);
      const error = m
        ? 'not read'
        : `listing id must be <goods_id>:<sku_id>, got ${JSON.stringify(listing.listingId)}`;
      out.push({ listing, ok: false, error });
      if (!m) return;
      const entries = byGoods.get(m[1]!) ?? [];
      entries.push({ index, skuId: m[2]! });
      byGoods.set(m[1]!, entries);
    });
    let calls = 0;
    let stopped: ConnectorError | undefined;
    for (const [goodsId, entries] of byGoods) {
      const fail = (error: string) => {
        for (const e of entries) out[e.index] = { listing: listings[e.index]!, ok: false, error };
      };
      if (stopped) {
        fail(`goods ${goodsId} not read: ${stopped.message}`);
        continue;
      }
      let skus: unknown;
      try {
        calls++;
        skus = (await this.client.call('pdd.goods.detail.get', { goods_id: goodsId })).sku_list;
      } catch (err) {
        if (!(err instanceof ConnectorError)) throw err;
        if (!ITEM_ERROR_RE.test(err.code ?? '')) {
          if (calls === 1) throw err;
          stopped = err;
        }
        fail(`goods ${goodsId}: ${err.message}`);
        continue;
      }
      const list = (Array.isArray(skus) ? skus : []) as { sku_id?: unknown; quantity?: unknown }[];
      for (const e of entries) {
        const q = list.find((s) => String(s.sku_id) === e.skuId)?.quantity;
        const quantity = typeof q === 'number' || (typeof q === 'string' && /^\d+$/.test(q)) ? Number(q) : -1;
        out[e.index] =
          Number.isSafeInteger(quantity) && quantity >= 0
            ? { listing: listings[e.index]!, ok: true, quantity }
            : {
                listing: listings[e.index]!,
                ok: false,
                error: `PDD goods ${goodsId} has no SKU ${e.skuId} with a quantity`,
              };
      }
    }
    return out;
  }
}
