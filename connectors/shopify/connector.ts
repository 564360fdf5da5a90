/**
 * The Shopify connector: assembles the client, the pull, stock, shipments and webhooks behind
 * the {@link Connector} contract.
 */

import type { CanonicalOrder } from '../../src/domain/order.js';
import {
  type CheckResult,
  type Connector,
  ConnectorConfigError,
  type ConnectorDeps,
  ConnectorError,
  type ConnectorFactory,
  type OrderPage,
  type OrderReject,
  type RateLimitSpec,
} from '../contract.js';
import { PLATFORM, ShopifyClient } from './client.js';
import { limitsFor, type ShopifyConfig } from './config.js';
import { type MappingOptions, mapShopifyOrder, rawOrderId } from './mapping.js';
import { decodeCursor, encodeCursor, type PullCursor, parseLinkHeader, shopifyTime } from './pagination.js';
import { confirmShopifyShipment } from './shipment.js';
import { StockPusher } from './stock.js';
import { parseShopifyWebhook } from './webhook.js';

const DAY_MS = 86_400_000;

export const createShopifyConnector: ConnectorFactory<ShopifyConfig> = (config, deps) =>
  new ShopifyConnector(config, deps);

class ShopifyConnector implements Connector {
  readonly limits: RateLimitSpec;
  /** Pulls read up to now (`updated_at_max` is the pull's start). */
  readonly pullLagMs = 0;
  get pullOverlapMs(): number {
    return this.config.overlapMs;
  }
  private readonly client: ShopifyClient;
  private readonly stock: StockPusher;
  private readonly mapping: MappingOptions;

  constructor(
    private readonly config: ShopifyConfig,
    private readonly deps: ConnectorDeps,
  ) {
    this.limits = limitsFor(config.plan);
    this.client = new ShopifyClient(config, deps);
    this.stock = new StockPusher(this.client, config);
    this.mapping = { shopId: config.shopDomain, authorizedIsPaid: config.authorizedIsPaid };
  }

  async checkConnection(): Promise<CheckResult> {
    try {
      const res = await this.client.rest('GET', 'shop.json');
      const shop = (res.data as { shop?: Record<string, unknown> })?.shop ?? {};
      const info: Record<string, string> = { apiVersion: this.config.apiVersion };
      for (const k of ['name', 'myshopify_domain', 'plan_name', 'currency']) {
        if (typeof shop[k] === 'string') info[k] = shop[k] as string;
      }
      return { ok: true, info };
    } catch (err) {
      if (err instanceof ConnectorError) return { ok: false, action: err.action, error: err.message };
      return { ok: false, action: 'retry', error: err instanceof Error ? err.message : String(err) };
    }
  }

  async *pullOrders(
    cursor: string | null,
    options: { signal?: AbortSignal; skipOverlap?: boolean } = {},
  ): AsyncGenerator<OrderPage, void, void> {
    const overlapMs = options.skipOverlap ? 0 : this.config.overlapMs;
    const now = this.deps.clock.now().getTime();
    let state: PullCursor;
    if (cursor === null) {
      state = { watermark: new Date(now - this.config.initialLookbackDays * DAY_MS).toISOString() };
    } else {
      const decoded = decodeCursor(cursor);
      if (!decoded) {
        throw new ConnectorConfigError(`unreadable Shopify cursor ${JSON.stringify(cursor.slice(0, 80))}`, {
          platform: PLATFORM,
          reason: 'stored cursor is not a Shopify pull cursor',
        });
      }
      state = decoded;
    }

    const watermark = state.watermark;
    let until: string;
    let maxSeen: number | undefined;
    let url: string;
    let resumed = false;
    if (state.resume) {
      resumed = true;
      until = state.resume.until;
      maxSeen = state.resume.maxSeen === undefined ? undefined : Date.parse(state.resume.maxSeen);
      url = this.pageInfoUrl(state.resume.pageInfo);
    } else {
      until = shopifyTime(now);
      url = this.firstPageUrl(watermark, until, overlapMs);
    }

    for (let page = 0; page < this.config.maxPagesPerPull; page++) {
      if (options.signal?.aborted) return;
      let res: Awaited<ReturnType<ShopifyClient['rest']>>;
      try {
        res = await this.client.rest('GET', url);
      } catch (err) {
        // A stored page_info may have expired: start the interrupted window again from the
        // watermark (re-reads, never skips). Only once, on the first request of this pull.
        if (
          resumed &&
          page === 0 &&
          err instanceof ConnectorError &&
          (err.status === 400 || err.status === 404)
        ) {
          this.deps.log.warn({ err: err.message }, 'shopify resume cursor rejected; restarting the window');
          resumed = false;
          maxSeen = undefined;
          until = shopifyTime(now);
          url = this.firstPageUrl(watermark, until, overlapMs);
          page--;
          continue;
        }
        throw err;
      }
      resumed = false;
      const raw = (res.data as { orders?: unknown })?.orders;
      if (!Array.isArray(raw)) {
        throw new ConnectorConfigError('Shopify orders.json answered without an orders array', {
          platform: PLATFORM,
          reason: 'unexpected response shape',
          status: res.status,
        });
      }
      const orders: CanonicalOrder[] = [];
      const rejects: OrderReject[] = [];
      for (const o of raw) {
        const updated = Date.parse(String((o as { updated_at?: unknown })?.updated_at ?? ''));
        if (!Number.isNaN(updated)) maxSeen = Math.max(maxSeen ?? updated, updated);
        const mapped = mapShopifyOrder(o, this.mapping);
        if (mapped.ok) orders.push(mapped.order);
        else rejects.push({ platformOrderId: mapped.platformOrderId ?? rawOrderId(o), error: mapped.error });
      }
      const next = parseLinkHeader(res.headers.link).get('next');
      if (next === undefined) {
        const w = Math.max(Date.parse(watermark), maxSeen ?? Number.NEGATIVE_INFINITY);
        yield {
          orders,
          rejects,
          nextCursor: encodeCursor({ watermark: new Date(w).toISOString() }),
          caughtUp: true,
        };
        return;
      }
      const pageInfo = this.checkedPageInfo(next);
      yield {
        orders,
        rejects,
        nextCursor: encodeCursor({
          watermark,
          resume: {
            pageInfo,
            until,
            ...(maxSeen === undefined ? {} : { maxSeen: new Date(maxSeen).toISOString() }),
          },
        }),
        caughtUp: false,
      };
      url = next;
    }
    this.deps.log.info(
      { pages: this.config.maxPagesPerPull },
      'shopify pull stopped at its page bound; resumable',
    );
  }

  async fetchOrder(platformOrderId: string): Promise<CanonicalOrder | null> {
    if (!/^\d+$/.test(platformOrderId)) return null;
    try {
      const res = await this.client.rest('GET', `orders/${platformOrderId}.json`);
      const raw = (res.data as { order?: unknown })?.order;
      if (raw === undefined) return null;
      const mapped = mapShopifyOrder(raw, this.mapping);
      if (!mapped.ok) {
        throw new ConnectorConfigError(`Shopify order ${platformOrderId} does not map: ${mapped.error}`, {
          platform: PLATFORM,
          reason: 'order payload does not map to the canonical order',
        });
      }
      return mapped.order;
    } catch (err) {
      if (err instanceof ConnectorError && err.status === 404) return null;
      throw err;
    }
  }

  pushStock: Connector['pushStock'] = (updates) => this.stock.push(updates);
  readStock: NonNullable<Connector['readStock']> = (listings) => this.stock.read(listings);
  confirmShipment: Connector['confirmShipment'] = (s) => confirmShopifyShipment(this.client, s);

  parseWebhook: Connector['parseWebhook'] = (raw) =>
    parseShopifyWebhook(raw, {
      ...this.mapping,
      secrets: [this.config.apiSecret, ...this.config.previousApiSecrets],
      maxBytes: this.config.maxWebhookBytes,
    });

  private firstPageUrl(watermark: string, until: string, overlapMs: number): string {
    const q = new URLSearchParams({
      status: 'any',
      limit: String(this.config.pageSize),
      updated_at_min: shopifyTime(Date.parse(watermark) - overlapMs),
      updated_at_max: until,
    });
    return `${this.client.url('orders.json')}?${q}`;
  }

  private pageInfoUrl(pageInfo: string): string {
    const q = new URLSearchParams({ limit: String(this.config.pageSize), page_info: pageInfo });
    return `${this.client.url('orders.json')}?${q}`;
  }

  /** The `rel="next"` URL must be our own orders.json with a page_info; anything else is refused. */
  private checkedPageInfo(next: string): string {
    let u: URL;
    try {
      u = new URL(next);
    } catch {
      throw this.badLink(next);
    }
    const pageInfo = u.searchParams.get('page_info');
    if (
      u.origin !== this.client.origin ||
      u.pathname !== new URL(this.client.url('orders.json')).pathname ||
      !pageInfo
    ) {
      throw this.badLink(next);
    }
    return pageInfo;
  }

  private badLink(next: string): ConnectorError {
    return new ConnectorConfigError(
      `Shopify rel="next" link is not a page of orders.json: ${next.slice(0, 120)}`,
      {
        platform: PLATFORM,
        reason: 'unexpected pagination link',
      },
    );
  }
}
