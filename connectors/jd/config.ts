/**
 * JD (京东 JOS) shop config (one per connected POP seller) and the platform's limit facts.
 */
import { z } from 'zod';
import type { RateLimitSpec } from '../contract.js';

/** The JOS gateway (notes §6.1 [V]). */
export const DEFAULT_GATEWAY = 'https://api.jd.com/routerjson';

/** `jingdong.pop.order.search` accepts a `start_date`..`end_date` range of at most one month (notes §6.2 [S]). */
export const MAX_WINDOW_MINUTES = 30 * 1440;

/** Orders per search page: at most 50 (notes §6.2, "≤ 50 recommended" [S]). */
export const MAX_PAGE_SIZE = 50;

/** How far back a first pull may start. JD documents no history limit for search [U]; we cap at 90 days. */
export const MAX_LOOKBACK_DAYS = 90;

const intIn = (min: number, max: number) => {
  const error = `expected an integer from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
};

export const jdConfigSchema = z.strictObject({
  /** The seller's 商家ID (`venderId`): the canonical `shopId`. Required, digits. */
  venderId: z.string().regex(/^\d{1,20}$/, { error: 'venderId must be the numeric 商家ID' }),
  /** JOS app key. Required. */
  appKey: z.string().min(1),
  /** JOS app secret: the signing key. Required; never logged. */
  appSecret: z.string().min(1),
  /** The seller's OAuth `access_token`. Required; never logged. */
  accessToken: z.string().min(1),
  /** Gateway URL. Default {@link DEFAULT_GATEWAY}; the sandbox passes its own `/routerjson`. */
  gatewayUrl: z.url({ protocol: /^https?$/ }).default(DEFAULT_GATEWAY),
  /** Orders per search page, 1..50. Default 50. */
  pageSize: intIn(1, MAX_PAGE_SIZE).default(MAX_PAGE_SIZE),
  /**
   * Length of one `start_date`..`end_date` window, in minutes. JD allows up to one month; smaller
   * windows keep page numbers low and a re-scan cheap. Default 60.
   */
  windowMinutes: intIn(1, MAX_WINDOW_MINUTES).default(60),
  /** A window needing more pages than this is halved (down to one minute) before it is read. Default 40. */
  maxPagesPerWindow: intIn(1, 1000).default(40),
  /** Search requests (pages, probes, re-scans) one `pullOrders` makes at most; detail reads not counted. Default 400. */
  maxPagesPerPull: intIn(1, 100_000).default(400),
  /**
   * A window whose `orderTotal` changes while it is paged (an order moved out or in) is re-read
   * from page 1 at most this many times. Default 3.
   */
  maxRescansPerWindow: intIn(0, 20).default(3),
  /** Re-read this far behind the stored watermark on every fresh pull. Default 10 minutes (600000 ms). */
  overlapMs: intIn(0, 24 * 3600_000).default(600_000),
  /** Stay this far behind "now" with the window end (indexing delay [U]). Default 60000 ms. */
  lagMs: intIn(0, 3600_000).default(60_000),
  /** First pull (no cursor) starts this many days before now. Default 7, at most 90. */
  initialLookbackDays: intIn(1, MAX_LOOKBACK_DAYS).default(7),
  /**
   * Secret shared with the JD message relay that POSTs 京东消息 to us (README "Push messages"):
   * the key of the relay's HMAC-SHA256. Required, at least 16 characters.
   */
  relaySecret: z.string().min(16),
  /** Secrets still accepted during a relay secret rotation. Default none. */
  previousRelaySecrets: z.array(z.string().min(16)).max(5).default([]),
  /** Relay messages whose timestamp is further than this from our clock are refused. Default 300 s. */
  relayMaxSkewMs: intIn(1000, 3600_000).default(300_000),
  /** Largest relay body accepted, in bytes; larger ones get 413. Default 1 MiB. */
  maxWebhookBytes: intIn(1024, 10 * 1024 * 1024).default(1024 * 1024),
});

export type JdConfigInput = z.input<typeof jdConfigSchema>;
export type JdConfig = z.output<typeof jdConfigSchema>;

/**
 * Default limits. JOS sets per-app, per-API quotas in the console (no public bucket) [U]; these
 * are conservative. Stock is one SKU per `updateSkuStock` call, so a "batch" is one SKU.
 */
export const JD_LIMITS: RateLimitSpec = {
  concurrency: 2,
  intervalCap: 10,
  intervalMs: 1000,
  maxStockBatch: 1,
};
