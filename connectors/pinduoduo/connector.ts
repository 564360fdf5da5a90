/**
 * The Pinduoduo connector: assembles the PDD client, the windowed backward pull, order reads,
 * stock, shipments and relayed PMC hints behind the {@link Connector} contract.
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
import { isOrderNotFound, ORDER_SN_RE, PddClient, PLATFORM } from './client.js';
import { MAX_LOOKBACK_DAYS, PINDUODUO_LIMITS, type PinduoduoConfig } from './config.js';
import { mapPddOrder, rawOrderSn } from './mapping.js';
import { decodeCursor, encodeCursor, floorSecond, type PullCursor, pageCount } from './pagination.js';
import { confirmPddShipment } from './shipment.js';
import { PddStockPusher } from './stock.js';
import { unixSeconds } from './time.js';
import { parsePddRelay } from './webhook.js';

const DAY_MS = 86_400_000;
/** Smallest window a busy window is halved to. */
const MIN_WINDOW_MS = 60_000;
export const createPinduoduoConnector: ConnectorFactory<PinduoduoConfig> = (config, deps) =>
  new PinduoduoConnector(config, deps);

interface ListPage {
  orders: Record<string, unknown>[];
  total: number;
}

class PinduoduoConnector implements Connector {
  readonly limits: RateLimitSpec = PINDUODUO_LIMITS;
  get pullLagMs(): number {
    return this.config.lagMs;
  }
  get pullOverlapMs(): number {
    return this.config.overlapMs;
  }
  private readonly client: PddClient;
  private readonly stock: PddStockPusher;

  constructor(
    private readonly config: PinduoduoConfig,
    private readonly deps: ConnectorDeps,
  ) {
    this.client = new PddClient(config, deps);
    this.stock = new PddStockPusher(this.client);
  }

  async checkConnection(): Promise<CheckResult> {
    try {
      const end = floorSecond(this.deps.clock.now().getTime() - this.config.lagMs);
      // A cheap authenticated call on the API the pull needs: one minute, one row.
      await this.client.call('pdd.order.number.list.increment.get', {
        start_updated_at: unixSeconds(end - 60_000),
        end_updated_at: unixSeconds(end),
        is_lucky_flag: 0,
        order_status: 5,
        refund_status: 5,
        page: 1,
        page_size: 1,
      });
      return {
        ok: true,
        info: { mallId: this.config.mallId, gateway: new URL(this.config.gatewayUrl).host },
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
    const oldest = now - MAX_LOOKBACK_DAYS * DAY_MS + 3600_000;
    let state: PullCursor;
    if (cursor === null) {
      state = { watermark: new Date(now - this.config.initialLookbackDays * DAY_MS).toISOString() };
    } else {
      const decoded = decodeCursor(cursor);
      if (!decoded) {
        throw new ConnectorConfigError(`unreadable Pinduoduo cursor ${JSON.stringify(cursor.slice(0, 80))}`, {
          platform: PLATFORM,
          reason: 'stored cursor is not a Pinduoduo pull cursor',
        });
      }
      state = decoded;
    }
    const watermark = Date.parse(state.watermark);
    const seen = new Set<string>();
    const windowMs = this.config.windowMinutes * 60_000;
    let budget = this.config.maxPagesPerPull;
    let yielded = 0;

    let start: number;
    let resume: { end: number; page: number } | undefined;
    if (state.resume) {
      start = Date.parse(state.resume.start);
      resume = { end: Date.parse(state.resume.end), page: state.resume.page };
    } else {
      start = Math.max(floorSecond(watermark - overlapMs), oldest);
    }

    // Each turn reads one window (or re-plans it smaller); every turn spends at least one request.
    while (budget > 0 && (resume !== undefined || start < now)) {
      if (options.signal?.aborted) return;
      let end: number;
      let page: number;
      let probe: ListPage | undefined;
      if (resume) {
        end = resume.end;
        page = resume.page;
        resume = undefined;
      } else {
        end = Math.min(start + windowMs, now);
        probe = await this.list(start, end, 1);
        budget--;
        // Too busy for one window: halve it and probe again (at least a minute, at most 20
        // halvings, each spending budget).
        for (
          let i = 0;
          i < 20 &&
          budget > 0 &&
          pageCount(probe.total, this.config.pageSize) > this.config.maxPagesPerWindow &&
          end - start > MIN_WINDOW_MS;
          i++
        ) {
          end = floorSecond(start + Math.max(MIN_WINDOW_MS, (end - start) / 2));
          probe = await this.list(start, end, 1);
          budget--;
        }
        page = pageCount(probe.total, this.config.pageSize);
      }
      const finalWindow = end >= now;
      const windowDone = () => encodeCursor({ watermark: new Date(Math.max(end, watermark)).toISOString() });

      if (probe && page <= 1) {
        yielded++;
        yield { ...this.mapPage(probe.orders, seen), nextCursor: windowDone(), caughtUp: finalWindow };
        start = end;
        continue;
      }
      // Backwards from the last page to page 1 (notes §4.2).
      for (; page >= 1; page--) {
        if (budget <= 0) return this.stopped(yielded);
        if (options.signal?.aborted) return;
        const res = await this.list(start, end, page);
        budget--;
        const last = page === 1;
        yielded++;
        yield {
          ...this.mapPage(res.orders, seen),
          nextCursor: last
            ? windowDone()
            : encodeCursor({
                watermark: new Date(Math.max(start, watermark)).toISOString(),
                resume: {
                  start: new Date(start).toISOString(),
                  end: new Date(end).toISOString(),
                  page: page - 1,
                },
              }),
          caughtUp: last && finalWindow,
        };
      }
      start = end;
    }
    if (yielded === 0) {
      // Nothing to read (the clock has not moved past the watermark): caught up, cursor kept.
      yield { orders: [], rejects: [], nextCursor: encodeCursor(state), caughtUp: true };
      return;
    }
    if (start < now) this.stopped(yielded);
  }

  private stopped(pages: number): void {
    this.deps.log.info(
      { pages, limit: this.config.maxPagesPerPull },
      'pinduoduo pull stopped at its page bound; resumable',
    );
  }

  private async list(start: number, end: number, page: number): Promise<ListPage> {
    const res = await this.client.call('pdd.order.number.list.increment.get', {
      start_updated_at: unixSeconds(start),
      end_updated_at: unixSeconds(end),
      is_lucky_flag: 0,
      order_status: 5,
      refund_status: 5,
      page,
      page_size: this.config.pageSize,
    });
    const orders = res.order_sn_list;
    if (orders !== undefined && orders !== null && !Array.isArray(orders)) {
      throw new ConnectorConfigError(
        'PDD order.number.list.increment.get answered without an order_sn_list array',
        {
          platform: PLATFORM,
          reason: 'unexpected response shape',
        },
      );
    }
    const total = Number(res.total_count ?? 0);
    return {
      orders: (orders ?? []) as Record<string, unknown>[],
      total: Number.isFinite(total) && total >= 0 ? total : 0,
    };
  }

  /**
   * Maps the listed orders (the increment API returns full orders: no detail read needed) and
   * skips versions already yielded in this pull.
   */
  private mapPage(
    listed: Record<string, unknown>[],
    seen: Set<string>,
  ): { orders: CanonicalOrder[]; rejects: OrderReject[] } {
    const orders: CanonicalOrder[] = [];
    const rejects: OrderReject[] = [];
    for (const o of listed) {
      const key = `${rawOrderSn(o)}@${String(o.updated_at ?? '')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const mapped = mapPddOrder(o, { shopId: this.config.mallId });
      if (mapped.ok) orders.push(mapped.order);
      else rejects.push({ platformOrderId: mapped.platformOrderId, error: mapped.error });
    }
    return { orders, rejects };
  }

  async fetchOrder(platformOrderId: string): Promise<CanonicalOrder | null> {
    if (!ORDER_SN_RE.test(platformOrderId)) return null;
    let info: unknown;
    try {
      const res = await this.client.call('pdd.order.information.get', { order_sn: platformOrderId });
      info = res.order_info;
    } catch (err) {
      if (isOrderNotFound(err)) return null;
      throw err;
    }
    if (info === undefined || info === null) return null;
    const mapped = mapPddOrder(info, { shopId: this.config.mallId });
    if (!mapped.ok) {
      throw new ConnectorConfigError(`PDD order ${platformOrderId} does not map: ${mapped.error}`, {
        platform: PLATFORM,
        reason: 'order payload does not map to the canonical order',
      });
    }
    return mapped.order;
  }

  pushStock: Connector['pushStock'] = (updates) => this.stock.push(updates);

  readStock: NonNullable<Connector['readStock']> = (listings) => this.stock.read(listings);

  confirmShipment: Connector['confirmShipment'] = (s) => confirmPddShipment(this.client, this.config, s);

  parseWebhook: Connector['parseWebhook'] = (raw) =>
    parsePddRelay(raw, {
      secrets: [this.config.relaySecret, ...this.config.previousRelaySecrets],
      maxSkewMs: this.config.relayMaxSkewMs,
      maxBytes: this.config.maxWebhookBytes,
      clock: this.deps.clock,
    });
}
