/**
 * The Douyin Doudian connector: assembles the signed client, the windowed forward pull, detail
 * reads, stock push and read, shipments and push-message hints behind the {@link Connector}
 * contract.
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
import { DoudianClient, PLATFORM } from './client.js';
import { DOUYIN_LIMITS, type DouyinConfig } from './config.js';
import { mapDoudianOrder, rawOrderId } from './mapping.js';
import { decodeCursor, encodeCursor, floorSecond, type PullCursor, pageCount } from './pagination.js';
import { confirmDoudianShipment } from './shipment.js';
import { doudianReadRequests, doudianStockBatchKey, pushDoudianStock, readDoudianStock } from './stock.js';
import { parseDoudianPush } from './webhook.js';

const DAY_MS = 86_400_000;
/** Smallest window a busy window is halved to. */
const MIN_WINDOW_MS = 60_000;
/** Extra full re-reads of a window whose `total` dropped while it was paged (see pagination.ts). */
const MAX_RESCANS = 2;

export const createDouyinConnector: ConnectorFactory<DouyinConfig> = (config, deps) =>
  new DouyinConnector(config, deps);

interface ListPage {
  orders: Record<string, unknown>[];
  total: number;
}

class DouyinConnector implements Connector {
  readonly limits: RateLimitSpec = DOUYIN_LIMITS;
  get pullLagMs(): number {
    return this.config.lagMs;
  }
  get pullOverlapMs(): number {
    return this.config.overlapMs;
  }
  private readonly client: DoudianClient;

  constructor(
    private readonly config: DouyinConfig,
    private readonly deps: ConnectorDeps,
  ) {
    this.client = new DoudianClient(config, deps);
  }

  async checkConnection(): Promise<CheckResult> {
    try {
      const end = Math.floor(this.deps.clock.now().getTime() / 1000);
      await this.client.call('order.searchList', {
        update_time_start: end - 60,
        update_time_end: end,
        order_by: 'update_time',
        order_asc: true,
        page: 0,
        size: 1,
      });
      return {
        ok: true,
        info: { shopId: this.config.shopId, gateway: new URL(this.config.gatewayUrl).host },
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
    const now = floorSecond(this.deps.clock.now().getTime() - this.config.lagMs);
    let state: PullCursor;
    if (cursor === null) {
      state = { watermark: new Date(now - this.config.initialLookbackDays * DAY_MS).toISOString() };
    } else {
      const decoded = decodeCursor(cursor);
      if (!decoded) {
        throw new ConnectorConfigError(`unreadable Douyin cursor ${JSON.stringify(cursor.slice(0, 80))}`, {
          platform: PLATFORM,
          reason: 'stored cursor is not a Douyin pull cursor',
        });
      }
      state = decoded;
    }
    let watermark = Date.parse(state.watermark);
    const seen = new Set<string>();
    const windowMs = this.config.windowMinutes * 60_000;
    const size = this.config.pageSize;
    let budget = this.config.maxPagesPerPull;
    let yielded = 0;
    let start = floorSecond(watermark - overlapMs);
    const held = () => encodeCursor({ watermark: new Date(watermark).toISOString() });

    // One turn per window; every request spends budget, every inner loop is bounded.
    for (let turn = 0; budget > 0 && start < now && turn < 100_000; turn++) {
      if (options.signal?.aborted) return;
      let end = Math.min(start + windowMs, now);
      let res = await this.list(start, end, 0);
      budget--;
      for (
        let i = 0;
        i < 20 &&
        budget > 0 &&
        pageCount(res.total, size) > this.config.maxPagesPerWindow &&
        end - start > MIN_WINDOW_MS;
        i++
      ) {
        end = floorSecond(start + Math.max(MIN_WINDOW_MS, (end - start) / 2));
        res = await this.list(start, end, 0);
        budget--;
      }
      const finalWindow = end >= now;
      let done = false;
      for (let pass = 0; pass <= MAX_RESCANS && !done; pass++) {
        const firstTotal = res.total;
        const pages = pageCount(firstTotal, size) + 2;
        for (let page = 0; page < pages; page++) {
          const mapped = await this.mapPage(res.orders, seen);
          const lastPage = res.orders.length < size || (page + 1) * size >= res.total;
          if (lastPage && (res.total >= firstTotal || pass === MAX_RESCANS)) {
            watermark = Math.max(watermark, end);
            done = true;
            yielded++;
            yield { ...mapped, nextCursor: held(), caughtUp: finalWindow };
            break;
          }
          yielded++;
          yield { ...mapped, nextCursor: held(), caughtUp: false };
          if (budget <= 0 || options.signal?.aborted) return this.stopped(yielded);
          // Next page, or (total dropped: orders moved towards page 0) the window again from page 0.
          res = await this.list(start, end, lastPage ? 0 : page + 1);
          budget--;
          if (lastPage) break;
        }
      }
      if (!done) return this.stopped(yielded);
      start = end;
    }
    if (yielded === 0) {
      yield { orders: [], rejects: [], nextCursor: held(), caughtUp: true };
      return;
    }
    if (start < now) this.stopped(yielded);
  }

  private stopped(pages: number): void {
    this.deps.log.info(
      { pages, limit: this.config.maxPagesPerPull },
      'douyin pull stopped at its page bound; resumable',
    );
  }

  private async list(start: number, end: number, page: number): Promise<ListPage> {
    const data = await this.client.call('order.searchList', {
      update_time_start: Math.floor(start / 1000),
      update_time_end: Math.floor(end / 1000),
      order_by: 'update_time',
      order_asc: true,
      page,
      size: this.config.pageSize,
    });
    const list = data.shop_order_list;
    if (list !== undefined && list !== null && !Array.isArray(list)) {
      throw new ConnectorConfigError('order.searchList answered without a shop_order_list array', {
        platform: PLATFORM,
        reason: 'unexpected response shape',
      });
    }
    const total = Number(data.total ?? 0);
    return { orders: (list ?? []) as Record<string, unknown>[], total: Number.isFinite(total) ? total : 0 };
  }

  /** Maps listed shop orders, reading the detail of any listed without its SKU orders; skips versions already yielded. */
  private async mapPage(
    listed: Record<string, unknown>[],
    seen: Set<string>,
  ): Promise<{ orders: CanonicalOrder[]; rejects: OrderReject[] }> {
    const orders: CanonicalOrder[] = [];
    const rejects: OrderReject[] = [];
    for (let o of listed) {
      const id = rawOrderId(o);
      const key = `${id}@${String(o.update_time ?? '')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (!Array.isArray(o.sku_order_list) && /^\d{1,20}$/.test(id)) {
        const full = await this.readDetail(id);
        if (full === null) {
          rejects.push({ platformOrderId: id, error: 'listed order is unknown to order.orderDetail' });
          continue;
        }
        o = full;
      }
      const mapped = mapDoudianOrder(o, { shopId: this.config.shopId });
      if (mapped.ok) orders.push(mapped.order);
      else rejects.push({ platformOrderId: mapped.platformOrderId, error: mapped.error });
    }
    return { orders, rejects };
  }

  /** `order.orderDetail`; null when Doudian does not know the order. */
  private async readDetail(orderId: string): Promise<Record<string, unknown> | null> {
    try {
      const data = await this.client.call('order.orderDetail', { shop_order_id: orderId });
      const d = data.shop_order_detail;
      return typeof d === 'object' && d !== null ? (d as Record<string, unknown>) : null;
    } catch (err) {
      if (err instanceof ConnectorError && /order-not-(exist|found)/.test(err.code ?? '')) return null;
      throw err;
    }
  }

  async fetchOrder(platformOrderId: string): Promise<CanonicalOrder | null> {
    if (!/^\d{1,20}$/.test(platformOrderId)) return null;
    const full = await this.readDetail(platformOrderId);
    if (full === null) return null;
    const mapped = mapDoudianOrder(full, { shopId: this.config.shopId });
    if (!mapped.ok) {
      throw new ConnectorConfigError(`Douyin order ${platformOrderId} does not map: ${mapped.error}`, {
        platform: PLATFORM,
        reason: 'order payload does not map to the canonical order',
      });
    }
    return mapped.order;
  }

  pushStock: Connector['pushStock'] = (updates) => pushDoudianStock(this.client, updates);
  stockBatchKey: NonNullable<Connector['stockBatchKey']> = doudianStockBatchKey;
  readStockRequests: NonNullable<Connector['readStockRequests']> = doudianReadRequests;
  readStock: NonNullable<Connector['readStock']> = (listings) => readDoudianStock(this.client, listings);
  confirmShipment: Connector['confirmShipment'] = (s) => confirmDoudianShipment(this.client, s);

  parseWebhook: Connector['parseWebhook'] = (raw) =>
    parseDoudianPush(raw, {
      appKey: this.config.appKey,
      appSecret: this.config.appSecret,
      maxBytes: this.config.maxWebhookBytes,
    });
}
