/**
 * Taobao/Tmall (TOP) shop config (one per connected seller) and the platform's limit facts.
 */
import { z } from 'zod';
import type { RateLimitSpec } from '../contract.js';

/** The HTTPS gateway (notes §3.1 [S]); the HTTP one is `http://gw.api.taobao.com/router/rest`. */
export const DEFAULT_GATEWAY = 'https://eco.taobao.com/router/rest';

/** `taobao.skus.quantity.update` takes at most 20 SKUs per call (notes §3.6 [V]). */
export const MAX_SKUS_PER_CALL = 20;

/**
 * `taobao.items.seller.list.get` takes at most 20 `num_iids` per call (the official SDK's request
 * check) [S].
 */
export const MAX_ITEMS_PER_READ = 20;

/** TOP returns trades modified in the last 3 months only (notes §3.3 [V]). */
export const MAX_LOOKBACK_DAYS = 90;

const intIn = (min: number, max: number) => {
  const error = `expected an integer from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
};

export const taobaoConfigSchema = z.strictObject({
  /** The seller's nick (卖家昵称): the canonical `shopId`. Required. */
  sellerNick: z.string().min(1).max(128),
  /** TOP app key. Required. */
  appKey: z.string().min(1),
  /** TOP app secret: the signing key. Required; never logged. */
  appSecret: z.string().min(1),
  /** The seller's OAuth access token, sent as `session`. Required; never logged. */
  session: z.string().min(1),
  /** Gateway URL. Default {@link DEFAULT_GATEWAY}; the sandbox passes its own `/router/rest`. */
  gatewayUrl: z.url({ protocol: /^https?$/ }).default(DEFAULT_GATEWAY),
  /** `md5`, `hmac` (HMAC-MD5) or `hmac-sha256`. Default `hmac-sha256`. */
  signMethod: z.enum(['md5', 'hmac', 'hmac-sha256']).default('hmac-sha256'),
  /** Trades per list page, at most 100 (TOP's maximum). Default 100. */
  pageSize: intIn(1, 100).default(100),
  /**
   * Length of one `start_modified`..`end_modified` window, in minutes. TOP allows at most one
   * day and recommends 30 minutes or less (notes §3.3). Default 30.
   */
  windowMinutes: intIn(1, 1440).default(30),
  /**
   * A window whose result needs more list pages than this is halved (down to one minute) before
   * it is read, so one busy window cannot exhaust a pull. Default 50.
   */
  maxPagesPerWindow: intIn(1, 1000).default(50),
  /**
   * List requests (window probes and pages) one `pullOrders` call makes at most; detail and
   * refund reads of a page already fetched are not counted. Default 400.
   */
  maxPagesPerPull: intIn(1, 100_000).default(400),
  /** Re-read this far behind the stored cursor on every fresh pull. Default 10 minutes (600000 ms). */
  overlapMs: intIn(0, 24 * 3600_000).default(600_000),
  /** Stay this far behind "now" with the window end. Default 0 (the overlap covers late indexing). */
  lagMs: intIn(0, 3600_000).default(0),
  /** First pull (no cursor) starts this many days before now; at most 90 (TOP keeps 3 months). Default 7. */
  initialLookbackDays: intIn(1, MAX_LOOKBACK_DAYS).default(7),
  /**
   * Secret shared with the TMC relay that POSTs messages to us (see README "TMC messages"): the
   * key of the relay's HMAC-SHA256. Required, at least 16 characters.
   */
  relaySecret: z.string().min(16),
  /** Secrets still accepted during a relay secret rotation. Default none. */
  previousRelaySecrets: z.array(z.string().min(16)).max(5).default([]),
  /** Relay messages whose timestamp is further than this from our clock are refused. Default 300 s. */
  relayMaxSkewMs: intIn(1000, 3600_000).default(300_000),
  /** Largest relay body accepted, in bytes; larger ones get 413. Default 1 MiB. */
  maxWebhookBytes: intIn(1024, 10 * 1024 * 1024).default(1024 * 1024),
});

export type TaobaoConfigInput = z.input<typeof taobaoConfigSchema>;
export type TaobaoConfig = z.output<typeof taobaoConfigSchema>;

/**
 * Default limits. TOP grants per-app, per-API quotas set in the console (no public bucket); these
 * are conservative defaults [U]; code 7 with a ban length tells the queue to wait.
 */
export const TAOBAO_LIMITS: RateLimitSpec = {
  concurrency: 2,
  intervalCap: 10,
  intervalMs: 1000,
  maxStockBatch: MAX_SKUS_PER_CALL,
};
