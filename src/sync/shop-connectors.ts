import axios from 'axios';
import type { Clock, Connector, RateLimitSpec, RegisteredConnector } from '../../connectors/contract.js';
import { getConnector } from '../../connectors/registry.js';
import type { Logger } from '../log.js';
import type { ShopSettings } from '../orders/index.js';

/** A configured shop with its marketplace connector. */
export interface ShopConnector {
  shop: ShopSettings;
  registered: RegisteredConnector;
  connector: Connector;
  /** The connector's limits with the shop's `rateLimit` applied: what its gate and pusher use. */
  limits: RateLimitSpec;
}

/** A shop's request quota (`shops[].rateLimit`), where set. */
export interface ShopRateLimit {
  requestsPerSecond?: number | undefined;
  concurrency?: number | undefined;
}

/** The connector's default limits with a shop's `rateLimit` applied. */
export function shopLimits(defaults: RateLimitSpec, rate: ShopRateLimit | undefined): RateLimitSpec {
  return {
    ...defaults,
    ...(rate?.requestsPerSecond !== undefined
      ? { intervalCap: rate.requestsPerSecond, intervalMs: 1000 }
      : {}),
    ...(rate?.concurrency !== undefined ? { concurrency: rate.concurrency } : {}),
  };
}

/** Timeout of every marketplace call made through the shared HTTP client. */
export const CONNECTOR_HTTP_TIMEOUT_MS = 30_000;

/**
 * Builds a connector for each shop that has connector settings. A shop whose settings do not
 * match its platform's schema stops the start with an error naming the shop and every bad key.
 */
export function createShopConnectors(
  shops: readonly (ShopSettings & { connector?: unknown; rateLimit?: ShopRateLimit | undefined })[],
  log: Logger,
  clock: Clock,
): Map<string, ShopConnector> {
  const http = axios.create({ timeout: CONNECTOR_HTTP_TIMEOUT_MS });
  const out = new Map<string, ShopConnector>();
  for (const shop of shops) {
    if (shop.connector === undefined) continue;
    const registered = getConnector(shop.platform);
    try {
      const connector = registered.create(shop.connector, { http, log: log.child({ shop: shop.id }), clock });
      out.set(shop.id, { shop, registered, connector, limits: shopLimits(connector.limits, shop.rateLimit) });
    } catch (err) {
      throw new Error(`shop ${shop.id}: ${(err as Error).message}`, { cause: err });
    }
  }
  return out;
}
