/**
 * A local WooCommerce REST API v3 for the demo, the tests and the benchmark: an in-memory store
 * behind the same paths, parameters, authentication, pagination headers, error shapes and
 * webhook signing as a real store, as far as the public docs and core source describe them.
 *
 * Written from the documentation only and sharing no code with the connector (its own Basic /
 * query-string credential check, its own HMAC signing, its own payloads and Link headers), so a
 * mistake on either side shows up as a failing test instead of cancelling out. Node built-ins
 * only.
 *
 * Served (under `/wp-json`):
 * - `GET  /wc/v3/orders` (page, per_page 1..100, modified_after/modified_before/after/before,
 *   dates_are_gmt, status (any|list), orderby date|id|include|title|slug, order asc|desc;
 *   `X-WP-Total`, `X-WP-TotalPages`, `Link` with rel=prev/next)
 * - `GET|PUT /wc/v3/orders/{id}`, `GET /wc/v3/orders/{id}/refunds`, `POST /wc/v3/orders/{id}/notes`
 * - `GET /wc/v3/products`, `GET /wc/v3/products/{id}/variations` (include, page, per_page 1..100;
 *   product / variation objects with `manage_stock`, `stock_quantity`, `stock_status`)
 * - `POST /wc/v3/products/batch`, `POST /wc/v3/products/{id}/variations/batch` (<= 100 items,
 *   per-item `error` objects)
 * - `POST /wc-shipment-tracking/v3/orders/{id}/shipment-trackings` (the extension)
 * Errors use the WordPress shape `{code, message, data: {status}}`. Core has no rate limit; the
 * sandbox plays a host limiter (token bucket, 429 + `Retry-After`) so throttling can be tested.
 * Webhooks: signed deliveries (`X-WC-Webhook-*`) and the unsigned form-encoded ping.
 */
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import type { FaultKind, FaultSpec } from '../contract.js';
import {
  checkSellQuantity,
  createSandboxServer,
  FaultInjector,
  giveBack,
  listenOn,
  mulberry32,
  type StockMap,
  type TakenUnits,
  TokenBucket,
  takeUnits,
} from '../testing/sandbox-kit.js';

export interface WooSandboxOptions {
  /** Port; 0 (default) picks a free one. */
  port?: number;
  /** Interface; default 127.0.0.1. */
  host?: string;
  consumerKey?: string;
  consumerSecret?: string;
  /** Secret of the store's webhook; default `sandbox webhook secret`. */
  webhookSecret?: string;
  /** Store currency; default EUR. */
  currency?: string;
  /** Site timezone offset in minutes, used for non-GMT fields and dates_are_gmt=false; default 120. */
  siteOffsetMinutes?: number;
  /** Seed of the generator; default 1. */
  seed?: number;
  /** Host limiter; default 30 requests, refilling 15/s. */
  throttle?: { capacity: number; refillPerSecond: number };
  /** Where webhooks go; unset = none sent. */
  webhookUrl?: string;
  /** Generated orders were created up to this long ago; default 6 hours. */
  spreadMs?: number;
  /** Newest generated change is at least this old; default 5 minutes. */
  minAgeMs?: number;
  /** Batch limit (`woocommerce_rest_batch_items_limit`); default 100. */
  batchLimit?: number;
  /** Clock in epoch ms; default `Date.now`. */
  now?: () => number;
}

export interface StockPushRecord {
  productId: number;
  variationId: number;
  quantity: number;
  previous: number | null;
}

interface Product {
  id: number;
  parentId: number;
  name: string;
  sku: string;
  price: number;
  stock: number | null;
  manage: boolean;
}

interface LineRec {
  id: number;
  name: string;
  product_id: number;
  variation_id: number;
  quantity: number;
  sku: string;
  subtotal: number;
  total: number;
  subtotal_tax: number;
  total_tax: number;
  gift: boolean;
}

interface RefundRec {
  id: number;
  created: number;
  amount: number;
  reason: string;
  lines: { id: number; orderLine: LineRec; quantity: number; total: number; tax: number }[];
}

interface OrderRec {
  id: number;
  status: string;
  created: number;
  modified: number;
  paid: number | null;
  completed: number | null;
  lines: LineRec[];
  shipping: number;
  shippingTax: number;
  fees: { id: number; name: string; total: number }[];
  coupons: { id: number; code: string; discount: number; type: string; nominal: number }[];
  refunds: RefundRec[];
  notes: { id: number; note: string; customer: boolean }[];
  trackings: { id: string; number: string; provider: string }[];
  /** Units taken from stock-managed products (by product id), given back on cancellation. */
  taken: TakenUnits;
}

const TAX_BP = 1000; // 10 % VAT on goods and shipping

function cents(n: number): string {
  const sign = n < 0 ? '-' : '';
  const a = Math.abs(n);
  return `${sign}${Math.floor(a / 100)}.${String(a % 100).padStart(2, '0')}`;
}

/** Half-up percentage of an amount in cents, basis points. */
function pct(amount: number, bp: number): number {
  return Math.floor((amount * bp + 5000) / 10000);
}

/** `per_page` (1..100, default 10) and `page` (>= 1, default 1), validated as WordPress does. */
function pageParams(q: URLSearchParams): { perPage: number; page: number } {
  const intParam = (name: string, def: number, min: number, max: number): number => {
    const v = q.get(name);
    if (v === null) return def;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      throw new HttpError(
        400,
        'rest_invalid_param',
        `Invalid parameter(s): ${name} (${name} must be between ${min} (inclusive) and ${max} (inclusive))`,
      );
    }
    return Number(v);
  };
  return { perPage: intParam('per_page', 10, 1, 100), page: intParam('page', 1, 1, Number.MAX_SAFE_INTEGER) };
}

/** One page of a list; a page past the last one is a 400, as `WP_REST_Posts_Controller` answers. */
function pageOf<T>(list: T[], page: number, perPage: number): T[] {
  if (page > Math.ceil(list.length / perPage) && list.length > 0) {
    throw new HttpError(
      400,
      'rest_post_invalid_page_number',
      'The page number requested is larger than the number of pages available.',
    );
  }
  return list.slice((page - 1) * perPage, page * perPage);
}

/** An id-list parameter (`include=1,2` or `include[]=1&include[]=2`); undefined when absent or empty. */
function idList(q: URLSearchParams, name: string): Set<number> | undefined {
  const raw = [...q.getAll(name), ...q.getAll(`${name}[]`)]
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (raw.length === 0) return undefined;
  const bad = raw.findIndex((v) => !/^\d+$/.test(v));
  if (bad >= 0) {
    throw new HttpError(
      400,
      'rest_invalid_param',
      `Invalid parameter(s): ${name} (${name}[${bad}] is not of type integer.)`,
    );
  }
  return new Set(raw.map(Number));
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export class WooSandbox {
  readonly consumerKey: string;
  readonly consumerSecret: string;
  readonly webhookSecret: string;
  readonly webhookId = 17;
  /** Every stock change accepted, in order. */
  readonly pushes: StockPushRecord[] = [];
  /** Every request served: method, path, status. */
  readonly requests: { method: string; path: string; status: number; query: string }[] = [];
  private readonly options: Required<Omit<WooSandboxOptions, 'webhookUrl' | 'port' | 'host'>> &
    Pick<WooSandboxOptions, 'webhookUrl'>;
  private readonly random: () => number;
  private readonly products = new Map<number, Product>();
  private readonly orders = new Map<number, OrderRec>();
  private nextPostId = 100;
  private nextItemId = 1;
  private readonly bucket: TokenBucket;
  private readonly faultInjector: FaultInjector;
  /** Quantities of stock-managed products by id (`"<id>"`); others have none and sell freely. */
  private readonly stockById: StockMap = {
    get: (key) => {
      const p = this.products.get(Number(key));
      return p?.manage && p.stock !== null ? p.stock : undefined;
    },
    set: (key, quantity) => {
      const p = this.products.get(Number(key));
      if (p) p.stock = quantity;
    },
  };
  private server: http.Server | undefined;
  private baseUrl = '';

  constructor(private readonly init: WooSandboxOptions = {}) {
    this.consumerKey = init.consumerKey ?? 'ck_sandbox0000000000000000000000000000000000';
    this.consumerSecret = init.consumerSecret ?? 'cs_sandbox0000000000000000000000000000000000';
    this.webhookSecret = init.webhookSecret ?? 'sandbox webhook secret';
    this.options = {
      consumerKey: this.consumerKey,
      consumerSecret: this.consumerSecret,
      webhookSecret: this.webhookSecret,
      currency: init.currency ?? 'EUR',
      siteOffsetMinutes: init.siteOffsetMinutes ?? 120,
      seed: init.seed ?? 1,
      throttle: init.throttle ?? { capacity: 30, refillPerSecond: 15 },
      webhookUrl: init.webhookUrl,
      spreadMs: init.spreadMs ?? 6 * 3600_000,
      minAgeMs: init.minAgeMs ?? 5 * 60_000,
      batchLimit: init.batchLimit ?? 100,
      now: init.now ?? Date.now,
    };
    this.random = mulberry32(this.options.seed);
    this.bucket = new TokenBucket(this.options.throttle.capacity);
    this.bucket.resetClock(this.options.now());
    const wpError = (code: string, message: string, status: number) => ({
      body: JSON.stringify({ code, message, data: { status } }),
    });
    this.faultInjector = new FaultInjector(this.options.seed, {
      isApi: (req) => (req.url ?? '').startsWith('/wp-json/'),
      throttled: () => wpError('too_many_requests', 'Too many requests.', 429),
      serverError: () =>
        wpError('internal_server_error', 'There has been a critical error on this website.', 500),
    });
    this.seedCatalog();
  }

  /** Starts listening; resolves with the store URL (`http://127.0.0.1:<port>`). */
  async start(): Promise<string> {
    const server = createSandboxServer((req, res) => this.handle(req, res), { faults: this.faultInjector });
    this.server = server;
    this.baseUrl = await listenOn(server, this.init.port ?? 0, this.init.host ?? '127.0.0.1');
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    this.faultInjector.release();
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Starts injecting faults into the REST API requests (null stops); see {@link FaultInjector}. */
  faults(spec: FaultSpec | null): void {
    this.faultInjector.set(spec);
  }

  /** Faults injected so far, per kind. */
  faultCounts(): Record<FaultKind, number> {
    return this.faultInjector.faultCounts();
  }

  // -------------------------------------------------------------------------------------------
  // Catalog and orders
  // -------------------------------------------------------------------------------------------

  private seedCatalog(): void {
    const simple = [
      ['Organic Cotton T-Shirt', 'TS-ORG', 1990],
      ['Canvas Sneakers', 'SN-CNV', 5900],
      ['Wool Beanie', 'BN-WOL', 1450],
    ] as const;
    for (const [name, sku, price] of simple) {
      const id = this.nextPostId++;
      this.products.set(id, { id, parentId: 0, name, sku, price, stock: 100, manage: true });
    }
    const variable = [
      ['Hoodie', 'HD', 4990, ['S', 'M', 'L']],
      ['Denim Jacket', 'DJ', 8900, ['M', 'L', 'XL']],
    ] as const;
    for (const [name, sku, price, sizes] of variable) {
      const pid = this.nextPostId++;
      this.products.set(pid, { id: pid, parentId: 0, name, sku, price, stock: null, manage: false });
      for (const size of sizes) {
        const vid = this.nextPostId++;
        this.products.set(vid, {
          id: vid,
          parentId: pid,
          name: `${name} - ${size}`,
          sku: `${sku}-${size}`,
          price,
          stock: 50,
          manage: true,
        });
      }
    }
    const gid = this.nextPostId++;
    this.products.set(gid, {
      id: gid,
      parentId: 0,
      name: 'Free Tote Bag',
      sku: 'GIFT-TOTE',
      price: 0,
      stock: 500,
      manage: true,
    });
  }

  /** Listings: simple products `"<id>"`, variations `"<parent>:<id>"`. */
  stocked(): { listingId: string; quantity: number }[] {
    return [...this.products.values()]
      .filter((p) => p.manage && p.stock !== null)
      .map((p) => ({
        listingId: p.parentId ? `${p.parentId}:${p.id}` : String(p.id),
        quantity: p.stock ?? 0,
      }));
  }

  /** Stock-managed simple products and variations (what `stocked()` lists), with sku and name. */
  sellable(): { id: number; parentId: number; name: string; sku: string; stock: number }[] {
    return [...this.products.values()]
      .filter((p) => p.manage && p.stock !== null)
      .map((p) => ({ id: p.id, parentId: p.parentId, name: p.name, sku: p.sku, stock: p.stock ?? 0 }));
  }

  setQuantity(productOrVariationId: number, quantity: number): void {
    const p = this.products.get(productOrVariationId);
    if (p) p.stock = quantity;
  }

  /**
   * Creates up to `count` orders spread over the last `spreadMs`, with the usual mix, and returns
   * the ids placed. Each takes its units from stock-managed products (as WooCommerce reduces stock
   * levels); a line a product cannot fill is left out and an order left without lines is not
   * placed. Cancelled and failed orders (and refunded ones never completed) give the units back.
   */
  generateOrders(count: number): number[] {
    const now = this.options.now();
    const ids: number[] = [];
    for (let i = 0; i < count; i++) {
      const created = now - this.options.minAgeMs - Math.floor(this.random() * this.options.spreadMs);
      const o = this.createOrder(Math.floor(created / 1000) * 1000);
      if (o) ids.push(o.id);
    }
    return ids;
  }

  /** Stock of a stock-managed simple product or variation; undefined for anything else. */
  quantity(productOrVariationId: number): number | undefined {
    return this.stockById.get(String(productOrVariationId));
  }

  /**
   * A buyer's paid order (`processing`) of `quantity` units of one stock-managed simple product or
   * variation at its price (plus VAT), created now: reduces its stock. Throws, placing nothing,
   * for an unknown product or one holding fewer units.
   */
  sell(productOrVariationId: number, quantity: number): number {
    checkSellQuantity(quantity);
    const p = this.products.get(productOrVariationId);
    const key = String(productOrVariationId);
    const have = this.stockById.get(key);
    if (!p || have === undefined) throw new Error(`no stock-managed product ${productOrVariationId}`);
    const taken: TakenUnits = [];
    if (!takeUnits(this.stockById, taken, key, quantity)) {
      throw new Error(`cannot sell ${quantity} of product ${productOrVariationId}: only ${have} in stock`);
    }
    const now = Math.floor(this.options.now() / 1000) * 1000;
    const sub = p.price * quantity;
    const order: OrderRec = {
      id: this.nextPostId++,
      status: 'processing',
      created: now,
      modified: now,
      paid: now,
      completed: null,
      lines: [
        {
          id: this.nextItemId++,
          name: p.name,
          product_id: p.parentId || p.id,
          variation_id: p.parentId ? p.id : 0,
          quantity,
          sku: p.sku,
          subtotal: sub,
          total: sub,
          subtotal_tax: pct(sub, TAX_BP),
          total_tax: pct(sub, TAX_BP),
          gift: false,
        },
      ],
      shipping: 0,
      shippingTax: 0,
      fees: [],
      coupons: [],
      refunds: [],
      notes: [],
      trackings: [],
      taken,
    };
    this.orders.set(order.id, order);
    return order.id;
  }

  /**
   * Cancels an order that has not shipped (status `cancelled`, modified now) and restores its
   * stock, as the admin's status change does. Throws for an unknown, cancelled, failed, refunded
   * or completed order, or one with a shipment tracked.
   */
  cancel(id: number): void {
    const o = this.order(id);
    if (['cancelled', 'failed', 'refunded'].includes(o.status))
      throw new Error(`order ${id} is already ${o.status}`);
    if (o.status === 'completed' || o.trackings.length > 0) throw new Error(`order ${id} has shipped`);
    o.status = 'cancelled';
    o.modified = Math.max(o.modified + 1000, Math.floor(this.options.now() / 1000) * 1000);
    this.settle(o);
  }

  /** WooCommerce restores stock when an order is cancelled (and never reduced it for a failed one). */
  private settle(o: OrderRec): void {
    const released =
      o.status === 'cancelled' || o.status === 'failed' || (o.status === 'refunded' && !o.completed);
    if (released) giveBack(this.stockById, o.taken);
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.random() * xs.length)]!;
  }

  /**
   * A generated order, or undefined when the buyer finds nothing to buy: out-of-stock products are
   * not shown, and a line asking for more than its product holds is left out.
   */
  private createOrder(created: number): OrderRec | undefined {
    const sellable = [...this.products.values()].filter(
      (p) => p.price > 0 && (p.parentId !== 0 || p.manage) && (this.stockById.get(String(p.id)) ?? 1) > 0,
    );
    if (sellable.length === 0) return undefined;
    const taken: TakenUnits = [];
    const lines: LineRec[] = [];
    const n = 1 + Math.floor(this.random() * 3);
    const used = new Set<number>();
    for (let i = 0; i < n; i++) {
      const p = this.pick(sellable);
      if (used.has(p.id)) continue;
      used.add(p.id);
      const q = 1 + Math.floor(this.random() * 3);
      if (!takeUnits(this.stockById, taken, String(p.id), q)) continue;
      const sub = p.price * q;
      lines.push({
        id: this.nextItemId++,
        name: p.name,
        product_id: p.parentId || p.id,
        variation_id: p.parentId ? p.id : 0,
        quantity: q,
        sku: p.sku,
        subtotal: sub,
        total: sub,
        subtotal_tax: 0,
        total_tax: 0,
        gift: false,
      });
    }
    if (lines.length === 0) return undefined;
    const order: OrderRec = {
      id: this.nextPostId++,
      status: 'processing',
      created,
      modified: created,
      paid: null,
      completed: null,
      lines,
      shipping: this.random() < 0.3 ? 0 : 490,
      shippingTax: 0,
      fees: [],
      coupons: [],
      refunds: [],
      notes: [],
      trackings: [],
      taken,
    };
    // Promotions.
    const roll = this.random();
    if (roll < 0.35) {
      const bp = this.pick([1000, 1500, 2000]);
      let sum = 0;
      for (const l of lines) {
        const d = pct(l.subtotal, bp);
        l.total -= d;
        sum += d;
      }
      order.coupons.push({
        id: this.nextItemId++,
        code: `save${bp / 100}`,
        discount: sum,
        type: 'percent',
        nominal: bp / 100,
      });
    } else if (roll < 0.5 && lines.length > 0) {
      // Two coupons: 10 % on every line, plus 3.00 off the first line.
      let sum = 0;
      for (const l of lines) {
        const d = pct(l.subtotal, 1000);
        l.total -= d;
        sum += d;
      }
      const first = lines[0]!;
      const extra = Math.min(300, first.total);
      first.total -= extra;
      order.coupons.push({
        id: this.nextItemId++,
        code: 'welcome10',
        discount: sum,
        type: 'percent',
        nominal: 10,
      });
      order.coupons.push({
        id: this.nextItemId++,
        code: 'tshirt3',
        discount: extra,
        type: 'fixed_product',
        nominal: 3,
      });
    } else if (roll < 0.65) {
      const goods = lines.reduce((s, l) => s + l.total, 0);
      if (goods > 500) order.fees.push({ id: this.nextItemId++, name: 'Loyalty discount', total: -500 });
    }
    const gift = [...this.products.values()].find((p) => p.sku === 'GIFT-TOTE')!;
    if (this.random() < 0.25 && takeUnits(this.stockById, taken, String(gift.id), 1)) {
      lines.push({
        id: this.nextItemId++,
        name: gift.name,
        product_id: gift.id,
        variation_id: 0,
        quantity: 1,
        sku: gift.sku,
        subtotal: 0,
        total: 0,
        subtotal_tax: 0,
        total_tax: 0,
        gift: true,
      });
    }
    for (const l of lines) {
      l.subtotal_tax = pct(l.subtotal, TAX_BP);
      l.total_tax = pct(l.total, TAX_BP);
    }
    order.shippingTax = pct(order.shipping, TAX_BP);
    // Lifecycle.
    const s = this.random();
    const minute = 60_000;
    if (s < 0.12) order.status = 'pending';
    else if (s < 0.2) order.status = 'on-hold';
    else if (s < 0.3) {
      order.status = 'cancelled';
      order.modified = created + 20 * minute;
    } else if (s < 0.35) order.status = 'failed';
    else {
      order.paid = created + minute;
      order.modified = order.paid;
      if (s < 0.6) {
        order.status = 'completed';
        order.completed = created + 90 * minute;
        order.modified = order.completed;
      }
      const r = this.random();
      const first = lines[0]!;
      if (r < 0.15 && lines.filter((l) => !l.gift).length >= 2) {
        // Partial refund of the first line; the status stays.
        order.modified += 5 * minute;
        order.refunds.push({
          id: this.nextPostId++,
          created: order.modified,
          amount: first.total + first.total_tax,
          reason: 'Damaged item',
          lines: [
            {
              id: this.nextItemId++,
              orderLine: first,
              quantity: first.quantity,
              total: first.total,
              tax: first.total_tax,
            },
          ],
        });
      } else if (r < 0.22) {
        // Full refund: every line plus shipping.
        order.modified += 5 * minute;
        order.status = 'refunded';
        order.refunds.push({
          id: this.nextPostId++,
          created: order.modified,
          amount: this.total(order),
          reason: 'Customer changed their mind',
          lines: lines
            .filter((l) => l.total + l.total_tax > 0)
            .map((l) => ({
              id: this.nextItemId++,
              orderLine: l,
              quantity: l.quantity,
              total: l.total,
              tax: l.total_tax,
            })),
        });
      }
    }
    // Never newer than now - minAge: generated history, not live traffic.
    order.modified = Math.min(order.modified, this.options.now() - this.options.minAgeMs);
    order.modified = Math.max(order.modified, order.created);
    this.orders.set(order.id, order);
    this.settle(order);
    return order;
  }

  private total(o: OrderRec): number {
    const goods = o.lines.reduce((s, l) => s + l.total + l.total_tax, 0);
    return goods + o.shipping + o.shippingTax + o.fees.reduce((s, f) => s + f.total, 0);
  }

  /** Changes an order now (status), as the shop admin would; returns its new modified time. */
  touchOrder(id: number, status?: string): number {
    const o = this.orders.get(id);
    if (!o) throw new Error(`no order ${id}`);
    if (status) o.status = status;
    o.modified = Math.max(o.modified + 1000, Math.floor(this.options.now() / 1000) * 1000);
    this.settle(o);
    return o.modified;
  }

  orderIds(): number[] {
    return [...this.orders.keys()];
  }

  trackingNumbers(orderId: number): string[] {
    const o = this.orders.get(orderId);
    if (!o) return [];
    return [
      ...o.trackings.map((t) => t.number),
      ...o.notes.flatMap((n) => {
        const m = /tracking number (\S+)/.exec(n.note);
        return m ? [m[1]!] : [];
      }),
    ];
  }

  refundCount(orderId: number): number {
    return this.orders.get(orderId)?.refunds.length ?? 0;
  }

  notesOf(orderId: number): string[] {
    return this.orders.get(orderId)?.notes.map((n) => n.note) ?? [];
  }

  statusOf(orderId: number): string | undefined {
    return this.orders.get(orderId)?.status;
  }

  // -------------------------------------------------------------------------------------------
  // JSON as the REST API renders it
  // -------------------------------------------------------------------------------------------

  private gmt(ms: number): string {
    return new Date(ms).toISOString().slice(0, 19);
  }

  private local(ms: number): string {
    return new Date(ms + this.options.siteOffsetMinutes * 60_000).toISOString().slice(0, 19);
  }

  orderJson(o: OrderRec): Record<string, unknown> {
    const goodsTax = o.lines.reduce((s, l) => s + l.total_tax, 0);
    const discount = o.lines.reduce((s, l) => s + l.subtotal - l.total, 0);
    const discountTax = o.lines.reduce((s, l) => s + l.subtotal_tax - l.total_tax, 0);
    return {
      id: o.id,
      parent_id: 0,
      number: String(o.id),
      order_key: `wc_order_${createHash('md5').update(String(o.id)).digest('hex').slice(0, 13)}`,
      created_via: 'checkout',
      version: '9.4.0',
      status: o.status,
      currency: this.options.currency,
      date_created: this.local(o.created),
      date_created_gmt: this.gmt(o.created),
      date_modified: this.local(o.modified),
      date_modified_gmt: this.gmt(o.modified),
      discount_total: cents(discount),
      discount_tax: cents(discountTax),
      shipping_total: cents(o.shipping),
      shipping_tax: cents(o.shippingTax),
      cart_tax: cents(goodsTax),
      total: cents(this.total(o)),
      total_tax: cents(goodsTax + o.shippingTax),
      prices_include_tax: false,
      customer_id: 0,
      billing: { first_name: 'Ada', last_name: 'Lovelace', country: 'DE', email: 'ada@example.com' },
      shipping: { first_name: 'Ada', last_name: 'Lovelace', country: 'DE' },
      payment_method: 'stripe',
      payment_method_title: 'Credit card',
      transaction_id: '',
      date_paid: o.paid ? this.local(o.paid) : null,
      date_paid_gmt: o.paid ? this.gmt(o.paid) : null,
      date_completed: o.completed ? this.local(o.completed) : null,
      date_completed_gmt: o.completed ? this.gmt(o.completed) : null,
      cart_hash: '',
      meta_data: [],
      line_items: o.lines.map((l) => ({
        id: l.id,
        name: l.name,
        product_id: l.product_id,
        variation_id: l.variation_id,
        quantity: l.quantity,
        tax_class: '',
        subtotal: cents(l.subtotal),
        subtotal_tax: cents(l.subtotal_tax),
        total: cents(l.total),
        total_tax: cents(l.total_tax),
        taxes: [{ id: 1, total: cents(l.total_tax), subtotal: cents(l.subtotal_tax) }],
        meta_data: l.gift ? [{ id: l.id * 10, key: '_free_gift', value: 'yes' }] : [],
        sku: l.sku,
        // The REST API renders the unit price as a JSON number.
        price: l.quantity ? Number(cents(Math.round(l.total / l.quantity))) : 0,
      })),
      tax_lines: [
        {
          id: 1,
          rate_code: 'DE-VAT-1',
          rate_id: 1,
          label: 'VAT',
          compound: false,
          tax_total: cents(goodsTax),
          shipping_tax_total: cents(o.shippingTax),
        },
      ],
      shipping_lines: o.shipping
        ? [
            {
              id: o.id * 10 + 1,
              method_title: 'Flat rate',
              method_id: 'flat_rate',
              total: cents(o.shipping),
              total_tax: cents(o.shippingTax),
              taxes: [],
            },
          ]
        : [],
      fee_lines: o.fees.map((f) => ({
        id: f.id,
        name: f.name,
        tax_class: '',
        tax_status: 'none',
        total: cents(f.total),
        total_tax: '0.00',
        taxes: [],
      })),
      coupon_lines: o.coupons.map((c) => ({
        id: c.id,
        code: c.code,
        discount: cents(c.discount),
        discount_tax: cents(pct(c.discount, TAX_BP)),
        discount_type: c.type,
        nominal_amount: c.nominal,
        free_shipping: false,
        meta_data: [],
      })),
      refunds: o.refunds.map((r) => ({ id: r.id, reason: r.reason, total: cents(-r.amount) })),
      set_paid: false,
    };
  }

  private refundJson(r: RefundRec): Record<string, unknown> {
    return {
      id: r.id,
      date_created: this.local(r.created),
      date_created_gmt: this.gmt(r.created),
      amount: cents(r.amount),
      reason: r.reason,
      refunded_by: 1,
      refunded_payment: true,
      meta_data: [],
      line_items: r.lines.map((l) => ({
        id: l.id,
        name: l.orderLine.name,
        product_id: l.orderLine.product_id,
        variation_id: l.orderLine.variation_id,
        quantity: -l.quantity,
        tax_class: '',
        subtotal: cents(-l.total),
        subtotal_tax: cents(-l.tax),
        total: cents(-l.total),
        total_tax: cents(-l.tax),
        taxes: [],
        meta_data: [{ id: l.id * 10, key: '_refunded_item_id', value: String(l.orderLine.id) }],
        sku: l.orderLine.sku,
        price: -Number(cents(Math.round(l.total / Math.max(1, l.quantity)))),
      })),
    };
  }

  // -------------------------------------------------------------------------------------------
  // HTTP
  // -------------------------------------------------------------------------------------------

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://sandbox');
      const method = req.method ?? 'GET';
      let status = 500;
      try {
        const out = this.route(method, url, req.headers, Buffer.concat(chunks));
        status = out.status;
        res.writeHead(out.status, { 'content-type': 'application/json; charset=UTF-8', ...out.headers });
        res.end(JSON.stringify(out.body));
      } catch (err) {
        const e =
          err instanceof HttpError
            ? err
            : new HttpError(500, 'internal_server_error', err instanceof Error ? err.message : String(err));
        status = e.status;
        res.writeHead(e.status, { 'content-type': 'application/json; charset=UTF-8', ...e.headers });
        res.end(JSON.stringify({ code: e.code, message: e.message, data: { status: e.status } }));
      }
      const q = new URLSearchParams(url.search);
      q.delete('consumer_secret');
      this.requests.push({ method, path: url.pathname, status, query: q.toString() });
    });
  }

  private throttle(): void {
    const now = this.options.now();
    const t = this.options.throttle;
    if (!this.bucket.take(now, t)) {
      throw new HttpError(429, 'too_many_requests', 'Too many requests.', {
        'retry-after': String(Math.max(1, Math.ceil((1 - this.bucket.tokens) / t.refillPerSecond))),
      });
    }
  }

  private authenticate(url: URL, headers: http.IncomingHttpHeaders): void {
    let key: string | undefined;
    let secret: string | undefined;
    const auth = headers.authorization;
    if (typeof auth === 'string' && /^Basic /i.test(auth)) {
      const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) {
        key = decoded.slice(0, colon);
        secret = decoded.slice(colon + 1);
      }
    } else if (url.searchParams.has('consumer_key')) {
      key = url.searchParams.get('consumer_key') ?? undefined;
      secret = url.searchParams.get('consumer_secret') ?? undefined;
    }
    if (key === undefined)
      throw new HttpError(401, 'woocommerce_rest_cannot_view', 'Sorry, you cannot list resources.');
    if (key !== this.consumerKey)
      throw new HttpError(401, 'woocommerce_rest_authentication_error', 'Consumer key is invalid.');
    if (secret !== this.consumerSecret)
      throw new HttpError(401, 'woocommerce_rest_authentication_error', 'Consumer secret is invalid.');
  }

  private route(
    method: string,
    url: URL,
    headers: http.IncomingHttpHeaders,
    body: Buffer,
  ): { status: number; body: unknown; headers?: Record<string, string> } {
    const path = url.pathname.replace(/\/+$/, '');
    if (!path.startsWith('/wp-json/')) throw new HttpError(404, 'not_found', 'Page not found.');
    this.throttle();
    this.authenticate(url, headers);
    const json = (): Record<string, unknown> => {
      try {
        const v = JSON.parse(body.toString('utf8') || '{}') as unknown;
        if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
      } catch {
        // fall through
      }
      throw new HttpError(400, 'rest_invalid_json', 'Invalid JSON body passed.');
    };
    const idIn = (re: RegExp): number | undefined => {
      const m = re.exec(path);
      return m ? Number(m[1]) : undefined;
    };
    if (method === 'GET' && path === '/wp-json/wc/v3/orders') return this.listOrders(url);
    const orderId = idIn(/^\/wp-json\/wc\/v3\/orders\/(\d+)$/);
    if (orderId !== undefined) {
      const o = this.order(orderId);
      if (method === 'GET') return { status: 200, body: this.orderJson(o) };
      if (method === 'PUT' || method === 'POST') {
        const b = json();
        if (typeof b.status === 'string') o.status = b.status;
        if (b.status === 'completed' && !o.completed) o.completed = this.options.now();
        o.modified = Math.max(o.modified + 1000, Math.floor(this.options.now() / 1000) * 1000);
        this.settle(o);
        return { status: 200, body: this.orderJson(o) };
      }
    }
    const refundsOf = idIn(/^\/wp-json\/wc\/v3\/orders\/(\d+)\/refunds$/);
    if (method === 'GET' && refundsOf !== undefined) {
      const o = this.order(refundsOf);
      const list = [...o.refunds].sort((a, b) => b.id - a.id).map((r) => this.refundJson(r));
      return {
        status: 200,
        body: list,
        headers: { 'x-wp-total': String(list.length), 'x-wp-totalpages': list.length ? '1' : '0' },
      };
    }
    const notesOf = idIn(/^\/wp-json\/wc\/v3\/orders\/(\d+)\/notes$/);
    if (method === 'POST' && notesOf !== undefined) {
      const o = this.order(notesOf);
      const b = json();
      if (typeof b.note !== 'string' || b.note === '')
        throw new HttpError(400, 'rest_missing_callback_param', 'Missing parameter(s): note');
      const note = { id: this.nextItemId++, note: b.note, customer: b.customer_note === true };
      o.notes.push(note);
      return {
        status: 201,
        body: {
          id: note.id,
          author: 'stockd',
          date_created_gmt: this.gmt(this.options.now()),
          note: note.note,
          customer_note: note.customer,
        },
      };
    }
    const trackingOf = idIn(/^\/wp-json\/wc-shipment-tracking\/v3\/orders\/(\d+)\/shipment-trackings$/);
    if (method === 'POST' && trackingOf !== undefined) {
      const o = this.order(trackingOf);
      const b = json();
      if (typeof b.tracking_number !== 'string' || b.tracking_number === '') {
        throw new HttpError(400, 'rest_missing_callback_param', 'Missing parameter(s): tracking_number');
      }
      const t = {
        id: createHash('md5').update(`${o.id}:${b.tracking_number}`).digest('hex'),
        number: b.tracking_number,
        provider: String(b.custom_tracking_provider ?? b.tracking_provider ?? ''),
      };
      o.trackings.push(t);
      return {
        status: 201,
        body: { tracking_id: t.id, tracking_number: t.number, tracking_provider: t.provider },
      };
    }
    if (method === 'GET' && path === '/wp-json/wc/v3/products') return this.listProducts(url, undefined);
    const variationsIn = idIn(/^\/wp-json\/wc\/v3\/products\/(\d+)\/variations$/);
    if (method === 'GET' && variationsIn !== undefined) return this.listProducts(url, variationsIn);
    if (method === 'POST' && path === '/wp-json/wc/v3/products/batch') return this.batch(json(), undefined);
    const variationsOf = idIn(/^\/wp-json\/wc\/v3\/products\/(\d+)\/variations\/batch$/);
    if (method === 'POST' && variationsOf !== undefined) return this.batch(json(), variationsOf);
    throw new HttpError(404, 'rest_no_route', 'No route was found matching the URL and request method.');
  }

  private order(id: number): OrderRec {
    const o = this.orders.get(id);
    if (!o) throw new HttpError(404, 'woocommerce_rest_shop_order_invalid_id', 'Invalid ID.');
    return o;
  }

  private parseDate(name: string, value: string | null, gmt: boolean): number | undefined {
    if (value === null) return undefined;
    const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(Z|[+-]\d{2}:?\d{2})?$/.exec(value);
    if (!m) throw new HttpError(400, 'rest_invalid_param', `Invalid parameter(s): ${name}`);
    if (m[2])
      return Date.parse(`${m[1]}${m[2].length === 5 ? `${m[2].slice(0, 3)}:${m[2].slice(3)}` : m[2]}`);
    const asUtc = Date.parse(`${m[1]}Z`);
    return gmt ? asUtc : asUtc - this.options.siteOffsetMinutes * 60_000;
  }

  private listOrders(url: URL): { status: number; body: unknown; headers: Record<string, string> } {
    const q = url.searchParams;
    const { perPage, page } = pageParams(q);
    const orderby = q.get('orderby') ?? 'date';
    if (!['date', 'id', 'include', 'title', 'slug'].includes(orderby)) {
      throw new HttpError(
        400,
        'rest_invalid_param',
        'Invalid parameter(s): orderby (orderby is not one of date, id, include, title, and slug.)',
      );
    }
    const order = q.get('order') ?? 'desc';
    if (order !== 'asc' && order !== 'desc')
      throw new HttpError(400, 'rest_invalid_param', 'Invalid parameter(s): order');
    const gmt = q.get('dates_are_gmt') === 'true' || q.get('dates_are_gmt') === '1';
    const modAfter = this.parseDate('modified_after', q.get('modified_after'), gmt);
    const modBefore = this.parseDate('modified_before', q.get('modified_before'), gmt);
    const after = this.parseDate('after', q.get('after'), gmt);
    const before = this.parseDate('before', q.get('before'), gmt);
    const statuses = [...q.getAll('status'), ...q.getAll('status[]')].flatMap((s) => s.split(','));
    const anyStatus = statuses.length === 0 || statuses.includes('any');
    let list = [...this.orders.values()].filter(
      (o) =>
        (anyStatus ? o.status !== 'trash' && o.status !== 'checkout-draft' : statuses.includes(o.status)) &&
        // WordPress date_query: after/before are exclusive.
        (modAfter === undefined || o.modified > modAfter) &&
        (modBefore === undefined || o.modified < modBefore) &&
        (after === undefined || o.created > after) &&
        (before === undefined || o.created < before),
    );
    const dir = order === 'asc' ? 1 : -1;
    list.sort((a, b) => dir * (orderby === 'id' ? a.id - b.id : a.created - b.created || a.id - b.id));
    const total = list.length;
    const totalPages = Math.ceil(total / perPage);
    list = pageOf(list, page, perPage);
    const link = (p: number) => {
      const u = new URLSearchParams(q);
      u.delete('consumer_key');
      u.delete('consumer_secret');
      u.set('page', String(p));
      return `<${this.baseUrl}/wp-json/wc/v3/orders?${u}>`;
    };
    const links: string[] = [];
    if (page > 1) links.push(`${link(page - 1)}; rel="prev"`);
    if (page < totalPages) links.push(`${link(page + 1)}; rel="next"`);
    return {
      status: 200,
      body: list.map((o) => this.orderJson(o)),
      headers: {
        'x-wp-total': String(total),
        'x-wp-totalpages': String(totalPages),
        ...(links.length ? { link: links.join(', ') } : {}),
      },
    };
  }

  /**
   * `GET products` (simple and variable products, never variations) or `GET products/{id}/
   * variations` (that product's variations; an unknown parent lists nothing, as WooCommerce's
   * `post_parent` query does): `include`, `page`, `per_page`; newest first, `X-WP-Total`.
   */
  private listProducts(
    url: URL,
    parentId: number | undefined,
  ): { status: number; body: unknown; headers: Record<string, string> } {
    const q = url.searchParams;
    const { perPage, page } = pageParams(q);
    const include = idList(q, 'include');
    const list = [...this.products.values()]
      .filter(
        (p) =>
          (parentId === undefined ? p.parentId === 0 : p.parentId !== 0 && p.parentId === parentId) &&
          (include === undefined || include.has(p.id)),
      )
      .sort((a, b) => b.id - a.id);
    return {
      status: 200,
      body: pageOf(list, page, perPage).map((p) => this.productJson(p)),
      headers: {
        'x-wp-total': String(list.length),
        'x-wp-totalpages': String(Math.ceil(list.length / perPage)),
      },
    };
  }

  /** A product or variation as the v3 API shows it (the stock fields and a few more). */
  private productJson(p: Product): Record<string, unknown> {
    const variable = !p.parentId && [...this.products.values()].some((x) => x.parentId === p.id);
    const stock = p.manage ? p.stock : null;
    return {
      id: p.id,
      name: p.name,
      sku: p.sku,
      ...(p.parentId ? { parent_id: p.parentId } : { type: variable ? 'variable' : 'simple' }),
      status: 'publish',
      price: cents(p.price),
      manage_stock: p.manage,
      stock_quantity: stock,
      stock_status: stock === null || stock > 0 ? 'instock' : 'outofstock',
    };
  }

  private batch(b: Record<string, unknown>, parentId: number | undefined): { status: number; body: unknown } {
    const update = Array.isArray(b.update) ? (b.update as unknown[]) : [];
    const count =
      update.length +
      (Array.isArray(b.create) ? b.create.length : 0) +
      (Array.isArray(b.delete) ? b.delete.length : 0);
    if (count > this.options.batchLimit) {
      throw new HttpError(
        413,
        'woocommerce_rest_request_entity_too_large',
        `Unable to accept more than ${this.options.batchLimit} items for this request.`,
      );
    }
    if (parentId !== undefined) {
      const parent = this.products.get(parentId);
      if (parent?.parentId !== 0)
        throw new HttpError(404, 'woocommerce_rest_product_invalid_id', 'Invalid ID.');
    }
    const out = update.map((raw) => {
      const it = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
      const id = typeof it.id === 'number' ? it.id : Number(it.id);
      const p = this.products.get(id);
      const wrongKind = !p || (parentId === undefined ? p.parentId !== 0 : p.parentId !== parentId);
      if (!Number.isInteger(id) || id <= 0 || !p || wrongKind) {
        const code =
          parentId === undefined
            ? 'woocommerce_rest_product_invalid_id'
            : 'woocommerce_rest_product_variation_invalid_id';
        return {
          id: Number.isFinite(id) ? id : 0,
          error: { code, message: 'Invalid ID.', data: { status: 400 } },
        };
      }
      const q = it.stock_quantity;
      if (q !== undefined && (typeof q !== 'number' || !Number.isInteger(q))) {
        return {
          id,
          error: {
            code: 'rest_invalid_param',
            message: 'Invalid parameter(s): stock_quantity',
            data: { status: 400 },
          },
        };
      }
      if (it.manage_stock === true) p.manage = true;
      if (typeof q === 'number') {
        this.pushes.push({
          productId: p.parentId || p.id,
          variationId: p.parentId ? p.id : 0,
          quantity: q,
          previous: p.stock,
        });
        p.stock = q;
      }
      return this.productJson(p);
    });
    return { status: 200, body: { update: out } };
  }

  // -------------------------------------------------------------------------------------------
  // Webhooks
  // -------------------------------------------------------------------------------------------

  /** Signs a body the way `WC_Webhook::generate_signature` does. */
  sign(body: string): string {
    return createHmac('sha256', this.webhookSecret).update(body, 'utf8').digest('base64');
  }

  /** Delivers one signed `order.*` webhook; resolves with the receiver's status (0 = no connection). */
  async deliver(
    topic: string,
    orderId: number,
  ): Promise<{ status: number; body: string; headers: Record<string, string> }> {
    const o = this.order(orderId);
    const body = JSON.stringify(topic === 'order.deleted' ? { id: o.id } : this.orderJson(o));
    const [resource, event] = topic.split('.');
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'WooCommerce/9.4.0 Hookshot (WordPress/6.7)',
      'x-wc-webhook-source': `${this.baseUrl}/`,
      'x-wc-webhook-topic': topic,
      'x-wc-webhook-resource': resource ?? '',
      'x-wc-webhook-event': event ?? '',
      'x-wc-webhook-signature': this.sign(body),
      'x-wc-webhook-id': String(this.webhookId),
      'x-wc-webhook-delivery-id': createHash('md5')
        .update(`${this.webhookId}${this.options.now()}`)
        .digest('hex'),
    };
    return { ...(await this.post(body, headers)), body, headers };
  }

  /** The ping sent when a webhook is saved: form body, no signature. */
  async ping(): Promise<{ status: number }> {
    return this.post(`webhook_id=${this.webhookId}`, {
      'content-type': 'application/x-www-form-urlencoded',
      'user-agent': 'WooCommerce/9.4.0 Hookshot (WordPress/6.7)',
    });
  }

  private async post(body: string, headers: Record<string, string>): Promise<{ status: number }> {
    const target = this.options.webhookUrl;
    if (!target) throw new Error('no webhookUrl configured');
    return new Promise((resolve) => {
      const req = http.request(
        target,
        { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
        },
      );
      req.setTimeout(5000, () => req.destroy());
      req.on('error', () => resolve({ status: 0 }));
      req.end(body);
    });
  }
}
