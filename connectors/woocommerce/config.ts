/**
 * WooCommerce shop config (one per connected store) and the platform's default limits.
 */
import { z } from 'zod';
import { ORDER_STATUSES } from '../../src/domain/order.js';
import type { RateLimitSpec } from '../contract.js';

const intIn = (min: number, max: number) => {
  const error = `expected an integer from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
};

/**
 * Most objects in one `/batch` request. WooCommerce's default (`woocommerce_rest_batch_items_limit`
 * filter) is 100 [V]; a store may lower it.
 */
export const MAX_BATCH = 100;

export const woocommerceConfigSchema = z
  .strictObject({
    /**
     * The store's site URL, e.g. `https://shop.example.com` (WordPress in a sub-folder:
     * `https://example.com/shop`). The API lives under `<storeUrl>/wp-json/wc/v3`. Required.
     */
    storeUrl: z.url({ protocol: /^https?$/ }),
    /** REST API consumer key (`ck_...`), read_write permission. Required. */
    consumerKey: z.string().min(1),
    /** REST API consumer secret (`cs_...`). Required. */
    consumerSecret: z.string().min(1),
    /**
     * How the key travels: `basic` = HTTP Basic (default, HTTPS only); `query` =
     * `consumer_key`/`consumer_secret` query parameters, for servers that drop the
     * `Authorization` header (HTTPS only, too). Plain HTTP needs OAuth 1.0a, which this
     * connector does not implement: an `http://` store is refused unless `allowInsecureHttp`.
     */
    authMode: z.enum(['basic', 'query']).default('basic'),
    /** Send credentials over plain HTTP (the local sandbox only). Default false. */
    allowInsecureHttp: z.boolean().default(false),
    /** The secret of the webhooks created for stockd (HMAC key). Required. */
    webhookSecret: z.string().min(1),
    /** Secrets that still verify webhooks while one is being rotated. Default none. */
    previousWebhookSecrets: z.array(z.string().min(1)).max(5).default([]),
    /** Orders per page, at most 100 (WooCommerce's maximum). Default 100. */
    pageSize: intIn(1, 100).default(100),
    /** Pages one `pullOrders` call fetches before stopping with a resumable cursor. Default 50. */
    maxPagesPerPull: intIn(1, 10_000).default(50),
    /**
     * Longest `modified_after`..`modified_before` window per query. WooCommerce has no limit; small
     * windows keep page-number paging short, so an order modified while we page (which shifts the
     * later pages) costs a re-read of one small window only. Default 1 day (86400000 ms).
     */
    windowMs: intIn(60_000, 366 * 86_400_000).default(86_400_000),
    /** Re-read this far behind the stored watermark on every pull. Default 10 minutes. */
    overlapMs: intIn(0, 24 * 3600_000).default(600_000),
    /**
     * Stay this far behind "now" (clock skew between us and the store). Default 60 s.
     */
    lagMs: intIn(0, 3600_000).default(60_000),
    /** First pull (no cursor) starts this many days before now. Default 30. */
    initialLookbackDays: intIn(0, 3650).default(30),
    /** Restarts of one window allowed when its total shrinks while paging. Default 3. */
    maxWindowRestarts: intIn(0, 20).default(3),
    /**
     * Custom order statuses added by plugins (`shipped`, `partial-shipped`, `ready-to-ship`...)
     * and their canonical status. Default none: an unknown status is a reject.
     */
    customStatuses: z.record(z.string().regex(/^[a-z0-9_-]+$/), z.enum(ORDER_STATUSES)).default({}),
    /**
     * How `confirmShipment` reports tracking: `order_note` (core: a customer-visible order note,
     * then status `completed`) or `shipment_tracking` (the WooCommerce Shipment Tracking
     * extension's `wc-shipment-tracking/v3` endpoint, then `completed`). Default `order_note`.
     */
    shipmentMode: z.enum(['order_note', 'shipment_tracking']).default('order_note'),
    /** Set the order `completed` after recording the tracking. Default true. */
    completeOnShipment: z.boolean().default(true),
    /** Largest webhook body accepted, in bytes; larger ones get 413. Default 5 MiB. */
    maxWebhookBytes: intIn(1024, 50 * 1024 * 1024).default(5 * 1024 * 1024),
  })
  .superRefine((c, ctx) => {
    if (c.storeUrl.startsWith('http://') && !c.allowInsecureHttp) {
      ctx.addIssue({
        code: 'custom',
        path: ['storeUrl'],
        message: 'plain http needs OAuth 1.0a signing, which is not implemented: use https',
      });
    }
  });

/** Raw (input) shape of a WooCommerce shop config. */
export type WooConfigInput = z.input<typeof woocommerceConfigSchema>;
/** Parsed shape, defaults applied. */
export type WooConfig = z.output<typeof woocommerceConfigSchema>;

/** Core WooCommerce has no rate limit [V]; hosts and WAFs do, so stay gentle: 2 in flight, 4/s. */
export const WOO_LIMITS: RateLimitSpec = {
  concurrency: 2,
  intervalCap: 4,
  intervalMs: 1000,
  maxStockBatch: MAX_BATCH,
};
