/**
 * The connector contract: what every marketplace connector (`connectors/<platform>/`) gives the
 * core, and the few pure helpers they share (error classification, header access, Retry-After).
 *
 * A connector is a descriptor (plain data: id, config schema, webhook headers, rate limits) plus a
 * factory that turns a validated config and injected dependencies into a {@link Connector}. The
 * core reaches a connector only through `connectors/registry.ts`; a connector never touches the
 * database, never reads `process.env`, never calls `Date.now()` (it gets a {@link Clock}) and
 * never retries on its own: it classifies each failure through its {@link ErrorTable} and throws
 * a {@link ConnectorError} whose `action` tells the caller's queue what to do.
 *
 * Money and orders are the canonical types of `src/domain/order.ts`; a connector maps the
 * platform's payload into them and never invents its own order shape.
 */
import type { AxiosInstance } from 'axios';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { CanonicalOrder } from '../src/domain/order.js';

export type { CanonicalOrder };

// ---------------------------------------------------------------------------------------------
// Injected dependencies
// ---------------------------------------------------------------------------------------------

/**
 * Wall-clock time. Structurally the same as the server's `Clock` (`src/server/app.ts`), so the
 * daemon passes one object everywhere. Tests pass a fixed or stepping clock.
 */
export interface Clock {
  now(): Date;
}

/** What the core hands a connector factory. */
export interface ConnectorDeps {
  /**
   * The HTTP client. A shared axios instance: the connector passes absolute URLs and its own
   * auth headers on every request and never mutates `defaults` or interceptors. The core sets
   * the timeout (default there: 30 s) and may add a proxy. Tests pass `axios.create()`.
   */
  http: AxiosInstance;
  /** Logger already scoped by the core (e.g. `{ shop }`). Never log secrets or raw bodies. */
  log: Logger;
  /** The only source of "now" inside a connector. */
  clock: Clock;
}

// ---------------------------------------------------------------------------------------------
// Results and errors
// ---------------------------------------------------------------------------------------------

/**
 * A result value for operations that must not throw (webhook parsing, connection checks):
 * `{ ok: true, ...T }` or `{ ok: false, ...E }`. Narrow on `ok`.
 */
export type Result<T extends object, E extends object = { error: string }> =
  | ({ ok: true } & T)
  | ({ ok: false } & E);

/**
 * What the caller should do about a failed platform call. One table per connector maps HTTP
 * statuses and platform error codes to these (Airbyte's default error mapping):
 * - `retry`: transient (5xx, network); back off with jitter and try again.
 * - `rate_limited`: the platform throttled us; wait `retryAfterMs` (from `Retry-After` or the
 *   platform's throttle data), slow the shop's queue, then retry. Not a failure of the shop.
 * - `refresh_token`: the access token expired; refresh it and retry once.
 * - `config_error`: stop this shop and tell a human why (bad token, missing scope, shop
 *   frozen, wrong API version). Retrying cannot help.
 * - `ignore`: nothing to do (already done, resource gone); log and move on.
 */
export type ErrorAction = 'retry' | 'rate_limited' | 'refresh_token' | 'config_error' | 'ignore';

/** One row of a connector's error table. A rule matches when every field it sets matches. */
export interface ErrorRule {
  /** HTTP status, or an inclusive `[from, to]` range. Unset = any status. */
  status?: number | readonly [number, number];
  /**
   * Platform error code (GraphQL `extensions.code`, TOP `sub_code`, a network `code` such as
   * `ECONNRESET`), exact string or pattern. Unset = any code.
   */
  code?: string | RegExp;
  action: ErrorAction;
  /**
   * For `rate_limited`: how long to wait when the platform sent no `Retry-After` (or
   * equivalent). Default {@link DEFAULT_RATE_LIMIT_WAIT_MS}.
   */
  defaultRetryAfterMs?: number;
  /** Human-readable reason: logged and shown on the status page. */
  reason: string;
}

/**
 * A connector's error-mapping table: rules are tried in order, first match wins; `fallback`
 * covers anything unmatched (typically `retry` for unknown 5xx-like failures).
 */
export interface ErrorTable {
  rules: readonly ErrorRule[];
  fallback: { action: ErrorAction; reason: string };
}

/** Wait used for `rate_limited` when neither the response nor the rule says how long: 2000 ms. */
export const DEFAULT_RATE_LIMIT_WAIT_MS = 2000;

/** The facts about one failed call that the table is matched against. */
export interface FailureFacts {
  /** HTTP status; undefined for network failures (no response). */
  status?: number;
  /** Platform or network error code. */
  code?: string;
  /** Wait the platform asked for, already converted to milliseconds (see {@link parseRetryAfter}). */
  retryAfterMs?: number;
}

/** The outcome of matching {@link FailureFacts} against an {@link ErrorTable}. */
export interface Classification {
  action: ErrorAction;
  reason: string;
  /** Set only for `rate_limited`: the platform's wait, else the rule's default. */
  retryAfterMs?: number;
}

/** Matches a failure against a table. Pure; never throws. */
export function classify(table: ErrorTable, facts: FailureFacts): Classification {
  for (const rule of table.rules) {
    if (rule.status !== undefined) {
      if (facts.status === undefined) continue;
      if (typeof rule.status === 'number') {
        if (rule.status !== facts.status) continue;
      } else if (facts.status < rule.status[0] || facts.status > rule.status[1]) continue;
    }
    if (rule.code !== undefined) {
      if (facts.code === undefined) continue;
      if (typeof rule.code === 'string' ? rule.code !== facts.code : !rule.code.test(facts.code)) continue;
    }
    return withWait(rule.action, rule.reason, facts.retryAfterMs ?? rule.defaultRetryAfterMs);
  }
  return withWait(table.fallback.action, table.fallback.reason, facts.retryAfterMs);
}

function withWait(action: ErrorAction, reason: string, retryAfterMs: number | undefined): Classification {
  if (action !== 'rate_limited') return { action, reason };
  return { action, reason, retryAfterMs: retryAfterMs ?? DEFAULT_RATE_LIMIT_WAIT_MS };
}

/** Fields every connector error carries besides `action`. */
export interface ConnectorErrorDetails {
  /** Registry id of the connector that failed, e.g. `shopify`. */
  platform: string;
  /** The table's reason for the action. */
  reason: string;
  status?: number;
  code?: string;
  /** The underlying error (axios error, zod error...). */
  cause?: unknown;
}

/**
 * Base class of every error a connector throws. `action` is the table's verdict; switch on it
 * (or use `instanceof` on the subclasses). The message never contains secrets.
 */
export abstract class ConnectorError extends Error {
  /** What the caller should do (the error table's verdict). */
  abstract readonly action: ErrorAction;
  /** Registry id of the connector. */
  readonly platform: string;
  /** The table's human-readable reason. */
  readonly reason: string;
  /** HTTP status of the failed call; undefined for network failures. */
  readonly status: number | undefined;
  /** Platform or network error code, when there is one. */
  readonly code: string | undefined;

  constructor(message: string, details: ConnectorErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.platform = details.platform;
    this.reason = details.reason;
    this.status = details.status;
    this.code = details.code;
  }
}

/** Transient failure: back off with jitter and retry. */
export class RetryableError extends ConnectorError {
  override readonly name = 'RetryableError';
  readonly action = 'retry' as const;
}

/** The platform throttled us: wait `retryAfterMs`, then retry. */
export class RateLimitedError extends ConnectorError {
  override readonly name = 'RateLimitedError';
  readonly action = 'rate_limited' as const;
  constructor(
    message: string,
    details: ConnectorErrorDetails,
    /** How long to wait before the next call to this shop, in ms. */
    readonly retryAfterMs: number,
  ) {
    super(message, details);
  }
}

/**
 * The result of an update a request failed for as a whole: the error's action and code, and the
 * platform's wait when it throttled us.
 */
export function failedPush(listing: ListingRef, err: ConnectorError): PushResult {
  return {
    listing,
    status: 'failed',
    action: err.action,
    ...(err.code ? { code: err.code } : {}),
    ...(err instanceof RateLimitedError ? { retryAfterMs: err.retryAfterMs } : {}),
    message: err.message,
  };
}

/** The access token expired: refresh it, then retry once. */
export class RefreshTokenError extends ConnectorError {
  override readonly name = 'RefreshTokenError';
  readonly action = 'refresh_token' as const;
}

/** Configuration is wrong (token, scope, shop, version): stop this shop and alert. */
export class ConnectorConfigError extends ConnectorError {
  override readonly name = 'ConnectorConfigError';
  readonly action = 'config_error' as const;
}

/** Nothing to do (already done, resource gone). Log and move on. */
export class IgnorableError extends ConnectorError {
  override readonly name = 'IgnorableError';
  readonly action = 'ignore' as const;
}

/** Builds the typed error for a classification. */
export function connectorError(
  message: string,
  classification: Classification,
  details: Omit<ConnectorErrorDetails, 'reason'>,
): ConnectorError {
  const d = { ...details, reason: classification.reason };
  switch (classification.action) {
    case 'retry':
      return new RetryableError(message, d);
    case 'rate_limited':
      return new RateLimitedError(message, d, classification.retryAfterMs ?? DEFAULT_RATE_LIMIT_WAIT_MS);
    case 'refresh_token':
      return new RefreshTokenError(message, d);
    case 'config_error':
      return new ConnectorConfigError(message, d);
    case 'ignore':
      return new IgnorableError(message, d);
  }
}

/**
 * `Retry-After` in milliseconds: delta-seconds (Shopify sends decimals such as `2.0`) or an
 * HTTP date (relative to `clock`). Undefined when absent or unparsable; never negative.
 */
export function parseRetryAfter(value: string | undefined, clock: Clock): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.ceil(Number(v) * 1000);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - clock.now().getTime());
}

// ---------------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------------

/** Request headers as received; names in any case, values possibly repeated. */
export type RawHeaders = Record<string, string | readonly string[] | undefined>;

/** A webhook request exactly as received: the body is the raw bytes, never re-serialized. */
export interface RawWebhook {
  headers: RawHeaders;
  body: Uint8Array;
}

/** Case-insensitive header lookup; a repeated header yields its first value. */
export function header(headers: RawHeaders, name: string): string | undefined {
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== want || v === undefined) continue;
    return typeof v === 'string' ? v : v[0];
  }
  return undefined;
}

/** Declarative facts about a platform's webhooks / push messages (trigger.dev-style registry data). */
export interface WebhookSpec {
  /** Header carrying the signature, e.g. `X-Shopify-Hmac-Sha256`. */
  signatureHeader: string;
  /** Header naming the event type, e.g. `X-Shopify-Topic`. Unset when the topic is in the body. */
  topicHeader?: string;
  /** Header with the platform's per-delivery id, the preferred dedupe key. */
  deliveryIdHeader?: string;
  /** Header with a per-event id that is stable across redeliveries, preferred over the delivery id. */
  eventIdHeader?: string;
  /** Header naming the shop the event belongs to (for routing a shared endpoint). */
  shopHeader?: string;
  /** Header with the time the platform emitted the event (to spot stale retries). */
  timestampHeader?: string;
  /** Algorithm and encoding of the signature, for documentation and the status page. */
  signature: string;
  /** The reply the platform expects on success. Default for most: 200 with an empty body. */
  ack: { status: number; contentType?: string; body?: string };
  /** How long the platform waits for the reply before counting a failure, in ms. */
  replyWithinMs: number;
}

/** One intake event parsed from a verified webhook. */
export type WebhookEvent =
  | {
      kind: 'order';
      /** The full canonical order: the payload was complete (Shopify, WooCommerce). */
      order: CanonicalOrder;
    }
  | {
      kind: 'refetch_order';
      /** The platform's order id to re-read through the API (`Connector.fetchOrder`). */
      platformOrderId: string;
      /** Why a re-read is needed, e.g. `refunds/create carries only the refund`. */
      reason: string;
    };

/** A verified, parsed webhook. */
export interface WebhookAccepted {
  /**
   * Idempotency key of this delivery, stable across the platform's redeliveries (Shopify:
   * `X-Shopify-Event-Id`, falling back to `X-Shopify-Webhook-Id`, falling back to a SHA-256 of
   * the body). Prefixed with the connector id.
   */
  dedupeKey: string;
  /** Platform topic, e.g. `orders/updated`. */
  topic: string;
  /** Shop the event belongs to, when the platform says (`X-Shopify-Shop-Domain`). */
  shop?: string;
  /** When the platform emitted it, when it says. */
  triggeredAt?: Date;
  /** Zero events = a verified topic the core does not care about; still reply 2xx. */
  events: WebhookEvent[];
}

/** A rejected webhook: reply with `status` and do not process it. */
export interface WebhookRejected {
  /** 401 bad/missing signature, 400 malformed, 413 too large. */
  status: 400 | 401 | 413;
  error: string;
}

/** `parseWebhook`'s result. Never thrown. */
export type WebhookResult = Result<WebhookAccepted, WebhookRejected>;

// ---------------------------------------------------------------------------------------------
// Orders, stock, shipments
// ---------------------------------------------------------------------------------------------

/** One page of an incremental pull. */
export interface OrderPage {
  /** Orders mapped from this page, in the platform's order. May be empty. */
  orders: CanonicalOrder[];
  /**
   * Orders on this page that could not be mapped (schema drift, unknown status). They are not
   * dropped silently: the core records them as exceptions for a human. The cursor still moves.
   */
  rejects: OrderReject[];
  /**
   * Cursor to store, in the same transaction as this page's orders, and to pass to the next
   * `pullOrders`. Opaque to the core. Resuming from it never loses an order; it may re-read a few
   * (overlap), which the idempotent upsert absorbs.
   */
  nextCursor: string;
  /**
   * True on the page that ends a pull that reached the newest data; false when more pages follow
   * in this pull or the pull stopped at its page bound (pull again soon).
   */
  caughtUp: boolean;
  /**
   * Requests this page took on the platform, where more than one (Taobao: the list, then one
   * `trade.fullinfo.get` per listed trade): the core counts them against the shop's rate limit.
   * Absent: one.
   */
  requests?: number;
}

/** A platform order that could not be mapped. */
export interface OrderReject {
  platformOrderId: string;
  error: string;
}

/**
 * Where a quantity lives on the platform. Each connector's README says which ids it expects.
 * Shopify: `listingId` = InventoryItem id (numeric or `gid://`), `locationId` = Location id
 * (default: the config's `locationId`).
 */
export interface ListingRef {
  /** The platform's stock-bearing id (SKU id, inventory item id, variant id...). */
  listingId: string;
  /** Location / warehouse on the platform, where the platform has several. */
  locationId?: string;
}

/** One stock level to set: absolute, or a change (`change`) where the platform supports it. */
export interface StockUpdate {
  listing: ListingRef;
  /**
   * Quantity to set, integer >= 0. With `change`: what the core expects the platform to show
   * once the change is applied (reported back as the result's `quantity`; not sent).
   */
  quantity: number;
  /**
   * An incremental update (descriptor's `capabilities.incrementalStock`): add `delta` (may be
   * negative) to whatever the platform holds, so units it sold meanwhile stay sold. `key` makes
   * it idempotent: the same updates sent again with the same key are applied at most once, so a
   * push of unknown outcome can be resent. The connector derives each request's idempotency id
   * from the key and what the request carries: resending the same updates with the same key
   * gives the same requests. Updates sharing a key never share a listing.
   */
  change?: { delta: number; key: string };
  /**
   * Compare-and-set: the quantity the core believes the platform holds now. The platform applies
   * the update only if it still holds this value (Shopify `changeFromQuantity` /
   * `compareQuantity`). Unset or null = unconditional set. Ignored by platforms without CAS
   * (see the descriptor's `capabilities.compareAndSet`).
   */
  expected?: number | null;
}

/** The outcome for one {@link StockUpdate}, in the same order as the input. */
export type PushResult =
  | { listing: ListingRef; status: 'ok'; quantity: number }
  | {
      listing: ListingRef;
      /** CAS failed: the platform holds another value. Re-read it (`readStock`) and decide again. */
      status: 'compare_mismatch';
      expected: number;
      message: string;
    }
  | {
      listing: ListingRef;
      status: 'failed';
      /** What to do about this item (e.g. `config_error` for an unknown listing). */
      action: ErrorAction;
      code?: string;
      /** For `rate_limited`: how long to wait before sending this item again, in ms. */
      retryAfterMs?: number;
      message: string;
    };

/** A quantity read back from the platform. */
export type StockReading =
  | { listing: ListingRef; ok: true; quantity: number }
  | { listing: ListingRef; ok: false; error: string };

/** Tracking information to send back when the warehouse ships (发货回传). */
export interface ShipmentRef {
  platformOrderId: string;
  /** Carrier name as the platform knows it (Shopify `tracking_info.company`, e.g. `UPS`). */
  carrier: string;
  trackingNumber: string;
  trackingUrl?: string;
  /**
   * Lines shipped, by platform line id; unset = everything still open on the order. Quantities
   * default to what is still open on that line.
   */
  lines?: { platformLineId: string; quantity?: number }[];
  /** Ask the platform to email the buyer. Default false. */
  notifyCustomer?: boolean;
}

/** The platform's answer to a shipment confirmation. */
export type ShipmentResult =
  | { ok: true; platformShipmentId: string }
  /**
   * `nothing_to_ship`: already fulfilled or cancelled; `order_not_found`: the platform does not
   * know the order. Neither is worth a retry.
   */
  | { ok: false; reason: 'nothing_to_ship' | 'order_not_found'; error: string };

/** Outcome of `checkConnection`. */
export type CheckResult = Result<
  {
    /** What the platform said about the shop (name, domain, plan), for the status page. */
    info: Record<string, string>;
  },
  { action: ErrorAction; error: string }
>;

/** Rate limits fed to the core's per-shop queue (p-queue). */
export interface RateLimitSpec {
  /** Requests in flight at once per shop. */
  concurrency: number;
  /** p-queue `intervalCap` per `intervalMs`: the steady request rate. */
  intervalCap: number;
  /** The window of `intervalCap`, in ms (typically 1000). */
  intervalMs: number;
  /** The platform's leaky bucket, when it has one (burst capacity and leak per second). */
  bucket?: { capacity: number; leakPerSecond: number };
  /** Most updates one `pushStock` call sends in one request; the connector splits larger calls. */
  maxStockBatch: number;
}

/** What a connector can do beyond the required minimum. */
export interface Capabilities {
  /** `StockUpdate.expected` is honoured (compare-and-set) and mismatches are reported. */
  compareAndSet: boolean;
  /** `readStock` is implemented. */
  readStock: boolean;
  /** Webhooks carry the full order (`kind: 'order'`) rather than only re-fetch hints. */
  fullOrderWebhooks: boolean;
  /**
   * `StockUpdate.change` is honoured: a change applied to the platform's quantity, idempotent by
   * key (Douyin `incremental=true` with `idempotent_id`). A change the platform refuses while
   * the listing itself is fine (it would take the quantity below 0, say) comes back
   * `compare_mismatch`: the core then reads the quantity back and sets it absolutely.
   */
  incrementalStock: boolean;
}

/**
 * A live connector for one shop. Methods that talk to the platform throw {@link ConnectorError}
 * on failure of the whole call (nothing applied); `parseWebhook` and `checkConnection` never throw.
 */
export interface Connector {
  /** Limits for this shop (may depend on config, e.g. the Shopify plan). */
  readonly limits: RateLimitSpec;

  /**
   * How far behind now an incremental pull reads (the platform's indexing delay the connector
   * allows for, its `lagMs`; 0 when it reads up to now). A pull that ends caught up has
   * delivered every change made before it started minus this (and the second it rounds to):
   * the core then settles the re-fetch hints received before that instant.
   */
  readonly pullLagMs: number;

  /**
   * How far before its watermark a fresh pull re-reads (its `overlapMs`): the safety net for
   * changes that became visible late. The core re-reads it on a scheduled pull at least every
   * half of it, not on every pull: at a sale's volume the overlap is minutes of orders.
   */
  readonly pullOverlapMs: number;

  /** One cheap authenticated call; says whether the config works and why not. Never throws. */
  checkConnection(): Promise<CheckResult>;

  /**
   * Incremental pull of orders changed since `cursor` (null = first pull, starting the
   * connector's configured initial lookback before now). Yields bounded pages; every loop inside
   * is bounded by the connector's page limit, after which it stops with `caughtUp: false`.
   * Store each page's orders and `nextCursor` together before asking for the next page.
   * @param options.signal stops the pull between pages.
   * @param options.skipOverlap start a fresh pull at the cursor's watermark instead of the
   *   configured overlap before it. The core asks this of pulls prompted by re-fetch hints
   *   during a backlog, which run back to back: re-reading the overlap (minutes of orders) each
   *   time would spend the shop's calls on orders already read. Scheduled pulls keep the overlap.
   *   A pull resuming a half-read window resumes it either way.
   */
  pullOrders(
    cursor: string | null,
    options?: { signal?: AbortSignal; skipOverlap?: boolean },
  ): AsyncGenerator<OrderPage, void, void>;

  /** Reads one order (for webhook re-fetch hints). Null if the platform does not know it. */
  fetchOrder(platformOrderId: string): Promise<CanonicalOrder | null>;

  /**
   * Sets absolute quantities, batched up to `limits.maxStockBatch` per request. One result per
   * update, same order; one bad listing does not fail the others. Throws only when the first
   * request fails as a whole (auth, throttle, network): then nothing was applied. A later
   * request failing as a whole marks its items `failed` with the error's action instead, so the
   * results of the batches already applied are not lost.
   */
  pushStock(updates: readonly StockUpdate[]): Promise<PushResult[]>;

  /**
   * Which updates can share one request, for platforms whose batch call is per product (Taobao's
   * item, Douyin's product): `pushStock` sends the updates of one key in one request (up to
   * `limits.maxStockBatch`), one request per key. The pusher keeps a key's updates in one call
   * and counts one request per key against the shop's rate limit. Absent: any updates can share
   * a request (Shopify, WooCommerce).
   */
  stockBatchKey?(listing: ListingRef): string;

  /**
   * How many requests `readStock` makes for these listings (Taobao: one per 20 items; Douyin: one
   * per product), so the shop's gate can count them. Absent: one.
   */
  readStockRequests?(listings: readonly ListingRef[]): number;

  /** Reads current platform quantities (after a compare mismatch). Present if `capabilities.readStock`. */
  readStock?(listings: readonly ListingRef[]): Promise<StockReading[]>;

  /** Sends carrier and tracking number back to the platform. */
  confirmShipment(shipment: ShipmentRef): Promise<ShipmentResult>;

  /**
   * Verifies the signature over the raw bytes in constant time, then parses. Never throws:
   * returns `{ ok: false, status }` for the HTTP reply on rejection.
   */
  parseWebhook(raw: RawWebhook): WebhookResult;
}

/** Plain data describing a platform; read by the core, the admin API and the status page. */
export interface ConnectorDescriptor<Schema extends z.ZodType = z.ZodType> {
  /** Stable registry id, lower case, e.g. `shopify`. Stored with every shop and order. */
  id: string;
  /** Name for people, e.g. `Shopify`. */
  displayName: string;
  /** zod schema of one shop's config; parsed once, defaults documented on each field. */
  configSchema: Schema;
  /** Which headers carry the signature, topic and ids, and what reply the platform expects. */
  webhook: WebhookSpec;
  /** Default limits (the connector's `limits` may refine them from config). */
  limits: RateLimitSpec;
  /** Optional behaviour the core may rely on (compare-and-set, readStock, full-order webhooks). */
  capabilities: Capabilities;
}

/** Builds a connector for one shop from its parsed config. Does no I/O. */
export type ConnectorFactory<Config> = (config: Config, deps: ConnectorDeps) => Connector;

// ---------------------------------------------------------------------------------------------
// Sandbox harness (demo, contract tests, e2e, benchmark)
// ---------------------------------------------------------------------------------------------

/** Options for starting a platform sandbox through its harness. */
export interface SandboxStartOptions {
  /** Where the sandbox POSTs webhooks / push messages. Unset = no delivery. */
  webhookUrl?: string;
  /** Seed of the sandbox's generator; same seed, same shop. Default 1. */
  seed?: number;
  /**
   * Rate limit of the sandbox's own bucket; default the platform's real one. Tests that are
   * not about throttling raise it.
   */
  relaxedRateLimits?: boolean;
}

/**
 * Faults a sandbox injects into the API calls it serves (never into its webhook deliveries), to
 * test how the connector and the core's queue handle them. Each rate is a probability (0..1) per
 * API request, drawn from a PRNG seeded by the sandbox's seed, so a run repeats; the kinds are
 * tried in the order below and at most one fault hits a request.
 */
export interface FaultSpec {
  /** HTTP 429 with `Retry-After` and the platform's throttle body. Default 0. */
  rate429?: number;
  /** HTTP 500 in the platform's server-error shape (or plain). Default 0. */
  rate500?: number;
  /**
   * No answer: the request is held for `timeoutMs` (or until the sandbox stops), then its socket
   * is destroyed. Default 0.
   */
  rateTimeout?: number;
  /** HTTP 200 with a truncated JSON body. Default 0. */
  rateMalformed?: number;
  /**
   * A lost reply: the request is served (a stock update applies, an order is read), then the
   * connection is dropped before any answer. The client cannot tell it from a timeout; a
   * client that simply sends the update again applies it twice. Default 0.
   */
  rateLost?: number;
  /** `Retry-After` of an injected 429, in seconds. Default 1. */
  retryAfterSeconds?: number;
  /** How long an injected timeout holds the request, in ms. Default 35000 (past a 30 s client timeout). */
  timeoutMs?: number;
  /**
   * `api` (default): only requests to the platform API's paths; `all`: every request the sandbox
   * server receives (unknown paths included).
   */
  only?: 'api' | 'all';
}

/** The kinds of injected fault, as counted by `SandboxSession.faultCounts`. */
export type FaultKind = '429' | '500' | 'timeout' | 'malformed' | 'lost';

/**
 * A running sandbox seen through the platform-neutral operations the contract tests and the
 * demo need. Every connector folder exports one harness (`sandbox-harness.ts`).
 *
 * The sandbox keeps its own stock as the platform does: orders it generates or `sell`s take
 * units from the ordered listings (a listing never sells more than it holds: such a line is left
 * out, an order with nothing left is not placed), and cancellations give them back.
 */
export interface SandboxSession<Config = unknown> {
  /** Base URL of the sandbox. */
  url: string;
  /** A connector config (already parsed) pointing at this sandbox. */
  config: Config;
  /**
   * Creates up to `count` orders now (with the sandbox's usual mix of promotions, gifts, states)
   * and returns the ids of those placed: lines whose listing holds too few units are left out,
   * and an order left without lines is not placed. Each order takes its units from the platform
   * quantity; those the sandbox cancels give them back. Same seed and calls, same orders.
   */
  generateOrders(count: number): Promise<string[]>;
  /**
   * Places one paid, unshipped order of `quantity` units of the catalog entry whose `stockRef` is
   * `listing`, as a buyer would, at the list price; takes the units from the platform quantity
   * and returns the platform order id. Throws, placing nothing, when the listing is unknown or
   * holds fewer than `quantity` units. No webhook is sent unless `notify` is true (the order is
   * then announced like a new paid order; a failed delivery throws, the order stays placed), so
   * a test can model "sold on the platform, not imported yet".
   */
  sell(listing: ListingRef, quantity: number, options?: { notify?: boolean }): Promise<string>;
  /**
   * Cancels an unshipped order the way the platform does (its cancelled status, refunded when
   * paid, and a new modified time so incremental pulls see it) and gives its units back to the
   * platform quantity. Throws for an unknown, already cancelled or (partly) shipped order.
   */
  cancel(platformOrderId: string): Promise<void>;
  /** Listings the sandbox stocks, with their current platform quantity. */
  listings(): { listing: ListingRef; quantity: number }[];
  /** The current platform quantity of one listing. Throws for a listing the sandbox does not stock. */
  quantity(listing: ListingRef): number;
  /**
   * The sandbox shop's catalog as a seller would map it: one entry per sellable variant, with the
   * 商家编码 its orders carry, the ids its order lines carry, and where its stock is pushed.
   * Used by the demo to create SKUs, listings and opening stock.
   */
  catalog(): {
    skuCode: string;
    title: string;
    platformItemId: string;
    platformSkuId?: string;
    stockRef: ListingRef;
    quantity: number;
  }[];
  /** Changes a quantity behind the connector's back (another app, a manual edit). */
  setQuantity(listing: ListingRef, quantity: number): void;
  /** Every stock update the sandbox accepted, in order. */
  stockPushes(): { listing: ListingRef; quantity: number }[];
  /** Makes the sandbox deliver one signed webhook about `platformOrderId` to `webhookUrl`. */
  deliverOrderWebhook(platformOrderId: string): Promise<void>;
  /** Tracking numbers the sandbox recorded for an order. */
  shipments(platformOrderId: string): string[];
  /**
   * Starts injecting faults into the API requests the sandbox serves (replacing any earlier
   * spec); null stops. Throws a RangeError for a rate outside 0..1 or a negative duration.
   */
  faults(spec: FaultSpec | null): void;
  /** Faults injected so far, per kind (never reset). */
  faultCounts(): Record<FaultKind, number>;
  /** Stops the server and every timer. Idempotent. */
  stop(): Promise<void>;
}

/** Starts a sandbox; exported as `harness` by each connector's `sandbox-harness.ts`. */
export interface SandboxHarness<Config = unknown> {
  start(options?: SandboxStartOptions): Promise<SandboxSession<Config>>;
}

// ---------------------------------------------------------------------------------------------
// Registry entries
// ---------------------------------------------------------------------------------------------

/** What a connector folder's `index.ts` declares: one line in `connectors/registry.ts` adds it. */
export interface ConnectorModule<Schema extends z.ZodType = z.ZodType> {
  descriptor: ConnectorDescriptor<Schema>;
  /** Factory taking the parsed config (defaults applied). */
  create: ConnectorFactory<z.output<Schema>>;
  /**
   * Loads the sandbox harness on demand (a dynamic import, so production start-up never loads
   * sandbox code unless the demo asks for it).
   */
  sandbox: () => Promise<SandboxHarness<z.input<Schema>>>;
}

/** The type-erased entry the registry holds. */
export interface RegisteredConnector {
  descriptor: ConnectorDescriptor;
  /**
   * Validates `rawConfig` against the descriptor's schema, then builds the connector. Throws
   * {@link ConnectorConfigError} naming every bad key path (`accessToken: ...`).
   */
  create(rawConfig: unknown, deps: ConnectorDeps): Connector;
  sandbox(): Promise<SandboxHarness>;
}

/** Erases a module's config type behind validation; used by each connector's `index.ts`. */
export function defineConnector<Schema extends z.ZodType>(m: ConnectorModule<Schema>): RegisteredConnector {
  return {
    descriptor: m.descriptor,
    create(rawConfig, deps) {
      const parsed = m.descriptor.configSchema.safeParse(rawConfig);
      if (!parsed.success) {
        const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
        throw new ConnectorConfigError(`invalid ${m.descriptor.id} config: ${issues.join('; ')}`, {
          platform: m.descriptor.id,
          reason: 'shop config does not match the connector schema',
          cause: parsed.error,
        });
      }
      return m.create(parsed.data as z.output<Schema>, deps);
    },
    sandbox: m.sandbox,
  };
}
