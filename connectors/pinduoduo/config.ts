/**
 * Pinduoduo (拼多多开放平台) shop config (one per connected seller) and the platform's limit facts.
 */
import { z } from 'zod';
import type { RateLimitSpec } from '../contract.js';

/** The HTTPS gateway (notes §4.1 [S]; the HTTP one is no longer allowed). */
export const DEFAULT_GATEWAY = 'https://gw-api.pinduoduo.com/api/router';

/** `pdd.order.number.list.increment.get`: at most 30 minutes per window (notes §4.2 [V]). */
export const MAX_WINDOW_MINUTES = 30;

/** PDD returns orders from the last 3 months only (notes §4.2 [V]). */
export const MAX_LOOKBACK_DAYS = 90;

/** The docs ask for a window end at least ~3 minutes behind PDD's clock (notes §4.2 [S]). */
export const MIN_LAG_MS = 180_000;

const intIn = (min: number, max: number) => {
  const error = `expected an integer from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
};

export const pinduoduoConfigSchema = z.strictObject({
  /** The seller's PDD shop id (mall id, 店铺 id): the canonical `shopId`. Required. */
  mallId: z.string().min(1).max(128),
  /** App `client_id`. Required. */
  clientId: z.string().min(1),
  /** App `client_secret`: the signing key. Required; never logged. */
  clientSecret: z.string().min(1),
  /** The seller's OAuth `access_token`. Required; never logged. */
  accessToken: z.string().min(1),
  /** Gateway URL. Default {@link DEFAULT_GATEWAY}; the sandbox passes its own `/api/router`. */
  gatewayUrl: z.url({ protocol: /^https?$/ }).default(DEFAULT_GATEWAY),
  /** Orders per list page, at most 100 (PDD's maximum). Default 100. */
  pageSize: intIn(1, 100).default(100),
  /** Length of one `start_updated_at`..`end_updated_at` window, in minutes; at most 30. Default 30. */
  windowMinutes: intIn(1, MAX_WINDOW_MINUTES).default(MAX_WINDOW_MINUTES),
  /**
   * A window whose result needs more list pages than this is halved (down to one minute) before
   * it is read, so one busy window cannot exhaust a pull. Default 50.
   */
  maxPagesPerWindow: intIn(1, 1000).default(50),
  /** List requests one `pullOrders` call makes at most. Default 400. */
  maxPagesPerPull: intIn(1, 100_000).default(400),
  /** Re-read this far behind the stored cursor on every fresh pull. Default 5 minutes (300000 ms). */
  overlapMs: intIn(0, 24 * 3600_000).default(300_000),
  /**
   * Keep every window end this far behind "now" (the docs: about 3 minutes behind PDD's clock).
   * Default 240000 ms (4 minutes: 3 plus a minute of clock skew); at least 180000.
   */
  lagMs: intIn(MIN_LAG_MS, 3600_000).default(240_000),
  /** First pull (no cursor) starts this many days before now; at most 90. Default 7. */
  initialLookbackDays: intIn(1, MAX_LOOKBACK_DAYS).default(7),
  /**
   * Carrier name -> PDD `logistics_id` (from `pdd.logistics.companies.get`), for
   * `confirmShipment`. A carrier given as a number is sent as is. Default none.
   */
  logisticsIds: z.record(z.string().min(1), z.int().positive()).default({}),
  /**
   * Secret shared with the PMC relay that POSTs push messages to us (README "Push messages"): the
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

export type PinduoduoConfigInput = z.input<typeof pinduoduoConfigSchema>;
export type PinduoduoConfig = z.output<typeof pinduoduoConfigSchema>;

/**
 * Default limits. PDD sets per-API limits per app (the SDK ships `*_LIMITERS` tables; the numbers
 * are not public here [U]); these are conservative. `pdd.goods.quantity.update` sets one SKU per
 * call, so a "batch" is one item per request.
 */
export const PINDUODUO_LIMITS: RateLimitSpec = {
  concurrency: 2,
  intervalCap: 10,
  intervalMs: 1000,
  maxStockBatch: 1,
};
