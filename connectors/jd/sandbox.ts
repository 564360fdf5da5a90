/**
 * A local JOS gateway for the demo, the tests and the benchmark: an in-memory JD POP shop behind
 * `/routerjson` with JOS's system parameters, MD5 signature check, timestamp tolerance, the
 * `360buy_param_json` business JSON, window and paging rules, error shapes and call-limit
 * throttling, as far as the public material (notes §6) describes them.
 *
 * Written from the documentation only and sharing no code with the connector: its own signature
 * check, GMT+8 time handling, JSON building and relay signing, so a mistake on either side shows
 * up as a failing test. Node built-ins only.
 *
 * Served methods:
 * - `jingdong.pop.order.search`: `start_date`/`end_date` (`yyyy-MM-dd HH:mm:ss`, GMT+8, <= 31
 *   days, inclusive), `order_state` (required, comma list), `optional_fields` (required; only
 *   those fields are returned), `page` from 1, `page_size` 1..100, `dateType` 0 = modified
 *   (default) / 1 = created; paid orders only, ascending by modified then orderId;
 *   `jingdong_pop_order_search_responce.searchorderinfo_result {apiResult, orderTotal, orderInfoList}`;
 * - `jingdong.pop.order.get` (`order_id`, `optional_fields`) -> `orderDetailInfo {apiResult, orderInfo}`
 *   (orderInfo null for an unknown order);
 * - `jingdong.stock.write.updateSkuStock` (`skuId`, `stockNum`, `storeId`) -> `{success: true}`;
 * - `jingdong.stock.read.findSkuStock` (`skuId`) -> `skuStocks: [{skuId, stockNum, storeId?}]`: one
 *   entry, the SKU's current quantity (one per SKU here, no stores), with the `storeId` of the
 *   SKU's last push if it had one; an unknown SKU is the `10100010` refusal of the update;
 * - `jingdong.pop.order.shipment` (`order_id`, `logiCoprId`, `logiNo`) -> `sopjosshipment_result`.
 *
 * Errors: `error_response {code, zh_desc, en_desc}` with the gateway codes of the JOS table (2
 * call limit, 4/5 version, 7/8 timestamp, 9/10 app key, 11/12 signature, 14/15 method, 16/19
 * token); the business codes of the stock and parameter refusals (`10100010`, `10400001`) are
 * invented for the sandbox [U]. Orders carry 单品促销 / 套装 per-SKU coupons, 店铺优惠 and 京东券
 * order-level coupons (empty `skuId`), zero-price gift lines, freight, cancellations and
 * cancel-in-progress (LOCKED) orders. Messages are POSTed to `webhookUrl` with stockd's relay
 * signature (see the README).
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

export interface JdSandboxOptions {
  /** Port; 0 (default) picks a free one. */
  port?: number;
  /** Interface; default 127.0.0.1. */
  host?: string;
  appKey?: string;
  appSecret?: string;
  /** The only access_token accepted. */
  accessToken?: string;
  venderId?: string;
  /** Key of the relay HMAC on delivered messages. */
  relaySecret?: string;
  /** Seed of the generator; default 1. */
  seed?: number;
  /** Wares with 3 SKUs each; default 3 (plus two gift SKUs). */
  wares?: number;
  /** Starting quantity of every SKU; default 100. */
  initialQuantity?: number;
  /** Calls allowed in a burst, and refilled per second; default 30 and 10. Beyond: code 2. */
  throttle?: { capacity: number; refillPerSecond: number };
  /** Generated orders are created up to this long before "now"; default 6 hours. */
  spreadMs?: number;
  /** Where messages are POSTed; unset = none. */
  webhookUrl?: string;
  /** Clock in epoch ms; default `Date.now`. */
  now?: () => number;
}

export interface StockPushRecord {
  skuId: string;
  storeId?: string;
  quantity: number;
  at: number;
}

interface Sku {
  skuId: string;
  wareId: string;
  outerSkuId: string;
  name: string;
  priceFen: number;
}
interface ItemRec {
  sku: Sku;
  priceFen: number;
  num: number;
}
interface CouponRec {
  skuId: string;
  type: string;
  fen: number;
}
interface OrderRec {
  orderId: string;
  state: string;
  createdMs: number;
  modifiedMs: number;
  payMs: number;
  items: ItemRec[];
  coupons: CouponRec[];
  freightFen: number;
  shipments: string[];
  /** Units taken from the SKUs (gifts included), given back when the order is cancelled. */
  taken: TakenUnits;
}

class JosFault extends Error {
  constructor(
    readonly code: string,
    readonly zh: string,
    readonly en: string,
  ) {
    super(en);
  }
}

/** A business refusal reported inside the normal wrapper (`apiResult.success: false`). */
class ApiRefusal extends Error {
  constructor(
    readonly wrapperKey: string,
    readonly numberCode: number,
    readonly zh: string,
  ) {
    super(zh);
  }
}

const GMT8 = 8 * 3600_000;
const SKEW_MS = 6 * 60_000;
const MONTH_MS = 31 * 86_400_000;
const METHODS = new Set([
  'jingdong.pop.order.search',
  'jingdong.pop.order.get',
  'jingdong.stock.write.updateSkuStock',
  'jingdong.stock.read.findSkuStock',
  'jingdong.pop.order.shipment',
]);
const NAMES = ['纯棉T恤', '绿茶礼盒', '陶瓷马克杯', '运动袜', '台灯', '帆布包'];
const COLORS = ['红色', '黑色', '白色'];
const SELLER_TYPES = new Set(['20-套装优惠', '30-单品促销优惠', '100-店铺优惠']);
/** States before the goods leave the warehouse: the order can still be cancelled. */
const UNSHIPPED = new Set([
  'WAIT_SELLER_STOCK_OUT',
  'WAIT_SELLER_DELIVERY',
  'LOCKED',
  'PAUSE',
  'POP_ORDER_PAUSE',
]);

export class JdSandbox {
  readonly appKey: string;
  readonly appSecret: string;
  readonly accessToken: string;
  readonly venderId: string;
  readonly relaySecret: string;
  /** Every stock update accepted, in order. */
  readonly pushes: StockPushRecord[] = [];
  /** Every message delivered: topic, orderId, HTTP status of the receiver. */
  readonly messages: { topic: string; orderId: string; id: string; status: number }[] = [];
  /** Every API call served: method, business parameters and the error code if any. */
  readonly calls: { method: string; params: Record<string, unknown>; code?: string }[] = [];
  readonly skus: Sku[] = [];
  readonly giftSkus: Sku[] = [];
  /** Called after each search page is computed, with the ids it lists (tests change orders mid-scan). */
  afterSearch: ((page: number, listed: string[]) => void) | undefined;

  private readonly opts: Required<Omit<JdSandboxOptions, 'webhookUrl'>> & { webhookUrl?: string };
  private readonly orders = new Map<string, OrderRec>();
  private readonly stock = new Map<string, number>();
  /** `storeId` of each SKU's last push that named one. */
  private readonly storeOf = new Map<string, string>();
  private readonly inflight = new Set<http.ClientRequest>();
  private server: http.Server | undefined;
  private baseUrl: string | undefined;
  private rng: () => number;
  private nextOrder = 300_000_000_001;
  private nextMessage = 1;
  private readonly bucket: TokenBucket;
  private readonly faultInjector: FaultInjector;

  constructor(options: JdSandboxOptions = {}) {
    this.opts = {
      port: options.port ?? 0,
      host: options.host ?? '127.0.0.1',
      appKey: options.appKey ?? 'SANDBOXAPPKEY0001',
      appSecret: options.appSecret ?? 'sandbox-jd-app-secret-0123',
      accessToken: options.accessToken ?? 'sandbox-jd-access-token-0001',
      venderId: options.venderId ?? '10086001',
      relaySecret: options.relaySecret ?? 'sandbox-jd-relay-secret-0123456',
      seed: options.seed ?? 1,
      wares: options.wares ?? 3,
      initialQuantity: options.initialQuantity ?? 100,
      throttle: options.throttle ?? { capacity: 30, refillPerSecond: 10 },
      spreadMs: options.spreadMs ?? 6 * 3600_000,
      now: options.now ?? Date.now,
      ...(options.webhookUrl ? { webhookUrl: options.webhookUrl } : {}),
    };
    this.appKey = this.opts.appKey;
    this.appSecret = this.opts.appSecret;
    this.accessToken = this.opts.accessToken;
    this.venderId = this.opts.venderId;
    this.relaySecret = this.opts.relaySecret;
    this.rng = mulberry32(this.opts.seed);
    this.bucket = new TokenBucket(this.opts.throttle.capacity);
    this.faultInjector = new FaultInjector(this.opts.seed, {
      isApi: (req) => new URL(req.url ?? '/', 'http://sandbox').pathname === '/routerjson',
      throttled: () => ({
        body: JSON.stringify({
          error_response: { code: '2', zh_desc: '限制时间内调用失败次数', en_desc: 'App Call Limited' },
        }),
      }),
    });
    this.buildCatalog();
  }

  get url(): string {
    if (!this.baseUrl) throw new Error('sandbox not started');
    return this.baseUrl;
  }

  /** The gateway URL (`…/routerjson`). */
  get gatewayUrl(): string {
    return `${this.url}/routerjson`;
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

  // -- shop state ---------------------------------------------------------------------------------

  /** Every sellable SKU and its quantity (gift SKUs included). */
  listings(): { skuId: string; quantity: number }[] {
    return [...this.stock].map(([skuId, quantity]) => ({ skuId, quantity }));
  }

  setQuantity(skuId: string, quantity: number): void {
    if (!this.stock.has(skuId)) throw new Error(`unknown sku ${skuId}`);
    this.stock.set(skuId, quantity);
  }

  orderIds(): string[] {
    return [...this.orders.keys()];
  }

  orderState(orderId: string): string | undefined {
    return this.orders.get(orderId)?.state;
  }

  trackingNumbers(orderId: string): string[] {
    return [...(this.orders.get(orderId)?.shipments ?? [])];
  }

  /** The order as `pop.order.get` returns it (every field). */
  orderJson(orderId: string): Record<string, unknown> | undefined {
    const o = this.orders.get(orderId);
    return o ? this.orderInfo(o, undefined) : undefined;
  }

  /**
   * Creates up to `count` paid orders with the usual mix of coupons, gifts and states. Each takes
   * its units (gifts included) from the SKUs; a line a SKU cannot fill is left out and an order
   * left without lines is not placed. Cancelled orders give their units back.
   */
  generateOrders(count: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      const o = this.createOrder();
      if (o) out.push(o.orderId);
    }
    return out;
  }

  /** The quantity of one SKU, or undefined for an unknown one. */
  quantity(skuId: string): number | undefined {
    return this.stock.get(skuId);
  }

  /**
   * A buyer's paid order awaiting shipment (WAIT_SELLER_STOCK_OUT) of `quantity` units of one SKU
   * at its price, created now: takes the units. Throws, placing nothing, for an unknown SKU or
   * one holding fewer units.
   */
  sell(skuId: string, quantity: number): string {
    checkSellQuantity(quantity);
    const sku = [...this.skus, ...this.giftSkus].find((s) => s.skuId === skuId);
    const have = this.stock.get(skuId);
    if (!sku || have === undefined) throw new Error(`unknown sku ${skuId}`);
    const taken: TakenUnits = [];
    if (!takeUnits(this.stock, taken, skuId, quantity)) {
      throw new Error(`cannot sell ${quantity} of sku ${skuId}: only ${have} in stock`);
    }
    const now = this.sec(this.opts.now());
    const o: OrderRec = {
      orderId: String(this.nextOrder++),
      state: 'WAIT_SELLER_STOCK_OUT',
      createdMs: now,
      payMs: now,
      modifiedMs: now,
      items: [{ sku, priceFen: sku.priceFen, num: quantity }],
      coupons: [],
      freightFen: 0,
      shipments: [],
      taken,
    };
    this.orders.set(o.orderId, o);
    return o.orderId;
  }

  /**
   * Cancels an order before it leaves the warehouse (TRADE_CANCELED), modified now; its units go
   * back. Throws for an unknown, cancelled or shipped order.
   */
  cancel(orderId: string): void {
    const o = this.orders.get(orderId);
    if (!o) throw new Error(`no order ${orderId}`);
    if (o.state === 'TRADE_CANCELED') throw new Error(`order ${orderId} is already cancelled`);
    if (!UNSHIPPED.has(o.state)) throw new Error(`order ${orderId} is ${o.state}: it cannot be cancelled`);
    o.state = 'TRADE_CANCELED';
    o.modifiedMs = this.sec(this.opts.now());
    this.settle(o);
  }

  /** Moves an order on (new state and/or modified = now), e.g. to test a later pull. */
  touch(orderId: string, state?: string): void {
    const o = this.orders.get(orderId);
    if (!o) throw new Error(`no order ${orderId}`);
    if (state) o.state = state;
    o.modifiedMs = this.sec(this.opts.now());
    this.settle(o);
  }

  /** JD puts a cancelled order's units back. */
  private settle(o: OrderRec): void {
    if (o.state === 'TRADE_CANCELED') giveBack(this.stock, o.taken);
  }

  // -- messages -------------------------------------------------------------------------------------

  /** Builds one relayed message (body + headers), signed with the relay secret (or `secret`). */
  messageFor(
    topic: string,
    orderId: string,
    secret = this.relaySecret,
  ): { body: Buffer; headers: Record<string, string>; id: string } {
    const o = this.orders.get(orderId);
    const id = `jdmsg-${this.opts.seed}-${this.nextMessage++}`;
    const content = JSON.stringify({ orderId, venderId: this.venderId, orderState: o?.state ?? 'UNKNOWN' });
    const body = Buffer.from(
      JSON.stringify({ id, topic, venderId: this.venderId, timestamp: gmt8(this.opts.now()), content }),
      'utf8',
    );
    const ts = String(Math.floor(this.opts.now() / 1000));
    const sig = createHmac('sha256', Buffer.from(secret, 'utf8'))
      .update(Buffer.concat([Buffer.from(`${ts}\n`, 'utf8'), body]))
      .digest('hex')
      .toUpperCase();
    return {
      body,
      id,
      headers: {
        'content-type': 'application/json;charset=utf-8',
        'x-jd-relay-signature': sig,
        'x-jd-relay-timestamp': ts,
      },
    };
  }

  /** POSTs one message about `orderId` to `webhookUrl` (one attempt); returns the receiver's status. */
  async deliverMessage(topic: string, orderId: string): Promise<number> {
    const target = this.opts.webhookUrl;
    if (!target) throw new Error('no webhookUrl configured');
    const m = this.messageFor(topic, orderId);
    const status = await postDeliveryOrThrow(target, m.headers, m.body, this.inflight);
    this.messages.push({ topic, orderId, id: m.id, status });
    return status;
  }

  // -- HTTP -------------------------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    if (url.pathname !== '/routerjson') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const body = await readBody(req, 1024 * 1024);
    const params: Record<string, string> = {};
    for (const [k, v] of url.searchParams) params[k] = v;
    if (req.method === 'POST' && body.length > 0) {
      for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params[k] = v;
    }
    const method = params.method ?? '';
    let business: Record<string, unknown> = {};
    try {
      business = this.gateway(params);
      const payload = this.dispatch(method, business);
      this.calls.push({ method, params: business });
      this.reply(res, { [`${method.split('.').join('_')}_responce`]: { code: '0', ...payload } });
    } catch (err) {
      if (err instanceof ApiRefusal) {
        this.calls.push({ method, params: business, code: `api:${err.numberCode}` });
        this.reply(res, {
          [`${method.split('.').join('_')}_responce`]: {
            code: '0',
            [err.wrapperKey]: {
              apiResult: {
                success: false,
                numberCode: err.numberCode,
                chineseErrCode: err.zh,
                englishErrCode: 'refused',
              },
            },
          },
        });
        return;
      }
      if (!(err instanceof JosFault)) throw err;
      this.calls.push({ method, params: business, code: err.code });
      this.reply(res, { error_response: { code: err.code, zh_desc: err.zh, en_desc: err.en } });
    }
  }

  private reply(res: http.ServerResponse, payload: unknown): void {
    res.writeHead(200, { 'content-type': 'application/json;charset=UTF-8' }).end(JSON.stringify(payload));
  }

  /** System parameters, signature, tolerance, throttle, token; returns the business JSON. */
  private gateway(p: Record<string, string>): Record<string, unknown> {
    if (!p.method) throw new JosFault('14', '缺少方法名参数', 'Missing Method');
    if (!p.app_key) throw new JosFault('9', '缺少AppKey参数', 'Missing App Key');
    if (p.app_key !== this.appKey) throw new JosFault('10', '无效的AppKey参数', 'Invalid App Key');
    if (!p.timestamp) throw new JosFault('7', '缺少时间戳参数', 'Missing Timestamp');
    const ts = parseGmt8(p.timestamp);
    if (ts === undefined || Math.abs(ts - this.opts.now()) > SKEW_MS) {
      throw new JosFault('8', '非法的时间戳参数', 'Invalid Timestamp');
    }
    if (!p.v) throw new JosFault('4', '缺少版本参数', 'Missing Version');
    if (p.v !== '2.0') throw new JosFault('5', '不支持的版本号', 'Unsupported Version');
    if (!p.sign) throw new JosFault('11', '缺少签名参数', 'Missing Signature');
    if (!this.signatureOk(p)) throw new JosFault('12', '无效签名', 'Invalid Signature');
    this.throttle();
    if (!p.access_token) throw new JosFault('16', '缺少access_token参数', 'Missing access_token');
    if (p.access_token !== this.accessToken)
      throw new JosFault('19', 'access_token已过期或无效', 'Invalid access_token');
    if (!METHODS.has(p.method)) throw new JosFault('15', '不存在的方法名', 'Invalid Method');
    let business: unknown;
    try {
      business = JSON.parse(p['360buy_param_json'] ?? '{}');
    } catch {
      throw new JosFault('10400001', '360buy_param_json不是合法的JSON', 'invalid 360buy_param_json');
    }
    if (typeof business !== 'object' || business === null || Array.isArray(business)) {
      throw new JosFault('10400001', '360buy_param_json必须是JSON对象', 'invalid 360buy_param_json');
    }
    return business as Record<string, unknown>;
  }

  /** The sandbox's own reading of notes §6.1: secret + sorted key+value + secret, MD5, uppercase hex. */
  private signatureOk(p: Record<string, string>): boolean {
    const keys = Object.keys(p).filter((k) => k !== 'sign');
    keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const text = keys.map((k) => k + p[k]).join('');
    const expected = createHash('md5')
      .update(Buffer.from(this.appSecret + text + this.appSecret, 'utf8'))
      .digest();
    const given = p.sign ?? '';
    if (!/^[0-9A-F]{32}$/.test(given)) return false;
    return timingSafeEqual(Buffer.from(given, 'hex'), expected);
  }

  private throttle(): void {
    const now = this.opts.now();
    const t = this.opts.throttle;
    if (!this.bucket.take(now, t)) throw new JosFault('2', '限制时间内调用失败次数', 'App Call Limited');
  }

  private dispatch(method: string, b: Record<string, unknown>): Record<string, unknown> {
    switch (method) {
      case 'jingdong.pop.order.search':
        return this.search(b);
      case 'jingdong.pop.order.get':
        return this.get(b);
      case 'jingdong.stock.write.updateSkuStock':
        return this.updateStock(b);
      case 'jingdong.stock.read.findSkuStock':
        return this.findStock(b);
      default:
        return this.shipment(b);
    }
  }

  private search(b: Record<string, unknown>): Record<string, unknown> {
    const refuse = (numberCode: number, zh: string) =>
      new ApiRefusal('searchorderinfo_result', numberCode, zh);
    const start = parseGmt8(str(b.start_date));
    const end = parseGmt8(str(b.end_date));
    if (start === undefined || end === undefined || /\./.test(str(b.start_date) + str(b.end_date))) {
      throw refuse(10400002, 'start_date/end_date格式必须为yyyy-MM-dd HH:mm:ss');
    }
    if (end < start) throw refuse(10400003, '结束时间不能早于开始时间');
    if (end - start > MONTH_MS) throw refuse(10400004, '查询时间范围不能超过一个月');
    const states = str(b.order_state)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (states.length === 0) throw refuse(10400005, 'order_state不能为空');
    const fields = str(b.optional_fields)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (fields.length === 0) throw refuse(10400006, 'optional_fields不能为空');
    const page = b.page === undefined ? 1 : Number(b.page);
    const size = b.page_size === undefined ? 10 : Number(b.page_size);
    if (!Number.isInteger(page) || page < 1) throw refuse(10400007, 'page必须大于0');
    if (!Number.isInteger(size) || size < 1 || size > 100)
      throw refuse(10400008, 'page_size必须在1到100之间');
    const byCreated = String(b.dateType ?? '0') === '1';
    const hits = [...this.orders.values()]
      .filter((o) => states.includes(o.state))
      .filter((o) => {
        const t = byCreated ? o.createdMs : o.modifiedMs;
        return t >= start && t <= end;
      })
      .sort((x, y) => x.modifiedMs - y.modifiedMs || (x.orderId < y.orderId ? -1 : 1));
    const slice = hits.slice((page - 1) * size, page * size);
    const out = {
      searchorderinfo_result: {
        apiResult: { success: true, numberCode: 0, chineseErrCode: '', englishErrCode: '' },
        orderTotal: hits.length,
        orderInfoList: slice.map((o) => this.orderInfo(o, fields)),
      },
    };
    this.afterSearch?.(
      page,
      slice.map((o) => o.orderId),
    );
    return out;
  }

  private get(b: Record<string, unknown>): Record<string, unknown> {
    const id = str(b.order_id);
    if (!/^\d+$/.test(id)) throw new ApiRefusal('orderDetailInfo', 10400009, 'order_id不合法');
    const fields = str(b.optional_fields)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const o = this.orders.get(id);
    return {
      orderDetailInfo: {
        apiResult: { success: true, numberCode: 0, chineseErrCode: '', englishErrCode: '' },
        orderInfo: o ? this.orderInfo(o, fields.length > 0 ? fields : undefined) : null,
      },
    };
  }

  private updateStock(b: Record<string, unknown>): Record<string, unknown> {
    const skuId = str(b.skuId);
    const qty = Number(b.stockNum);
    if (!Number.isInteger(qty) || qty < 0)
      throw new JosFault('10400010', 'stockNum必须是非负整数', 'invalid stockNum');
    if (!this.stock.has(skuId)) throw new JosFault('10100010', 'SKU不存在或不属于该商家', 'sku not exist');
    this.stock.set(skuId, qty);
    const storeId = str(b.storeId);
    if (storeId) this.storeOf.set(skuId, storeId);
    this.pushes.push({ skuId, ...(storeId ? { storeId } : {}), quantity: qty, at: this.opts.now() });
    return { success: true };
  }

  private findStock(b: Record<string, unknown>): Record<string, unknown> {
    const skuId = str(b.skuId);
    const qty = this.stock.get(skuId);
    if (qty === undefined) throw new JosFault('10100010', 'SKU不存在或不属于该商家', 'sku not exist');
    const storeId = this.storeOf.get(skuId);
    // Java Longs in JOS answers: JSON numbers (text beyond 2^53, which JSON numbers cannot hold here).
    const long = (t: string) => (Number.isSafeInteger(Number(t)) ? Number(t) : t);
    return {
      skuStocks: [{ skuId: long(skuId), stockNum: qty, ...(storeId ? { storeId: long(storeId) } : {}) }],
    };
  }

  private shipment(b: Record<string, unknown>): Record<string, unknown> {
    const o = this.orders.get(str(b.order_id));
    const result = (success: boolean, zh = '') => ({
      sopjosshipment_result: { success, chineseErrCode: zh, englishErrCode: success ? '' : 'refused' },
    });
    if (!o) return result(false, '订单不存在');
    if (!str(b.logiNo) || !str(b.logiCoprId)) return result(false, '运单号和物流公司不能为空');
    if (o.state !== 'WAIT_SELLER_STOCK_OUT') return result(false, `订单状态${o.state}不允许出库`);
    o.state = 'WAIT_GOODS_RECEIVE_CONFIRM';
    o.modifiedMs = this.sec(this.opts.now());
    o.shipments.push(str(b.logiNo));
    return result(true);
  }

  // -- payloads ---------------------------------------------------------------------------------------

  private orderInfo(o: OrderRec, fields: string[] | undefined): Record<string, unknown> {
    const list = o.items.reduce((s, i) => s + i.priceFen * i.num, 0);
    const couponSum = o.coupons.reduce((s, c) => s + c.fen, 0);
    const sellerSum = o.coupons.filter((c) => SELLER_TYPES.has(c.type)).reduce((s, c) => s + c.fen, 0);
    const full: Record<string, unknown> = {
      orderId: o.orderId,
      venderId: this.venderId,
      orderType: '22',
      payType: '4-在线支付',
      orderState: o.state,
      orderStateRemark: REMARKS[o.state] ?? '',
      orderStartTime: gmt8(o.createdMs),
      paymentConfirmTime: gmt8(o.payMs),
      modified: gmt8(o.modifiedMs),
      orderTotalPrice: yuan(list),
      orderSellerPrice: yuan(list - sellerSum),
      sellerDiscount: yuan(sellerSum),
      freightPrice: yuan(o.freightFen),
      orderPayment: yuan(list - couponSum + o.freightFen),
      itemInfoList: o.items.map((i) => ({
        skuId: i.sku.skuId,
        wareId: i.sku.wareId,
        outerSkuId: i.sku.outerSkuId,
        skuName: i.sku.name,
        jdPrice: yuan(i.priceFen),
        itemTotal: String(i.num),
        giftPoint: '0',
        productNo: '',
      })),
      couponDetailList: o.coupons.map((c) => ({
        orderId: o.orderId,
        skuId: c.skuId,
        couponType: c.type,
        couponPrice: yuan(c.fen),
      })),
    };
    if (!fields) return full;
    return Object.fromEntries(Object.entries(full).filter(([k]) => fields.includes(k)));
  }

  // -- generator --------------------------------------------------------------------------------------

  private buildCatalog(): void {
    let sku = 100_012_345_000;
    let ware = 10_020_000;
    for (let w = 0; w < this.opts.wares; w++) {
      const wareId = String(ware++);
      const base = (this.int(20, 300) * 100 + (this.rng() < 0.5 ? 0 : 90)) | 0;
      const name = NAMES[w % NAMES.length]!;
      for (let s = 0; s < 3; s++) {
        const skuId = String(sku++);
        const rec = {
          skuId,
          wareId,
          outerSkuId: `JD-${w}-${s}`,
          name: `${name} ${COLORS[s]}`,
          priceFen: base + s * 500,
        };
        this.skus.push(rec);
        this.stock.set(skuId, this.opts.initialQuantity);
      }
    }
    for (let g = 0; g < 2; g++) {
      const skuId = String(sku++);
      this.giftSkus.push({
        skuId,
        wareId: String(ware++),
        outerSkuId: `GIFT-${g}`,
        name: `赠品${g + 1}`,
        priceFen: 990,
      });
      this.stock.set(skuId, this.opts.initialQuantity);
    }
  }

  /**
   * A generated order, or undefined when the buyer finds nothing to buy: only SKUs in stock are
   * shown, and a line asking for more than its SKU holds is left out.
   */
  private createOrder(): OrderRec | undefined {
    const shown = this.skus.filter((s) => (this.stock.get(s.skuId) ?? 0) > 0);
    if (shown.length === 0) return undefined;
    const now = this.opts.now();
    const latest = now - 5 * 60_000;
    const createdMs = this.sec(latest - this.rng() * this.opts.spreadMs);
    const payMs = this.sec(Math.min(latest, createdMs + this.int(5, 600) * 1000));
    const modifiedMs = this.sec(payMs + this.rng() * Math.max(0, Math.min(2 * 3600_000, latest - payMs)));
    const o: OrderRec = {
      orderId: String(this.nextOrder++),
      state: 'WAIT_SELLER_STOCK_OUT',
      createdMs,
      payMs,
      modifiedMs,
      items: [],
      coupons: [],
      freightFen: this.rng() < 0.3 ? 600 : 0,
      shipments: [],
      taken: [],
    };
    const n = this.int(1, 3);
    const used = new Set<string>();
    for (let i = 0; i < n; i++) {
      const sku = shown[this.int(0, shown.length - 1)]!;
      if (used.has(sku.skuId)) continue;
      used.add(sku.skuId);
      const item = { sku, priceFen: sku.priceFen, num: this.int(1, 3) };
      if (!takeUnits(this.stock, o.taken, sku.skuId, item.num)) continue;
      o.items.push(item);
      const amount = item.priceFen * item.num;
      const r = this.rng();
      if (r < 0.3)
        o.coupons.push({ skuId: sku.skuId, type: '30-单品促销优惠', fen: Math.floor(amount * 0.1) });
      else if (r < 0.45) o.coupons.push({ skuId: sku.skuId, type: '20-套装优惠', fen: this.int(1, 9) * 100 });
    }
    const afterLine =
      o.items.reduce((s, i) => s + i.priceFen * i.num, 0) - o.coupons.reduce((s, c) => s + c.fen, 0);
    if (afterLine >= 19_900 && this.rng() < 0.5)
      o.coupons.push({ skuId: '', type: '100-店铺优惠', fen: 2_000 });
    if (afterLine >= 5_000 && this.rng() < 0.3)
      o.coupons.push({ skuId: '', type: '41-京东券优惠', fen: 500 });
    if (o.items.length === 0) return undefined;
    if (this.rng() < 0.2) {
      const gift = this.giftSkus[this.int(0, this.giftSkus.length - 1)]!;
      if (takeUnits(this.stock, o.taken, gift.skuId, 1)) o.items.push({ sku: gift, priceFen: 0, num: 1 });
    }
    const r = this.rng();
    o.state =
      r < 0.45
        ? 'WAIT_SELLER_STOCK_OUT'
        : r < 0.65
          ? 'WAIT_GOODS_RECEIVE_CONFIRM'
          : r < 0.8
            ? 'FINISHED_L'
            : r < 0.92
              ? 'TRADE_CANCELED'
              : r < 0.97
                ? 'LOCKED'
                : 'PAUSE';
    if (o.state === 'WAIT_GOODS_RECEIVE_CONFIRM' || o.state === 'FINISHED_L')
      o.shipments.push(`JDV${o.orderId}`);
    this.orders.set(o.orderId, o);
    this.settle(o);
    return o;
  }

  private int(min: number, max: number): number {
    return min + Math.floor(this.rng() * (max - min + 1));
  }

  private sec(ms: number): number {
    return Math.floor(ms / 1000) * 1000;
  }
}

const REMARKS: Record<string, string> = {
  WAIT_SELLER_STOCK_OUT: '等待出库',
  WAIT_GOODS_RECEIVE_CONFIRM: '等待确认收货',
  FINISHED_L: '完成',
  TRADE_CANCELED: '取消',
  LOCKED: '锁定',
  PAUSE: '暂停',
};

function str(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}

function yuan(fen: number): string {
  return `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;
}

/** GMT+8 wall time `yyyy-MM-dd HH:mm:ss` (the sandbox's own formatter). */
function gmt8(ms: number): string {
  return new Date(ms + GMT8).toISOString().slice(0, 19).replace('T', ' ');
}

/** Parses `yyyy-MM-dd HH:mm:ss`, optionally `.SSS` and `+0800`, as GMT+8. */
function parseGmt8(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(\.\d{3})?(\+0800)?$/.exec(text);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}T${m[2]}${m[3] ?? ''}+08:00`);
  return Number.isNaN(ms) ? undefined : ms;
}
