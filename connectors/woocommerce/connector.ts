/**
 * The WooCommerce connector: client, windowed incremental pull, stock, shipments and webhooks
 * behind the {@link Connector} contract. See pagination.ts for why the pull is shaped as it is.
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
import { PLATFORM, parseWooGmt, WooClient, wooTime } from './client.js';
import { WOO_LIMITS, type WooConfig } from './config.js';
import { type MappingOptions, mapWooOrder, rawOrderId } from './mapping.js';
import { decodeCursor, encodeCursor, type PullCursor, pageFacts } from './pagination.js';
import { confirmWooShipment } from './shipment.js';
import { pushWooStock, readWooStock } from './stock.js';
import { parseWooWebhook } from './webhook.js';

const DAY_MS = 86_400_000;
/** Most refund-detail pages read for one order (100 refunds each). */
const MAX_REFUND_PAGES = 10;

/** The order does not exist (as opposed to a wrong route or store URL, also a 404). */
export function isGone(err: unknown): boolean {
  return (
    err instanceof ConnectorError &&
    (err.code === 'woocommerce_rest_shop_order_invalid_id' || err.status === 410 || err.action === 'ignore')
  );
}

export const createWooConnector: ConnectorFactory<WooConfig> = (config, deps) =>
  new WooConnector(config, deps);

class WooConnector implements Connector {
  readonly limits: RateLimitSpec = WOO_LIMITS;
  get pullLagMs(): number {
    return this.config.lagMs;
  }
  get pullOverlapMs(): number {
    return this.config.overlapMs;
  }
  private readonly client: WooClient;
  private readonly mapping: MappingOptions;

  constructor(
    private readonly config: WooConfig,
    private readonly deps: ConnectorDeps,
  ) {
    this.client = new WooClient(config, deps);
    const u = new URL(config.storeUrl);
    this.mapping = {
      shopId: `${u.host}${u.pathname.replace(/\/+$/, '')}`,
      customStatuses: config.customStatuses,
    };
  }

  /**
   * Reads one order page with `modified_after` set a day in the future: a store that honours
   * the filter answers `X-WP-Total: 0`; an old one (the filter is silently ignored before it
   * existed [U]) lists orders, which would make every incremental pull a full re-read.
   */
  async checkConnection(): Promise<CheckResult> {
    try {
      const future = this.deps.clock.now().getTime() + DAY_MS;
      const res = await this.client.request('GET', 'orders', {
        params: { per_page: 1, modified_after: wooTime(future), dates_are_gmt: true, status: 'any' },
      });
      const listed = Array.isArray(res.data) ? res.data.length : -1;
      if (listed !== 0) {
        return {
          ok: false,
          action: 'config_error',
          error: 'the store ignores modified_after: WooCommerce too old for incremental pulls',
        };
      }
      return {
        ok: true,
        info: { storeUrl: this.config.storeUrl, api: 'wc/v3', shopId: this.mapping.shopId },
      };
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
    const now = Math.floor((this.deps.clock.now().getTime() - this.config.lagMs) / 1000) * 1000;
    let state: PullCursor;
    if (cursor === null) {
      state = { watermark: new Date(now - this.config.initialLookbackDays * DAY_MS).toISOString() };
    } else {
      const decoded = decodeCursor(cursor);
      if (!decoded) {
        throw new ConnectorConfigError(
          `unreadable WooCommerce cursor ${JSON.stringify(cursor.slice(0, 80))}`,
          {
            platform: PLATFORM,
            reason: 'stored cursor is not a WooCommerce pull cursor',
          },
        );
      }
      state = decoded;
    }

    let watermark = Date.parse(state.watermark);
    let from: number;
    let to: number;
    let until: number;
    let page: number;
    let expectedTotal: number | undefined;
    if (state.resume) {
      from = Date.parse(state.resume.from);
      to = Date.parse(state.resume.to);
      until = Date.parse(state.resume.until);
      page = state.resume.page;
      expectedTotal = state.resume.total;
    } else {
      from = Math.max(0, watermark - overlapMs);
      // A clock that jumped backwards: never ask for a window that ends before it starts.
      until = Math.max(now, from);
      to = Math.min(from + this.config.windowMs, until);
      page = 1;
    }
    if (to <= from) {
      yield {
        orders: [],
        rejects: [],
        nextCursor: encodeCursor({ watermark: new Date(watermark).toISOString() }),
        caughtUp: true,
      };
      return;
    }

    let restarts = 0;
    const seen = new Map<string, string>();
    for (let budget = 0; budget < this.config.maxPagesPerPull; budget++) {
      if (options.signal?.aborted) return;
      const res = await this.client.request('GET', 'orders', {
        params: {
          modified_after: wooTime(from),
          modified_before: wooTime(to),
          dates_are_gmt: true,
          orderby: 'id',
          order: 'asc',
          status: 'any',
          per_page: this.config.pageSize,
          page,
        },
      });
      if (!Array.isArray(res.data)) {
        throw new ConnectorConfigError('WooCommerce GET orders answered without an array', {
          platform: PLATFORM,
          reason: 'unexpected response shape',
          status: res.status,
        });
      }
      const facts = pageFacts(res.headers, page);
      if (
        expectedTotal !== undefined &&
        facts.total !== undefined &&
        facts.total < expectedTotal &&
        page > 1
      ) {
        // An order left the window while we paged: later pages shifted. Re-read the window.
        if (restarts >= this.config.maxWindowRestarts) {
          this.deps.log.warn(
            { from: wooTime(from), to: wooTime(to) },
            'woocommerce window keeps shrinking; stopping',
          );
          return;
        }
        restarts++;
        this.deps.log.info(
          { from: wooTime(from), to: wooTime(to), was: expectedTotal, now: facts.total },
          'woocommerce window shrank; re-reading it',
        );
        page = 1;
        expectedTotal = undefined;
        continue;
      }
      if (facts.total !== undefined) expectedTotal = facts.total;

      const orders: CanonicalOrder[] = [];
      const rejects: OrderReject[] = [];
      for (const raw of res.data) {
        const oid = rawOrderId(raw);
        const modified = String((raw as { date_modified_gmt?: unknown })?.date_modified_gmt ?? '');
        const m = parseWooGmt(modified);
        if (!Number.isNaN(m) && (m < from - 1000 || m > to + 1000)) {
          throw new ConnectorConfigError(
            `WooCommerce returned order ${oid} modified ${modified} outside ${wooTime(from)}..${wooTime(to)}`,
            {
              platform: PLATFORM,
              reason: 'the store ignores modified_after/modified_before (WooCommerce too old?)',
            },
          );
        }
        if (seen.get(oid) === modified) continue;
        seen.set(oid, modified);
        const refunds = (raw as { refunds?: unknown })?.refunds;
        const details =
          Array.isArray(refunds) && refunds.length > 0 ? await this.refundDetails(oid) : undefined;
        const mapped = mapWooOrder(raw, this.mapping, details);
        if (mapped.ok) orders.push(mapped.order);
        else if (mapped.ignored) this.deps.log.debug({ orderId: oid }, mapped.error);
        else rejects.push({ platformOrderId: mapped.platformOrderId, error: mapped.error });
      }

      if (facts.hasNext && res.data.length > 0) {
        page++;
        yield {
          orders,
          rejects,
          nextCursor: encodeCursor({
            watermark: new Date(watermark).toISOString(),
            resume: {
              from: new Date(from).toISOString(),
              to: new Date(to).toISOString(),
              until: new Date(until).toISOString(),
              page,
              total: expectedTotal ?? 0,
            },
          }),
          caughtUp: false,
        };
        continue;
      }
      // The window is fully read: the watermark may move to its end.
      watermark = Math.max(watermark, to);
      const done = to >= until;
      if (!done) {
        from = to;
        to = Math.min(from + this.config.windowMs, until);
        page = 1;
        expectedTotal = undefined;
        restarts = 0;
        seen.clear();
      }
      yield {
        orders,
        rejects,
        nextCursor: encodeCursor(
          done
            ? { watermark: new Date(watermark).toISOString() }
            : {
                watermark: new Date(watermark).toISOString(),
                resume: {
                  from: new Date(from).toISOString(),
                  to: new Date(to).toISOString(),
                  until: new Date(until).toISOString(),
                  page: 1,
                  total: 0,
                },
              },
        ),
        caughtUp: done,
      };
      if (done) return;
    }
    this.deps.log.info(
      { pages: this.config.maxPagesPerPull },
      'woocommerce pull stopped at its page bound; resumable',
    );
  }

  async fetchOrder(platformOrderId: string): Promise<CanonicalOrder | null> {
    if (!/^\d{1,19}$/.test(platformOrderId)) return null;
    let raw: unknown;
    try {
      raw = (await this.client.request('GET', `orders/${platformOrderId}`)).data;
    } catch (err) {
      if (isGone(err)) return null;
      throw err;
    }
    const refunds = (raw as { refunds?: unknown })?.refunds;
    const details =
      Array.isArray(refunds) && refunds.length > 0 ? await this.refundDetails(platformOrderId) : undefined;
    const mapped = mapWooOrder(raw, this.mapping, details);
    if (mapped.ok) return mapped.order;
    if (mapped.ignored) return null;
    throw new ConnectorConfigError(`WooCommerce order ${platformOrderId} does not map: ${mapped.error}`, {
      platform: PLATFORM,
      reason: 'order payload does not map to the canonical order',
    });
  }

  pushStock: Connector['pushStock'] = (updates) =>
    pushWooStock(this.client, updates, this.limits.maxStockBatch);
  readStock: NonNullable<Connector['readStock']> = (listings) => readWooStock(this.client, listings);
  confirmShipment: Connector['confirmShipment'] = (s) =>
    confirmWooShipment(this.client, this.config, this.deps.clock.now(), s);
  parseWebhook: Connector['parseWebhook'] = (raw) =>
    parseWooWebhook(raw, {
      ...this.mapping,
      secrets: [this.config.webhookSecret, ...this.config.previousWebhookSecrets],
      maxBytes: this.config.maxWebhookBytes,
    });

  /** `GET orders/{id}/refunds`, every page (bounded). */
  private async refundDetails(orderId: string): Promise<unknown[]> {
    const all: unknown[] = [];
    for (let page = 1; page <= MAX_REFUND_PAGES; page++) {
      const res = await this.client.request('GET', `orders/${orderId}/refunds`, {
        params: { per_page: 100, page },
      });
      if (!Array.isArray(res.data)) break;
      all.push(...res.data);
      if (!pageFacts(res.headers, page).hasNext || res.data.length === 0) break;
    }
    return all;
  }
}
