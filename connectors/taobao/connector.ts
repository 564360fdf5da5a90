/**
 * The Taobao/Tmall connector: assembles the TOP client, the windowed backward pull, detail and
 * refund reads, stock, shipments and relayed TMC hints behind the {@link Connector} contract.
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
import { PLATFORM, TopClient } from './client.js';
import { MAX_LOOKBACK_DAYS, TAOBAO_LIMITS, type TaobaoConfig } from './config.js';
import { mapTaobaoTrade, rawTradeId, refundIdsOf, type TopRefund, topRefundSchema } from './mapping.js';
import { decodeCursor, encodeCursor, floorSecond, type PullCursor, pageCount } from './pagination.js';
import { confirmTaobaoShipment } from './shipment.js';
import { TaobaoStockPusher, taobaoReadRequests, taobaoStockBatchKey } from './stock.js';
import { formatTopTime } from './time.js';
import { parseTaobaoRelay } from './webhook.js';

const DAY_MS = 86_400_000;
/** The list is partial (notes §3.3): only what the pull needs to page and de-duplicate. */
export const LIST_FIELDS = 'tid,status,modified';
/** Everything the mapping reads, from `taobao.trade.fullinfo.get`. */
export const FULLINFO_FIELDS =
  'tid,tid_str,status,created,modified,pay_time,consign_time,payment,post_fee,total_fee,discount_fee,adjust_fee,seller_nick,promotion_details,orders';
export const REFUND_FIELDS = 'refund_id,tid,oid,status,refund_fee,has_good_return,good_status,num,modified';
/** Smallest window a busy window is halved to. */
const MIN_WINDOW_MS = 60_000;

export const createTaobaoConnector: ConnectorFactory<TaobaoConfig> = (config, deps) =>
  new TaobaoConnector(config, deps);

interface ListPage {
  trades: Record<string, unknown>[];
  total?: number;
  hasNext?: boolean;
}

class TaobaoConnector implements Connector {
  readonly limits: RateLimitSpec = TAOBAO_LIMITS;
  get pullLagMs(): number {
    return this.config.lagMs;
  }
  get pullOverlapMs(): number {
    return this.config.overlapMs;
  }
  private readonly client: TopClient;
  private readonly stock: TaobaoStockPusher;

  constructor(
    private readonly config: TaobaoConfig,
    private readonly deps: ConnectorDeps,
  ) {
    this.client = new TopClient(config, deps);
    this.stock = new TaobaoStockPusher(this.client);
  }

  async checkConnection(): Promise<CheckResult> {
    try {
      const end = floorSecond(this.deps.clock.now().getTime());
      // A cheap authenticated call on the API the pull needs: one minute, one row, has_next only.
      await this.client.call('taobao.trades.sold.increment.get', {
        fields: 'tid',
        start_modified: formatTopTime(end - 60_000),
        end_modified: formatTopTime(end),
        page_no: 1,
        page_size: 1,
        use_has_next: 'true',
      });
      return {
        ok: true,
        info: {
          sellerNick: this.config.sellerNick,
          signMethod: this.config.signMethod,
          gateway: new URL(this.config.gatewayUrl).host,
        },
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
        throw new ConnectorConfigError(`unreadable Taobao cursor ${JSON.stringify(cursor.slice(0, 80))}`, {
          platform: PLATFORM,
          reason: 'stored cursor is not a Taobao pull cursor',
        });
      }
      state = decoded;
    }
    const watermark = Date.parse(state.watermark);
    const seen = new Set<string>();
    let budget = this.config.maxPagesPerPull;
    let yielded = 0;
    const windowMs = this.config.windowMinutes * 60_000;
    // Requests made since the last page was yielded (each page reports its own).
    const count = { n: 0 };
    const spent = () => {
      const n = count.n;
      count.n = 0;
      return n;
    };

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
        probe = await this.list(start, end, 1, count);
        budget--;
        // Too busy for one pull's budget: halve the window and probe again (bounded: at least a
        // minute, at most 20 halvings, each spending budget).
        for (
          let i = 0;
          i < 20 &&
          budget > 0 &&
          pageCount(probe.total ?? 0, this.config.pageSize) > this.config.maxPagesPerWindow &&
          end - start > MIN_WINDOW_MS;
          i++
        ) {
          end = floorSecond(start + Math.max(MIN_WINDOW_MS, (end - start) / 2));
          probe = await this.list(start, end, 1, count);
          budget--;
        }
        page = pageCount(probe.total ?? 0, this.config.pageSize);
      }
      const finalWindow = end >= now;
      const windowDone = () => encodeCursor({ watermark: new Date(Math.max(end, watermark)).toISOString() });

      if (probe && page <= 1) {
        // Everything fits on the probe: it is the window's only page.
        const mapped = await this.mapPage(probe.trades, seen, count);
        yielded++;
        yield { ...mapped, nextCursor: windowDone(), caughtUp: finalWindow, requests: spent() };
        start = end;
        continue;
      }
      // Backwards from the last page to page 1 (notes §3.3).
      for (; page >= 1; page--) {
        if (budget <= 0) return this.stopped(yielded);
        if (options.signal?.aborted) return;
        const res = await this.list(start, end, page, count);
        budget--;
        const mapped = await this.mapPage(res.trades, seen, count);
        const last = page === 1;
        yielded++;
        yield {
          ...mapped,
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
          requests: spent(),
        };
      }
      start = end;
    }
    if (yielded === 0) {
      // Nothing to read (the clock has not moved past the watermark): report caught up, keep the cursor.
      yield { orders: [], rejects: [], nextCursor: encodeCursor(state), caughtUp: true, requests: spent() };
      return;
    }
    if (start < now) this.stopped(yielded);
  }

  private stopped(pages: number): void {
    this.deps.log.info(
      { pages, limit: this.config.maxPagesPerPull },
      'taobao pull stopped at its page bound; resumable',
    );
  }

  private async list(start: number, end: number, page: number, count: { n: number }): Promise<ListPage> {
    count.n++;
    const res = await this.client.call('taobao.trades.sold.increment.get', {
      fields: LIST_FIELDS,
      start_modified: formatTopTime(start),
      end_modified: formatTopTime(end),
      page_no: page,
      page_size: this.config.pageSize,
    });
    const trades = (res.trades as { trade?: unknown } | undefined)?.trade;
    const total = Number(res.total_results ?? 0);
    if (trades !== undefined && !Array.isArray(trades)) {
      throw new ConnectorConfigError('TOP trades.sold.increment.get answered without a trade array', {
        platform: PLATFORM,
        reason: 'unexpected response shape',
      });
    }
    return {
      trades: (trades ?? []) as Record<string, unknown>[],
      total: Number.isFinite(total) ? total : 0,
      ...(typeof res.has_next === 'boolean' ? { hasNext: res.has_next } : {}),
    };
  }

  /** Reads each listed trade in full (the list is partial) and maps it; skips versions already yielded. */
  private async mapPage(
    listed: Record<string, unknown>[],
    seen: Set<string>,
    count: { n: number },
  ): Promise<{ orders: CanonicalOrder[]; rejects: OrderReject[] }> {
    const orders: CanonicalOrder[] = [];
    const rejects: OrderReject[] = [];
    for (const t of listed) {
      const tid = rawTradeId(t);
      const key = `${tid}@${String(t.modified ?? '')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (!/^\d{1,20}$/.test(tid)) {
        rejects.push({ platformOrderId: tid, error: 'listed trade without a numeric tid' });
        continue;
      }
      const full = await this.readTrade(tid, count);
      if (full === null) {
        rejects.push({ platformOrderId: tid, error: 'listed trade is unknown to trade.fullinfo.get' });
        continue;
      }
      const mapped = mapTaobaoTrade(full.trade, { shopId: this.config.sellerNick, refunds: full.refunds });
      if (mapped.ok) orders.push(mapped.order);
      else rejects.push({ platformOrderId: mapped.platformOrderId, error: mapped.error });
    }
    return { orders, rejects };
  }

  /** `taobao.trade.fullinfo.get` plus `taobao.refund.get` for each refunded sub-order; null if unknown. */
  private async readTrade(
    tid: string,
    count: { n: number } = { n: 0 },
  ): Promise<{ trade: unknown; refunds: Map<string, TopRefund> } | null> {
    let trade: unknown;
    count.n++;
    try {
      const res = await this.client.call('taobao.trade.fullinfo.get', { fields: FULLINFO_FIELDS, tid });
      trade = res.trade;
    } catch (err) {
      if (err instanceof ConnectorError && /\|isv\.trade-not-exist/.test(err.code ?? '')) return null;
      throw err;
    }
    if (trade === undefined || trade === null) return null;
    const refunds = new Map<string, TopRefund>();
    for (const refundId of refundIdsOf(trade)) {
      count.n++;
      const res = await this.client.call('taobao.refund.get', { fields: REFUND_FIELDS, refund_id: refundId });
      const parsed = topRefundSchema.safeParse(res.refund);
      if (parsed.success) refunds.set(parsed.data.refund_id, parsed.data);
    }
    return { trade, refunds };
  }

  async fetchOrder(platformOrderId: string): Promise<CanonicalOrder | null> {
    if (!/^\d{1,20}$/.test(platformOrderId)) return null;
    const full = await this.readTrade(platformOrderId);
    if (full === null) return null;
    const mapped = mapTaobaoTrade(full.trade, { shopId: this.config.sellerNick, refunds: full.refunds });
    if (!mapped.ok) {
      throw new ConnectorConfigError(`Taobao trade ${platformOrderId} does not map: ${mapped.error}`, {
        platform: PLATFORM,
        reason: 'trade payload does not map to the canonical order',
      });
    }
    return mapped.order;
  }

  pushStock: Connector['pushStock'] = (updates) => this.stock.push(updates);
  stockBatchKey: NonNullable<Connector['stockBatchKey']> = taobaoStockBatchKey;
  readStockRequests: NonNullable<Connector['readStockRequests']> = taobaoReadRequests;
  readStock: NonNullable<Connector['readStock']> = (listings) => this.stock.read(listings);
  confirmShipment: Connector['confirmShipment'] = (s) => confirmTaobaoShipment(this.client, s);

  parseWebhook: Connector['parseWebhook'] = (raw) =>
    parseTaobaoRelay(raw, {
      secrets: [this.config.relaySecret, ...this.config.previousRelaySecrets],
      maxSkewMs: this.config.relayMaxSkewMs,
      maxBytes: this.config.maxWebhookBytes,
      clock: this.deps.clock,
    });
}
