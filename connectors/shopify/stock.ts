/**
 * Stock push through GraphQL `inventorySetQuantities` (absolute "available" quantities) with
 * compare-and-set, and the matching read.
 *
 * Version rules [V]: from 2026-01 each quantity carries `changeFromQuantity` (a number = CAS, an
 * explicit null = unconditional) and the mutation takes `@idempotent(key:)` (mandatory from
 * 2026-04); before 2026-01 CAS is `compareQuantity` per quantity and opting out is the
 * input-wide `ignoreCompareQuantity: true`, so conditional and unconditional updates go in
 * separate requests there.
 *
 * Per-item results: `userErrors[].field` is the path of the failing input, e.g.
 * `["input", "quantities", "2", "changeFromQuantity"]`, so each error lands on its item. The
 * mutation is treated as all-or-nothing when it returns no `inventoryAdjustmentGroup` [U]: the
 * items without an error are then sent again (bounded: each round removes at least one item), so
 * one bad listing never fails the batch.
 */
import { randomUUID } from 'node:crypto';
import {
  type ConnectorError,
  classify,
  type ListingRef,
  type PushResult,
  type StockReading,
  type StockUpdate,
} from '../contract.js';
import type { ShopifyClient } from './client.js';
import { MAX_STOCK_BATCH, type ShopifyConfig } from './config.js';
import { SHOPIFY_ERRORS } from './errors.js';

const MAX_QUANTITY = 1_000_000_000;

/** `gid://shopify/<kind>/<n>` from a numeric id or a gid; undefined when neither. */
export function toGid(kind: 'InventoryItem' | 'Location', id: string): string | undefined {
  if (/^gid:\/\/shopify\/[A-Za-z]+\/\d+$/.test(id))
    return id.startsWith(`gid://shopify/${kind}/`) ? id : undefined;
  return /^\d+$/.test(id) ? `gid://shopify/${kind}/${id}` : undefined;
}

interface Prepared {
  index: number;
  listing: ListingRef;
  itemGid: string;
  locationGid: string;
  quantity: number;
  expected: number | null;
}

interface UserError {
  code?: string | null;
  field?: string[] | null;
  message: string;
}

interface SetPayload {
  inventorySetQuantities: { inventoryAdjustmentGroup: { id: string } | null; userErrors: UserError[] } | null;
}

export class StockPusher {
  private readonly modern: boolean;

  constructor(
    private readonly client: ShopifyClient,
    private readonly config: ShopifyConfig,
  ) {
    this.modern = config.apiVersion >= '2026-01';
  }

  async push(updates: readonly StockUpdate[]): Promise<PushResult[]> {
    const results: (PushResult | undefined)[] = updates.map(() => undefined);
    const ready: Prepared[] = [];
    for (const [index, u] of updates.entries()) {
      const bad = (message: string) => {
        results[index] = {
          listing: u.listing,
          status: 'failed',
          action: 'config_error',
          code: 'INVALID_INPUT',
          message,
        };
      };
      const itemGid = toGid('InventoryItem', u.listing.listingId);
      const locationRaw = u.listing.locationId ?? this.config.locationId;
      const locationGid = locationRaw === undefined ? undefined : toGid('Location', locationRaw);
      const expected = u.expected ?? null;
      if (!itemGid) bad(`listingId ${JSON.stringify(u.listing.listingId)} is not an inventory item id`);
      else if (!locationGid) bad('no location: set listing.locationId or the config locationId');
      else if (!Number.isInteger(u.quantity) || u.quantity < 0 || u.quantity > MAX_QUANTITY) {
        bad(`quantity ${u.quantity} is not an integer from 0 to ${MAX_QUANTITY}`);
      } else if (expected !== null && (!Number.isInteger(expected) || Math.abs(expected) > MAX_QUANTITY)) {
        bad(`expected ${expected} is not an integer`);
      } else ready.push({ index, listing: u.listing, itemGid, locationGid, quantity: u.quantity, expected });
    }

    let sentAny = false;
    for (const chunk of this.chunks(ready)) {
      try {
        await this.sendChunk(chunk, results);
        sentAny = true;
      } catch (err) {
        const e = err as ConnectorError;
        // Nothing applied yet: let the caller's queue handle the whole call.
        if (!sentAny || !('action' in e)) throw err;
        for (const p of chunk) {
          results[p.index] = {
            listing: p.listing,
            status: 'failed',
            action: e.action,
            ...(e.code ? { code: e.code } : {}),
            ...('retryAfterMs' in e && typeof e.retryAfterMs === 'number'
              ? { retryAfterMs: e.retryAfterMs }
              : {}),
            message: e.message,
          };
        }
      }
    }
    return results.map(
      (r, i) =>
        r ?? {
          listing: updates[i]!.listing,
          status: 'failed',
          action: 'retry',
          code: 'NOT_SENT',
          message: 'update was not sent',
        },
    );
  }

  /**
   * Batches of at most {@link MAX_STOCK_BATCH}, never the same item+location twice in one batch
   * (Shopify rejects duplicates; a later update for the same listing goes in a later batch, so the
   * last one wins), and before 2026-01 conditional and unconditional updates apart.
   */
  private chunks(ready: Prepared[]): Prepared[][] {
    const out: Prepared[][] = [];
    const open = new Map<string, { items: Prepared[]; keys: Set<string> }[]>();
    for (const p of ready) {
      const group = this.modern ? 'all' : p.expected === null ? 'unconditional' : 'cas';
      const key = `${p.itemGid}|${p.locationGid}`;
      const list = open.get(group) ?? [];
      open.set(group, list);
      // A repeated listing must go in a batch after every batch that already holds it.
      const lastWithKey = list.findLastIndex((c) => c.keys.has(key));
      let target = list.find((c, i) => i > lastWithKey && c.items.length < MAX_STOCK_BATCH);
      if (!target) {
        target = { items: [], keys: new Set() };
        list.push(target);
        out.push(target.items);
      }
      target.items.push(p);
      target.keys.add(key);
    }
    return out;
  }

  private async sendChunk(chunk: Prepared[], results: (PushResult | undefined)[]): Promise<void> {
    let pending = chunk;
    // Each round either finishes or removes at least one item: at most chunk.length + 1 rounds.
    for (let round = 0; round <= chunk.length && pending.length > 0; round++) {
      const payload = await this.client.graphql<SetPayload>(this.mutation(), this.variables(pending));
      const out = payload.inventorySetQuantities;
      const errors = out?.userErrors ?? [];
      if (errors.length === 0) {
        for (const p of pending)
          results[p.index] = { listing: p.listing, status: 'ok', quantity: p.quantity };
        return;
      }
      const failed = new Set<number>();
      let unattributed: UserError | undefined;
      for (const e of errors) {
        const i = quantityIndex(e.field);
        const p = i === undefined ? undefined : pending[i];
        if (!p) {
          unattributed ??= e;
          continue;
        }
        failed.add(i!);
        results[p.index] = itemFailure(p, e);
      }
      const rest = pending.filter((_, i) => !failed.has(i));
      if (unattributed) {
        for (const p of rest) results[p.index] = itemFailure(p, unattributed);
        return;
      }
      if (out?.inventoryAdjustmentGroup) {
        for (const p of rest) results[p.index] = { listing: p.listing, status: 'ok', quantity: p.quantity };
        return;
      }
      pending = rest;
    }
  }

  private mutation(): string {
    return this.modern
      ? `mutation StockdSetQuantities($input: InventorySetQuantitiesInput!, $idempotencyKey: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey) {
    inventoryAdjustmentGroup { id }
    userErrors { code field message }
  }
}`
      : `mutation StockdSetQuantities($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { id }
    userErrors { code field message }
  }
}`;
  }

  private variables(items: Prepared[]): Record<string, unknown> {
    const base = { name: 'available', reason: this.config.stockReason };
    if (this.modern) {
      return {
        input: {
          ...base,
          quantities: items.map((p) => ({
            inventoryItemId: p.itemGid,
            locationId: p.locationGid,
            quantity: p.quantity,
            changeFromQuantity: p.expected,
          })),
        },
        idempotencyKey: randomUUID(),
      };
    }
    const unconditional = items.every((p) => p.expected === null);
    return {
      input: {
        ...base,
        ...(unconditional ? { ignoreCompareQuantity: true } : {}),
        quantities: items.map((p) => ({
          inventoryItemId: p.itemGid,
          locationId: p.locationGid,
          quantity: p.quantity,
          ...(p.expected === null ? {} : { compareQuantity: p.expected }),
        })),
      },
    };
  }

  async read(listings: readonly ListingRef[]): Promise<StockReading[]> {
    const out: (StockReading | undefined)[] = listings.map(() => undefined);
    const byLocation = new Map<string, { index: number; gid: string }[]>();
    listings.forEach((listing, index) => {
      const gid = toGid('InventoryItem', listing.listingId);
      const loc = toGid('Location', listing.locationId ?? this.config.locationId ?? '');
      if (!gid || !loc) {
        out[index] = { listing, ok: false, error: 'not an inventory item id, or no location' };
        return;
      }
      const list = byLocation.get(loc) ?? [];
      list.push({ index, gid });
      byLocation.set(loc, list);
    });
    const query = `query StockdReadLevels($ids: [ID!]!, $locationId: ID!) {
  nodes(ids: $ids) {
    ... on InventoryItem { id inventoryLevel(locationId: $locationId) { quantities(names: ["available"]) { name quantity } } }
  }
}`;
    for (const [locationId, entries] of byLocation) {
      for (let start = 0; start < entries.length; start += MAX_STOCK_BATCH) {
        const part = entries.slice(start, start + MAX_STOCK_BATCH);
        const data = await this.client.graphql<{ nodes: (ReadNode | null)[] }>(query, {
          ids: part.map((e) => e.gid),
          locationId,
        });
        part.forEach((e, i) => {
          const listing = listings[e.index]!;
          const q = data.nodes?.[i]?.inventoryLevel?.quantities?.find(
            (x) => x.name === 'available',
          )?.quantity;
          out[e.index] =
            typeof q === 'number'
              ? { listing, ok: true, quantity: q }
              : { listing, ok: false, error: 'item unknown or not stocked at the location' };
        });
      }
    }
    return out.map((r, i) => r ?? { listing: listings[i]!, ok: false, error: 'not read' });
  }
}

interface ReadNode {
  id?: string;
  inventoryLevel?: { quantities?: { name: string; quantity: number }[] } | null;
}

function quantityIndex(field: string[] | null | undefined): number | undefined {
  if (!field) return undefined;
  const at = field.indexOf('quantities');
  const n = at >= 0 ? field[at + 1] : undefined;
  return n !== undefined && /^\d+$/.test(n) ? Number(n) : undefined;
}

function itemFailure(p: Prepared, e: UserError): PushResult {
  const code = e.code ?? 'UNKNOWN';
  if ((code === 'CHANGE_FROM_QUANTITY_STALE' || code === 'COMPARE_QUANTITY_STALE') && p.expected !== null) {
    return { listing: p.listing, status: 'compare_mismatch', expected: p.expected, message: e.message };
  }
  const c = classify(SHOPIFY_ERRORS, { code });
  return {
    listing: p.listing,
    status: 'failed',
    action: c.action,
    code,
    message: `${e.message} (${c.reason})`,
  };
}
