/**
 * A local PDD gateway for the demo, the tests and the benchmark: an in-memory Pinduoduo shop
 * behind `POST /api/router` with PDD's common parameters, MD5 signature check, timestamp skew,
 * the 30-minute window and page rules, `error_response` shapes and a call-frequency throttle, as
 * far as the public docs (notes §4) describe them.
 *
 * Written from the documentation only and sharing no code with the connector: its own signature
 * check, GMT+8 time formatting, JSON writing (money as bare DOUBLE yuan, ids as bare LONG numbers,
 * as PDD does) and relay signing, so a mistake on either side shows up as a failing test. Node
 * built-ins only.
 *
 * Served APIs: `pdd.order.number.list.increment.get` (window <= 30 min, last 90 days, `page` /
 * `page_size` <= 100, updated-descending order, full orders), `pdd.order.information.get`,
 * `pdd.goods.quantity.update` (`update_type` 1 absolute / 2 relative, never below 0),
 * `pdd.goods.detail.get` (the goods with its `sku_list` and current quantities),
 * `pdd.logistics.online.send`. Orders carry 店铺券 (`seller_discount`), 平台补贴
 * (`platform_discount`), occasional 团长免单 and 改价, postage, `gift_list` gifts, unformed groups,
 * cancellations (refunded before shipping) and after-sales. PMC messages are POSTed to
 * `webhookUrl` with stockd's relay signature (see the README).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { FaultKind, FaultSpec } from '../contract.js';
import {
  checkSellQuantity,
  closeSandbox,
  createSandboxServer,
  FaultInjector,
  giveBack,
  listenOn,
  mulberry32,
  postDeliveryOrThrow,
  readBody,
  type TakenUnits,
  TokenBucket,
  takeUnits,
} from '../testing/sandbox-kit.js';

export interface PddSandboxOptions {
  /** Port; 0 (default) picks a free one. */
  port?: number;
  /** Interface; default 127.0.0.1. */
  host?: string;
  clientId?: string;
  clientSecret?: string;
  /** The only access_token accepted. */
  accessToken?: string;
  mallId?: string;
  /** Key of the relay HMAC on delivered PMC messages. */
  relaySecret?: string;
  /** Seed of the generator; default 1. */
  seed?: number;
  /** Goods with 3 SKUs each; default 4 (plus one gift goods). */
  items?: number;
  /** Starting quantity of every SKU; default 100. */
  initialQuantity?: number;
  /** Calls allowed in a burst and refilled per second; default 20 and 5. Beyond: error 70031. */
  throttle?: { capacity: number; refillPerSecond: number };
  /** Generated orders are updated up to this long before "now"; default 6 hours. */
  spreadMs?: number;
  /** ... and at least this long before "now" (PDD's indexing lag); default 5 minutes. */
  freshMs?: number;
  /** Where PMC messages are POSTed; unset = none. */
  webhookUrl?: string;
  /** Clock in epoch ms; default `Date.now`. */
  now?: () => number;
}

export interface StockPushRecord {
  goodsId: string;
  skuId: string;
  /** The quantity after the update. */
  quantity: number;
  updateType: number;
  at: number;
}

interface Sku {
  skuId: string;
  outerId: string;
  spec: string;
  priceFen: number;
}
interface Goods {
  goodsId: string;
  outerGoodsId: string;
  name: string;
  skus: Sku[];
}
interface LineRec {
  goods: Goods;
  sku: Sku;
  priceFen: number;
  count: number;
}
interface OrderRec {
  orderSn: string;
  createdMs: number;
  updatedMs: number;
  confirmMs: number;
  shippingMs?: number;
  orderStatus: number;
  confirmStatus: number;
  groupStatus: number;
  refundStatus: number;
  afterSalesStatus: number;
  lines: LineRec[];
  gifts: LineRec[];
  adjustFen: number;
  sellerFen: number;
  platformFen: number;
  capitalFreeFen: number;
  postageFen: number;
  shipments: string[];
  /** Units taken from the SKUs (gifts included), given back when the order is cancelled. */
  taken: TakenUnits;
}

class PddFault extends Error {
  constructor(
    readonly code: number,
    readonly msg: string,
    readonly subMsg?: string,
  ) {
    super(msg);
  }
}

const SKEW_MS = 10 * 60_000;
const WINDOW_S = 30 * 60;
const DAY_MS = 86_400_000;
const APIS = new Set([
  'pdd.order.number.list.increment.get',
  'pdd.order.information.get',
  'pdd.goods.quantity.update',
  'pdd.goods.detail.get',
  'pdd.logistics.online.send',
]);
/** The sandbox's own copy of PDD's wrapper keys (not derivable from the API name). */
const WRAPPERS: Record<string, string> = {
  'pdd.order.number.list.increment.get': 'order_sn_increment_get_response',
  'pdd.order.information.get': 'order_info_get_response',
  'pdd.goods.quantity.update': 'goods_quantity_update_response',
  'pdd.goods.detail.get': 'goods_detail_get_response',
  'pdd.logistics.online.send': 'logistics_online_send_response',
};

export class PddSandbox {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly accessToken: string;
  readonly mallId: string;
  readonly relaySecret: string;
  /** Every stock update accepted, in order. */
  readonly pushes: StockPushRecord[] = [];
  /** Every API call served: type, parameters (without sign/access_token), error code if any. */
  readonly calls: { type: string; params: Record<string, string>; code?: number }[] = [];
  /** Every PMC message delivered: topic, order, message id, HTTP status of the receiver. */
  readonly deliveries: { topic: string; orderSn: string; id: string; status: number }[] = [];
  readonly goods: Goods[] = [];
  giftGoods!: Goods;

  private readonly opts: Required<Omit<PddSandboxOptions, 'webhookUrl'>> & { webhookUrl?: string };
  private readonly orders = new Map<string, OrderRec>();
  private readonly stock = new Map<string, number>();
  private readonly inflight = new Set<http.ClientRequest>();
  private server: http.Server | undefined;
  private baseUrl: string | undefined;
  private readonly rng: () => number;
  private serial = 100_000_000_000_001n;
  private messageId = 9_000_000_001n;
  private readonly bucket: TokenBucket;
  private readonly faultInjector: FaultInjector;

  constructor(options: PddSandboxOptions = {}) {
    this.opts = {
      port: options.port ?? 0,
      host: options.host ?? '127.0.0.1',
      clientId: options.clientId ?? 'a1b2c3d4e5f60718293a4b5c6d7e8f90',
      clientSecret: options.clientSecret ?? 'sandbox0client0secret0123456789abcdef0123',
      accessToken: options.accessToken ?? 'sandbox-access-token-5f3c2a',
      mallId: options.mallId ?? '880011',
      relaySecret: options.relaySecret ?? 'sandbox-pmc-relay-secret-0123',
      seed: options.seed ?? 1,
      items: options.items ?? 4,
      initialQuantity: options.initialQuantity ?? 100,
      throttle: options.throttle ?? { capacity: 20, refillPerSecond: 5 },
      spreadMs: options.spreadMs ?? 6 * 3600_000,
      freshMs: options.freshMs ?? 5 * 60_000,
      now: options.now ?? Date.now,
      ...(options.webhookUrl ? { webhookUrl: options.webhookUrl } : {}),
    };
    this.clientId = this.opts.clientId;
    this.clientSecret = this.opts.clientSecret;
    this.accessToken = this.opts.accessToken;
    this.mallId = this.opts.mallId;
    this.relaySecret = this.opts.relaySecret;
    this.rng = mulberry32(this.opts.seed);
    this.bucket = new TokenBucket(this.opts.throttle.capacity);
    this.faultInjector = new FaultInjector(this.opts.seed, {
      isApi: (req) => new URL(req.url ?? '/', 'http://sandbox').pathname === '/api/router',
      throttled: () => ({
        body: writePdd({
          error_response: {
            error_code: 70031,
            error_msg: '调用过于频繁，请调整调用频率',
            sub_code: '70031',
            sub_msg: '调用过于频繁，请调整调用频率',
            request_id: 'sandbox-fault',
          },
        }),
      }),
    });
    this.buildCatalog();
  }

  get url(): string {
    if (!this.baseUrl) throw new Error('sandbox not started');
    return this.baseUrl;
  }

  /** The gateway URL (`…/api/router`). */
  get gatewayUrl(): string {
    return `${this.url}/api/router`;
  }

  async start(): Promise<string> {
    if (this.server) return this.url;
    const server = createSandboxServer((req, res) => this.handle(req, res), { faults: this.faultInjector });
    this.server = server;
    this.baseUrl = await listenOn(server, this.opts.port, this.opts.host);
    this.bucket.resetClock(this.opts.now());
    return this.baseUrl;
  }

  /** Stops the server and every delivery in flight. Idempotent. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.faultInjector.release();
    await closeSandbox(server, this.inflight);
  }

  /** Starts injecting faults into the gateway's requests (null stops); see {@link FaultInjector}. */
  faults(spec: FaultSpec | null): void {
    this.faultInjector.set(spec);
  }

  /** Faults injected so far, per kind. */
  faultCounts(): Record<FaultKind, number> {
    return this.faultInjector.faultCounts();
  }

  // -- shop state -------------------------------------------------------------------------------

  /** Every SKU as `goods_id:sku_id` and its quantity. */
  listings(): { listingId: string; quantity: number }[] {
    return [...this.stock].map(([listingId, quantity]) => ({ listingId, quantity }));
  }

  setQuantity(listingId: string, quantity: number): void {
    if (!this.stock.has(listingId)) throw new Error(`unknown listing ${listingId}`);
    this.stock.set(listingId, quantity);
  }

  orderSns(): string[] {
    return [...this.orders.keys()];
  }

  /** The order as the APIs return it (JSON text with bare numbers). */
  orderJson(orderSn: string): string | undefined {
    const o = this.orders.get(orderSn);
    return o ? writePdd(this.orderView(o)) : undefined;
  }

  trackingNumbers(orderSn: string): string[] {
    return [...(this.orders.get(orderSn)?.shipments ?? [])];
  }

  /**
   * Creates up to `count` orders with the usual mix of promotions, gifts and states. Each takes
   * its units (gifts included) from the SKUs; a line a SKU cannot fill is left out and an order
   * left without lines is not placed. Orders cancelled before shipping give their units back.
   */
  generateOrders(count: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      const o = this.createOrder();
      if (o) out.push(o.orderSn);
    }
    return out;
  }

  /** The quantity of one SKU (`goods_id:sku_id`), or undefined for an unknown one. */
  quantity(listingId: string): number | undefined {
    return this.stock.get(listingId);
  }

  /**
   * A buyer's paid, grouped order awaiting shipment of `quantity` units of one SKU
   * (`goods_id:sku_id`) at list price, created now: takes the units. Throws, placing nothing, for
   * an unknown listing or one holding fewer units.
   */
  sell(listingId: string, quantity: number): string {
    checkSellQuantity(quantity);
    const [goodsId, skuId] = listingId.split(':');
    const goods = [...this.goods, this.giftGoods].find((g) => g.goodsId === goodsId);
    const sku = goods?.skus.find((x) => x.skuId === skuId);
    const have = this.stock.get(listingId);
    if (!goods || !sku || have === undefined) throw new Error(`unknown listing ${listingId}`);
    const taken: TakenUnits = [];
    if (!takeUnits(this.stock, taken, listingId, quantity)) {
      throw new Error(`cannot sell ${quantity} of ${listingId}: only ${have} in stock`);
    }
    const now = Math.floor(this.opts.now() / 1000) * 1000;
    const o: OrderRec = {
      orderSn: this.nextOrderSn(now),
      createdMs: now,
      updatedMs: now,
      confirmMs: now,
      orderStatus: 1,
      confirmStatus: 1,
      groupStatus: 1,
      refundStatus: 1,
      afterSalesStatus: 0,
      lines: [{ goods, sku, priceFen: sku.priceFen, count: quantity }],
      gifts: [],
      adjustFen: 0,
      sellerFen: 0,
      platformFen: 0,
      capitalFreeFen: 0,
      postageFen: 0,
      shipments: [],
      taken,
    };
    this.orders.set(o.orderSn, o);
    return o.orderSn;
  }

  /**
   * Cancels an order before shipment as PDD does: refunded in full (退款成功; an unformed group
   * fails: 团失败), updated now; its units go back. Throws for an unknown, cancelled or shipped
   * order.
   */
  cancel(orderSn: string): void {
    const o = this.orders.get(orderSn);
    if (!o) throw new Error(`no order ${orderSn}`);
    if (this.cancelled(o)) throw new Error(`order ${orderSn} is already cancelled`);
    if (o.orderStatus !== 1) throw new Error(`order ${orderSn} has shipped and cannot be cancelled`);
    if (o.confirmStatus === 0) {
      o.confirmStatus = 2;
      o.groupStatus = 2;
    } else o.afterSalesStatus = 10;
    o.refundStatus = 4;
    o.updatedMs = Math.floor(this.opts.now() / 1000) * 1000;
    this.settle(o);
  }

  /** Marks an order updated now (optionally with a new order_status), e.g. to test a later pull. */
  touch(orderSn: string, orderStatus?: number): void {
    const o = this.orders.get(orderSn);
    if (!o) throw new Error(`no order ${orderSn}`);
    if (orderStatus !== undefined) o.orderStatus = orderStatus;
    o.updatedMs = Math.floor(this.opts.now() / 1000) * 1000;
    this.settle(o);
  }

  /** Cancelled: the group failed or was cancelled, or refunded in full before shipping. */
  private cancelled(o: OrderRec): boolean {
    return o.confirmStatus === 2 || o.groupStatus === 2 || (o.orderStatus === 1 && o.refundStatus === 4);
  }

  /** PDD puts a cancelled order's units back. */
  private settle(o: OrderRec): void {
    if (this.cancelled(o)) giveBack(this.stock, o.taken);
  }

  /** `yyMMdd-<serial>`, the date at GMT+8. */
  private nextOrderSn(createdMs: number): string {
    const d = new Date(createdMs + 8 * 3600_000);
    const ymd = `${String(d.getUTCFullYear()).slice(2)}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}`;
    return `${ymd}-${this.serial++}`;
  }

  // -- PMC messages -----------------------------------------------------------------------------

  /** One relayed PMC frame about `orderSn` (body + headers), signed with the relay secret (or `secret`). */
  messageFor(
    topic: string,
    orderSn: string,
    secret = this.relaySecret,
  ): { body: Buffer; headers: Record<string, string>; id: string } {
    const id = String(this.messageId++);
    const nowMs = this.opts.now();
    const content = JSON.stringify({ tid: orderSn, mall_id: Number(this.mallId) });
    const body = Buffer.from(
      `{"id":${id},"commandType":"Common","time":${nowMs},"sendTime":${nowMs},` +
        `"message":{"type":${JSON.stringify(topic)},"mallID":${this.mallId},"content":${JSON.stringify(content)}}}`,
      'utf8',
    );
    const ts = String(Math.floor(nowMs / 1000));
    const sig = createHmac('sha256', secret).update(`${ts}\n`).update(body).digest('hex').toUpperCase();
    return {
      body,
      id,
      headers: {
        'content-type': 'application/json',
        'x-pdd-relay-signature': sig,
        'x-pdd-relay-timestamp': ts,
      },
    };
  }

  /** POSTs one PMC message about `orderSn` to `webhookUrl` (one attempt); returns the HTTP status. */
  async deliverMessage(topic: string, orderSn: string): Promise<number> {
    const target = this.opts.webhookUrl;
    if (!target) throw new Error('no webhookUrl configured');
    const m = this.messageFor(topic, orderSn);
    const status = await postDeliveryOrThrow(target, m.headers, m.body, this.inflight);
    this.deliveries.push({ topic, orderSn, id: m.id, status });
    return status;
  }

  // -- HTTP -------------------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    if (url.pathname !== '/api/router' || req.method !== 'POST') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const body = (await readBody(req, 1024 * 1024)).toString('utf8');
    const params: Record<string, string> = {};
    for (const [k, v] of url.searchParams) params[k] = v;
    if (/json/i.test(String(req.headers['content-type'] ?? ''))) {
      const j = JSON.parse(body || '{}') as Record<string, unknown>;
      for (const [k, v] of Object.entries(j))
        params[k] = typeof v === 'object' ? JSON.stringify(v) : String(v);
    } else {
      for (const [k, v] of new URLSearchParams(body)) params[k] = v;
    }
    const type = params.type ?? '';
    const logged = Object.fromEntries(
      Object.entries(params).filter(([k]) => k !== 'sign' && k !== 'access_token'),
    );
    try {
      const payload = this.dispatch(params);
      this.calls.push({ type, params: logged });
      this.reply(res, { [WRAPPERS[type]!]: { ...payload, request_id: this.requestId() } });
    } catch (err) {
      if (!(err instanceof PddFault)) throw err;
      this.calls.push({ type, params: logged, code: err.code });
      this.reply(res, {
        error_response: {
          error_code: err.code,
          error_msg: err.msg,
          sub_code: String(err.code),
          sub_msg: err.subMsg ?? err.msg,
          request_id: this.requestId(),
        },
      });
    }
  }

  private reply(res: http.ServerResponse, payload: unknown): void {
    res.writeHead(200, { 'content-type': 'application/json;charset=UTF-8' }).end(writePdd(payload));
  }

  private requestId(): string {
    return `${Math.floor(this.opts.now() / 1000)}${Math.floor(this.rng() * 1e9)}`;
  }

  private dispatch(p: Record<string, string>): Record<string, unknown> {
    if (!p.type) throw new PddFault(10000, '参数错误', 'type 不能为空');
    if (!p.client_id || p.client_id !== this.clientId) throw new PddFault(20005, 'client_id不存在');
    const ts = p.timestamp === undefined ? Number.NaN : Number(p.timestamp);
    if (!/^\d{10}$/.test(p.timestamp ?? '') || Math.abs(ts * 1000 - this.opts.now()) > SKEW_MS) {
      throw new PddFault(10001, '时间戳已过期或格式错误', 'timestamp must be UNIX seconds within 10 minutes');
    }
    if (p.data_type !== undefined && p.data_type !== 'JSON' && p.data_type !== 'XML') {
      throw new PddFault(10000, '参数错误', 'data_type must be JSON or XML');
    }
    if (!p.sign || !this.signatureOk(p)) throw new PddFault(20004, '签名验证失败');
    this.throttle();
    if (!APIS.has(p.type)) throw new PddFault(20031, '接口不存在或未授权');
    if (p.access_token !== this.accessToken) throw new PddFault(10019, 'access_token已过期');
    switch (p.type) {
      case 'pdd.order.number.list.increment.get':
        return this.incrementGet(p);
      case 'pdd.order.information.get':
        return { order_info: this.orderView(this.orderOf(p.order_sn)) };
      case 'pdd.goods.quantity.update':
        return this.quantityUpdate(p);
      case 'pdd.goods.detail.get':
        return this.goodsDetail(p);
      default:
        return this.onlineSend(p);
    }
  }

  /** The sandbox's own reading of notes §4.1: MD5(secret + sorted k+v + secret), uppercase hex. */
  private signatureOk(p: Record<string, string>): boolean {
    const keys = Object.keys(p).filter((k) => k !== 'sign');
    keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    let text = this.clientSecret;
    for (const k of keys) text += k + p[k];
    text += this.clientSecret;
    const expected = createHash('md5').update(Buffer.from(text, 'utf8')).digest();
    const given = p.sign ?? '';
    if (!/^[0-9A-F]{32}$/.test(given)) return false;
    return timingSafeEqual(Buffer.from(given, 'hex'), expected);
  }

  private throttle(): void {
    const now = this.opts.now();
    const t = this.opts.throttle;
    if (!this.bucket.take(now, t)) throw new PddFault(70031, '调用过于频繁，请调整调用频率');
  }

  private int(p: Record<string, string>, name: string, required: boolean, fallback?: number): number {
    const v = p[name];
    if (v === undefined || v === '') {
      if (required) throw new PddFault(10000, '参数错误', `${name} 不能为空`);
      return fallback ?? 0;
    }
    if (!/^-?\d{1,19}$/.test(v)) throw new PddFault(10000, '参数错误', `${name} 不是整数`);
    return Number(v);
  }

  private incrementGet(p: Record<string, string>): Record<string, unknown> {
    const start = this.int(p, 'start_updated_at', true);
    const end = this.int(p, 'end_updated_at', true);
    if (end < start) throw new PddFault(50001, '业务服务错误', '结束时间不能早于开始时间');
    if (end - start > WINDOW_S) throw new PddFault(50001, '业务服务错误', '时间跨度不能超过30分钟');
    if (start * 1000 < this.opts.now() - 90 * DAY_MS)
      throw new PddFault(50001, '业务服务错误', '只能查询三个月内的订单');
    const page = this.int(p, 'page', false, 1);
    const pageSize = this.int(p, 'page_size', false, 100);
    if (page < 1) throw new PddFault(10000, '参数错误', 'page 从 1 开始');
    if (pageSize < 1 || pageSize > 100) throw new PddFault(10000, '参数错误', 'page_size 最大 100');
    const orderStatus = this.int(p, 'order_status', false, 5);
    const refundStatus = this.int(p, 'refund_status', false, 5);
    const matching = [...this.orders.values()]
      .filter((o) => o.updatedMs >= start * 1000 && o.updatedMs <= end * 1000)
      .filter((o) => orderStatus === 5 || o.orderStatus === orderStatus)
      .filter((o) => refundStatus === 5 || o.refundStatus === refundStatus)
      .sort((a, b) => b.updatedMs - a.updatedMs || (a.orderSn < b.orderSn ? -1 : 1));
    const slice = matching.slice((page - 1) * pageSize, page * pageSize);
    const out: Record<string, unknown> = { order_sn_list: slice.map((o) => this.orderView(o)) };
    if (p.use_has_next === 'true') out.has_next = page * pageSize < matching.length;
    else out.total_count = matching.length;
    return out;
  }

  private orderOf(orderSn: string | undefined): OrderRec {
    if (!orderSn) throw new PddFault(10000, '参数错误', 'order_sn 不能为空');
    const o = this.orders.get(orderSn);
    if (!o) throw new PddFault(50001, '业务服务错误', '订单不存在');
    return o;
  }

  private quantityUpdate(p: Record<string, string>): Record<string, unknown> {
    const goodsId = String(this.int(p, 'goods_id', true));
    const skuId = p.sku_id ? String(this.int(p, 'sku_id', true)) : undefined;
    const quantity = this.int(p, 'quantity', true);
    const updateType = this.int(p, 'update_type', false, 1);
    if (!skuId) throw new PddFault(10000, '参数错误', 'sku_id 与 outer_id 不能同时为空');
    const key = `${goodsId}:${skuId}`;
    const have = this.stock.get(key);
    if (have === undefined) throw new PddFault(52101, '商品不存在', `sku ${skuId} 不属于商品 ${goodsId}`);
    let next: number;
    if (updateType === 1) next = quantity;
    else if (updateType === 2) next = have + quantity;
    else throw new PddFault(10000, '参数错误', 'update_type 只能为 1 或 2');
    if (next < 0) throw new PddFault(50001, '业务服务错误', '库存不能小于0');
    this.stock.set(key, next);
    this.pushes.push({ goodsId, skuId, quantity: next, updateType, at: this.opts.now() });
    return { is_success: true };
  }

  /**
   * The goods fields a stock read needs, named and typed as in the SDK types of
   * `goods_detail_get_response` (group price in fen, ids bare): `status` 1 on sale / 3 sold out.
   */
  private goodsDetail(p: Record<string, string>): Record<string, unknown> {
    const goodsId = String(this.int(p, 'goods_id', true));
    const g = [...this.goods, this.giftGoods].find((x) => x.goodsId === goodsId);
    if (!g) throw new PddFault(52101, '商品不存在', `商品 ${goodsId} 不存在`);
    const skus = g.skus.map((sku) => ({ sku, quantity: this.stock.get(`${goodsId}:${sku.skuId}`) ?? 0 }));
    return {
      goods_id: new Bare(goodsId),
      goods_name: g.name,
      outer_goods_id: g.outerGoodsId,
      status: skus.some((x) => x.quantity > 0) ? 1 : 3,
      sku_list: skus.map(({ sku, quantity }) => ({
        sku_id: new Bare(sku.skuId),
        out_sku_sn: sku.outerId,
        spec: [{ parent_name: '规格', spec_name: sku.spec }],
        is_onsale: 1,
        multi_price: sku.priceFen,
        quantity,
        reserve_quantity: 0,
      })),
    };
  }

  private onlineSend(p: Record<string, string>): Record<string, unknown> {
    const o = this.orderOf(p.order_sn);
    this.int(p, 'logistics_id', true);
    const tracking = p.tracking_number;
    if (!tracking) throw new PddFault(10000, '参数错误', 'tracking_number 不能为空');
    if (o.orderStatus !== 1 || o.confirmStatus !== 1 || o.refundStatus !== 1) {
      throw new PddFault(50001, '业务服务错误', '订单状态不允许发货');
    }
    o.orderStatus = 2;
    o.shipments.push(tracking);
    o.shippingMs = this.opts.now();
    o.updatedMs = Math.floor(this.opts.now() / 1000) * 1000;
    return { is_success: true };
  }

  // -- payloads ---------------------------------------------------------------------------------

  private goodsFen(o: OrderRec): number {
    return o.lines.reduce((s, l) => s + l.priceFen * l.count, 0) - o.adjustFen;
  }

  private orderView(o: OrderRec): Record<string, unknown> {
    const goods = this.goodsFen(o);
    const discount = o.sellerFen + o.platformFen + o.capitalFreeFen;
    const item = (l: LineRec, price: boolean) => ({
      goods_id: new Bare(l.goods.goodsId),
      sku_id: new Bare(l.sku.skuId),
      outer_id: l.sku.outerId,
      outer_goods_id: l.goods.outerGoodsId,
      goods_name: l.goods.name,
      goods_spec: l.sku.spec,
      ...(price ? { goods_price: new Bare(yuan(l.priceFen)) } : {}),
      goods_count: l.count,
      goods_img: 'https://img.pddpic.com/sandbox.jpeg',
    });
    return {
      order_sn: o.orderSn,
      order_status: o.orderStatus,
      confirm_status: o.confirmStatus,
      group_status: o.groupStatus,
      refund_status: o.refundStatus,
      after_sales_status: o.afterSalesStatus,
      trade_type: 0,
      is_lucky_flag: 1,
      created_time: gmt8(o.createdMs),
      confirm_time: o.confirmStatus === 1 ? gmt8(o.confirmMs) : '',
      shipping_time: o.shippingMs ? gmt8(o.shippingMs) : '',
      updated_at: gmt8(o.updatedMs),
      goods_amount: new Bare(yuan(goods)),
      discount_amount: new Bare(yuan(discount)),
      seller_discount: new Bare(yuan(o.sellerFen)),
      platform_discount: new Bare(yuan(o.platformFen)),
      capital_free_discount: new Bare(yuan(o.capitalFreeFen)),
      postage: new Bare(yuan(o.postageFen)),
      pay_amount: new Bare(yuan(goods + o.postageFen - discount)),
      item_list: o.lines.map((l) => item(l, true)),
      gift_list: o.gifts.map((l) => item(l, false)),
      tracking_number: o.shipments.at(-1) ?? '',
    };
  }

  // -- generator --------------------------------------------------------------------------------

  private buildCatalog(): void {
    const names = ['夏季纯棉T恤', '加厚保温杯', '无线蓝牙耳机', '家用抽纸整箱', '儿童益智积木', '不锈钢炒锅'];
    for (let i = 0; i < this.opts.items; i++) {
      const goodsId = String(612_000_000_001 + i * 7919);
      const base = 990 + Math.floor(this.rng() * 60) * 100;
      const g: Goods = { goodsId, outerGoodsId: `SPU-${i + 1}`, name: names[i % names.length]!, skus: [] };
      for (let j = 0; j < 3; j++) {
        const sku: Sku = {
          skuId: String(1_234_500_000_000 + i * 100 + j),
          outerId: `SKU-${i + 1}-${j + 1}`,
          spec: ['红色 M', '蓝色 L', '黑色 XL'][j]!,
          priceFen: base + j * 200 + (this.rng() < 0.3 ? 90 : 0),
        };
        g.skus.push(sku);
        this.stock.set(`${goodsId}:${sku.skuId}`, this.opts.initialQuantity);
      }
      this.goods.push(g);
    }
    this.giftGoods = {
      goodsId: '612999000001',
      outerGoodsId: 'GIFT-1',
      name: '赠品 收纳袋',
      skus: [{ skuId: '1234599999901', outerId: 'GIFT-1-1', spec: '默认', priceFen: 0 }],
    };
    this.stock.set(`${this.giftGoods.goodsId}:${this.giftGoods.skus[0]!.skuId}`, this.opts.initialQuantity);
  }

  private pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.rng() * list.length)]!;
  }

  /**
   * A generated order, or undefined when the buyer finds nothing to buy: only SKUs in stock are
   * shown, and a line asking for more than its SKU holds is left out.
   */
  private createOrder(): OrderRec | undefined {
    const inStock = (g: Goods, s: Sku) => (this.stock.get(`${g.goodsId}:${s.skuId}`) ?? 0) > 0;
    const shown = this.goods.filter((g) => g.skus.some((s) => inStock(g, s)));
    if (shown.length === 0) return undefined;
    const now = this.opts.now();
    const { spreadMs, freshMs } = this.opts;
    const updatedMs = Math.floor((now - freshMs - this.rng() * (spreadMs - freshMs)) / 1000) * 1000;
    const createdMs = updatedMs - Math.floor(this.rng() * 3600) * 1000;
    const orderSn = this.nextOrderSn(createdMs);
    const taken: TakenUnits = [];
    const lines: LineRec[] = [];
    const nLines = this.rng() < 0.75 ? 1 : 2;
    for (let i = 0; i < nLines; i++) {
      const goods = this.pick(shown);
      const skus = goods.skus.filter((s) => inStock(goods, s) && !lines.some((l) => l.sku === s));
      if (skus.length === 0) continue;
      const sku = this.pick(skus);
      const count = 1 + Math.floor(this.rng() * 3);
      if (takeUnits(this.stock, taken, `${goods.goodsId}:${sku.skuId}`, count)) {
        lines.push({ goods, sku, priceFen: sku.priceFen, count });
      }
    }
    if (lines.length === 0) return undefined;
    const list = lines.reduce((s, l) => s + l.priceFen * l.count, 0);
    const o: OrderRec = {
      orderSn,
      createdMs,
      updatedMs,
      confirmMs: createdMs + 30_000,
      orderStatus: 1,
      confirmStatus: 1,
      groupStatus: 1,
      refundStatus: 1,
      afterSalesStatus: 0,
      lines,
      gifts: [],
      adjustFen: this.rng() < 0.05 ? Math.min(200, Math.floor(list / 10)) : 0,
      sellerFen: this.rng() < 0.4 ? this.pick([300, 500, 1000]) : 0,
      platformFen: this.rng() < 0.3 ? this.pick([100, 250, 400]) : 0,
      capitalFreeFen: 0,
      postageFen: this.rng() < 0.1 ? 500 : 0,
      shipments: [],
      taken,
    };
    if (this.rng() < 0.03) o.capitalFreeFen = Math.min(500, list - o.adjustFen - o.sellerFen - o.platformFen);
    // Keep every discount below the goods amount (PDD never makes a paid order negative).
    const room = list - o.adjustFen;
    if (o.sellerFen + o.platformFen + o.capitalFreeFen >= room) {
      o.sellerFen = 0;
      o.platformFen = 0;
      o.capitalFreeFen = 0;
    }
    const gift = this.giftGoods.skus[0]!;
    if (this.rng() < 0.15 && takeUnits(this.stock, taken, `${this.giftGoods.goodsId}:${gift.skuId}`, 1)) {
      o.gifts.push({ goods: this.giftGoods, sku: gift, priceFen: 0, count: 1 });
    }
    const roll = this.rng();
    if (roll < 0.45) {
      // paid, awaiting shipment
    } else if (roll < 0.5) {
      o.confirmStatus = 0; // 拼团中: paid, group not formed yet
      o.groupStatus = 0;
    } else if (roll < 0.57) {
      o.refundStatus = 4; // refunded before shipping: cancelled
      o.afterSalesStatus = 10;
    } else if (roll < 0.6) {
      o.confirmStatus = 2; // 团失败 / cancelled
      o.groupStatus = 2;
      o.refundStatus = 4;
    } else if (roll < 0.8) {
      o.orderStatus = 2;
      o.shippingMs = createdMs + 3600_000;
      o.shipments.push(`YT${this.serial}`);
    } else if (roll < 0.85) {
      o.orderStatus = 2; // after-sales: return and refund in progress
      o.refundStatus = 2;
      o.afterSalesStatus = 3;
      o.shipments.push(`ZTO${this.serial}`);
    } else if (roll < 0.97) {
      o.orderStatus = 3;
      o.shipments.push(`SF${this.serial}`);
    } else {
      o.orderStatus = 3; // refunded after receipt
      o.refundStatus = 4;
      o.afterSalesStatus = 10;
    }
    this.orders.set(orderSn, o);
    this.settle(o);
    return o;
  }
}

/** A value written into the JSON bare (a number PDD sends unquoted). */
class Bare {
  constructor(readonly text: string) {}
}

/** fen -> the yuan number text PDD writes (`19.9`, `5`, `0.01`). */
function yuan(fen: number): string {
  const whole = Math.floor(fen / 100);
  const cents = fen % 100;
  if (cents === 0) return String(whole);
  return `${whole}.${String(cents).padStart(2, '0')}`.replace(/0$/, '');
}

/** epoch ms -> `yyyy-MM-dd HH:mm:ss` in GMT+8. */
function gmt8(ms: number): string {
  const d = new Date(ms + 8 * 3600_000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

/** JSON with {@link Bare} values written unquoted. */
function writePdd(value: unknown): string {
  const marks: string[] = [];
  const text = JSON.stringify(value, (_k, v: unknown) => {
    if (v instanceof Bare) {
      marks.push(v.text);
      return `\u0000bare${marks.length - 1}\u0000`;
    }
    return v;
  });
  return text.replace(/"\\u0000bare(\d+)\\u0000"/g, (_m, i: string) => marks[Number(i)]!);
}
