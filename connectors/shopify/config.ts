/**
 * Shopify shop config (one per connected shop) and the platform descriptor facts.
 */
import { z } from 'zod';
import type { RateLimitSpec } from '../contract.js';

/**
 * Admin API version used for every call unless the shop's config says otherwise. 2026-01 is the
 * first version with `changeFromQuantity` on `inventorySetQuantities` and the optional
 * `@idempotent` directive; the connector speaks the older `compareQuantity` form for earlier
 * versions and sends the directive (mandatory from 2026-04) from 2026-01 on.
 */
export const DEFAULT_API_VERSION = '2026-01';

const API_VERSION_RE = /^\d{4}-(01|04|07|10)$/;
const SHOP_DOMAIN_RE = /^[a-z0-9][a-z0-9-]*\.myshopify\.com$/;

const intIn = (min: number, max: number) => {
  const error = `expected an integer from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
};

export const shopifyConfigSchema = z.strictObject({
  /** The shop's permanent domain, `my-shop.myshopify.com`. Required. */
  shopDomain: z.string().regex(SHOP_DOMAIN_RE, { error: 'expected <name>.myshopify.com' }),
  /**
   * Where the Admin API lives. Default `https://<shopDomain>`. Set only for the sandbox
   * (`http://127.0.0.1:<port>`) or a proxy.
   */
  baseUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** Admin API access token (`shpat_...`), sent as `X-Shopify-Access-Token`. Required. */
  accessToken: z.string().min(1),
  /** The app's client secret: the key of the webhook HMAC. Required. */
  apiSecret: z.string().min(1),
  /**
   * Secrets that still verify webhooks during a rotation (Shopify may sign with the old secret for
   * up to an hour after a rotation). Default none.
   */
  previousApiSecrets: z.array(z.string().min(1)).max(5).default([]),
  /** Admin API version, `YYYY-MM` (quarterly). Default {@link DEFAULT_API_VERSION}. */
  apiVersion: z
    .string()
    .regex(API_VERSION_RE, { error: 'expected YYYY-01|04|07|10' })
    .default(DEFAULT_API_VERSION),
  /**
   * Shopify plan, which sets the REST leaky bucket: standard 40 requests, leaking 2/s; advanced
   * 4/s; plus 20/s. Default `standard`.
   */
  plan: z.enum(['standard', 'advanced', 'plus']).default('standard'),
  /** Location stock is pushed to when a listing names none (numeric id or gid). Default none. */
  locationId: z.string().min(1).optional(),
  /** Orders per page, at most 250 (Shopify's maximum). Default 250. */
  pageSize: intIn(1, 250).default(250),
  /** Pages one `pullOrders` call fetches before stopping with a resumable cursor. Default 40. */
  maxPagesPerPull: intIn(1, 10_000).default(40),
  /** Re-read this far behind the stored cursor on every pull. Default 10 minutes (600000 ms). */
  overlapMs: intIn(0, 24 * 3600_000).default(600_000),
  /**
   * First pull (no cursor) starts this many days before now. Default 60: without the
   * `read_all_orders` scope Shopify shows only the last 60 days anyway.
   */
  initialLookbackDays: intIn(0, 3650).default(60),
  /** Map `financial_status: authorized` (payment held, not captured) to PAID. Default true. */
  authorizedIsPaid: z.boolean().default(true),
  /** `reason` sent with every stock set (`correction`, `cycle_count_available`...). Default `correction`. */
  stockReason: z.string().min(1).default('correction'),
  /** Largest webhook body accepted, in bytes; larger ones get 413. Default 5 MiB. */
  maxWebhookBytes: intIn(1024, 50 * 1024 * 1024).default(5 * 1024 * 1024),
});

/** Raw (input) shape of a Shopify shop config. */
export type ShopifyConfigInput = z.input<typeof shopifyConfigSchema>;
/** Parsed shape, defaults applied. */
export type ShopifyConfig = z.output<typeof shopifyConfigSchema>;

/**
 * Most quantities in one `inventorySetQuantities` call. Shopify documents no exact cap for this
 * input; 250 matches its other bulk inputs and keeps the query cost low. [U]
 */
export const MAX_STOCK_BATCH = 250;

const LEAK_PER_SECOND: Record<ShopifyConfig['plan'], number> = { standard: 2, advanced: 4, plus: 20 };

/** REST limits per plan: bucket 40 on standard; Shopify does not document the others' capacity. */
export function limitsFor(plan: ShopifyConfig['plan']): RateLimitSpec {
  const leak = LEAK_PER_SECOND[plan];
  return {
    concurrency: plan === 'plus' ? 8 : 2,
    intervalCap: leak,
    intervalMs: 1000,
    bucket: { capacity: plan === 'standard' ? 40 : leak * 20, leakPerSecond: leak },
    maxStockBatch: MAX_STOCK_BATCH,
  };
}
