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
 */
import { ConnectorError, type PushResult, type RateLimitedError, type StockUpdate } from '../contract.js';
import type { TopClient } from './client.js';
import { MAX_SKUS_PER_CALL } from './config.js';

interface Prepared {
  index: number;
  update: StockUpdate;
  numIid: string;
  skuId?: string;
}

const LISTING_RE = /^(\d{1,20})(?::(\d{1,20}))?$/;

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
            : `listing id must be <num_iid> or <num_iid>:<sku_id>, got ${JSON.stringify(update.listing.listingId)}`,
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
      results[p.index] = failed(p, err as ConnectorError);
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
    for (const p of items) results[p.index] = failed(p, err);
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

function ok(p: Prepared): PushResult {
  return { listing: p.update.listing, status: 'ok', quantity: p.update.quantity };
}

function failed(p: Prepared, err: ConnectorError): PushResult {
  return {
    listing: p.update.listing,
    status: 'failed',
    action: err.action,
    ...(err.code ? { code: err.code } : {}),
    ...(err.action === 'rate_limited' ? { retryAfterMs: (err as RateLimitedError).retryAfterMs } : {}),
    message: err.message,
  };
}
