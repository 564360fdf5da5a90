/**
 * The JD connector: assembles the JOS client, the windowed forward pull with its re-scan rule,
 * detail reads where the list is partial, stock, shipments and relayed message hints behind the
 * {@link Connector} contract.
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
import { type ApiResult, JdClient, PLATFORM } from './client.js';
import { JD_LIMITS, type JdConfig, MAX_LOOKBACK_DAYS } from './config.js';
import { mapJdOrder, ORDER_STATES, rawOrderId } from './mapping.js';
import { decodeCursor, encodeCursor, floorSecond, type PullCursor, pageCount } from './pagination.js';
import { confirmJdShipment } from './shipment.js';
import { pushJdStock, readJdStock } from './stock.js';
import { formatJdTime } from './time.js';
import { parseJdRelay } from './webhook.js';

const DAY_MS = 86_400_000;
/** Everything the mapping reads; `optional_fields` is required by the search (notes §6.2 [S]). */
export const ORDER_FIELDS = [
  'orderId',
  'venderId',
  'orderState',
  'orderStateRemark',
  'orderStartTime',
  'modified',
  'paymentConfirmTime',
  'orderTotalPrice',
  'orderSellerPrice',
  'orderPayment',
  'freightPrice',
  'sellerDiscount',
  'itemInfoList',
  'couponDetailList',
].join(',');
/** Smallest window a busy window is halved to. */
const MIN_WINDOW_MS = 60_000;
export const SEARCH = 'jingdong.pop.order.search';
export const GET = 'jingdong.pop.order.get';

export const createJdConnector: ConnectorFactory<JdConfig> = (config, deps) => new JdConnector(config, deps);

interface ListPage {
  orders: Record<string, unknown>[];
  total: number;
}

class JdConnector implements Connector {
  readonly limits: RateLimitSpec = JD_LIMITS;
  get pullLagMs(): number {
    return this.config.lagMs;
  }
  get pullOverlapMs(): number {
    return this.config.overlapMs;
  }
  private readonly client: JdClient;

  constructor(
    private readonly config: JdConfig,
    private readonly deps: ConnectorDeps,
  ) {
    this.client = new JdClient(config, deps);
  }

  async checkConnection(): Promise<CheckResult> {
    try {
      const end = floorSecond(this.deps.clock.now().getTime());
      // A cheap authenticated call on the API the pull needs: one minute, one row.
      await this.search(end - 60_000, end, 1, 1, 'orderId');
      return {
        ok: true,
        info: { venderId: this.config.venderId, gateway: new URL(this.config.gatewayUrl).host },
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
    const oldest = now - MAX_LOOKBACK_DAYS * DAY_MS;
    let state: PullCursor;
    if (cursor === null) {
      state = { watermark: new Date(now - this.config.initialLookbackDays * DAY_MS).toISOString() };
    } else {
      const decoded = decodeCursor(cursor);
      if (!decoded) {
        throw new ConnectorConfigError(`unreadable JD cursor ${JSON.stringify(cursor.slice(0, 80))}`, {
          platform: PLATFORM,
          reason: 'stored cursor is not a JD pull cursor',
        });
      }
      state = decoded;
    }
    const watermark = Date.parse(state.watermark);
    const seen = new Set<string>();
    const windowMs = this.config.windowMinutes * 60_000;
    const size = this.config.pageSize;
    let budget = this.config.maxPagesPerPull;
    let yielded = 0;

    let start: number;
    let resume: { end: number; page: number; total: number } | undefined;
    if (state.resume) {
      start = Date.parse(state.resume.start);
      resume = { end: Date.parse(state.resume.end), page: state.resume.page, total: state.resume.total };
    } else {
      start = Math.max(floorSecond(watermark - overlapMs), oldest);
    }

    // Each turn reads one window; every request spends budget, so the loop is bounded.
    while (budget > 0 && (resume !== undefined || start < now)) {
      if (options.signal?.aborted) return;
      let end: number;
      let page: number;
      let total: number;
      let first: ListPage | undefined;
      if (resume) {
        ({ end, page, total } = resume);
        resume = undefined;
      } else {
        end = Math.min(start + windowMs, now);
        first = await this.list(start, end, 1);
        budget--;
        // Too busy: halve the window and read page 1 again (at least a minute, at most 20 times).
        for (
          let i = 0;
          i < 20 &&
          budget > 0 &&
          pageCount(first.total, size) > this.config.maxPagesPerWindow &&
          end - start > MIN_WINDOW_MS;
          i++
        ) {
          end = floorSecond(start + Math.max(MIN_WINDOW_MS, (end - start) / 2));
          first = await this.list(start, end, 1);
          budget--;
        }
        page = 1;
        total = first.total;
      }
      const finalWindow = end >= now;
      const iso = (ms: number) => new Date(ms).toISOString();
      const windowDone = () => encodeCursor({ watermark: iso(Math.max(end, watermark)) });
      const resumeAt = (p: number, t: number) =>
        encodeCursor({
          watermark: iso(Math.max(start, watermark)),
          resume: { start: iso(start), end: iso(end), page: p, total: t },
        });

      let rescans = 0;
      let done = false;
      // Forwards from `page`. Every turn after the first spends budget, so the budget bounds it.
      for (let turn = 0; turn <= this.config.maxPagesPerPull; turn++) {
        if (options.signal?.aborted) return;
        let res: ListPage;
        if (first) {
          res = first;
          first = undefined;
        } else {
          if (budget <= 0) return this.stopped(yielded);
          res = await this.list(start, end, page);
          budget--;
        }
        const mapped = await this.mapPage(res.orders, seen);
        if (res.total !== total && rescans < this.config.maxRescansPerWindow) {
          // The window changed under us: an order left (or joined) it. Read it again from page 1.
          rescans++;
          this.deps.log.info(
            { start: iso(start), end: iso(end), was: total, now: res.total },
            'jd window changed; re-scan',
          );
          total = res.total;
          page = 1;
          yielded++;
          yield { ...mapped, nextCursor: resumeAt(1, total), caughtUp: false };
          continue;
        }
        if (res.total !== total) {
          // Out of re-scans (a very busy window): read up to the larger count and say so; an order
          // that slipped past is read again on its next change or by a pull from an older cursor.
          this.deps.log.warn(
            { start: iso(start), end: iso(end), was: total, now: res.total },
            'jd window kept changing',
          );
          total = Math.max(total, res.total);
        }
        const last = page >= pageCount(total, size) || res.orders.length === 0;
        yielded++;
        yield {
          ...mapped,
          nextCursor: last ? windowDone() : resumeAt(page + 1, total),
          caughtUp: last && finalWindow,
        };
        if (last) {
          done = true;
          break;
        }
        page++;
      }
      // The cursor of the last page yielded resumes this window where it stopped.
      if (!done) return this.stopped(yielded);
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
      'jd pull stopped at its page bound; resumable',
    );
  }

  private async search(
    start: number,
    end: number,
    page: number,
    pageSize: number,
    fields: string,
  ): Promise<ListPage> {
    const res = await this.client.call(SEARCH, {
      start_date: formatJdTime(start),
      end_date: formatJdTime(end),
      order_state: ORDER_STATES.join(','),
      optional_fields: fields,
      page,
      page_size: pageSize,
      dateType: 0,
    });
    const result = res.searchorderinfo_result as
      | { apiResult?: ApiResult; orderTotal?: unknown; orderInfoList?: unknown }
      | undefined;
    if (!result || typeof result !== 'object') {
      throw new ConnectorConfigError('JOS order search answered without searchorderinfo_result', {
        platform: PLATFORM,
        reason: 'unexpected response shape',
      });
    }
    this.client.checkApiResult(SEARCH, result.apiResult);
    const list = result.orderInfoList ?? [];
    const total = Number(result.orderTotal ?? 0);
    if (!Array.isArray(list) || !Number.isInteger(total) || total < 0) {
      throw new ConnectorConfigError('JOS order search answered without an order list or total', {
        platform: PLATFORM,
        reason: 'unexpected response shape',
      });
    }
    return { orders: list as Record<string, unknown>[], total };
  }

  private list(start: number, end: number, page: number): Promise<ListPage> {
    return this.search(start, end, page, this.config.pageSize, ORDER_FIELDS);
  }

  /** Maps a listed page; reads the detail of an entry the list gave partially; skips versions already yielded. */
  private async mapPage(
    listed: Record<string, unknown>[],
    seen: Set<string>,
  ): Promise<{ orders: CanonicalOrder[]; rejects: OrderReject[] }> {
    const orders: CanonicalOrder[] = [];
    const rejects: OrderReject[] = [];
    for (const entry of listed) {
      const id = rawOrderId(entry);
      const key = `${id}@${String(entry.modified ?? '')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (!/^\d{1,20}$/.test(id)) {
        rejects.push({ platformOrderId: id, error: 'listed order without a numeric orderId' });
        continue;
      }
      let full: unknown = entry;
      if (
        !Array.isArray(entry.itemInfoList) ||
        entry.itemInfoList.length === 0 ||
        entry.orderPayment === undefined
      ) {
        full = await this.readOrder(id);
        if (full === null) {
          rejects.push({ platformOrderId: id, error: 'listed order is unknown to pop.order.get' });
          continue;
        }
      }
      const mapped = mapJdOrder(full, { shopId: this.config.venderId });
      if (mapped.ok) orders.push(mapped.order);
      else rejects.push({ platformOrderId: mapped.platformOrderId, error: mapped.error });
    }
    return { orders, rejects };
  }

  /** `jingdong.pop.order.get`; null when JD does not know the order. */
  private async readOrder(orderId: string): Promise<Record<string, unknown> | null> {
    const res = await this.client.call(GET, { order_id: orderId, optional_fields: ORDER_FIELDS });
    const detail = res.orderDetailInfo as { apiResult?: ApiResult; orderInfo?: unknown } | undefined;
    if (!detail || typeof detail !== 'object') return null;
    this.client.checkApiResult(GET, detail.apiResult);
    const info = detail.orderInfo;
    return info && typeof info === 'object' ? (info as Record<string, unknown>) : null;
  }

  async fetchOrder(platformOrderId: string): Promise<CanonicalOrder | null> {
    if (!/^\d{1,20}$/.test(platformOrderId)) return null;
    const full = await this.readOrder(platformOrderId);
    if (full === null) return null;
    const mapped = mapJdOrder(full, { shopId: this.config.venderId });
    if (!mapped.ok) {
      throw new ConnectorConfigError(`JD order ${platformOrderId} does not map: ${mapped.error}`, {
        platform: PLATFORM,
        reason: 'order payload does not map to the canonical order',
      });
    }
    return mapped.order;
  }

  pushStock: Connector['pushStock'] = (updates) => pushJdStock(this.client, updates);
  readStock: NonNullable<Connector['readStock']> = (listings) => readJdStock(this.client, listings);
  confirmShipment: Connector['confirmShipment'] = (s) => confirmJdShipment(this.client, s);

  parseWebhook: Connector['parseWebhook'] = (raw) =>
    parseJdRelay(raw, {
      secrets: [this.config.relaySecret, ...this.config.previousRelaySecrets],
      maxSkewMs: this.config.relayMaxSkewMs,
      maxBytes: this.config.maxWebhookBytes,
      clock: this.deps.clock,
    });
}
