/**
 * A local Shopify Admin API for the demo, the tests and the benchmark: an in-memory shop behind
 * the same paths, parameters, auth, pagination, throttling, error shapes and webhook signing as
 * the real one, as far as the public docs describe them.
 *
 * Written from the documentation only and sharing no code with the connector (its own HMAC
 * signing, its own payload building, its own Link header), so a mistake on either side shows up
 * as a failing test instead of cancelling out. Node built-ins only.
 *
 * Served:
 * - `GET  /admin/api/{v}/shop.json`
 * - `GET  /admin/api/{v}/orders.json` (status, limit <= 250, updated_at_min/max, created_at_min/max,
 *   since_id, ids, financial_status, fulfillment_status; `page_info` cursors with
 *   `Link: <..>; rel="previous", <..>; rel="next"`; other filters next to page_info are a 400)
 * - `GET  /admin/api/{v}/orders/{id}.json`
 * - `GET  /admin/api/{v}/orders/{id}/fulfillment_orders.json`
 * - `POST /admin/api/{v}/fulfillments.json`
 * - `POST /admin/api/{v}/graphql.json`: `inventorySetQuantities` (per-version compare semantics,
 *   `@idempotent`), `nodes(ids:) { ... on InventoryItem { inventoryLevel(locationId:) } }`
 * REST calls share a leaky bucket (default 40, leaking 2/s: 429 + `Retry-After` when full);
 * GraphQL has a cost bucket (default 1000 points, 100/s: `THROTTLED`).
 */
import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { FaultKind, FaultSpec } from '../contract.js';
import {
  checkSellQuantity,
  createSandboxServer,
  FaultInjector,
  giveBack,
  listenOn,
  mulberry32,
  readBody,
  type TakenUnits,
  takeUnits,
} from '../testing/sandbox-kit.js';

// ---------------------------------------------------------------------------------------------
// Options and records
// ---------------------------------------------------------------------------------------------

export interface ShopifySandboxOptions {
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Interface; default 127.0.0.1. */
  host?: string;
  /** The shop's myshopify domain; default `stockd-sandbox.myshopify.com`. */
  shopDomain?: string;
  /** The only access token accepted; default `shpat_sandbox_token`. */
  accessToken?: string;
  /** The app secret that signs webhooks; default `sandbox_app_secret`. */
  apiSecret?: string;
  /** Shop currency; default USD. */
  currency?: string;
  /** Offset the shop formats timestamps with; default `-05:00` (as in Shopify's examples). */
  timezoneOffset?: string;
  /** Seed of the generator; default 1. */
  seed?: number;
  /** Products in the catalog (3 variants each); default 4. */
  products?: number;
  /** Locations; default 2. */
  locations?: number;
  /** Starting available quantity per item and location; default 100. */
  initialQuantity?: number;
  /** REST leaky bucket; default capacity 40, leaking 2 per second. */
  restBucket?: { capacity: number; leakPerSecond: number };
  /** GraphQL cost bucket; default 1000 points restoring 100 per second. */
  graphqlBucket?: { capacity: number; restorePerSecond: number };
  /** Orders created per second by the background generator; 0 (default) = only on demand. */
  ordersPerSecond?: number;
  /** Where webhooks go; unset = none are sent. */
  webhookUrl?: string;
  /** Version stamped on webhooks (`X-Shopify-API-Version`); default 2026-01. */
  webhookApiVersion?: string;
  /** Extra attempts after a failed webhook delivery (backoff 100 ms x 2^n); default 2. */
  webhookRetries?: number;
  /** Background timers stop themselves after this long; default 10 minutes. */
  maxLifetimeMs?: number;
  /** Clock in epoch ms; default `Date.now`. */
  now?: () => number;
}

/** A stock change the sandbox accepted. */
export interface PushRecord {
  inventoryItemId: number;
  locationId: number;
  quantity: number;
  previous: number;
  name: string;
  reason: string;
  at: string;
}

export interface DeliveryRecord {
  topic: string;
  orderId: number;
  eventId: string;
  webhookId: string;
  attempts: number;
  /** Last HTTP status, or 0 when the connection failed. */
  status: number;
  body: string;
}

export interface RequestRecord {
  method: string;
  path: string;
  status: number;
}

interface Variant {
  id: number;
  product_id: number;
  title: string;
  product_title: string;
  sku: string;
  price: number; // cents
  inventory_item_id: number;
}

/** A line of an order being generated. */
interface Draft {
  variant: Variant;
  qty: number;
  allocs: { app: number; cents: number }[];
  gift: boolean;
}

interface FulfillmentOrderRec {
  id: number;
  status: 'open' | 'closed' | 'cancelled';
  assigned_location_id: number;
  line_items: { id: number; line_item_id: number; quantity: number; fulfillable_quantity: number }[];
}

/** The order as the sandbox stores it: the REST JSON, with amounts already as decimal strings. */
type OrderJson = Record<string, unknown> & {
  id: number;
  updated_at: string;
  created_at: string;
  cancelled_at: string | null;
  closed_at: string | null;
  financial_status: string;
  fulfillment_status: string | null;
  line_items: LineJson[];
  refunds: Record<string, unknown>[];
  fulfillments: Record<string, unknown>[];
};

type LineJson = Record<string, unknown> & {
  id: number;
  variant_id: number | null;
  quantity: number;
  current_quantity: number;
  fulfillable_quantity: number;
  price: string;
  discount_allocations: { amount: string; amount_set: unknown; discount_application_index: number }[];
};

interface OrderRec {
  json: OrderJson;
  fo: FulfillmentOrderRec;
  updatedMs: number;
  createdMs: number;
  /** Units taken from `levels` (at the assigned location), given back on cancellation. */
  taken: TakenUnits;
}

export type OrderAction = 'pay' | 'fulfill' | 'partially_fulfill' | 'cancel' | 'refund_one' | 'close';

const VALID_REASONS = new Set([
  'correction',
  'cycle_count_available',
  'damaged',
  'movement_created',
  'movement_updated',
  'movement_received',
  'movement_canceled',
  'other',
  'promotion',
  'quality_control',
  'received',
  'reservation_created',
  'reservation_deleted',
  'reservation_updated',
  'restock',
  'safety_stock',
  'shrinkage',
]);

/** Marks a request as answered (every handler path ends in `send`). */
const HANDLED = true;
type Handled = typeof HANDLED;

const PRODUCT_NAMES = [
  'IPod Nano',
  'Thé vert 绿茶',
  'Linen Shirt',
  'Ceramic Mug',
  'Trail Socks',
  'Desk Lamp',
];
const VARIANT_NAMES = ['green', 'red', 'black'];

// ---------------------------------------------------------------------------------------------
// The sandbox
// ---------------------------------------------------------------------------------------------

export class ShopifySandbox {
  readonly shopDomain: string;
  readonly accessToken: string;
  readonly apiSecret: string;
  readonly currency: string;
  /** Every stock change accepted, in order. */
  readonly pushes: PushRecord[] = [];
  /** Every webhook delivery, in order. */
  readonly deliveries: DeliveryRecord[] = [];
  /** Every API request served, in order. */
  readonly requests: RequestRecord[] = [];
  readonly variants: Variant[] = [];
  readonly locationIds: number[] = [];

  private readonly opts: Required<Omit<ShopifySandboxOptions, 'webhookUrl'>> & {
    webhookUrl: string | undefined;
  };
  private readonly orders = new Map<number, OrderRec>();
  private readonly levels = new Map<string, number>();
  private readonly idempotency = new Map<string, { input: string; response: unknown }>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inflight = new Set<http.ClientRequest>();
  private server: http.Server | undefined;
  private readonly orderWaiters = new Set<{ count: number; resolve: (ok: boolean) => void }>();
  private readonly faultInjector: FaultInjector;
  private baseUrl: string | undefined;
  private rng: () => number;
  private nextId = 5_000_000_001;
  private orderNumber = 1001;
  private adjustmentGroup = 1;
  private restLevel = 0;
  private restAt = 0;
  private gqlAvailable: number;
  private gqlAt = 0;
  private startedAt = 0;

  constructor(options: ShopifySandboxOptions = {}) {
    this.opts = {
      port: options.port ?? 0,
      host: options.host ?? '127.0.0.1',
      shopDomain: options.shopDomain ?? 'stockd-sandbox.myshopify.com',
      accessToken: options.accessToken ?? 'shpat_sandbox_token',
      apiSecret: options.apiSecret ?? 'sandbox_app_secret',
      currency: options.currency ?? 'USD',
      timezoneOffset: options.timezoneOffset ?? '-05:00',
      seed: options.seed ?? 1,
      products: options.products ?? 4,
      locations: options.locations ?? 2,
      initialQuantity: options.initialQuantity ?? 100,
      restBucket: options.restBucket ?? { capacity: 40, leakPerSecond: 2 },
      graphqlBucket: options.graphqlBucket ?? { capacity: 1000, restorePerSecond: 100 },
      ordersPerSecond: options.ordersPerSecond ?? 0,
      webhookUrl: options.webhookUrl,
      webhookApiVersion: options.webhookApiVersion ?? '2026-01',
      webhookRetries: options.webhookRetries ?? 2,
      maxLifetimeMs: options.maxLifetimeMs ?? 10 * 60_000,
      now: options.now ?? Date.now,
    };
    this.shopDomain = this.opts.shopDomain;
    this.accessToken = this.opts.accessToken;
    this.apiSecret = this.opts.apiSecret;
    this.currency = this.opts.currency;
    this.rng = mulberry32(this.opts.seed);
    this.gqlAvailable = this.opts.graphqlBucket.capacity;
    this.faultInjector = new FaultInjector(this.opts.seed, {
      isApi: (req) => (req.url ?? '').startsWith('/admin/api/'),
      throttled: () => ({
        body: JSON.stringify({
          errors:
            'Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.',
        }),
      }),
      serverError: () => ({ body: JSON.stringify({ errors: 'Internal Server Error' }) }),
    });
    this.buildCatalog();
  }

  /** Base URL once started, e.g. `http://127.0.0.1:43125`. */
  get url(): string {
    if (!this.baseUrl) throw new Error('sandbox not started');
    return this.baseUrl;
  }

  /** Starts listening (and the order generator, if `ordersPerSecond` > 0). Returns the base URL. */
  async start(): Promise<string> {
    if (this.server) return this.url;
    const server = createSandboxServer(
      async (req, res) => {
        await this.handle(req, res);
      },
      {
        faults: this.faultInjector,
        onError: (err, req, res) => this.send(req, res, 500, { errors: `sandbox failure: ${String(err)}` }),
      },
    );
    this.server = server;
    this.baseUrl = await listenOn(server, this.opts.port, this.opts.host);
    this.startedAt = this.opts.now();
    this.restAt = this.startedAt;
    this.gqlAt = this.startedAt;
    if (this.opts.ordersPerSecond > 0) this.startGenerator();
    return this.baseUrl;
  }

  /** Stops the server, every timer and every webhook in flight. Idempotent. */
  async stop(): Promise<void> {
    for (const w of this.orderWaiters) w.resolve(false);
    this.orderWaiters.clear();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const r of this.inflight) r.destroy();
    this.inflight.clear();
    this.faultInjector.release();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * Resolves true once the shop holds at least `count` orders (the background generator makes
   * them), or false if the sandbox stops first.
   */
  waitForOrders(count: number): Promise<boolean> {
    if (this.orders.size >= count) return Promise.resolve(true);
    if (!this.server) return Promise.resolve(false);
    return new Promise((resolve) => this.orderWaiters.add({ count, resolve }));
  }

  /** Timers still pending (0 after `stop()`). */
  activeTimers(): number {
    return this.timers.size;
  }

  /**
   * Creates up to `count` orders now; the mix of promotions and states is drawn from the seeded
   * generator. Each order takes its units at the first location; a line its variant cannot fill
   * there is left out and an order left empty is not placed, so fewer than `count` may come back.
   */
  generateOrders(count: number, options: { lifecycle?: boolean } = {}): OrderJson[] {
    const out: OrderJson[] = [];
    for (let i = 0; i < count; i++) {
      const rec = this.createOrder();
      if (!rec) continue;
      if (options.lifecycle !== false) this.randomLifecycle(rec);
      out.push(rec.json);
    }
    return out;
  }

  /**
   * A buyer's paid order of `quantity` units of the variant of `inventoryItemId`, fulfilled from
   * `locationId` (default the first location), at list price: takes the units there. Throws,
   * placing nothing, when the item is not stocked there or holds fewer units.
   */
  sell(inventoryItemId: number, quantity: number, locationId = this.locationIds[0]!): OrderJson {
    return this.sellLines([{ inventoryItemId, quantity }], locationId);
  }

  /**
   * A buyer's paid order of several lines (one per entry, in that order), fulfilled from
   * `locationId`, at list price. All or nothing: throws, placing nothing and taking no units,
   * when any item is not stocked there or holds fewer units than its line.
   */
  sellLines(
    lines: readonly { inventoryItemId: number; quantity: number }[],
    locationId = this.locationIds[0]!,
  ): OrderJson {
    if (lines.length === 0) throw new RangeError('an order needs at least one line');
    for (const l of lines) checkSellQuantity(l.quantity);
    const taken: TakenUnits = [];
    const drafts = lines.map(({ inventoryItemId, quantity }) => {
      const variant = this.variants.find((v) => v.inventory_item_id === inventoryItemId);
      const key = `${inventoryItemId}:${locationId}`;
      const have = this.levels.get(key);
      if (!variant || have === undefined) {
        giveBack(this.levels, taken);
        throw new Error(`inventory item ${inventoryItemId} is not stocked at location ${locationId}`);
      }
      if (!takeUnits(this.levels, taken, key, quantity)) {
        giveBack(this.levels, taken);
        throw new Error(
          `cannot sell ${quantity} of inventory item ${inventoryItemId}: location ${locationId} has only ${have} available`,
        );
      }
      return { variant, qty: quantity, allocs: [], gift: false };
    });
    return this.placeOrder({
      drafts,
      apps: [],
      codes: [],
      shippingCents: 0,
      shippingDiscount: 0,
      financial: 'paid',
      location: locationId,
      taken,
    }).json;
  }

  /**
   * Cancels an unfulfilled order as a merchant does in the admin (restock on): refunded when paid,
   * voided otherwise, its units back at its location. Throws when it is unknown, already
   * cancelled or (partly) fulfilled.
   */
  cancel(id: number): OrderJson {
    const rec = this.orders.get(id);
    if (!rec) throw new Error(`no order ${id}`);
    if (rec.json.cancelled_at) throw new Error(`order ${id} is already cancelled`);
    this.apply(rec, 'cancel');
    return rec.json;
  }

  /** One order's REST JSON (a deep copy), or undefined. */
  order(id: number): OrderJson | undefined {
    const rec = this.orders.get(id);
    return rec ? (structuredClone(rec.json) as OrderJson) : undefined;
  }

  /** Ids of every order, oldest first. */
  orderIds(): number[] {
    return [...this.orders.keys()].sort((a, b) => a - b);
  }

  /** Moves an order along its lifecycle (bumps `updated_at`). Throws if the move is impossible. */
  advance(id: number, action: OrderAction): OrderJson {
    const rec = this.orders.get(id);
    if (!rec) throw new Error(`no order ${id}`);
    this.apply(rec, action);
    return rec.json;
  }

  /** Available quantity of an item at a location, or undefined when not stocked there. */
  quantity(inventoryItemId: number, locationId: number): number | undefined {
    return this.levels.get(`${inventoryItemId}:${locationId}`);
  }

  /** Sets a quantity as another app or a merchant would (not recorded as a push). */
  setQuantity(inventoryItemId: number, locationId: number, quantity: number): void {
    if (!this.levels.has(`${inventoryItemId}:${locationId}`)) throw new Error('item not stocked at location');
    this.levels.set(`${inventoryItemId}:${locationId}`, quantity);
  }

  /** Every (item, location) the shop stocks. */
  stocked(): { inventoryItemId: number; locationId: number; quantity: number }[] {
    return [...this.levels].map(([k, quantity]) => {
      const [item, loc] = k.split(':').map(Number) as [number, number];
      return { inventoryItemId: item, locationId: loc, quantity };
    });
  }

  /** Starts injecting faults into the Admin API requests (null stops); see {@link FaultInjector}. */
  faults(spec: FaultSpec | null): void {
    this.faultInjector.set(spec);
  }

  /** Faults injected so far, per kind. */
  faultCounts(): Record<FaultKind, number> {
    return this.faultInjector.faultCounts();
  }

  /** Signs a body the way Shopify signs webhooks: base64 HMAC-SHA256 with the app secret. */
  sign(body: Uint8Array, secret = this.apiSecret): string {
    return createHmac('sha256', secret).update(body).digest('base64');
  }

  /** Builds one signed webhook (body bytes + headers) without sending it. */
  webhookFor(
    topic: string,
    orderId: number,
    eventId: string = randomUUID(),
  ): { headers: Record<string, string>; body: Buffer } {
    const rec = this.orders.get(orderId);
    if (!rec) throw new Error(`no order ${orderId}`);
    const payload =
      topic === 'refunds/create' ? { ...(rec.json.refunds.at(-1) ?? {}), order_id: orderId } : rec.json;
    const body = Buffer.from(JSON.stringify(payload), 'utf8');
    return {
      body,
      headers: {
        'content-type': 'application/json',
        'x-shopify-topic': topic,
        'x-shopify-hmac-sha256': this.sign(body),
        'x-shopify-shop-domain': this.shopDomain,
        'x-shopify-api-version': this.opts.webhookApiVersion,
        'x-shopify-webhook-id': randomUUID(),
        'x-shopify-event-id': eventId,
        'x-shopify-triggered-at': new Date(this.opts.now()).toISOString(),
      },
    };
  }

  /**
   * POSTs one signed webhook to `webhookUrl`, retrying failures (`webhookRetries`, exponential
   * backoff). Resolves with the delivery record after the last attempt.
   */
  async deliver(topic: string, orderId: number): Promise<DeliveryRecord> {
    const target = this.opts.webhookUrl;
    if (!target) throw new Error('no webhookUrl configured');
    const eventId = randomUUID();
    const first = this.webhookFor(topic, orderId, eventId);
    const record: DeliveryRecord = {
      topic,
      orderId,
      eventId,
      webhookId: first.headers['x-shopify-webhook-id']!,
      attempts: 0,
      status: 0,
      body: first.body.toString('utf8'),
    };
    this.deliveries.push(record);
    for (let attempt = 0; attempt <= this.opts.webhookRetries; attempt++) {
      if (attempt > 0) {
        const ok = await this.wait(100 * 2 ** (attempt - 1));
        if (!ok) break;
      }
      // Retries reuse the original payload, signature and event id, as Shopify does.
      record.attempts++;
      record.status = await this.post(target, first.headers, first.body);
      if (record.status >= 200 && record.status < 300) break;
      if (!this.server) break;
    }
    return record;
  }

  // -------------------------------------------------------------------------------------------
  // HTTP
  // -------------------------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<Handled> {
    const url = new URL(req.url ?? '/', 'http://sandbox.invalid');
    const m = /^\/admin\/api\/(\d{4}-\d{2})\/(.+)$/.exec(url.pathname);
    if (!m) return this.send(req, res, 404, { errors: 'Not Found' });
    const version = m[1]!;
    const rest = m[2]!;
    if (!/^\d{4}-(01|04|07|10)$/.test(version)) return this.send(req, res, 404, { errors: 'Not Found' });
    if (req.headers['x-shopify-access-token'] !== this.accessToken) {
      return this.send(req, res, 401, {
        errors: '[API] Invalid API key or access token (unrecognized login or wrong password)',
      });
    }
    const body = await readBody(req, 10 * 1024 * 1024);
    res.setHeader('X-Shopify-API-Version', version);

    if (rest === 'graphql.json') {
      if (req.method !== 'POST') return this.send(req, res, 405, { errors: 'Method Not Allowed' });
      return this.graphql(req, res, version, body);
    }

    const limited = this.takeRestToken();
    res.setHeader(
      'X-Shopify-Shop-Api-Call-Limit',
      `${Math.ceil(this.restLevel)}/${this.opts.restBucket.capacity}`,
    );
    if (limited !== undefined) {
      res.setHeader('Retry-After', limited.toFixed(1));
      return this.send(req, res, 429, {
        errors:
          'Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.',
      });
    }

    const orderPath = /^orders\/(\d+)\.json$/.exec(rest);
    const foPath = /^orders\/(\d+)\/fulfillment_orders\.json$/.exec(rest);
    if (req.method === 'GET' && rest === 'shop.json') {
      return this.send(req, res, 200, {
        shop: {
          id: 548380009,
          name: 'stockd sandbox',
          domain: this.shopDomain,
          myshopify_domain: this.shopDomain,
          currency: this.currency,
          plan_name: 'basic',
          iana_timezone: 'America/New_York',
        },
      });
    }
    if (req.method === 'GET' && rest === 'orders.json') return this.listOrders(req, res, url, version);
    if (req.method === 'GET' && orderPath) {
      const rec = this.orders.get(Number(orderPath[1]));
      return rec
        ? this.send(req, res, 200, { order: rec.json })
        : this.send(req, res, 404, { errors: 'Not Found' });
    }
    if (req.method === 'GET' && foPath) {
      const rec = this.orders.get(Number(foPath[1]));
      if (!rec) return this.send(req, res, 404, { errors: 'Not Found' });
      return this.send(req, res, 200, { fulfillment_orders: [this.foJson(rec)] });
    }
    if (req.method === 'POST' && rest === 'fulfillments.json') return this.createFulfillment(req, res, body);
    return this.send(req, res, 404, { errors: 'Not Found' });
  }

  private send(req: http.IncomingMessage, res: http.ServerResponse, status: number, json: unknown): Handled {
    const text = JSON.stringify(json);
    this.requests.push({ method: req.method ?? '?', path: (req.url ?? '').split('?')[0] ?? '', status });
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
    });
    res.end(text);
    return HANDLED;
  }

  /** Leaky bucket: undefined when admitted, else the seconds to wait. */
  private takeRestToken(): number | undefined {
    const now = this.opts.now();
    const { capacity, leakPerSecond } = this.opts.restBucket;
    // A clock that steps backwards leaks nothing (it never fills the bucket either).
    this.restLevel = Math.max(0, this.restLevel - (Math.max(0, now - this.restAt) / 1000) * leakPerSecond);
    this.restAt = Math.max(this.restAt, now);
    if (this.restLevel + 1 > capacity) return Math.max(0.1, (this.restLevel + 1 - capacity) / leakPerSecond);
    this.restLevel += 1;
    return undefined;
  }

  // -- orders.json ----------------------------------------------------------------------------

  private listOrders(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    version: string,
  ): Handled {
    const params = url.searchParams;
    const limitText = params.get('limit');
    const limit = limitText === null ? 50 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 250) {
      return this.send(req, res, 400, { errors: { limit: 'Limit must be between 1 and 250' } });
    }
    let filters: Record<string, string>;
    let cursor: { after?: number; before?: number } = {};
    const pageInfo = params.get('page_info');
    if (pageInfo !== null) {
      for (const key of params.keys()) {
        if (key !== 'page_info' && key !== 'limit' && key !== 'fields') {
          return this.send(req, res, 400, {
            errors: { [key]: `${key} cannot be passed when page_info is present.` },
          });
        }
      }
      const decoded = decodePageInfo(pageInfo);
      if (!decoded) return this.send(req, res, 400, { errors: { page_info: 'Invalid value.' } });
      filters = decoded.filters;
      cursor = decoded.dir === 'next' ? { after: decoded.id } : { before: decoded.id };
    } else {
      filters = {};
      for (const [k, v] of params) if (k !== 'limit' && k !== 'fields') filters[k] = v;
      for (const k of ['updated_at_min', 'updated_at_max', 'created_at_min', 'created_at_max']) {
        if (filters[k] !== undefined && Number.isNaN(Date.parse(filters[k]!))) {
          return this.send(req, res, 400, { errors: { [k]: 'is invalid' } });
        }
      }
    }

    // Newest first (by id), keyset-paged.
    const matching = [...this.orders.values()]
      .filter((o) => matches(o, filters))
      .sort((a, b) => b.json.id - a.json.id);
    let page: OrderRec[];
    if (cursor.after !== undefined) {
      page = matching.filter((o) => o.json.id < cursor.after!).slice(0, limit);
    } else if (cursor.before !== undefined) {
      page = matching.filter((o) => o.json.id > cursor.before!).slice(-limit);
    } else page = matching.slice(0, limit);

    const links: string[] = [];
    const base = `http://${req.headers.host}/admin/api/${version}/orders.json`;
    const first = page[0];
    const last = page.at(-1);
    if (first && matching.some((o) => o.json.id > first.json.id)) {
      links.push(
        `<${base}?limit=${limit}&page_info=${encodePageInfo({ filters, dir: 'prev', id: first.json.id })}>; rel="previous"`,
      );
    }
    if (last && matching.some((o) => o.json.id < last.json.id)) {
      links.push(
        `<${base}?limit=${limit}&page_info=${encodePageInfo({ filters, dir: 'next', id: last.json.id })}>; rel="next"`,
      );
    }
    if (links.length > 0) res.setHeader('Link', links.join(', '));
    return this.send(req, res, 200, { orders: page.map((o) => o.json) });
  }

  // -- fulfillment ------------------------------------------------------------------------------

  private foJson(rec: OrderRec): Record<string, unknown> {
    return {
      id: rec.fo.id,
      order_id: rec.json.id,
      status: rec.fo.status,
      assigned_location_id: rec.fo.assigned_location_id,
      supported_actions: rec.fo.status === 'open' ? ['create_fulfillment'] : [],
      line_items: rec.fo.line_items.map((li) => ({
        id: li.id,
        fulfillment_order_id: rec.fo.id,
        line_item_id: li.line_item_id,
        quantity: li.quantity,
        fulfillable_quantity: li.fulfillable_quantity,
      })),
    };
  }

  private createFulfillment(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Handled {
    let input: {
      fulfillment?: {
        line_items_by_fulfillment_order?: {
          fulfillment_order_id?: number;
          fulfillment_order_line_items?: { id?: number; quantity?: number }[];
        }[];
        tracking_info?: { number?: string; company?: string; url?: string };
        notify_customer?: boolean;
      };
    };
    try {
      input = JSON.parse(body.toString('utf8'));
    } catch {
      return this.send(req, res, 400, { errors: 'Invalid JSON' });
    }
    const groups = input.fulfillment?.line_items_by_fulfillment_order;
    if (!Array.isArray(groups) || groups.length === 0) {
      return this.send(req, res, 422, { errors: ['line_items_by_fulfillment_order is required'] });
    }
    const plan: { rec: OrderRec; items: { li: FulfillmentOrderRec['line_items'][number]; qty: number }[] }[] =
      [];
    for (const g of groups) {
      const rec = [...this.orders.values()].find((o) => o.fo.id === g.fulfillment_order_id);
      if (!rec) return this.send(req, res, 404, { errors: 'Not Found' });
      if (rec.fo.status !== 'open') {
        return this.send(req, res, 422, { errors: ['Fulfillment order is not in an open state'] });
      }
      const wanted = g.fulfillment_order_line_items;
      const items: { li: FulfillmentOrderRec['line_items'][number]; qty: number }[] = [];
      if (wanted === undefined || wanted.length === 0) {
        for (const li of rec.fo.line_items)
          if (li.fulfillable_quantity > 0) items.push({ li, qty: li.fulfillable_quantity });
      } else {
        for (const w of wanted) {
          const li = rec.fo.line_items.find((x) => x.id === w.id);
          const qty = w.quantity ?? 0;
          if (!li || !Number.isInteger(qty) || qty < 1 || qty > li.fulfillable_quantity) {
            return this.send(req, res, 422, {
              errors: ['Invalid fulfillment order line item quantity requested.'],
            });
          }
          items.push({ li, qty });
        }
      }
      plan.push({ rec, items });
    }
    const tracking = input.fulfillment?.tracking_info ?? {};
    let created: Record<string, unknown> | undefined;
    for (const { rec, items } of plan) {
      for (const { li, qty } of items) {
        li.fulfillable_quantity -= qty;
        const line = rec.json.line_items.find((l) => l.id === li.line_item_id);
        if (line) line.fulfillable_quantity = Math.max(0, line.fulfillable_quantity - qty);
      }
      created = this.recordFulfillment(
        rec,
        items.map(({ li, qty }) => ({ lineId: li.line_item_id, qty })),
        tracking,
      );
    }
    return this.send(req, res, 201, { fulfillment: created });
  }

  private recordFulfillment(
    rec: OrderRec,
    items: { lineId: number; qty: number }[],
    tracking: { number?: string; company?: string; url?: string },
  ): Record<string, unknown> {
    const now = this.stamp();
    const f = {
      id: this.id(),
      order_id: rec.json.id,
      status: 'success',
      created_at: now,
      updated_at: now,
      location_id: rec.fo.assigned_location_id,
      tracking_company: tracking.company ?? null,
      tracking_number: tracking.number ?? null,
      tracking_numbers: tracking.number ? [tracking.number] : [],
      tracking_url: tracking.url ?? null,
      tracking_urls: tracking.url ? [tracking.url] : [],
      line_items: items.map((i) => ({ id: i.lineId, quantity: i.qty })),
    };
    rec.json.fulfillments.push(f);
    const open = rec.fo.line_items.some((li) => li.fulfillable_quantity > 0);
    rec.fo.status = open ? 'open' : 'closed';
    rec.json.fulfillment_status = open ? 'partial' : 'fulfilled';
    this.touch(rec);
    return f;
  }

  /** Tracking numbers recorded on an order's fulfillments. */
  trackingNumbers(orderId: number): string[] {
    const rec = this.orders.get(orderId);
    return (rec?.json.fulfillments ?? []).flatMap((f) =>
      f.tracking_number ? [String(f.tracking_number)] : [],
    );
  }

  // -- GraphQL -----------------------------------------------------------------------------------

  private graphql(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    version: string,
    body: Buffer,
  ): Handled {
    let input: { query?: unknown; variables?: Record<string, unknown> };
    try {
      input = JSON.parse(body.toString('utf8'));
    } catch {
      return this.send(req, res, 400, { errors: [{ message: 'Invalid JSON in request body' }] });
    }
    const query = typeof input.query === 'string' ? input.query : '';
    const vars = input.variables ?? {};
    const isSet = /\binventorySetQuantities\s*\(/.test(query);
    const isRead = /\bnodes\s*\(/.test(query) && /\binventoryLevel\s*\(/.test(query);
    const cost = isSet ? 10 : isRead ? 2 + (Array.isArray(vars.ids) ? vars.ids.length : 0) : 1;

    const now = this.opts.now();
    const { capacity, restorePerSecond } = this.opts.graphqlBucket;
    this.gqlAvailable = Math.min(
      capacity,
      this.gqlAvailable + (Math.max(0, now - this.gqlAt) / 1000) * restorePerSecond,
    );
    this.gqlAt = Math.max(this.gqlAt, now);
    const costExt = (actual: number | null) => ({
      cost: {
        requestedQueryCost: cost,
        actualQueryCost: actual,
        throttleStatus: {
          maximumAvailable: capacity,
          currentlyAvailable: Math.floor(this.gqlAvailable),
          restoreRate: restorePerSecond,
        },
      },
    });
    if (cost > this.gqlAvailable) {
      return this.send(req, res, 200, {
        errors: [
          {
            message: 'Throttled',
            extensions: { code: 'THROTTLED', documentation: 'https://shopify.dev/api/usage/rate-limits' },
          },
        ],
        extensions: costExt(null),
      });
    }
    this.gqlAvailable -= cost;

    if (isSet) {
      const result = this.setQuantities(version, query, vars);
      if ('errors' in result)
        return this.send(req, res, 200, { errors: result.errors, extensions: costExt(cost) });
      return this.send(req, res, 200, {
        data: { inventorySetQuantities: result.payload },
        extensions: costExt(cost),
      });
    }
    if (isRead) {
      const ids = Array.isArray(vars.ids) ? vars.ids : [];
      const loc = gidNumber(vars.locationId, 'Location');
      const nodes = ids.map((g) => {
        const item = gidNumber(g, 'InventoryItem');
        if (item === undefined || !this.variants.some((v) => v.inventory_item_id === item)) return null;
        const q = loc === undefined ? undefined : this.levels.get(`${item}:${loc}`);
        return {
          id: `gid://shopify/InventoryItem/${item}`,
          inventoryLevel: q === undefined ? null : { quantities: [{ name: 'available', quantity: q }] },
        };
      });
      return this.send(req, res, 200, { data: { nodes }, extensions: costExt(cost) });
    }
    return this.send(req, res, 200, {
      errors: [
        {
          message: 'This sandbox serves only inventorySetQuantities and nodes(inventoryLevel)',
          extensions: { code: 'undefinedField' },
        },
      ],
    });
  }

  private setQuantities(
    version: string,
    query: string,
    vars: Record<string, unknown>,
  ): { payload: unknown } | { errors: { message: string; extensions?: Record<string, unknown> }[] } {
    const modern = version >= '2026-01';
    const directive = /@idempotent\s*\(\s*key\s*:\s*(?:\$(\w+)|"([^"]*)")\s*\)/.exec(query);
    if (directive && !modern) {
      return {
        errors: [
          { message: "Directive 'idempotent' is not defined", extensions: { code: 'undefinedDirective' } },
        ],
      };
    }
    const key = directive ? (directive[1] ? vars[directive[1]] : directive[2]) : undefined;
    if (version >= '2026-04' && (typeof key !== 'string' || key === '')) {
      return {
        errors: [
          {
            message: 'An idempotency key is required for this mutation',
            extensions: { code: 'BAD_REQUEST' },
          },
        ],
      };
    }
    const inputVarName = /inventorySetQuantities\s*\(\s*input\s*:\s*\$(\w+)/.exec(query)?.[1];
    const input = (inputVarName ? vars[inputVarName] : undefined) as
      | {
          name?: unknown;
          reason?: unknown;
          ignoreCompareQuantity?: unknown;
          quantities?: Record<string, unknown>[];
        }
      | undefined;
    if (!input || !Array.isArray(input.quantities)) {
      return {
        errors: [
          {
            message: 'Variable $input of type InventorySetQuantitiesInput! was provided invalid value',
            extensions: { code: 'INVALID_VARIABLE' },
          },
        ],
      };
    }
    const fingerprint = JSON.stringify(input);
    if (typeof key === 'string') {
      const seen = this.idempotency.get(key);
      if (seen) {
        if (seen.input === fingerprint) return { payload: seen.response };
        return {
          payload: {
            inventoryAdjustmentGroup: null,
            userErrors: [
              {
                code: 'IDEMPOTENCY_KEY_PARAMETER_MISMATCH',
                field: null,
                message: 'The same idempotency key cannot be used with different operation parameters.',
              },
            ],
          },
        };
      }
    }

    const userErrors: { code: string; field: string[] | null; message: string }[] = [];
    if (input.name !== 'available' && input.name !== 'on_hand') {
      userErrors.push({
        code: 'INVALID_NAME',
        field: ['input', 'name'],
        message: "The quantity name must be either 'available' or 'on_hand'.",
      });
    }
    if (typeof input.reason !== 'string' || !VALID_REASONS.has(input.reason)) {
      userErrors.push({
        code: 'INVALID_REASON',
        field: ['input', 'reason'],
        message: 'The specified reason is invalid.',
      });
    }
    const seenPairs = new Set<string>();
    const changes: { item: number; loc: number; quantity: number; previous: number }[] = [];
    input.quantities.forEach((q, i) => {
      const at = (f: string) => ['input', 'quantities', String(i), f];
      const item = gidNumber(q.inventoryItemId, 'InventoryItem');
      const loc = gidNumber(q.locationId, 'Location');
      if (item === undefined || !this.variants.some((v) => v.inventory_item_id === item)) {
        userErrors.push({
          code: 'INVALID_INVENTORY_ITEM',
          field: at('inventoryItemId'),
          message: 'The specified inventory item could not be found.',
        });
        return;
      }
      if (loc === undefined || !this.locationIds.includes(loc)) {
        userErrors.push({
          code: 'INVALID_LOCATION',
          field: at('locationId'),
          message: 'The specified location could not be found.',
        });
        return;
      }
      const pair = `${item}:${loc}`;
      const current = this.levels.get(pair);
      if (current === undefined) {
        userErrors.push({
          code: 'ITEM_NOT_STOCKED_AT_LOCATION',
          field: at('inventoryItemId'),
          message: 'The specified inventory item is not stocked at the location.',
        });
        return;
      }
      if (seenPairs.has(pair)) {
        userErrors.push({
          code: 'NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR',
          field: at('inventoryItemId'),
          message: 'The combination of inventoryItemId and locationId must be unique.',
        });
        return;
      }
      seenPairs.add(pair);
      const quantity = q.quantity;
      if (typeof quantity !== 'number' || !Number.isInteger(quantity)) {
        userErrors.push({
          code: 'INVALID_QUANTITY_NEGATIVE',
          field: at('quantity'),
          message: 'The quantity is invalid.',
        });
        return;
      }
      if (quantity < 0) {
        userErrors.push({
          code: 'INVALID_QUANTITY_NEGATIVE',
          field: at('quantity'),
          message: "The quantity can't be negative.",
        });
        return;
      }
      if (quantity > 1_000_000_000) {
        userErrors.push({
          code: 'INVALID_QUANTITY_TOO_HIGH',
          field: at('quantity'),
          message: "The total quantity can't be higher than 1,000,000,000.",
        });
        return;
      }
      // Compare-and-set, per version.
      if (modern && 'changeFromQuantity' in q) {
        if (q.changeFromQuantity !== null && q.changeFromQuantity !== current) {
          userErrors.push({
            code: 'CHANGE_FROM_QUANTITY_STALE',
            field: at('changeFromQuantity'),
            message: 'The changeFromQuantity value does not match persisted value.',
          });
          return;
        }
      } else if (version >= '2026-04') {
        userErrors.push({
          code: 'COMPARE_QUANTITY_REQUIRED',
          field: at('changeFromQuantity'),
          message: 'changeFromQuantity must be given for each quantity (null to opt out).',
        });
        return;
      } else if (input.ignoreCompareQuantity !== true) {
        if (typeof q.compareQuantity !== 'number') {
          userErrors.push({
            code: 'COMPARE_QUANTITY_REQUIRED',
            field: at('compareQuantity'),
            message:
              'The compareQuantity argument must be given to each quantity or ignored using ignoreCompareQuantity.',
          });
          return;
        }
        if (q.compareQuantity !== current) {
          userErrors.push({
            code: 'COMPARE_QUANTITY_STALE',
            field: at('compareQuantity'),
            message: 'The compareQuantity value does not match persisted value.',
          });
          return;
        }
      }
      changes.push({ item, loc, quantity, previous: current });
    });

    let payload: unknown;
    if (userErrors.length > 0) {
      // All or nothing: one bad quantity rejects the whole mutation.
      payload = { inventoryAdjustmentGroup: null, userErrors };
    } else {
      const at = this.stamp();
      for (const c of changes) {
        this.levels.set(`${c.item}:${c.loc}`, c.quantity);
        this.pushes.push({
          inventoryItemId: c.item,
          locationId: c.loc,
          quantity: c.quantity,
          previous: c.previous,
          name: String(input.name),
          reason: String(input.reason),
          at,
        });
      }
      payload = {
        inventoryAdjustmentGroup: {
          id: `gid://shopify/InventoryAdjustmentGroup/${this.adjustmentGroup++}`,
          changes: changes.map((c) => ({ name: input.name, delta: c.quantity - c.previous })),
        },
        userErrors: [],
      };
    }
    if (typeof key === 'string') this.idempotency.set(key, { input: fingerprint, response: payload });
    return { payload };
  }

  // -------------------------------------------------------------------------------------------
  // The shop
  // -------------------------------------------------------------------------------------------

  private buildCatalog(): void {
    for (let l = 0; l < this.opts.locations; l++) this.locationIds.push(655_441_491 + l * 1000);
    for (let p = 0; p < this.opts.products; p++) {
      const productId = 632_910_392 + p * 100;
      const productTitle = PRODUCT_NAMES[p % PRODUCT_NAMES.length]!;
      for (let v = 0; v < 3; v++) {
        const variant: Variant = {
          id: 39_072_856 + p * 100 + v,
          product_id: productId,
          title: VARIANT_NAMES[v]!,
          product_title: productTitle,
          sku: `SKU-${p + 1}-${VARIANT_NAMES[v]!.toUpperCase()}`,
          price: [1999, 4950, 19900, 899, 1250, 3499][(p + v) % 6]!,
          inventory_item_id: 808_950_810 + p * 100 + v,
        };
        this.variants.push(variant);
        this.locationIds.forEach((loc, li) => {
          // The last variant of the last product is not stocked at the second location.
          if (li > 0 && p === this.opts.products - 1 && v === 2) return;
          this.levels.set(`${variant.inventory_item_id}:${loc}`, this.opts.initialQuantity);
        });
      }
    }
  }

  private id(): number {
    return this.nextId++;
  }

  /** Current time as Shopify formats it: whole seconds with the shop's offset. */
  private stamp(ms = this.opts.now()): string {
    const sign = this.opts.timezoneOffset.startsWith('-') ? -1 : 1;
    const [hh, mm] = this.opts.timezoneOffset.slice(1).split(':').map(Number) as [number, number];
    const shifted = new Date(Math.floor(ms / 1000) * 1000 + sign * (hh * 60 + mm) * 60_000);
    return `${shifted.toISOString().slice(0, 19)}${this.opts.timezoneOffset}`;
  }

  private touch(rec: OrderRec): void {
    const now = this.opts.now();
    rec.updatedMs = Math.floor(now / 1000) * 1000;
    rec.json.updated_at = this.stamp(now);
  }

  private money(cents: number): string {
    const sign = cents < 0 ? '-' : '';
    const abs = Math.abs(cents);
    return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
  }

  private set(cents: number): unknown {
    const amount = { amount: this.money(cents), currency_code: this.currency };
    return { shop_money: amount, presentment_money: amount };
  }

  private pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.rng() * list.length)]!;
  }

  /**
   * A new order with a realistic promotion mix (see the scenarios below), or undefined when
   * nothing the buyer picked is available: the buyer only sees variants available at the first
   * location, and a line asking for more than is there is left out.
   */
  private createOrder(): OrderRec | undefined {
    const location = this.locationIds[0]!;
    const at = (v: Variant) => `${v.inventory_item_id}:${location}`;
    const shown = this.variants.filter((v) => (this.levels.get(at(v)) ?? 0) > 0);
    if (shown.length === 0) return undefined;
    const lineCount = Math.min(shown.length, 1 + Math.floor(this.rng() * 3));
    const chosen = new Set<Variant>();
    while (chosen.size < lineCount) chosen.add(this.pick(shown));
    const taken: TakenUnits = [];
    const drafts: Draft[] = [...chosen]
      .map((variant) => ({
        variant,
        qty: 1 + Math.floor(this.rng() * 3),
        allocs: [] as Draft['allocs'],
        gift: false,
      }))
      .filter((d) => takeUnits(this.levels, taken, at(d.variant), d.qty));
    if (drafts.length === 0) return undefined;
    const apps: Record<string, unknown>[] = [];
    const codes: { code: string; amount: number; type: string }[] = [];
    const net = (d: Draft) => d.variant.price * d.qty - d.allocs.reduce((s, a) => s + a.cents, 0);

    const scenario = this.rng();
    let shippingCents = this.pick([0, 0, 500, 1000]);
    let shippingDiscount = 0;
    if (scenario < 0.3) {
      // No discount.
    } else if (scenario < 0.5) {
      // TENOFF: fixed code across all lines, the odd cents on the first lines (Shopify's example 3.34/3.33/3.33).
      const total = Math.min(
        1000,
        drafts.reduce((s, d) => s + net(d), 0),
      );
      const idx =
        apps.push({
          target_type: 'line_item',
          type: 'discount_code',
          value: '10.0',
          value_type: 'fixed_amount',
          allocation_method: 'across',
          target_selection: 'all',
          code: 'TENOFF',
        }) - 1;
      this.spreadAcross(drafts, net, total, idx);
      codes.push({ code: 'TENOFF', amount: total, type: 'fixed_amount' });
    } else if (scenario < 0.65) {
      // SAVE15: 15% code across all lines, rounded per line.
      const idx =
        apps.push({
          target_type: 'line_item',
          type: 'discount_code',
          value: '15.0',
          value_type: 'percentage',
          allocation_method: 'across',
          target_selection: 'all',
          code: 'SAVE15',
        }) - 1;
      let total = 0;
      for (const d of drafts) {
        const cents = Math.round((net(d) * 15) / 100);
        if (cents > 0) d.allocs.push({ app: idx, cents });
        total += cents;
      }
      codes.push({ code: 'SAVE15', amount: total, type: 'percentage' });
    } else if (scenario < 0.75) {
      // Automatic $5 off the first line, then a 15% code on what is left (stacking in sequence).
      const auto =
        apps.push({
          target_type: 'line_item',
          type: 'automatic',
          value: '5.0',
          value_type: 'fixed_amount',
          allocation_method: 'each',
          target_selection: 'entitled',
          title: 'Spring $5',
        }) - 1;
      const first = drafts[0]!;
      first.allocs.push({ app: auto, cents: Math.min(500, net(first)) });
      const code =
        apps.push({
          target_type: 'line_item',
          type: 'discount_code',
          value: '15.0',
          value_type: 'percentage',
          allocation_method: 'across',
          target_selection: 'all',
          code: 'WELCOME15',
        }) - 1;
      let total = 0;
      for (const d of drafts) {
        const cents = Math.round((net(d) * 15) / 100);
        if (cents > 0) d.allocs.push({ app: code, cents });
        total += cents;
      }
      codes.push({ code: 'WELCOME15', amount: total, type: 'percentage' });
    } else if (scenario < 0.9) {
      // Buy X get Y: one extra unit of another variant, 100% off (no gift flag exists in Shopify).
      const giftVariant = this.variants.find((v) => !chosen.has(v)) ?? this.variants[0]!;
      const idx =
        apps.push({
          target_type: 'line_item',
          type: 'automatic',
          value: '100.0',
          value_type: 'percentage',
          allocation_method: 'each',
          target_selection: 'entitled',
          title: 'Buy 2 get 1 free',
        }) - 1;
      if (!chosen.has(giftVariant) && takeUnits(this.levels, taken, at(giftVariant), 1)) {
        drafts.push({
          variant: giftVariant,
          qty: 1,
          allocs: [{ app: idx, cents: giftVariant.price }],
          gift: true,
        });
      }
    } else {
      // Free shipping code.
      shippingCents = Math.max(shippingCents, 500);
      apps.push({
        target_type: 'shipping_line',
        type: 'discount_code',
        value: '100.0',
        value_type: 'percentage',
        allocation_method: 'each',
        target_selection: 'all',
        code: 'FREESHIP',
      });
      shippingDiscount = shippingCents;
      codes.push({ code: 'FREESHIP', amount: shippingCents, type: 'percentage' });
    }
    const financial = this.pick([
      'paid',
      'paid',
      'paid',
      'paid',
      'paid',
      'paid',
      'paid',
      'paid',
      'pending',
      'authorized',
    ]);
    return this.placeOrder({
      drafts,
      apps,
      codes,
      shippingCents,
      shippingDiscount,
      financial,
      location,
      taken,
    });
  }

  /** Records an order whose lines, promotions and taken units are decided. */
  private placeOrder(p: {
    drafts: Draft[];
    apps: Record<string, unknown>[];
    codes: { code: string; amount: number; type: string }[];
    shippingCents: number;
    shippingDiscount: number;
    financial: string;
    location: number;
    taken: TakenUnits;
  }): OrderRec {
    const { drafts, apps, codes, shippingCents, shippingDiscount, financial } = p;
    const nowMs = this.opts.now();
    const id = this.id();
    const number = this.orderNumber++;
    const lineItems: LineJson[] = drafts.map((d) => ({
      id: this.id(),
      admin_graphql_api_id: '',
      variant_id: d.variant.id,
      product_id: d.variant.product_id,
      sku: d.variant.sku,
      title: d.variant.product_title,
      variant_title: d.variant.title,
      name: `${d.variant.product_title} - ${d.variant.title}`,
      quantity: d.qty,
      current_quantity: d.qty,
      fulfillable_quantity: d.qty,
      fulfillment_status: null,
      gift_card: false,
      requires_shipping: true,
      taxable: true,
      price: this.money(d.variant.price),
      price_set: this.set(d.variant.price),
      total_discount: '0.00',
      total_discount_set: this.set(0),
      tax_lines: [],
      discount_allocations: d.allocs.map((a) => ({
        amount: this.money(a.cents),
        amount_set: this.set(a.cents),
        discount_application_index: a.app,
      })),
    }));
    for (const li of lineItems) li.admin_graphql_api_id = `gid://shopify/LineItem/${li.id}`;

    const itemsTotal = drafts.reduce((s, d) => s + d.variant.price * d.qty, 0);
    const lineDiscounts = drafts.reduce((s, d) => s + d.allocs.reduce((x, a) => x + a.cents, 0), 0);
    const subtotal = itemsTotal - lineDiscounts;
    const total = subtotal + shippingCents - shippingDiscount;
    const stamp = this.stamp(nowMs);
    const shippingLines =
      shippingCents > 0
        ? [
            {
              id: this.id(),
              title: 'Standard',
              code: 'Standard',
              price: this.money(shippingCents),
              price_set: this.set(shippingCents),
              discounted_price: this.money(shippingCents - shippingDiscount),
              discount_allocations:
                shippingDiscount > 0
                  ? [
                      {
                        amount: this.money(shippingDiscount),
                        amount_set: this.set(shippingDiscount),
                        discount_application_index: apps.length - 1,
                      },
                    ]
                  : [],
            },
          ]
        : [];
    const json: OrderJson = {
      id,
      admin_graphql_api_id: `gid://shopify/Order/${id}`,
      name: `#${number}`,
      number: number - 1000,
      order_number: number,
      email: `buyer${number}@example.com`,
      created_at: stamp,
      updated_at: stamp,
      processed_at: stamp,
      cancelled_at: null,
      cancel_reason: null,
      closed_at: null,
      currency: this.currency,
      presentment_currency: this.currency,
      financial_status: financial,
      fulfillment_status: null,
      taxes_included: false,
      total_tax: '0.00',
      total_line_items_price: this.money(itemsTotal),
      total_line_items_price_set: this.set(itemsTotal),
      subtotal_price: this.money(subtotal),
      total_discounts: this.money(lineDiscounts + shippingDiscount),
      total_price: this.money(total),
      total_price_set: this.set(total),
      current_total_price: this.money(total),
      discount_codes: codes.map((c) => ({ code: c.code, amount: this.money(c.amount), type: c.type })),
      discount_applications: apps,
      line_items: lineItems,
      shipping_lines: shippingLines,
      refunds: [],
      fulfillments: [],
      test: true,
    };
    const fo: FulfillmentOrderRec = {
      id: this.id(),
      status: 'open',
      assigned_location_id: p.location,
      line_items: lineItems.map((li) => ({
        id: this.id(),
        line_item_id: li.id,
        quantity: li.quantity,
        fulfillable_quantity: li.quantity,
      })),
    };
    const rec: OrderRec = {
      json,
      fo,
      createdMs: Math.floor(nowMs / 1000) * 1000,
      updatedMs: Math.floor(nowMs / 1000) * 1000,
      taken: p.taken,
    };
    this.orders.set(id, rec);
    for (const w of this.orderWaiters) {
      if (this.orders.size >= w.count) {
        this.orderWaiters.delete(w);
        w.resolve(true);
      }
    }
    return rec;
  }

  /** Splits `total` cents over lines by their current net amount; leftover cents to the first lines. */
  private spreadAcross<D extends { allocs: { app: number; cents: number }[] }>(
    drafts: D[],
    net: (d: D) => number,
    total: number,
    app: number,
  ): void {
    const base = drafts.reduce((s, d) => s + net(d), 0);
    if (base <= 0 || total <= 0) return;
    const shares = drafts.map((d) => Math.floor((total * net(d)) / base));
    let left = total - shares.reduce((s, x) => s + x, 0);
    for (let i = 0; left > 0 && i < shares.length; i++, left--) shares[i]! += 1;
    drafts.forEach((d, i) => {
      if (shares[i]! > 0) d.allocs.push({ app, cents: shares[i]! });
    });
  }

  private randomLifecycle(rec: OrderRec): void {
    const r = this.rng();
    const fin = rec.json.financial_status;
    if (fin !== 'paid') {
      if (r < 0.15) this.apply(rec, 'cancel');
      return;
    }
    if (r < 0.1) this.apply(rec, 'cancel');
    else if (r < 0.2) this.apply(rec, 'refund_one');
    else if (r < 0.35) this.apply(rec, 'fulfill');
    else if (r < 0.42) this.apply(rec, 'partially_fulfill');
    else if (r < 0.5) {
      this.apply(rec, 'fulfill');
      this.apply(rec, 'close');
    }
  }

  private apply(rec: OrderRec, action: OrderAction): void {
    const o = rec.json;
    const now = this.stamp();
    switch (action) {
      case 'pay':
        if (o.financial_status !== 'pending' && o.financial_status !== 'authorized')
          throw new Error('not payable');
        o.financial_status = 'paid';
        break;
      case 'fulfill':
      case 'partially_fulfill': {
        if (o.cancelled_at || rec.fo.status !== 'open') throw new Error('nothing to fulfill');
        const open = rec.fo.line_items.filter((li) => li.fulfillable_quantity > 0);
        const items = (action === 'fulfill' ? open : open.slice(0, 1)).map((li) => ({
          li,
          qty: action === 'fulfill' ? li.fulfillable_quantity : 1,
        }));
        for (const { li, qty } of items) {
          li.fulfillable_quantity -= qty;
          const line = o.line_items.find((l) => l.id === li.line_item_id);
          if (line) line.fulfillable_quantity -= qty;
        }
        this.recordFulfillment(
          rec,
          items.map(({ li, qty }) => ({ lineId: li.line_item_id, qty })),
          {
            number: `1Z${rec.json.id}`,
            company: 'UPS',
          },
        );
        return;
      }
      case 'close':
        o.closed_at = now;
        break;
      case 'cancel': {
        if (o.fulfillment_status) throw new Error('cannot cancel a fulfilled order');
        o.cancelled_at = now;
        o.cancel_reason = 'customer';
        o.closed_at = now;
        rec.fo.status = 'cancelled';
        if (o.financial_status === 'paid') {
          this.addRefund(
            rec,
            o.line_items.map((l) => ({ line: l, qty: l.current_quantity })),
            'cancel',
          );
          o.financial_status = 'refunded';
        } else o.financial_status = 'voided';
        for (const l of o.line_items) l.fulfillable_quantity = 0;
        break;
      }
      case 'refund_one': {
        const line = o.line_items.find((l) => l.current_quantity > 0 && Number(l.price) > 0);
        if (!line) throw new Error('nothing to refund');
        this.addRefund(rec, [{ line, qty: 1 }], line.fulfillable_quantity > 0 ? 'cancel' : 'return');
        o.financial_status = o.line_items.every((l) => l.current_quantity === 0)
          ? 'refunded'
          : 'partially_refunded';
        const foLine = rec.fo.line_items.find((x) => x.line_item_id === line.id);
        if (foLine && foLine.fulfillable_quantity > 0) {
          foLine.fulfillable_quantity -= 1;
          line.fulfillable_quantity -= 1;
        }
        break;
      }
    }
    this.touch(rec);
    // Shopify restocks a cancelled (or, unshipped, fully refunded) order's units at its location.
    if (o.cancelled_at || (o.financial_status === 'refunded' && !o.fulfillment_status)) {
      giveBack(this.levels, rec.taken);
    }
  }

  /** A refund of whole units; the amount per unit is the line's net (after discounts) / quantity, rounded down. */
  private addRefund(rec: OrderRec, items: { line: LineJson; qty: number }[], restock: string): void {
    const now = this.stamp();
    const refundId = this.id();
    let total = 0;
    const rlis = items
      .filter((i) => i.qty > 0)
      .map(({ line, qty }) => {
        const gross = Math.round(Number(line.price) * 100) * line.quantity;
        const disc = line.discount_allocations.reduce((s, a) => s + Math.round(Number(a.amount) * 100), 0);
        const unitNet = Math.floor((gross - disc) / line.quantity);
        const subtotal = unitNet * qty;
        total += subtotal;
        line.current_quantity -= qty;
        return {
          id: this.id(),
          line_item_id: line.id,
          location_id: rec.fo.assigned_location_id,
          quantity: qty,
          restock_type: restock,
          // Shopify sends the refund line subtotal as a JSON number (see the docs' order #1001).
          subtotal: subtotal / 100,
          subtotal_set: this.set(subtotal),
          total_tax: 0,
          total_tax_set: this.set(0),
        };
      });
    rec.json.refunds.push({
      id: refundId,
      admin_graphql_api_id: `gid://shopify/Refund/${refundId}`,
      order_id: rec.json.id,
      created_at: now,
      processed_at: now,
      note: 'sandbox refund',
      restock: restock !== 'no_restock',
      order_adjustments: [],
      transactions:
        total > 0
          ? [
              {
                id: this.id(),
                kind: 'refund',
                amount: this.money(total),
                status: 'success',
                gateway: 'bogus',
                currency: this.currency,
              },
            ]
          : [],
      refund_line_items: rlis,
    });
  }

  // -- background generator and timers ----------------------------------------------------------

  private startGenerator(): void {
    const tickMs = 200;
    let carry = 0;
    const tick = () => {
      if (!this.server) return;
      if (this.opts.now() - this.startedAt > this.opts.maxLifetimeMs) return;
      carry += (this.opts.ordersPerSecond * tickMs) / 1000;
      const n = Math.floor(carry);
      carry -= n;
      for (const o of this.generateOrders(n)) {
        if (this.opts.webhookUrl) void this.deliver('orders/create', o.id).catch(() => undefined);
      }
      // Now and then an older order moves on (paid, shipped, cancelled, refunded).
      const open = [...this.orders.values()].filter((r) => !r.json.cancelled_at && !r.json.closed_at);
      if (open.length > 0 && this.rng() < 0.5) {
        const rec = this.pick(open);
        try {
          const action: OrderAction =
            rec.json.financial_status === 'pending' || rec.json.financial_status === 'authorized'
              ? this.pick(['pay', 'cancel'] as const)
              : this.pick(['fulfill', 'refund_one', 'cancel'] as const);
          this.apply(rec, action);
          if (this.opts.webhookUrl) void this.deliver('orders/updated', rec.json.id).catch(() => undefined);
        } catch {
          // Not possible in this state: skip.
        }
      }
      this.schedule(tick, tickMs);
    };
    this.schedule(tick, tickMs);
  }

  private schedule(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  /** Resolves true after `ms`, or false at once if the sandbox stops first. */
  private wait(ms: number): Promise<boolean> {
    if (!this.server) return Promise.resolve(false);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve(this.server !== undefined);
      }, ms);
      this.timers.add(t);
    });
  }

  private post(target: string, headers: Record<string, string>, body: Buffer): Promise<number> {
    return new Promise((resolve) => {
      const req = http.request(target, {
        method: 'POST',
        agent: false,
        headers: { ...headers, 'content-length': String(body.byteLength), connection: 'close' },
        timeout: 5000,
      });
      this.inflight.add(req);
      const done = (status: number) => {
        this.inflight.delete(req);
        resolve(status);
      };
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode ?? 0));
        res.on('error', () => done(0));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => done(0));
      req.on('close', () => {
        if (this.inflight.has(req)) done(0);
      });
      req.end(body);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers (the sandbox's own; nothing shared with the connector)
// ---------------------------------------------------------------------------------------------

function matches(rec: OrderRec, f: Record<string, string>): boolean {
  const o = rec.json;
  const status = f.status ?? 'open';
  if (status === 'open' && (o.closed_at || o.cancelled_at)) return false;
  if (status === 'closed' && !o.closed_at) return false;
  if (status === 'cancelled' && !o.cancelled_at) return false;
  const t = (k: string) => (f[k] === undefined ? undefined : Date.parse(f[k]!));
  const um = t('updated_at_min');
  const uM = t('updated_at_max');
  const cm = t('created_at_min');
  const cM = t('created_at_max');
  if (um !== undefined && rec.updatedMs < um) return false;
  if (uM !== undefined && rec.updatedMs > uM) return false;
  if (cm !== undefined && rec.createdMs < cm) return false;
  if (cM !== undefined && rec.createdMs > cM) return false;
  if (f.since_id !== undefined && !(o.id > Number(f.since_id))) return false;
  if (f.ids !== undefined && !f.ids.split(',').map(Number).includes(o.id)) return false;
  if (
    f.financial_status !== undefined &&
    f.financial_status !== 'any' &&
    o.financial_status !== f.financial_status
  )
    return false;
  if (f.fulfillment_status !== undefined && f.fulfillment_status !== 'any') {
    const fs = o.fulfillment_status ?? 'unshipped';
    if (f.fulfillment_status === 'shipped' ? fs !== 'fulfilled' : fs !== f.fulfillment_status) return false;
  }
  return true;
}

function encodePageInfo(p: { filters: Record<string, string>; dir: 'next' | 'prev'; id: number }): string {
  return Buffer.from(JSON.stringify({ f: p.filters, d: p.dir, i: p.id }), 'utf8').toString('base64url');
}

function decodePageInfo(
  s: string,
): { filters: Record<string, string>; dir: 'next' | 'prev'; id: number } | undefined {
  try {
    const o = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as {
      f?: unknown;
      d?: unknown;
      i?: unknown;
    };
    if (
      typeof o.f !== 'object' ||
      o.f === null ||
      (o.d !== 'next' && o.d !== 'prev') ||
      typeof o.i !== 'number'
    )
      return undefined;
    return { filters: o.f as Record<string, string>, dir: o.d, id: o.i };
  } catch {
    return undefined;
  }
}

function gidNumber(value: unknown, kind: string): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = new RegExp(`^gid://shopify/${kind}/(\\d+)$`).exec(value);
  return m ? Number(m[1]) : undefined;
}
