/**
 * Douyin Doudian (抖店) shop config (one per connected shop) and the platform's limit facts.
 */
import { z } from 'zod';
import type { RateLimitSpec } from '../contract.js';

/** The production gateway (notes §5.1 [V]); the platform's own sandbox is `https://openapi-sandbox.jinritemai.com`. */
export const DEFAULT_GATEWAY = 'https://openapi-fxg.jinritemai.com';

/** `order.searchList` pages hold at most 100 shop orders (notes §5.2 [V]). */
export const MAX_PAGE_SIZE = 100;

/**
 * Longest `update_time_start`..`update_time_end` window we send. Doudian does not document a
 * maximum (notes §5.2 [U]); one hour is the conservative choice the notes recommend.
 */
export const MAX_WINDOW_MINUTES = 60;

const intIn = (min: number, max: number) => {
  const error = `expected an integer from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
};

export const douyinConfigSchema = z.strictObject({
  /** The Doudian shop id (`shop_id`): the canonical `shopId`. Required. */
  shopId: z.string().regex(/^\d{1,20}$/, { error: 'shopId must be the numeric Doudian shop id' }),
  /** App key. Required; also the `app-id` header of push messages. */
  appKey: z.string().min(1),
  /** App secret: the HMAC key of requests and the md5 salt of push messages. Required; never logged. */
  appSecret: z.string().min(1),
  /** The shop's OAuth `access_token`. Required; never logged. */
  accessToken: z.string().min(1),
  /** Gateway base URL, no trailing slash. Default {@link DEFAULT_GATEWAY}. */
  gatewayUrl: z
    .url({ protocol: /^https?$/ })
    .transform((u) => u.replace(/\/+$/, ''))
    .default(DEFAULT_GATEWAY),
  /** Shop orders per `order.searchList` page, 1..100. Default 100. */
  pageSize: intIn(1, MAX_PAGE_SIZE).default(MAX_PAGE_SIZE),
  /** Length of one `update_time` window in minutes, 1..60 (see {@link MAX_WINDOW_MINUTES}). Default 60. */
  windowMinutes: intIn(1, MAX_WINDOW_MINUTES).default(MAX_WINDOW_MINUTES),
  /** A window needing more pages than this is halved (down to one minute) before it is read. Default 50. */
  maxPagesPerWindow: intIn(1, 1000).default(50),
  /** List requests one `pullOrders` call makes at most (then it stops, resumable). Default 400. */
  maxPagesPerPull: intIn(1, 100_000).default(400),
  /** Re-read this far behind the stored watermark on every pull. Default 10 minutes (600000 ms). */
  overlapMs: intIn(0, 24 * 3600_000).default(600_000),
  /** Window ends stay this far behind "now" (late indexing of the search). Default 30 s. */
  lagMs: intIn(0, 3600_000).default(30_000),
  /** First pull (no cursor) starts this many days before now. Default 7. */
  initialLookbackDays: intIn(1, 90).default(7),
  /** Largest push-message body accepted, in bytes; larger ones get 413. Default 1 MiB. */
  maxWebhookBytes: intIn(1024, 10 * 1024 * 1024).default(1024 * 1024),
});

export type DouyinConfigInput = z.input<typeof douyinConfigSchema>;
export type DouyinConfig = z.output<typeof douyinConfigSchema>;

/**
 * Most SKUs in one `sku.syncStockBatch` call. Doudian documents no cap [U]; 50 covers the SKUs
 * of almost any product in one request and keeps an all-or-nothing refusal cheap to split.
 */
export const MAX_SKUS_PER_BATCH = 50;

/**
 * Default limits. Doudian sets per-app, per-API QPS in its console (no public bucket) [U]; these
 * are conservative. A stock batch is the SKUs of one product (`sku.syncStockBatch`; the
 * connector's `stockBatchKey`).
 */
export const DOUYIN_LIMITS: RateLimitSpec = {
  concurrency: 2,
  intervalCap: 10,
  intervalMs: 1000,
  maxStockBatch: MAX_SKUS_PER_BATCH,
};
