/**
 * How a pusher round is sized and split into platform requests (see push-send.ts): the rows it
 * claims (claimSize), the requests it sends (requestsPerRound), and the `pushStock` calls those
 * rows go in (stockBatches), each counted at the shop's gate by the requests it makes.
 */
import type { ListingRef, RateLimitSpec } from '../../connectors/contract.js';
import type { ShopConnector } from './shop-connectors.js';

interface ListingRow {
  stock_ref: string;
  stock_location: string | null;
}

/** The platform's reference of a listing row. */
export function refOf(r: ListingRow): ListingRef {
  return r.stock_location
    ? { listingId: r.stock_ref, locationId: r.stock_location }
    : { listingId: r.stock_ref };
}

type BatchingConnector = Pick<ShopConnector['connector'], 'limits' | 'stockBatchKey'>;

/**
 * Splits rows (most urgent first) into the batches of one `pushStock` call each: at most
 * `maxStockBatch` rows. Where the connector keys its requests (`stockBatchKey`: Taobao's item,
 * Douyin's product), a key's rows stay together, one request per key (per `maxStockBatch` of
 * them), and a call holds at most a quarter of an interval's requests (`intervalCap`: one
 * call through the gate then never holds other calls back for long), keys in the order of
 * their most urgent row.
 */
export function stockBatches<R extends ListingRow>(
  rows: readonly R[],
  connector: BatchingConnector,
): { rows: R[]; requests: number }[] {
  const size = Math.max(1, connector.limits.maxStockBatch);
  const out: { rows: R[]; requests: number }[] = [];
  for (const chunk of requestChunks(rows, connector)) {
    const last = out.at(-1);
    if (
      !last ||
      last.rows.length + chunk.length > size ||
      last.requests >= Math.max(1, Math.floor(connector.limits.intervalCap / 4))
    )
      out.push({ rows: [...chunk], requests: 1 });
    else {
      last.rows.push(...chunk);
      last.requests++;
    }
  }
  return out;
}

/** The requests `pushStock` makes for these listings: one per key and `maxStockBatch`. */
export function pushRequests(refs: readonly ListingRef[], connector: BatchingConnector): number {
  const rows = refs.map((r) => ({ stock_ref: r.listingId, stock_location: r.locationId ?? null }));
  return requestChunks(rows, connector).length;
}

/** Rows split into the platform's requests: `maxStockBatch` at most, one key each when keyed. */
function requestChunks<R extends ListingRow>(rows: readonly R[], connector: BatchingConnector): R[][] {
  const size = Math.max(1, connector.limits.maxStockBatch);
  const keyOf = connector.stockBatchKey;
  const chunks: R[][] = [];
  if (!keyOf) {
    for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size));
    return chunks;
  }
  const open = new Map<string, R[]>();
  for (const row of rows) {
    const key = keyOf(refOf(row));
    let chunk = open.get(key);
    if (!chunk || chunk.length >= size) {
      chunk = [];
      open.set(key, chunk);
      chunks.push(chunk);
    }
    chunk.push(row);
  }
  return chunks;
}

/** Platform requests one pusher round sends: about 2 s of the shop's rate limit, at least 1. */
export function requestsPerRound(limits: RateLimitSpec): number {
  return Math.max(1, Math.ceil(((limits.intervalCap * 1000) / Math.max(1, limits.intervalMs)) * 2));
}

/**
 * Rows one pusher round claims: what the shop's rate limit sends in about 2 s, at most 500. A
 * round reports its results when it ends, and a listing that changes meanwhile waits for the
 * next round, so a platform that takes one SKU per call (JD, 10 calls/s) works through its
 * backlog 20 listings at a time, each time taking the most urgent first (see claim), instead of
 * spending 20 s or more on a claim of 200. Where batches are keyed (Douyin: one product per
 * request) a claim can hold more rows than a round sends; the rest goes back at once.
 */
export function claimSize(limits: RateLimitSpec): number {
  const perSecond = (limits.intervalCap * 1000) / Math.max(1, limits.intervalMs);
  return Math.min(500, Math.max(limits.maxStockBatch, Math.ceil(limits.maxStockBatch * perSecond * 2)));
}
