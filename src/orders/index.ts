import { z } from 'zod';
import { GroupCommit } from '../db/group-commit.js';
import { sql } from '../db/sql.js';
import { NotFoundError, ValidationError } from '../domain/errors.js';
import type { CanonicalOrder } from '../domain/order.js';
import { type CanonicalOrderInput, parseCanonicalOrder } from '../domain/order.js';
import type { StockPolicy } from '../domain/order-stock.js';
import type { Inventory } from '../inventory/index.js';
import type { Tx } from '../inventory/tx.js';
import { code, parseInput, positiveQty } from '../inventory/validation.js';
import type { Logger } from '../log.js';
import { type ApplyResult, applyOrder, type ShopPolicy } from './apply.js';
import { applyNewOrders, type BatchOrder } from './apply-batch.js';
import { applyRevisions } from './apply-revisions.js';
import { raiseException } from './exceptions.js';
import {
  type ClaimedEvent,
  type ClaimedHint,
  claimDue,
  claimHints,
  dueHints,
  type InboxDelivery,
  markDone,
  markFailed,
  notStoredYet,
  orderRevisionKey,
  storeDeliveries,
} from './inbox.js';
import * as queries from './queries.js';
import { findExpiredHolds } from './queries.js';

export { lineKeyOf } from './apply.js';
export type {
  ExceptionView,
  InboxCounts,
  ListExceptionsInput,
  ListOrdersInput,
  OrderDetail,
  OrderLineView,
  OrderSummary,
  Page,
} from './queries.js';

/** A shop as configured (config `shops[]`). */
export interface ShopSettings extends StockPolicy {
  id: string;
  platform: string;
  /** Warehouse codes, highest priority first. */
  warehouses: readonly string[];
  matchOuterId: boolean;
}

export interface OrdersOptions {
  /** Called after new deliveries were stored (wakes the inbox worker). */
  onReceived?: () => void;
  /** Called after a batch applied orders (stock may have changed: wakes the stock pusher). */
  onApplied?: () => void;
  /** The time unpaid holds expire against. Default: the system clock. */
  clock?: { now(): Date };
  /** Attempts before an event is parked with its error. Default 8. */
  maxAttempts?: number;
  /** How long a claimed event stays hidden from other processors. Default 60000 ms. */
  leaseMs?: number;
  /** First retry delay; doubles per attempt, with jitter, capped at 10 min. Default 1000 ms. */
  retryBaseMs?: number;
}

export interface HintReport {
  /** Hints claimed. */
  claimed: number;
  /** Distinct orders read back. */
  orders: number;
  /** Of those, revisions the inbox did not hold yet (stored for the inbox worker). */
  stored: number;
  retried: number;
  parked: number;
}

export interface BatchReport {
  claimed: number;
  applied: number;
  retried: number;
  parked: number;
  /** Of `applied`: events applied together in one transaction (the rest went one by one). */
  together: { created: number; revised: number };
  /** Milliseconds spent claiming, applying together, and applying the rest one by one. */
  ms: { claim: number; together: number; oneByOne: number };
  results: (ApplyResult | { eventId: string; error: string })[];
}

const listingInput = z.strictObject({
  shopId: z.string().min(1),
  platformItemId: z.string().trim().min(1).max(128),
  platformSkuId: z.string().trim().max(128).optional(),
  sku: code,
  unitsPerItem: positiveQty.optional(),
  /**
   * Where the platform keeps this listing's quantity (the connector's ListingRef: e.g. Shopify
   * inventory item + location). Unset: the listing maps orders but its stock is not pushed.
   */
  stockRef: z
    .strictObject({
      listingId: z.string().trim().min(1).max(128),
      locationId: z.string().trim().min(1).max(128).optional(),
    })
    .optional(),
  /** Never push this listing's quantity (the seller manages it on the platform). Default false. */
  pushExcluded: z.boolean().optional(),
});
export type ListingInput = z.input<typeof listingInput>;

/**
 * The order intake (销): durable inbox, processing into canonical orders and stock effects,
 * SKU mapping, exceptions. Every write of an order and its stock effects commits together.
 */
export class Orders {
  private readonly shops: Map<string, ShopSettings>;
  private readonly maxAttempts: number;
  private readonly leaseMs: number;
  private readonly retryBaseMs: number;
  private readonly clock: { now(): Date };
  private readonly onReceived: OrdersOptions['onReceived'];
  private readonly onApplied: OrdersOptions['onApplied'];
  private readonly receiver: GroupCommit<InboxDelivery, Stored>;

  constructor(
    private readonly inv: Inventory,
    shops: readonly ShopSettings[],
    private readonly log: Logger,
    options: OrdersOptions = {},
  ) {
    this.shops = new Map(shops.map((s) => [s.id, s]));
    this.maxAttempts = options.maxAttempts ?? 8;
    this.leaseMs = options.leaseMs ?? 60_000;
    this.retryBaseMs = options.retryBaseMs ?? 1000;
    this.clock = options.clock ?? { now: () => new Date() };
    this.onReceived = options.onReceived;
    this.onApplied = options.onApplied;
    // Storing a delivery is what a webhook's reply waits for: it goes ahead of queued order
    // applications, so acknowledgements stay fast while the inbox works through a backlog. It is
    // one statement (atomic on its own), so it runs without BEGIN and COMMIT: one round trip.
    this.receiver = new GroupCommit((ds) =>
      storeDeliveries({ query: (q) => this.inv.statement(q, { priority: 10 }) }, ds),
    );
  }

  /**
   * Gives back the stock of unpaid orders whose hold expired (shops with `reserveOn: created`
   * and `unpaidHoldMinutes`): each such order still holding stock is applied again, and its
   * targets now hold nothing. Payment later reserves again. Returns the orders released.
   * Meant for a periodic job.
   */
  async expireUnpaid(): Promise<number> {
    let released = 0;
    for (const shop of this.shops.values()) {
      if (shop.reserveOn !== 'created' || shop.unpaidHoldMinutes === undefined) continue;
      const cutoff = new Date(this.clock.now().getTime() - shop.unpaidHoldMinutes * 60_000);
      const due = await this.inv.transaction((tx) => findExpiredHolds(tx, shop.id, cutoff));
      for (const id of due) {
        const r = await this.reapply(shop.id, id);
        if (r.effects.some((e) => e.action === 'release')) released++;
      }
    }
    return released;
  }

  /** Records the configured shops (idempotent); call once at start-up. */
  async registerShops(): Promise<void> {
    const shops = [...this.shops.values()];
    if (shops.length === 0) return;
    await this.inv.transaction((tx) =>
      tx.execute(sql`
        INSERT INTO shop (id, platform) SELECT * FROM unnest(${shops.map((s) => s.id)}::text[], ${shops.map((s) => s.platform)}::text[])
        ON CONFLICT (id) DO NOTHING`),
    );
  }

  /** Stores a delivery durably (call before acknowledging it). Unknown shops are refused. */
  async receive(delivery: InboxDelivery): Promise<Stored> {
    const [stored] = await this.receiveAll([delivery]);
    return stored!;
  }

  /**
   * Stores several deliveries: all of them or none. Concurrent calls share transactions (see
   * GroupCommit), so a burst of webhooks costs a few transactions, not one each.
   */
  async receiveAll(
    deliveries: readonly InboxDelivery[],
    /** Join the caller's transaction (a pull stores its cursor with the page's orders). */
    within?: Tx,
  ): Promise<Stored[]> {
    const unknown = deliveries.map((d) => d.shopId).filter((id) => !this.shops.has(id));
    if (unknown.length > 0) throw new NotFoundError('shop', [...new Set(unknown)]);
    if (deliveries.length === 0) return [];
    const stored = await (within ? storeDeliveries(within, deliveries) : this.receiver.add(deliveries));
    if (stored.some((s) => !s.duplicate)) this.onReceived?.();
    return stored;
  }

  /**
   * Claims due inbox events and applies them: the new orders and the common revisions of the
   * batch together in one transaction ({@link applyTogether}), every other event in its own. A malformed event is
   * parked at once (retrying cannot fix it); other failures are retried with backoff and
   * parked after `maxAttempts`, each parked event raising a `parked_event` exception.
   */
  async processBatch(limit = 50): Promise<BatchReport> {
    const t0 = performance.now();
    // The shops' policies are read with the claim, once for the whole batch.
    const { claimed, policies } = await this.inv.transaction(async (tx) => {
      const events = await claimDue(tx, limit, this.leaseMs);
      const shops = new Set(events.map((e) => e.shopId).filter((id) => this.shops.has(id)));
      return { claimed: events, policies: shops.size > 0 ? await this.policiesOf(tx, shops) : new Map() };
    });
    const report: BatchReport = {
      claimed: claimed.length,
      applied: 0,
      retried: 0,
      parked: 0,
      together: { created: 0, revised: 0 },
      ms: { claim: 0, together: 0, oneByOne: 0 },
      results: [],
    };
    const t1 = performance.now();
    const results: BatchReport['results'] = new Array(claimed.length);
    // Each event's order is parsed once, here; both paths take it from this list. Re-fetch hints
    // are not claimed here (see resolveHints): nothing in a batch waits for a platform.
    const orders = claimed.map((event) => orderOf(event, event.payload));
    const together = await this.applyTogether(claimed, orders, policies);
    for (const [index, result] of together) {
      report.applied++;
      results[index] = result;
    }
    for (const r of together.values()) report.together[r.outcome === 'created' ? 'created' : 'revised']++;
    const t2 = performance.now();
    // The rest one by one, concurrently, each in its own transaction; the transaction runner
    // keeps at most its concurrency in the database (1 on PGlite). Two revisions of one order
    // serialise on the order's row lock; hot SKUs on their stock rows.
    const one = async (event: ClaimedEvent, index: number) => {
      try {
        const shop = this.shopOf(event.shopId);
        const parsed = orders[index]!;
        if (!parsed.ok) throw parsed.error;
        const result = await this.inv.transaction(async (tx) => {
          const policy = policies.get(shop.id) ?? (await this.policyOf(tx, shop));
          const r = await applyOrder(tx, this.inv, policy, parsed.order, this.clock.now());
          await markDone(tx, [event.id]);
          return r;
        });
        report.applied++;
        results[index] = result;
      } catch (err) {
        const { parked, message } = await this.recordFailure(event, err);
        if (parked) report.parked++;
        else report.retried++;
        results[index] = { eventId: event.id, error: message };
      }
    };
    // Events of one order go in the order they arrived (no reserve-then-release churn when a
    // payment and its cancellation arrive together); different orders concurrently.
    const chains = new Map<string, number[]>();
    for (const index of claimed.keys()) {
      if (together.has(index)) continue;
      const parsed = orders[index]!;
      const key = parsed.ok
        ? `${parsed.order.shopId}:${parsed.order.platformOrderId}`
        : `event:${claimed[index]!.id}`;
      chains.set(key, [...(chains.get(key) ?? []), index]);
    }
    await Promise.all(
      [...chains.values()].map(async (chain) => {
        for (const index of chain) await one(claimed[index]!, index);
      }),
    );
    report.results = results;
    const round = (ms: number) => Math.round(ms);
    report.ms = { claim: round(t1 - t0), together: round(t2 - t1), oneByOne: round(performance.now() - t2) };
    if (report.applied > 0) this.onApplied?.();
    return report;
  }

  /**
   * The batch's new orders, then revisions of orders stored already, in one transaction (see
   * {@link applyNewOrders} and {@link applyRevisions}); results by index.
   * Orders it does not take, and all of them when that transaction fails, are left to the
   * one-by-one path, which gives the same result and reports each order's own error.
   */
  private async applyTogether(
    claimed: readonly ClaimedEvent[],
    orders: readonly ParsedOrder[],
    policies: ReadonlyMap<string, ShopPolicy>,
  ): Promise<Map<number, ApplyResult>> {
    const batch: (BatchOrder & { index: number })[] = [];
    for (const [index, parsed] of orders.entries()) {
      if (!parsed.ok) continue;
      const shop = policies.get(parsed.order.shopId);
      if (shop) batch.push({ index, shop, order: parsed.order });
    }
    // One order alone costs the same either way.
    if (batch.length < 2) return new Map();
    try {
      return await this.inv.transaction(async (tx) => {
        const now = this.clock.now();
        const out = new Map<number, ApplyResult>();
        // Revisions of stored orders first: the units a cancellation gives back are there for
        // the new orders that came with it. Then the new orders, then revisions of those
        // (an order paid and cancelled within one batch).
        let rest = batch;
        const pass = async (apply: typeof applyRevisions, of: typeof batch) => {
          const done = await apply(tx, this.inv, of, now);
          for (const [k, r] of done) out.set(of[k]!.index, r);
          rest = rest.filter((b) => !out.has(b.index));
          return done;
        };
        await pass(applyRevisions, rest);
        const created = await pass(applyNewOrders, rest);
        if (created.size > 0) {
          const keyOf = (b: BatchOrder) => `${b.shop.id}:${b.order.platformOrderId}`;
          const fresh = new Set([...created.values()].map((r) => r.orderKey));
          await pass(
            applyRevisions,
            rest.filter((b) => fresh.has(keyOf(b))),
          );
        }
        await markDone(
          tx,
          [...out.keys()].map((index) => claimed[index]!.id),
        );
        return out;
      });
    } catch (err) {
      this.log.warn({ err, orders: batch.length }, 'applying the batch together failed; applying one by one');
      return new Map();
    }
  }

  /**
   * Stores an order entered by hand (source `manual`) after checking it is a valid canonical
   * order, so a malformed one is refused (ValidationError) and never reaches the inbox. `key`
   * (optional) dedupes repeated submissions; default: a hash of the order.
   */
  async submitOrder(input: unknown, key?: string): Promise<{ id: string | null; duplicate: boolean }> {
    const parsed = parseCanonicalOrder(input);
    if (!parsed.ok) throw parsed.error;
    return this.receive({
      shopId: parsed.order.shopId,
      source: 'manual',
      dedupeKey: key === undefined ? undefined : `manual:${key}`,
      payload: { order: input },
    });
  }

  // Reads and operator actions (SQL in ./queries.ts).

  listOrders(q: queries.ListOrdersInput = {}): Promise<queries.Page<queries.OrderSummary>> {
    return this.inv.transaction((tx) => queries.listOrders(tx, q));
  }

  getOrder(shopId: string, platformOrderId: string): Promise<queries.OrderDetail> {
    return this.inv.transaction((tx) => queries.getOrder(tx, shopId, platformOrderId));
  }

  listExceptions(q: queries.ListExceptionsInput = {}): Promise<queries.Page<queries.ExceptionView>> {
    return this.inv.transaction((tx) => queries.listExceptions(tx, q));
  }

  resolveException(id: string, resolution: string): Promise<queries.ExceptionView> {
    return this.inv.transaction((tx) => queries.resolveException(tx, id, resolution));
  }

  /** Sends a parked inbox event round again (attempts reset) and resolves its exception. */
  retryParked(eventId: string): Promise<{ id: string; status: 'pending' }> {
    return this.inv.transaction((tx) => queries.retryParked(tx, eventId));
  }

  inboxCounts(): Promise<queries.InboxCounts> {
    return this.inv.transaction((tx) => queries.inboxCounts(tx));
  }

  /** Maps a platform listing to a SKU, then re-applies the shop's orders waiting for a mapping. */
  async putListing(input: ListingInput): Promise<{ listingId: number; reapplied: number }> {
    const d = parseInput(listingInput, input, 'listing');
    const shop = this.shopOf(d.shopId);
    const listingId = await this.inv.transaction(async (tx) => {
      const [sku] = await tx.query<{ id: number; kind: string }>(
        sql`SELECT id, kind::text AS kind FROM sku WHERE code = ${d.sku}`,
      );
      if (!sku) throw new NotFoundError('sku', [d.sku]);
      const [row] = await tx.query<{ id: number }>(sql`
        INSERT INTO listing (shop_id, platform_item_id, platform_sku_id, sku_id, units_per_item, stock_ref,
                             stock_location, push_excluded)
        VALUES (${shop.id}, ${d.platformItemId}, ${d.platformSkuId ?? ''}, ${sku.id}, ${d.unitsPerItem ?? 1},
                ${d.stockRef?.listingId ?? null}, ${d.stockRef?.locationId ?? null}, ${d.pushExcluded ?? false})
        ON CONFLICT (shop_id, platform_item_id, platform_sku_id) DO UPDATE
          SET sku_id = EXCLUDED.sku_id, units_per_item = EXCLUDED.units_per_item, stock_ref = EXCLUDED.stock_ref,
              stock_location = EXCLUDED.stock_location, push_excluded = EXCLUDED.push_excluded, updated_at = now()
        RETURNING id`);
      // The listing's quantity must be (re)computed and pushed. The planner sees this mark only
      // once this commits, and the listing with it (see migration stock_dirty_log).
      await tx.execute(sql`
        INSERT INTO stock_dirty (sku_id) VALUES (${sku.id})`);
      return row!.id;
    });
    const waiting = await this.inv.transaction((tx) =>
      tx.query<{ platform_order_id: string }>(sql`
        SELECT DISTINCT platform_order_id FROM order_exception
        WHERE kind = 'unmapped_sku' AND status = 'open' AND shop_id = ${shop.id}`),
    );
    for (const w of waiting) await this.reapply(shop.id, w.platform_order_id);
    return { listingId, reapplied: waiting.length };
  }

  /** Applies the stored revision of an order again (after a mapping or stock change). */
  async reapply(shopId: string, platformOrderId: string): Promise<ApplyResult> {
    return this.inv.transaction(async (tx) => {
      const [row] = await tx.query<{ data: unknown }>(sql`
        SELECT data FROM sales_order WHERE shop_id = ${shopId} AND platform_order_id = ${platformOrderId}`);
      if (!row) throw new NotFoundError('order', [`${shopId}:${platformOrderId}`]);
      const parsed = orderOf({ shopId }, { order: row.data });
      if (!parsed.ok) throw parsed.error;
      return applyOrder(
        tx,
        this.inv,
        await this.policyOf(tx, this.shopOf(shopId)),
        parsed.order,
        this.clock.now(),
      );
    });
  }

  /**
   * Resolves up to `limit` due re-fetch hints of one shop by reading their orders back one by
   * one with `fetch` (the caller's connector call, behind the shop's API gate), each order once
   * however many hints name it. The orders read are stored as deliveries keyed by revision, in
   * the transaction that marks their hints done; the inbox worker then applies them with the
   * rest. A hint whose order the platform does not know is parked; other failures are retried
   * with backoff, then parked, like any inbox event.
   */
  async resolveHints(
    shopId: string,
    fetch: (platformOrderId: string) => Promise<CanonicalOrderInput | null>,
    limit: number,
    /** Only hints received at least this long ago (ms). Default 0. */
    olderThanMs = 0,
  ): Promise<HintReport> {
    const shop = this.shopOf(shopId);
    const hints = await this.inv.transaction((tx) =>
      claimHints(tx, shop.id, limit, this.leaseMs, olderThanMs),
    );
    const report: HintReport = { claimed: hints.length, orders: 0, stored: 0, retried: 0, parked: 0 };
    const byOrder = new Map<string, ClaimedHint[]>();
    for (const h of hints) byOrder.set(h.platformOrderId, [...(byOrder.get(h.platformOrderId) ?? []), h]);
    const read: { hints: ClaimedHint[]; order: CanonicalOrder }[] = [];
    await Promise.all(
      [...byOrder].map(async ([platformOrderId, named]) => {
        try {
          const order = await fetch(platformOrderId);
          if (!order) {
            throw new NotFoundError('order', [`${shop.id}:${platformOrderId} (not found on the platform)`]);
          }
          // Checked here, so an order the connector could not map parks its hints with the reason.
          const parsed = parseCanonicalOrder({ ...order, shopId: shop.id });
          if (!parsed.ok) throw parsed.error;
          read.push({ hints: named, order: parsed.order });
        } catch (err) {
          for (const h of named) {
            const { parked } = await this.recordFailure({ ...h, shopId: shop.id }, err);
            if (parked) report.parked++;
            else report.retried++;
          }
        }
      }),
    );
    if (read.length === 0) return report;
    const deliveries: InboxDelivery[] = read.map(({ order }) => ({
      shopId: shop.id,
      source: 'webhook',
      dedupeKey: orderRevisionKey(order),
      payload: { order },
    }));
    const stored = await this.inv.transaction(async (tx) => {
      const fresh = await notStoredYet(tx, shop.id, deliveries);
      const out = await storeDeliveries(tx, fresh);
      await markDone(
        tx,
        read.flatMap((r) => r.hints.map((h) => h.id)),
      );
      return out.filter((x) => !x.duplicate).length;
    });
    report.orders = read.length;
    report.stored = stored;
    if (stored > 0) this.onReceived?.();
    return report;
  }

  /** Due re-fetch hints of a shop, counted up to `atMost` (one statement, one round trip). */
  dueHints(shopId: string, atMost: number): Promise<number> {
    return dueHints(this.inv.autocommit, shopId, atMost);
  }

  /**
   * Records a failed attempt of an inbox event: retried with backoff, or parked (with a
   * `parked_event` exception) when malformed (retrying cannot fix it) or out of attempts.
   */
  private async recordFailure(
    event: { id: string; shopId: string; attempts: number },
    err: unknown,
  ): Promise<{ parked: boolean; message: string }> {
    const malformed = err instanceof ValidationError || err instanceof NotFoundError;
    const park = malformed || event.attempts >= this.maxAttempts;
    const message = (err as Error).message;
    const delay = Math.min(600_000, this.retryBaseMs * 2 ** (event.attempts - 1)) * (0.5 + Math.random() / 2);
    await this.inv.transaction(async (tx) => {
      await markFailed(tx, event.id, message, Math.round(delay), park);
      if (park) {
        await raiseException(tx, {
          kind: 'parked_event',
          subject: `inbox:${event.id}`,
          shopId: event.shopId,
          message: `inbox event ${event.id} parked after ${event.attempts} attempt(s): ${message}`,
        });
      }
    });
    this.log.warn(
      { eventId: event.id, shop: event.shopId, attempts: event.attempts, park, err },
      'inbox event failed',
    );
    return { parked: park, message };
  }

  private shopOf(id: string): ShopSettings {
    const shop = this.shops.get(id);
    if (!shop) throw new NotFoundError('shop', [id]);
    return shop;
  }

  private async policyOf(tx: Tx, shop: ShopSettings): Promise<ShopPolicy> {
    const policy = (await this.policiesOf(tx, new Set([shop.id]))).get(shop.id);
    if (!policy) {
      const rows = await tx.query<{ code: string }>(sql`
        SELECT code FROM warehouse WHERE code = ANY(${[...shop.warehouses]}::text[]) AND active`);
      throw new NotFoundError(
        'warehouse',
        shop.warehouses.filter((c) => !rows.some((r) => r.code === c)),
      );
    }
    return policy;
  }

  /** The policies of these shops; a shop with a missing or inactive warehouse is absent. */
  private async policiesOf(tx: Tx, shopIds: ReadonlySet<string>): Promise<Map<string, ShopPolicy>> {
    const shops = [...shopIds].map((id) => this.shopOf(id));
    const rows = await tx.query<{ id: number; code: string }>(sql`
      SELECT id, code FROM warehouse WHERE code = ANY(${[...new Set(shops.flatMap((s) => s.warehouses))]}::text[])
        AND active`);
    const byCode = new Map(rows.map((r) => [r.code, r.id]));
    const out = new Map<string, ShopPolicy>();
    for (const shop of shops) {
      if (shop.warehouses.every((c) => byCode.has(c)))
        out.set(shop.id, { ...shop, warehouseIds: shop.warehouses.map((c) => byCode.get(c)!) });
    }
    return out;
  }
}

type Stored = { id: string | null; duplicate: boolean };

type ParsedOrder = { ok: true; order: CanonicalOrder } | { ok: false; error: unknown };

/** The valid canonical order an event carries for its own shop, or why there is none. */
function orderOf(event: Pick<ClaimedEvent, 'shopId'>, payload: unknown): ParsedOrder {
  const parsed = parseCanonicalOrder((payload as { order?: unknown } | null)?.order);
  if (!parsed.ok) return parsed;
  if (parsed.order.shopId !== event.shopId) {
    return {
      ok: false,
      error: new ValidationError(
        `order names shop ${parsed.order.shopId}, delivered to shop ${event.shopId}`,
      ),
    };
  }
  return parsed;
}
