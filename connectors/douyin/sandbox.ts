/**
 * A local Doudian open-API gateway for the demo, the tests and the benchmark: an in-memory 抖店
 * shop behind `POST /{method with . -> /}` with Doudian's query parameters, v2 signature check,
 * timestamp skew, window and paging rules, envelope and error shapes and QPS throttling, as far
 * as the public docs (notes §5) describe them.
 *
 * Written from the documentation only and sharing no code with the connector: its own JSON
 * reading (bare integers above 2^53 kept exact, as Doudian writes `product_id`), its own
 * key-sorted re-serialisation of `param_json` for the signature (so an unsorted body fails, as on
 * the real gateway), its own HMAC and push md5. Node built-ins only.
 *
 * Served methods: `order.searchList` (update_time window <= 1 h, page from 0, size <= 100,
 * order_by/order_asc, full shop orders with SKU orders), `order.orderDetail`, `sku.syncStock`
 * and `sku.syncStockBatch` (absolute, or incremental with `idempotent_id`; a batch is one
 * product's SKUs, all or nothing), `sku.list` (a product's SKUs with their
 * current `stock_num`, `data` an array), `order.logisticsAdd`. Orders carry per-SKU
 * shop / platform / 达人 / payment-channel discounts, 改价, FREE gift lines, partial shipments,
 * cancellations and after-sales. Push messages are POSTed to `webhookUrl` signed with
 * `event-sign = md5(app_key + body + app_secret)`.
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
  postDelivery,
  readBody,
  type TakenUnits,
  TokenBucket,
  takeUnits,
} from '../testing/sandbox-kit.js';

export interface DouyinSandboxOptions {
  /** Port; 0 (default) picks a free one. */
  port?: number;
  /** Interface; default 127.0.0.1. */
  host?: string;
  appKey?: string;
  appSecret?: string;
  /** The only access_token accepted. */
  accessToken?: string;
  shopId?: string;
  /** Seed of the generator; default 1. */
  seed?: number;
  /** Products with 3 SKUs each; default 3 (plus one gift product). */
  products?: number;
  /** Starting quantity of every listing; default 100. */
  initialQuantity?: number;
  /** Calls allowed in a burst and refilled per second; default 20 and 10. Beyond: a QPS-limit error. */
  throttle?: { capacity: number; refillPerSecond: number };
  /** Generated orders are created up to this long before "now"; default 6 hours. */
  spreadMs?: number;
  /** Largest update_time window accepted, in seconds; default 3600 (our assumption, notes §5.2 [U]). */
  maxWindowSeconds?: number;
  /** Where push messages are POSTed; unset = none. */
  webhookUrl?: string;
  /** Clock in epoch ms; default `Date.now`. */
  now?: () => number;
}

export interface SandboxStockPush {
  productId: string;
  skuId: string;
  /** Quantity after the update. */
  quantity: number;
  at: number;
}

export interface SandboxPushRecord {
  tag: string;
  orderId: string;
  msgId: string;
  status: number;
  body: string;
}

interface Sku {
  skuId: string;
  code: string;
  outSkuId: string;
  priceFen: number;
}
interface Product {
  productId: string;
  outProductId: string;
  name: string;
  skus: Sku[];
}
interface SkuOrder {
  orderId: string;
  product: Product;
  sku: Sku;
  originFen: number;
  num: number;
  shopFen: number;
  platformFen: number;
  talentFen: number;
  payFen: number;
  modifyFen: number;
  gift: boolean;
  status: number;
  afterSale?: { status: number; type: number; refundStatus: number; updateS: number };
}
interface ShopOrder {
  orderId: string;
  status: number;
  createS: number;
  updateS: number;
  payS?: number;
  postFen: number;
  skus: SkuOrder[];
  shipments: string[];
  /** Units taken from the SKUs (gifts included), given back when the order is cancelled. */
  taken: TakenUnits;
}

class Fault extends Error {
  constructor(
    readonly code: number,
    readonly msg: string,
    readonly subCode: string,
    readonly subMsg: string,
  ) {
    super(msg);
  }
}

const SKEW_S = 600;
const METHODS = new Set([
  'order.searchList',
  'order.orderDetail',
  'sku.syncStock',
  'sku.syncStockBatch',
  'sku.list',
  'order.logisticsAdd',
]);
const NAMES = ['纯棉T恤', '蓝牙耳机 <Pro> & 套装', '保温杯', '瑜伽垫', '面膜'];
const SPECS = ['红色', '黑色', '白色'];
/** Marks a big integer inside parsed JSON (sandbox-private). */
const BIG = '\u0000big:';

export class DouyinSandbox {
  readonly appKey: string;
  readonly appSecret: string;
  readonly accessToken: string;
  readonly shopId: string;
  /** Every stock update accepted, in order. */
  readonly pushes: SandboxStockPush[] = [];
  /** Every push message delivered. */
  readonly deliveries: SandboxPushRecord[] = [];
  /** Every API call served: method, business params, and the error code if any. */
  readonly calls: { method: string; params: Record<string, unknown>; code?: number; subCode?: string }[] = [];
  readonly products: Product[] = [];
  readonly giftProduct: Product;

  private readonly opts: Required<Omit<DouyinSandboxOptions, 'webhookUrl'>> & { webhookUrl?: string };
  private readonly orders = new Map<string, ShopOrder>();
  private readonly stock = new Map<string, number>();
  private readonly idempotent = new Set<string>();
  private readonly inflight = new Set<http.ClientRequest>();
  private server: http.Server | undefined;
  private baseUrl: string | undefined;
  private readonly rng: () => number;
  private nextOrder = 6_920_000_000_000_000_000n;
  /** Set once a connector has searched orders: from then on new orders are live, not back history. */
  private searched = false;
  private nextMsg = 1;
  private readonly bucket: TokenBucket;
  private readonly faultInjector: FaultInjector;

  constructor(options: DouyinSandboxOptions = {}) {
    this.opts = {
      port: options.port ?? 0,
      host: options.host ?? '127.0.0.1',
      appKey: options.appKey ?? '7123456789012345678',
      appSecret: options.appSecret ?? 'sandbox-doudian-secret-0123456789',
      accessToken: options.accessToken ?? 'sandbox-access-token-abcdef',
      shopId: options.shopId ?? '77977',
      seed: options.seed ?? 1,
      products: options.products ?? 3,
      initialQuantity: options.initialQuantity ?? 100,
      throttle: options.throttle ?? { capacity: 20, refillPerSecond: 10 },
      spreadMs: options.spreadMs ?? 6 * 3600_000,
      maxWindowSeconds: options.maxWindowSeconds ?? 3600,
      now: options.now ?? Date.now,
      ...(options.webhookUrl ? { webhookUrl: options.webhookUrl } : {}),
    };
    this.appKey = this.opts.appKey;
    this.appSecret = this.opts.appSecret;
    this.accessToken = this.opts.accessToken;
    this.shopId = this.opts.shopId;
    this.rng = mulberry32(this.opts.seed);
    this.bucket = new TokenBucket(this.opts.throttle.capacity);
    this.faultInjector = new FaultInjector(this.opts.seed, {
      // Every API is `POST /{method path}`.
      isApi: (req) => req.method === 'POST',
      throttled: () => ({
        body: writeJson({
          code: 50001,
          msg: '请求频率超限',
          sub_code: 'isv.app-qps-limit',
          sub_msg: 'too many requests, slow down',
          log_id: 'sandbox-fault',
          data: {},
        }),
      }),
    });
    for (let i = 0; i < this.opts.products; i++) {
      const productId = String(3_473_196_049_974_326_300n + BigInt(i * 1000 + 7));
      const price = 1990 + Math.floor(this.rng() * 30) * 1000;
      const p: Product = {
        productId,
        outProductId: `OP-${i + 1}`,
        name: NAMES[i % NAMES.length]!,
        skus: SPECS.map((spec, j) => ({
          skuId: String(1_730_000_000_000 + i * 100 + j),
          code: `SKU-${i + 1}-${j + 1}`,
          outSkuId: `${spec}-${i + 1}`,
          priceFen: price + j * 500,
        })),
      };
      this.products.push(p);
    }
    this.giftProduct = {
      productId: String(3_473_196_049_974_399_001n),
      outProductId: 'GIFT',
      name: '赠品小样',
      skus: [{ skuId: '1739999999001', code: 'GIFT-1', outSkuId: 'gift', priceFen: 0 }],
    };
    for (const p of [...this.products, this.giftProduct]) {
      for (const s of p.skus) this.stock.set(`${p.productId}:${s.skuId}`, this.opts.initialQuantity);
    }
  }

  get url(): string {
    if (!this.baseUrl) throw new Error('sandbox not started');
    return this.baseUrl;
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

  /** Starts injecting faults into the API requests (null stops); see {@link FaultInjector}. */
  faults(spec: FaultSpec | null): void {
    this.faultInjector.set(spec);
  }

  /** Faults injected so far, per kind. */
  faultCounts(): Record<FaultKind, number> {
    return this.faultInjector.faultCounts();
  }

  // -- shop state ---------------------------------------------------------------------------------

  /** Every listing (`product_id:sku_id`) and its quantity. */
  listings(): { listingId: string; quantity: number }[] {
    return [...this.stock].map(([listingId, quantity]) => ({ listingId, quantity }));
  }

  setQuantity(listingId: string, quantity: number): void {
    if (!this.stock.has(listingId)) throw new Error(`unknown listing ${listingId}`);
    this.stock.set(listingId, quantity);
  }

  orderIds(): string[] {
    return [...this.orders.keys()];
  }

  orderStatus(orderId: string): number | undefined {
    return this.orders.get(orderId)?.status;
  }

  trackingNumbers(orderId: string): string[] {
    return [...(this.orders.get(orderId)?.shipments ?? [])];
  }

  /** The shop order exactly as `order.orderDetail` writes it (JSON text). */
  orderJson(orderId: string): string | undefined {
    const o = this.orders.get(orderId);
    return o ? writeJson(this.shopOrderJson(o)) : undefined;
  }

  /**
   * Creates up to `count` orders with the usual mix of promotions, gifts, states and after-sales.
   * Each takes its units (gifts included) from the SKUs; a line a SKU cannot fill is left out and
   * an order left without lines is not placed. Cancelled orders give their units back.
   */
  generateOrders(count: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      const o = this.createOrder();
      if (o) out.push(o.orderId);
    }
    return out;
  }

  /** The quantity of one listing (`product_id:sku_id`), or undefined for an unknown one. */
  quantity(listingId: string): number | undefined {
    return this.stock.get(listingId);
  }

  /**
   * A buyer's paid order (备货中, status 2) of `quantity` units of one SKU (`product_id:sku_id`) at
   * list price, created now: takes the units. Throws, placing nothing, for an unknown listing or
   * one holding fewer units.
   */
  sell(listingId: string, quantity: number): string {
    return this.sellLines([{ listingId, quantity }]);
  }

  /**
   * A buyer's paid order of several SKUs (one sub-order per entry, in that order) at list price.
   * All or nothing: throws, placing nothing and taking no units, when a listing is unknown or
   * holds fewer units than its line.
   */
  sellLines(lines: readonly { listingId: string; quantity: number }[]): string {
    if (lines.length === 0) throw new RangeError('an order needs at least one line');
    for (const l of lines) checkSellQuantity(l.quantity);
    const taken: TakenUnits = [];
    const picked = lines.map(({ listingId, quantity }) => {
      const [productId, skuId] = listingId.split(':');
      const product = [...this.products, this.giftProduct].find((p) => p.productId === productId);
      const sku = product?.skus.find((x) => x.skuId === skuId);
      const have = this.stock.get(listingId);
      if (!product || !sku || have === undefined) {
        giveBack(this.stock, taken);
        throw new Error(`unknown listing ${listingId}`);
      }
      if (!takeUnits(this.stock, taken, listingId, quantity)) {
        giveBack(this.stock, taken);
        throw new Error(`cannot sell ${quantity} of ${listingId}: only ${have} in stock`);
      }
      return { product, sku, quantity };
    });
    const nowS = Math.floor(this.opts.now() / 1000);
    const orderId = String(this.nextOrder);
    this.nextOrder += 1000n;
    const o: ShopOrder = {
      orderId,
      status: 2,
      createS: nowS,
      updateS: nowS,
      payS: nowS,
      postFen: 0,
      skus: picked.map(({ product, sku, quantity }, k) => ({
        orderId: String(BigInt(orderId) + BigInt(k + 1)),
        product,
        sku,
        originFen: sku.priceFen,
        num: quantity,
        shopFen: 0,
        platformFen: 0,
        talentFen: 0,
        payFen: 0,
        modifyFen: 0,
        gift: false,
        status: 2,
      })),
      shipments: [],
      taken,
    };
    this.orders.set(orderId, o);
    return orderId;
  }

  /**
   * Cancels an order before shipment (已取消, status 4; a paid one refunded in full: 未发货仅退款,
   * 退款成功), updated now; its units go back. Throws for an unknown, cancelled or (partly)
   * shipped order.
   */
  cancel(orderId: string): void {
    const o = this.orders.get(orderId);
    if (!o) throw new Error(`no order ${orderId}`);
    if (o.status === 4) throw new Error(`order ${orderId} is already cancelled`);
    if (o.status !== 1 && o.status !== 105 && o.status !== 2) {
      throw new Error(
        `order ${orderId} is ${STATUS_DESC[o.status] ?? o.status}: shipped orders cannot be cancelled`,
      );
    }
    const nowS = Math.floor(this.opts.now() / 1000);
    if (o.status !== 1) {
      for (const l of o.skus) l.afterSale = { status: 12, type: 2, refundStatus: 3, updateS: nowS };
    }
    o.status = 4;
    for (const l of o.skus) l.status = 4;
    o.updateS = nowS;
    this.settle(o);
  }

  /** Moves an order on (a later update_time, optionally a new status). */
  touch(orderId: string, status?: number): void {
    const o = this.orders.get(orderId);
    if (!o) throw new Error(`no order ${orderId}`);
    if (status !== undefined) {
      o.status = status;
      for (const s of o.skus) s.status = status;
    }
    o.updateS = Math.floor(this.opts.now() / 1000);
    this.settle(o);
  }

  /** Doudian puts a cancelled order's units back. */
  private settle(o: ShopOrder): void {
    if (o.status === 4) giveBack(this.stock, o.taken);
  }

  // -- push messages --------------------------------------------------------------------------------

  /** One push delivery about `orderId` (body + headers), signed with the app secret (or `secret`). */
  pushFor(
    tag: string,
    orderId: string,
    secret = this.appSecret,
  ): { body: Buffer; headers: Record<string, string>; msgId: string } {
    const o = this.orders.get(orderId);
    const nowS = Math.floor(this.opts.now() / 1000);
    const msgId = `${this.shopId}::${tag}:${nowS}:${String(this.nextMsg++).padStart(12, '0')}`;
    const data = `{"p_id":${orderId},"s_ids":[${(o?.skus ?? []).map((s) => s.orderId).join(',')}],"shop_id":${this.shopId},"order_status":${o?.status ?? 1},"biz":2,"pay_amount":${o ? this.orderPay(o) : 0},"update_time":${nowS}}`;
    const body = Buffer.from(`[{"tag":"${tag}","msg_id":"${msgId}","data":${JSON.stringify(data)}}]`, 'utf8');
    const sign = createHash('md5')
      .update(Buffer.concat([Buffer.from(this.appKey, 'utf8'), body, Buffer.from(secret, 'utf8')]))
      .digest('hex');
    return {
      body,
      msgId,
      headers: { 'content-type': 'application/json', 'app-id': this.appKey, 'event-sign': sign },
    };
  }

  /** POSTs one push message about `orderId` to `webhookUrl` (one attempt). */
  async deliverPush(tag: string, orderId: string): Promise<SandboxPushRecord> {
    const target = this.opts.webhookUrl;
    if (!target) throw new Error('no webhookUrl configured');
    const p = this.pushFor(tag, orderId);
    const status = await postDelivery(target, p.headers, p.body, this.inflight);
    const rec = { tag, orderId, msgId: p.msgId, status, body: p.body.toString('utf8') };
    this.deliveries.push(rec);
    return rec;
  }

  // -- HTTP -------------------------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const body = (await readBody(req, 2 * 1024 * 1024)).toString('utf8');
    const q = Object.fromEntries(url.searchParams);
    const pathMethod = url.pathname.replace(/^\//, '').split('/').join('.');
    if (req.method !== 'POST' || !METHODS.has(pathMethod)) {
      this.reply(
        res,
        this.envelope(new Fault(40001, '方法不存在', 'isv.method-not-exist', `no such API ${url.pathname}`)),
      );
      return;
    }
    let params: Record<string, unknown> = {};
    try {
      this.gate(q, pathMethod, body);
      params = readJsonObject(body);
      const data = this.dispatch(pathMethod, params);
      this.calls.push({ method: pathMethod, params });
      this.reply(res, { code: 10000, msg: 'success', sub_code: '', sub_msg: '', log_id: this.logId(), data });
    } catch (err) {
      if (!(err instanceof Fault)) throw err;
      this.calls.push({ method: pathMethod, params, code: err.code, subCode: err.subCode });
      this.reply(res, this.envelope(err));
    }
  }

  private envelope(f: Fault): Record<string, unknown> {
    return {
      code: f.code,
      msg: f.msg,
      sub_code: f.subCode,
      sub_msg: f.subMsg,
      log_id: this.logId(),
      data: {},
    };
  }

  private reply(res: http.ServerResponse, payload: unknown): void {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(writeJson(payload));
  }

  private logId(): string {
    return Math.floor(this.rng() * 36 ** 10).toString(36);
  }

  /** System parameters, skew, signature and QPS, in the gateway's order. */
  private gate(q: Record<string, string>, method: string, body: string): void {
    if (!q.app_key)
      throw new Fault(40001, '缺少app_key', 'isv.missing-parameter:app_key', 'app_key is required');
    if (q.app_key !== this.appKey)
      throw new Fault(40002, 'app_key无效', 'isv.app-key-invalid', 'unknown app_key');
    if (q.method !== method)
      throw new Fault(
        40001,
        'method与路径不符',
        'isv.parameter-invalid:method',
        'method must match the path',
      );
    if (q.v !== '2') throw new Fault(40001, '版本号错误', 'isv.parameter-invalid:v', 'v must be 2');
    const ts = readTimestamp(q.timestamp);
    if (ts === undefined || Math.abs(ts - this.opts.now() / 1000) > SKEW_S) {
      throw new Fault(40003, '时间戳无效', 'isv.timestamp-invalid', 'timestamp must be within 10 minutes');
    }
    const signMethod = q.sign_method ?? 'md5';
    if (signMethod !== 'md5' && signMethod !== 'hmac-sha256') {
      throw new Fault(40001, '签名方法无效', 'isv.parameter-invalid:sign_method', 'md5 or hmac-sha256');
    }
    let canonical: string;
    try {
      canonical = sortedJson(readJsonObject(body === '' ? '{}' : body));
    } catch {
      throw new Fault(
        40001,
        'param_json无效',
        'isv.parameter-invalid:param_json',
        'param_json is not a JSON object',
      );
    }
    const text = `${this.appSecret}app_key${this.appKey}method${method}param_json${canonical}timestamp${q.timestamp}v2${this.appSecret}`;
    const expected =
      signMethod === 'md5'
        ? createHash('md5').update(text, 'utf8').digest()
        : createHmac('sha256', this.appSecret).update(text, 'utf8').digest();
    const given = q.sign ?? '';
    if (
      !/^[0-9a-f]+$/.test(given) ||
      given.length !== expected.length * 2 ||
      !timingSafeEqual(Buffer.from(given, 'hex'), expected)
    ) {
      throw new Fault(40004, '签名校验失败', 'isv.sign-invalid', 'sign does not match');
    }
    if (q.access_token !== this.accessToken) {
      throw new Fault(
        30001,
        'access_token已过期',
        'isv.access-token-expired',
        'access_token invalid or expired',
      );
    }
    this.throttle();
  }

  private throttle(): void {
    const now = this.opts.now();
    const t = this.opts.throttle;
    if (!this.bucket.take(now, t))
      throw new Fault(50001, '请求频率超限', 'isv.app-qps-limit', 'too many requests, slow down');
  }

  private dispatch(method: string, p: Record<string, unknown>): unknown {
    switch (method) {
      case 'order.searchList':
        return this.searchList(p);
      case 'order.orderDetail':
        return { shop_order_detail: this.shopOrderJson(this.orderOf(p.shop_order_id)) };
      case 'sku.syncStock':
        return this.syncStock(p);
      case 'sku.syncStockBatch':
        return this.syncStockBatch(p);
      case 'sku.list':
        return this.skuList(p);
      default:
        return this.logisticsAdd(p);
    }
  }

  private invalid(name: string, why: string): Fault {
    return new Fault(40001, '参数错误', `isv.parameter-invalid:${name}`, why);
  }

  private int(p: Record<string, unknown>, name: string, required: boolean): number | undefined {
    const v = p[name];
    if (v === undefined) {
      if (required) throw this.invalid(name, `${name} is required`);
      return undefined;
    }
    if (typeof v !== 'number' || !Number.isInteger(v)) throw this.invalid(name, `${name} must be an integer`);
    return v;
  }

  private searchList(p: Record<string, unknown>): Record<string, unknown> {
    this.searched = true;
    const start = this.int(p, 'update_time_start', false);
    const end = this.int(p, 'update_time_end', false);
    const cStart = this.int(p, 'create_time_start', false);
    const cEnd = this.int(p, 'create_time_end', false);
    const page = this.int(p, 'page', true)!;
    const size = this.int(p, 'size', true)!;
    if (page < 0) throw this.invalid('page', 'page starts at 0');
    if (size < 1 || size > 100) throw this.invalid('size', 'size must be 1..100');
    if ((start === undefined) !== (end === undefined))
      throw this.invalid('update_time_end', 'give both ends');
    if (start !== undefined && end !== undefined) {
      if (end < start) throw this.invalid('update_time_end', 'end before start');
      if (end - start > this.opts.maxWindowSeconds) {
        throw this.invalid('update_time_start', `查询时间范围不能超过${this.opts.maxWindowSeconds}秒`);
      }
    }
    const orderBy = p.order_by ?? 'create_time';
    if (orderBy !== 'create_time' && orderBy !== 'update_time')
      throw this.invalid('order_by', 'create_time or update_time');
    const asc = p.order_asc === true;
    const key = (o: ShopOrder) => (orderBy === 'update_time' ? o.updateS : o.createS);
    const matched = [...this.orders.values()]
      .filter((o) => start === undefined || (o.updateS >= start && o.updateS <= end!))
      .filter((o) => cStart === undefined || o.createS >= cStart)
      .filter((o) => cEnd === undefined || o.createS <= cEnd)
      .sort((a, b) => {
        const d = key(a) - key(b) || (BigInt(a.orderId) < BigInt(b.orderId) ? -1 : 1);
        return asc ? d : -d;
      });
    return {
      page,
      size,
      total: matched.length,
      shop_order_list: matched.slice(page * size, (page + 1) * size).map((o) => this.shopOrderJson(o)),
    };
  }

  private orderOf(id: unknown): ShopOrder {
    const text = typeof id === 'string' ? id : typeof id === 'number' ? String(id) : '';
    if (!text) throw this.invalid('shop_order_id', 'shop_order_id is required');
    const o = this.orders.get(text);
    if (!o)
      throw new Fault(50002, '业务处理失败', 'isv.business-failed:order-not-exist', `订单${text}不存在`);
    return o;
  }

  private syncStock(p: Record<string, unknown>): Record<string, unknown> {
    const productId = bigText(p.product_id);
    const skuId = bigText(p.sku_id);
    if (!productId) throw this.invalid('product_id', 'product_id is required');
    if (!skuId) throw this.invalid('sku_id', 'sku_id (or out_sku_id / code) is required');
    const stockNum = this.int(p, 'stock_num', true)!;
    const incremental = p.incremental === true;
    if (incremental && typeof p.idempotent_id !== 'string') {
      throw this.invalid('idempotent_id', 'idempotent_id is required when incremental=true');
    }
    const key = `${productId}:${skuId}`;
    if (!this.stock.has(key)) {
      throw new Fault(50002, '业务处理失败', 'isv.business-failed:sku-not-exist', `SKU ${skuId} 不存在`);
    }
    if (incremental && this.idempotent.has(String(p.idempotent_id)))
      return { sku_id: skuId, stock_num: this.stock.get(key) };
    const next = incremental ? (this.stock.get(key) ?? 0) + stockNum : stockNum;
    if (next < 0) throw this.invalid('stock_num', 'stock would drop below 0');
    if (incremental) this.idempotent.add(String(p.idempotent_id));
    this.stock.set(key, next);
    this.pushes.push({ productId, skuId, quantity: next, at: this.opts.now() });
    return { sku_id: skuId, stock_num: next };
  }

  /**
   * `sku.syncStockBatch`: SKUs of one product, all or nothing (one bad SKU refuses the request
   * and nothing is applied, as Doudian's SDK documents). Answers an empty `data`.
   */
  private syncStockBatch(p: Record<string, unknown>): Record<string, unknown> {
    const productId = bigText(p.product_id);
    if (!productId) throw this.invalid('product_id', 'product_id is required');
    const list = p.sku_sync_list;
    if (!Array.isArray(list) || list.length === 0)
      throw this.invalid('sku_sync_list', 'sku_sync_list must list at least one SKU');
    const incremental = p.incremental === true;
    if (incremental && typeof p.idempotent_id !== 'string') {
      throw this.invalid('idempotent_id', 'idempotent_id is required when incremental=true');
    }
    if (incremental && this.idempotent.has(String(p.idempotent_id))) return {};
    const next = new Map<string, number>();
    for (const item of list as Record<string, unknown>[]) {
      const skuId = bigText(item?.sku_id);
      if (!skuId) throw this.invalid('sku_id', 'every sku_sync_list item needs a sku_id');
      const stockNum = item.stock_num ?? 0;
      if (typeof stockNum !== 'number' || !Number.isInteger(stockNum))
        throw this.invalid('stock_num', 'stock_num must be an integer');
      const key = `${productId}:${skuId}`;
      if (!this.stock.has(key)) {
        throw new Fault(50002, '业务处理失败', 'isv.business-failed:sku-not-exist', `SKU ${skuId} 不存在`);
      }
      if (next.has(key)) throw this.invalid('sku_sync_list', `SKU ${skuId} is listed twice`);
      const value = incremental ? (this.stock.get(key) ?? 0) + stockNum : stockNum;
      if (value < 0) throw this.invalid('stock_num', 'stock would drop below 0');
      next.set(key, value);
    }
    if (incremental) this.idempotent.add(String(p.idempotent_id));
    for (const [key, value] of next) {
      this.stock.set(key, value);
      const skuId = key.slice(productId.length + 1);
      this.pushes.push({ productId, skuId, quantity: value, at: this.opts.now() });
    }
    return {};
  }

  /** Every SKU of one product (by `product_id` or `out_product_id`), as `data` array items. */
  private skuList(p: Record<string, unknown>): Record<string, unknown>[] {
    const productId = bigText(p.product_id);
    const outId = p.out_product_id;
    if (!productId && outId === undefined)
      throw this.invalid('product_id', 'product_id or out_product_id is required');
    const product = [...this.products, this.giftProduct].find((x) =>
      productId ? x.productId === productId : x.outProductId === String(outId),
    );
    if (!product) {
      throw new Fault(
        50002,
        '业务处理失败',
        'isv.business-failed:product-not-exist',
        `商品${productId ?? String(outId)}不存在`,
      );
    }
    return product.skus.map((s) => {
      const stock = this.stock.get(`${product.productId}:${s.skuId}`) ?? 0;
      return {
        id: bigOut(s.skuId),
        open_user_id: 0,
        out_sku_id: 0,
        product_id: bigOut(product.productId),
        product_id_str: product.productId,
        spec_detail_name1: s.outSkuId.split('-')[0],
        price: s.priceFen,
        create_time: 1_700_000_000,
        code: s.code,
        sku_type: 0,
        supplier_id: '',
        stock_num: stock,
        prehold_stock_num: 0,
        prom_stock_num: 0,
        step_stock_num: 0,
        prehold_step_stock_num: 0,
        prom_step_stock_num: 0,
        normal_stock_num: stock,
        channel_stock_num: 0,
        stock_map: null,
        prehold_stock_map: null,
      };
    });
  }

  private logisticsAdd(p: Record<string, unknown>): Record<string, unknown> {
    const o = this.orderOf(p.order_id);
    const company = p.company_code;
    const code = p.logistics_code;
    if (typeof company !== 'string' || !/^[A-Za-z0-9_]{2,30}$/.test(company))
      throw this.invalid('company_code', 'unknown carrier');
    if (typeof code !== 'string' || code === '')
      throw this.invalid('logistics_code', 'logistics_code is required');
    if (o.status !== 2 && o.status !== 101) {
      throw new Fault(
        50002,
        '业务处理失败',
        'isv.business-failed:order-status-not-allowed',
        '当前订单状态不允许发货',
      );
    }
    const now = Math.floor(this.opts.now() / 1000);
    for (const s of o.skus) if (s.status === 2) s.status = 3;
    o.status = 3;
    o.updateS = now;
    o.shipments.push(code);
    return {};
  }

  // -- payload building ------------------------------------------------------------------------------

  private skuPay(s: SkuOrder): number {
    return s.originFen * s.num - s.shopFen - s.platformFen - s.talentFen - s.payFen + s.modifyFen;
  }

  private orderPay(o: ShopOrder): number {
    return o.skus.reduce((sum, s) => sum + this.skuPay(s), 0) + o.postFen;
  }

  private shopOrderJson(o: ShopOrder): Record<string, unknown> {
    const sum = (f: (s: SkuOrder) => number) => o.skus.reduce((t, s) => t + f(s), 0);
    return {
      shop_id: bigOut(this.shopId),
      order_id: o.orderId,
      order_level: 2,
      order_status: o.status,
      order_status_desc: STATUS_DESC[o.status],
      create_time: o.createS,
      update_time: o.updateS,
      ...(o.payS ? { pay_time: o.payS } : {}),
      order_amount: this.orderPay(o) + sum((s) => s.shopFen + s.platformFen + s.talentFen + s.payFen),
      pay_amount: this.orderPay(o),
      post_amount: o.postFen,
      modify_amount: sum((s) => s.modifyFen),
      promotion_amount: sum((s) => s.shopFen + s.platformFen + s.talentFen),
      promotion_shop_amount: sum((s) => s.shopFen),
      promotion_platform_amount: sum((s) => s.platformFen),
      promotion_talent_amount: sum((s) => s.talentFen),
      promotion_pay_amount: sum((s) => s.payFen),
      sku_order_list: o.skus.map((s) => ({
        order_id: s.orderId,
        parent_order_id: o.orderId,
        order_level: 3,
        order_status: s.status,
        create_time: o.createS,
        update_time: o.updateS,
        product_id: bigOut(s.product.productId),
        product_name: s.product.name,
        sku_id: bigOut(s.sku.skuId),
        code: s.sku.code,
        out_sku_id: s.sku.outSkuId,
        out_product_id: s.product.outProductId,
        spec: [{ name: '颜色', value: s.sku.outSkuId.split('-')[0] }],
        origin_amount: s.originFen,
        item_num: s.num,
        sum_amount: s.originFen * s.num,
        order_amount: this.skuPay(s) + s.shopFen + s.platformFen + s.talentFen + s.payFen,
        pay_amount: this.skuPay(s),
        modify_amount: s.modifyFen,
        promotion_amount: s.shopFen + s.platformFen + s.talentFen,
        promotion_shop_amount: s.shopFen,
        promotion_platform_amount: s.platformFen,
        promotion_talent_amount: s.talentFen,
        promotion_pay_amount: s.payFen,
        ...(s.gift ? { given_product_type: 'FREE', master_sku_order_id_list: [o.skus[0]!.orderId] } : {}),
        after_sale_info: s.afterSale
          ? {
              after_sale_status: s.afterSale.status,
              after_sale_type: s.afterSale.type,
              refund_status: s.afterSale.refundStatus,
            }
          : { after_sale_status: 0, after_sale_type: 0, refund_status: 0 },
      })),
    };
  }

  // -- generator -----------------------------------------------------------------------------------

  private pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.rng() * list.length)]!;
  }

  /**
   * A generated order, or undefined when the buyer finds nothing to buy: only SKUs in stock are
   * shown, and a line asking for more than its SKU holds is left out.
   */
  private createOrder(): ShopOrder | undefined {
    const inStock = (p: Product, s: Sku) => (this.stock.get(`${p.productId}:${s.skuId}`) ?? 0) > 0;
    const shown = this.products.filter((p) => p.skus.some((s) => inStock(p, s)));
    if (shown.length === 0) return undefined;
    const nowS = Math.floor(this.opts.now() / 1000);
    const spreadS = Math.floor(this.opts.spreadMs / 1000);
    const createS = nowS - 120 - Math.floor(this.rng() * Math.max(1, spreadS - 240));
    // Before anyone searched, orders make up a back history spread over the past. Once a
    // connector reads, new orders are updated now: one changed behind the connector's watermark
    // could never be pulled, which Douyin does not do.
    const spread = Math.floor(this.rng() * 1800);
    const updateS = this.searched
      ? Math.max(createS, nowS - (spread % 20))
      : Math.min(nowS - 60, createS + spread);
    const orderId = String(this.nextOrder);
    this.nextOrder += 1000n;
    const o: ShopOrder = {
      orderId,
      status: 1,
      createS,
      updateS,
      postFen: this.rng() < 0.4 ? 800 : 0,
      skus: [],
      shipments: [],
      taken: [],
    };
    const lines = 1 + Math.floor(this.rng() * 3);
    const used = new Set<string>();
    for (let i = 0; i < lines; i++) {
      const product = this.pick(shown);
      // An earlier line of this order may have taken a SKU's last units.
      const skus = product.skus.filter((s) => inStock(product, s));
      if (skus.length === 0) continue;
      const sku = this.pick(skus);
      if (used.has(sku.skuId)) continue;
      used.add(sku.skuId);
      const num = 1 + Math.floor(this.rng() * 3);
      const list = sku.priceFen * num;
      const shopFen = this.rng() < 0.5 ? Math.floor(list * 0.1) : 0;
      const platformFen = this.rng() < 0.3 ? 300 : 0;
      const talentFen = this.rng() < 0.2 ? 200 : 0;
      const payFen = this.rng() < 0.2 ? 100 : 0;
      const modifyFen = this.rng() < 0.1 ? -100 : 0;
      if (!takeUnits(this.stock, o.taken, `${product.productId}:${sku.skuId}`, num)) continue;
      o.skus.push({
        orderId: String(BigInt(orderId) + BigInt(i + 1)),
        product,
        sku,
        originFen: sku.priceFen,
        num,
        shopFen,
        platformFen,
        talentFen,
        payFen,
        modifyFen,
        gift: false,
        status: 1,
      });
    }
    if (o.skus.length === 0) return undefined;
    const gift = this.giftProduct.skus[0]!;
    if (
      this.rng() < 0.25 &&
      takeUnits(this.stock, o.taken, `${this.giftProduct.productId}:${gift.skuId}`, 1)
    ) {
      o.skus.push({
        orderId: String(BigInt(orderId) + 9n),
        product: this.giftProduct,
        sku: this.giftProduct.skus[0]!,
        originFen: 0,
        num: 1,
        shopFen: 0,
        platformFen: 0,
        talentFen: 0,
        payFen: 0,
        modifyFen: 0,
        gift: true,
        status: 1,
      });
    }
    const r = this.rng();
    const status =
      r < 0.1 ? 1 : r < 0.15 ? 105 : r < 0.45 ? 2 : r < 0.55 ? 101 : r < 0.72 ? 3 : r < 0.85 ? 5 : 4;
    const set = (s: number) => {
      for (const l of o.skus) l.status = s;
    };
    o.status = status;
    set(status);
    if (status !== 1) o.payS = createS + 30;
    if (status === 101) {
      set(2);
      o.skus[0]!.status = 3;
      if (o.skus.length === 1) o.status = 3;
    }
    if (status === 4 && this.rng() < 0.6) {
      // Cancelled after payment: every line refunded before shipping (未发货仅退款, 退款成功).
      o.payS = createS + 30;
      for (const l of o.skus) l.afterSale = { status: 12, type: 2, refundStatus: 3, updateS };
    }
    if ((status === 3 || status === 5) && this.rng() < 0.3) {
      const l = o.skus[0]!;
      l.afterSale =
        this.rng() < 0.5
          ? { status: 12, type: 0, refundStatus: 3, updateS }
          : { status: 6, type: 0, refundStatus: 1, updateS };
    }
    o.updateS = Math.max(updateS, createS);
    this.orders.set(orderId, o);
    this.settle(o);
    return o;
  }
}

const STATUS_DESC: Record<number, string> = {
  1: '待支付',
  105: '已支付',
  2: '备货中',
  101: '部分发货',
  3: '已发货',
  4: '已取消',
  5: '已完成',
};

// ---------------------------------------------------------------------------------------------
// Helpers (the sandbox's own; nothing shared with the connector)
// ---------------------------------------------------------------------------------------------

/** Reads a JSON object, turning integers of 16+ digits into private markers so none loses digits. */
function readJsonObject(text: string): Record<string, unknown> {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (/[-\d]/.test(c)) {
      let j = i + 1;
      while (j < text.length && /[\d.eE+-]/.test(text[j]!)) j++;
      const num = text.slice(i, j);
      out += /^-?\d{16,}$/.test(num) ? JSON.stringify(BIG + num) : num;
      i = j;
    } else {
      out += c;
      i++;
    }
  }
  const v = JSON.parse(out) as unknown;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
  return v as Record<string, unknown>;
}

/** A big-integer marker (or digits) as digits; undefined otherwise. */
function bigText(v: unknown): string | undefined {
  if (typeof v === 'string' && v.startsWith(BIG)) return v.slice(BIG.length);
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  if (typeof v === 'string' && /^\d{1,20}$/.test(v)) return v;
  return undefined;
}

/** An id written as a bare JSON integer, even above 2^53 (as Doudian writes product_id). */
function bigOut(digits: string): string {
  return BIG + digits;
}

/** Key-sorted, whitespace-free JSON (Go `encoding/json` of a map with HTML escaping off). */
function sortedJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .map((k) => `${JSON.stringify(k)}:${sortedJson(o[k])}`)
      .join(',')}}`;
  }
  if (typeof v === 'string' && v.startsWith(BIG)) return v.slice(BIG.length);
  return JSON.stringify(v);
}

/** JSON with big-integer markers written as bare digits. */
function writeJson(payload: unknown): string {
  return JSON.stringify(payload).replace(/"\\u0000big:(\d+)"/g, '$1');
}

/** `timestamp`: UNIX seconds, or `yyyy-MM-dd HH:mm:ss` at GMT+8 (older docs). */
function readTimestamp(s: string | undefined): number | undefined {
  if (!s) return undefined;
  if (/^\d{9,11}$/.test(s)) return Number(s);
  if (!/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(s)) return undefined;
  const ms = Date.parse(`${s.replace(' ', 'T')}+08:00`);
  return Number.isNaN(ms) ? undefined : ms / 1000;
}
