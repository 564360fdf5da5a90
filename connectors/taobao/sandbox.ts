/**
 * A local TOP gateway for the demo, the tests and the benchmark: an in-memory Taobao shop behind
 * `/router/rest` with TOP's parameters, signature check, timestamp skew, window and paging rules,
 * error shapes and code-7 throttling, as far as the public docs (notes §3) describe them.
 *
 * Written from the documentation only and sharing no code with the connector: its own signature
 * check, GMT+8 time handling, JSON building (ids written as bare 19-digit numbers, as TOP does) and
 * relay signing, so a mistake on either side shows up as a failing test. Node built-ins only.
 *
 * Served methods: `taobao.trades.sold.increment.get` (window <= 1 day, last 90 days, page_no /
 * page_size <= 100, `use_has_next`, modified-descending order, partial trades honouring
 * `fields`), `taobao.trade.fullinfo.get`, `taobao.refund.get`, `taobao.item.quantity.update`,
 * `taobao.skus.quantity.update` (<= 20 SKUs, all or nothing), `taobao.items.seller.list.get`
 * (<= 20 `num_iids`, unknown ids left out, `fields` honoured), `taobao.logistics.offline.send`.
 * Orders carry item discounts, 满减 / store coupons split per line with `part_mjz_discount`
 * (half-up, remainder on the last line: the docs' 5.00 over 79/119 -> 1.99/3.01), 改价
 * (`adjust_fee`), zero-price gift sub-orders, 满就送 gift items, cancellations and refunds.
 * TMC messages are POSTed to `webhookUrl` with stockd's relay signature (see the README).
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

export interface TaobaoSandboxOptions {
  /** Port; 0 (default) picks a free one. */
  port?: number;
  /** Interface; default 127.0.0.1. */
  host?: string;
  appKey?: string;
  appSecret?: string;
  /** The only session (access token) accepted. */
  session?: string;
  sellerNick?: string;
  /** Key of the relay HMAC on delivered TMC messages. */
  relaySecret?: string;
  /** Seed of the generator; default 1. */
  seed?: number;
  /** Items with 3 SKUs each; default 3 (plus one item without SKUs and two gift items). */
  items?: number;
  /** Starting quantity of every listing; default 100. */
  initialQuantity?: number;
  /** Calls allowed in a burst, and refilled per second; default 40 and 10. Beyond: code 7 and a ban. */
  throttle?: { capacity: number; refillPerSecond: number; banSeconds: number };
  /** Generated orders are created up to this long before "now"; default 6 hours. */
  spreadMs?: number;
  /** Where TMC messages are POSTed; unset = none. */
  webhookUrl?: string;
  /** Clock in epoch ms; default `Date.now`. */
  now?: () => number;
}

export interface StockPushRecord {
  numIid: string;
  skuId?: string;
  /** The quantity after the update. */
  quantity: number;
  method: string;
  at: number;
}

export interface HintRecord {
  topic: string;
  tid: string;
  messageId: string;
  status: number;
  body: string;
}

interface Sku {
  skuId: string;
  outerId: string;
  priceFen: number;
}
interface Item {
  numIid: string;
  title: string;
  outerId: string;
  priceFen: number;
  skus: Sku[];
}
interface SubRec {
  oid: string;
  item: Item;
  sku?: Sku;
  priceFen: number;
  num: number;
  discountFen: number;
  adjustFen: number;
  mjzFen: number;
  status: string;
  refundStatus: string;
  refundId?: string;
  consignMs?: number;
  itemPromo?: { promotionId: string; name: string };
}
interface PromoRec {
  id: string;
  promotionId: string;
  name: string;
  discountFen: number;
  gift?: { item: Item; num: number };
}
interface TradeRec {
  tid: string;
  status: string;
  createdMs: number;
  modifiedMs: number;
  payMs?: number;
  consignMs?: number;
  postFen: number;
  subs: SubRec[];
  promos: PromoRec[];
  shipments: string[];
  /** Units taken from the listings (gifts included), given back when the trade closes unshipped. */
  taken: TakenUnits;
}
interface RefundRec {
  refundId: string;
  tid: string;
  oid: string;
  status: string;
  feeFen: number;
  hasGoodReturn: boolean;
  num: number;
  modifiedMs: number;
}

class TopFault extends Error {
  constructor(
    readonly code: number,
    readonly msg: string,
    readonly subCode?: string,
    readonly subMsg?: string,
  ) {
    super(msg);
  }
}

const GMT8 = 8 * 3600_000;
const SKEW_MS = 10 * 60_000;
const ONE_DAY_MS = 86_400_000;
const SIGN_METHODS = new Set(['md5', 'hmac', 'hmac-sha256']);
const METHODS = new Set([
  'taobao.trades.sold.increment.get',
  'taobao.trade.fullinfo.get',
  'taobao.refund.get',
  'taobao.item.quantity.update',
  'taobao.skus.quantity.update',
  'taobao.items.seller.list.get',
  'taobao.logistics.offline.send',
]);
const NAMES = ['纯棉T恤', 'Thé vert 绿茶', '陶瓷马克杯', '运动袜', '台灯', '帆布包'];
/** The SKU names of every multi-SKU item, in SKU order. */
export const COLORS = ['红色', '黑色', '白色'];

export class TaobaoSandbox {
  readonly appKey: string;
  readonly appSecret: string;
  readonly session: string;
  readonly sellerNick: string;
  readonly relaySecret: string;
  /** Every stock update accepted, in order. */
  readonly pushes: StockPushRecord[] = [];
  /** Every TMC message delivered. */
  readonly hints: HintRecord[] = [];
  /** Every API call served: method, parameters (without sign/session) and the error code if any. */
  readonly calls: { method: string; params: Record<string, string>; code?: number }[] = [];
  readonly items: Item[] = [];
  readonly giftItems: Item[] = [];

  private readonly opts: Required<Omit<TaobaoSandboxOptions, 'webhookUrl'>> & { webhookUrl?: string };
  private readonly trades = new Map<string, TradeRec>();
  private readonly refunds = new Map<string, RefundRec>();
  private readonly stock = new Map<string, number>();
  private readonly inflight = new Set<http.ClientRequest>();
  private server: http.Server | undefined;
  private baseUrl: string | undefined;
  private rng: () => number;
  private nextTid = 4_100_000_000_000_000_000n;
  private nextOid = 4_100_000_500_000_000_000n;
  private nextRefund = 190_000_000_000_000n;
  private nextMessage = 7_000_000_000_000_000_001n;
  private readonly bucket: TokenBucket;
  private readonly faultInjector: FaultInjector;
  private bannedUntil = 0;

  constructor(options: TaobaoSandboxOptions = {}) {
    this.opts = {
      port: options.port ?? 0,
      host: options.host ?? '127.0.0.1',
      appKey: options.appKey ?? '12345678',
      appSecret: options.appSecret ?? 'sandbox_app_secret_0123456789ab',
      session: options.session ?? '6100e23657fb0b2d0c78sandbox',
      sellerNick: options.sellerNick ?? 'stockd沙箱店',
      relaySecret: options.relaySecret ?? 'sandbox-relay-secret-0123456789',
      seed: options.seed ?? 1,
      items: options.items ?? 3,
      initialQuantity: options.initialQuantity ?? 100,
      throttle: options.throttle ?? { capacity: 40, refillPerSecond: 10, banSeconds: 2 },
      spreadMs: options.spreadMs ?? 6 * 3600_000,
      now: options.now ?? Date.now,
      ...(options.webhookUrl ? { webhookUrl: options.webhookUrl } : {}),
    };
    this.appKey = this.opts.appKey;
    this.appSecret = this.opts.appSecret;
    this.session = this.opts.session;
    this.sellerNick = this.opts.sellerNick;
    this.relaySecret = this.opts.relaySecret;
    this.rng = mulberry32(this.opts.seed);
    this.bucket = new TokenBucket(this.opts.throttle.capacity);
    this.faultInjector = new FaultInjector(this.opts.seed, {
      isApi: (req) => new URL(req.url ?? '/', 'http://sandbox').pathname === '/router/rest',
      throttled: (seconds) => ({
        body: writeTop({
          error_response: {
            code: 7,
            msg: 'App Call Limited',
            sub_code: 'accesscontrol.limited-by-app-access-count',
            sub_msg: `This ban will last for ${Math.max(1, Math.ceil(seconds))} more seconds`,
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

  /** The gateway URL (`…/router/rest`). */
  get gatewayUrl(): string {
    return `${this.url}/router/rest`;
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

  /** Every listing id (`num_iid:sku_id`, or `num_iid` for an item without SKUs) and its quantity. */
  listings(): { listingId: string; quantity: number }[] {
    return [...this.stock].map(([listingId, quantity]) => ({ listingId, quantity }));
  }

  quantity(listingId: string): number | undefined {
    return this.stock.get(listingId);
  }

  setQuantity(listingId: string, quantity: number): void {
    if (!this.stock.has(listingId)) throw new Error(`unknown listing ${listingId}`);
    this.stock.set(listingId, quantity);
  }

  tids(): string[] {
    return [...this.trades.keys()];
  }

  /** The trade as `trade.fullinfo.get` would return it (JSON text with bare numeric ids). */
  tradeJson(tid: string): string | undefined {
    const t = this.trades.get(tid);
    return t ? writeTop({ trade: this.fullTrade(t) }) : undefined;
  }

  tradeStatus(tid: string): string | undefined {
    return this.trades.get(tid)?.status;
  }

  trackingNumbers(tid: string): string[] {
    return [...(this.trades.get(tid)?.shipments ?? [])];
  }

  /**
   * Creates up to `count` trades with the usual mix of promotions, gifts and lifecycle states.
   * Each takes its units (gifts included) from the listings; a line a listing cannot fill is left
   * out and a trade left without lines is not placed. Trades closed unshipped give them back.
   */
  generateOrders(count: number, options: { lifecycle?: boolean } = {}): string[] {
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      const t = this.createTrade(options.lifecycle !== false);
      if (t) out.push(t.tid);
    }
    return out;
  }

  /**
   * A buyer's paid trade (WAIT_SELLER_SEND_GOODS) of `quantity` units of one listing
   * (`num_iid:sku_id`, or `num_iid` for an item without SKUs) at list price, created now: takes
   * the units. Throws, placing nothing, for an unknown listing or one holding fewer units.
   */
  sell(listingId: string, quantity: number): string {
    return this.sellLines([{ listingId, quantity }]);
  }

  /**
   * A buyer's paid trade of several sub-orders (one per entry, in that order) at list price. All
   * or nothing: throws, placing nothing and taking no units, when a listing is unknown or holds
   * fewer units than its line.
   */
  sellLines(lines: readonly { listingId: string; quantity: number }[]): string {
    if (lines.length === 0) throw new RangeError('a trade needs at least one line');
    for (const l of lines) checkSellQuantity(l.quantity);
    const taken: TakenUnits = [];
    const picked = lines.map(({ listingId, quantity }) => {
      const [numIid, skuId] = listingId.split(':');
      const item = [...this.items, ...this.giftItems].find((i) => i.numIid === numIid);
      const sku = skuId === undefined ? undefined : item?.skus.find((x) => x.skuId === skuId);
      const have = this.stock.get(listingId);
      if (!item || have === undefined || (skuId !== undefined && !sku)) {
        giveBack(this.stock, taken);
        throw new Error(`unknown listing ${listingId}`);
      }
      if (!takeUnits(this.stock, taken, listingId, quantity)) {
        giveBack(this.stock, taken);
        throw new Error(`cannot sell ${quantity} of ${listingId}: only ${have} in stock`);
      }
      return { item, sku, quantity };
    });
    const now = this.opts.now();
    const t = this.newTrade(now, 0);
    t.taken = taken;
    for (const { item, sku, quantity } of picked)
      t.subs.push(this.sub(item, sku, sku?.priceFen ?? item.priceFen, quantity));
    this.pay(t, now);
    return t.tid;
  }

  /**
   * Closes an unshipped trade as TOP does: unpaid -> TRADE_CLOSED_BY_TAOBAO; paid -> every paying
   * sub-order refunded (SUCCESS) and TRADE_CLOSED. Modified now; the units go back. Throws for an
   * unknown, closed or (partly) shipped trade.
   */
  cancel(tid: string): void {
    const t = this.trades.get(tid);
    if (!t) throw new Error(`no trade ${tid}`);
    if (t.status === 'TRADE_CLOSED' || t.status === 'TRADE_CLOSED_BY_TAOBAO')
      throw new Error(`trade ${tid} is already closed`);
    if (
      t.consignMs !== undefined ||
      (t.status !== 'WAIT_BUYER_PAY' && t.status !== 'WAIT_SELLER_SEND_GOODS')
    ) {
      throw new Error(`trade ${tid} is ${t.status}: shipped trades cannot be cancelled`);
    }
    const now = this.sec(this.opts.now());
    if (t.status === 'WAIT_BUYER_PAY') {
      t.status = 'TRADE_CLOSED_BY_TAOBAO';
      for (const s of t.subs) s.status = 'TRADE_CLOSED_BY_TAOBAO';
    } else {
      const open = t.subs.filter((s) => this.subPayment(s) > 0 && s.refundStatus !== 'SUCCESS');
      this.refund(t, open, 'SUCCESS', false, now);
      this.closeAll(t);
    }
    t.modifiedMs = now;
    this.settle(t);
  }

  /**
   * The docs' worked example (docId 108471): two lines 108 - 29 = 79 and 269 - 150 = 119, a 5.00
   * 满减 split 1.99 / 3.01, postage 5.00, payment 198.00. Status WAIT_SELLER_SEND_GOODS.
   */
  createWorkedExample(): string {
    const now = this.opts.now();
    const [a, b] = [this.items[0]!, this.items[1]!];
    const t = this.newTrade(now - 3600_000, 500);
    t.subs.push(this.sub(a, a.skus[0], 10800, 1, 2900), this.sub(b, b.skus[0], 26900, 1, 15000));
    for (const s of t.subs) takeUnits(this.stock, t.taken, this.listingOf(s.item, s.sku), 1);
    this.addTradePromo(t, { promotionId: 'mjs-123024_211143', name: '满100元减5元', discountFen: 500 });
    this.pay(t, t.createdMs + 60_000);
    return t.tid;
  }

  /** Moves a trade on, e.g. to test a later pull. */
  touch(tid: string, status?: string): void {
    const t = this.trades.get(tid);
    if (!t) throw new Error(`no trade ${tid}`);
    if (status) t.status = status;
    t.modifiedMs = this.sec(this.opts.now());
    this.settle(t);
  }

  /** TOP puts a trade's units back when it closes before anything shipped. */
  private settle(t: TradeRec): void {
    const closed = t.status === 'TRADE_CLOSED_BY_TAOBAO' || t.status === 'TRADE_CLOSED';
    if (closed && t.consignMs === undefined) giveBack(this.stock, t.taken);
  }

  // -- TMC messages ---------------------------------------------------------------------------------

  /** Builds one relayed TMC message (body + headers), signed with the relay secret (or `secret`). */
  hintFor(
    topic: string,
    tid: string,
    secret = this.relaySecret,
  ): { body: Buffer; headers: Record<string, string>; messageId: string } {
    const t = this.trades.get(tid);
    const messageId = String(this.nextMessage++);
    const content = `{"tid":${tid},"seller_nick":${JSON.stringify(this.sellerNick)},"status":${JSON.stringify(
      t?.status ?? 'WAIT_BUYER_PAY',
    )},"payment":"${fen(t ? this.tradePayment(t) : 0)}"}`;
    const body = Buffer.from(
      `{"id":${messageId},"topic":${JSON.stringify(topic)},"pub_time":"${topTime(this.opts.now())}",` +
        `"pub_app_key":"${this.appKey}","user_id":2200000000001,"user_nick":${JSON.stringify(this.sellerNick)},` +
        `"content":${JSON.stringify(content)}}`,
      'utf8',
    );
    const ts = String(Math.floor(this.opts.now() / 1000));
    const sig = createHmac('sha256', secret).update(`${ts}\n`).update(body).digest('hex').toUpperCase();
    return {
      body,
      messageId,
      headers: {
        'content-type': 'application/json;charset=utf-8',
        'x-top-relay-signature': sig,
        'x-top-relay-timestamp': ts,
      },
    };
  }

  /** POSTs one TMC message about `tid` to `webhookUrl` (one attempt). */
  async deliverHint(topic: string, tid: string): Promise<HintRecord> {
    const target = this.opts.webhookUrl;
    if (!target) throw new Error('no webhookUrl configured');
    const h = this.hintFor(topic, tid);
    const status = await postDelivery(target, h.headers, h.body, this.inflight);
    const rec = { topic, tid, messageId: h.messageId, status, body: h.body.toString('utf8') };
    this.hints.push(rec);
    return rec;
  }

  // -- HTTP -------------------------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    if (url.pathname !== '/router/rest') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const body = await readBody(req, 2 * 1024 * 1024);
    const params: Record<string, string> = {};
    for (const [k, v] of url.searchParams) params[k] = v;
    if (req.method === 'POST' && body.length > 0) {
      for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params[k] = v;
    }
    const method = params.method ?? '';
    const logged = Object.fromEntries(
      Object.entries(params).filter(([k]) => k !== 'sign' && k !== 'session'),
    );
    try {
      const payload = this.dispatch(params);
      this.calls.push({ method, params: logged });
      const key = `${method
        .replace(/^taobao\./, '')
        .split('.')
        .join('_')}_response`;
      this.reply(res, { [key]: { ...payload, request_id: this.requestId() } });
    } catch (err) {
      if (!(err instanceof TopFault)) throw err;
      this.calls.push({ method, params: logged, code: err.code });
      this.reply(res, {
        error_response: {
          code: err.code,
          msg: err.msg,
          ...(err.subCode ? { sub_code: err.subCode } : {}),
          ...(err.subMsg ? { sub_msg: err.subMsg } : {}),
          request_id: this.requestId(),
        },
      });
    }
  }

  private reply(res: http.ServerResponse, payload: unknown): void {
    const text = writeTop(payload);
    res.writeHead(200, { 'content-type': 'application/json;charset=UTF-8' }).end(text);
  }

  private requestId(): string {
    return Math.floor(this.rng() * 36 ** 8).toString(36);
  }

  private dispatch(p: Record<string, string>): Record<string, unknown> {
    if (!p.method) throw new TopFault(21, 'Missing Method');
    if (!p.app_key) throw new TopFault(28, 'Missing App Key');
    if (p.app_key !== this.appKey) throw new TopFault(29, 'Invalid App Key');
    if (!p.timestamp) throw new TopFault(30, 'Missing Timestamp');
    const ts = parseGmt8(p.timestamp);
    if (ts === undefined || Math.abs(ts - this.opts.now()) > SKEW_MS) {
      throw new TopFault(31, 'Invalid Timestamp', undefined, 'timestamp must be GMT+8 within 10 minutes');
    }
    if (p.v !== '2.0') throw new TopFault(34, 'Unsupported Version');
    if (p.format !== undefined && p.format !== 'json') throw new TopFault(23, 'Invalid Format');
    const signMethod = p.sign_method ?? 'md5';
    if (!SIGN_METHODS.has(signMethod))
      throw new TopFault(25, 'Invalid Signature', undefined, 'unknown sign_method');
    if (!p.sign) throw new TopFault(24, 'Missing Signature');
    if (!this.signatureOk(p, signMethod)) throw new TopFault(25, 'Invalid Signature');
    this.throttle();
    if (!p.session) throw new TopFault(26, 'Missing Session');
    if (p.session !== this.session)
      throw new TopFault(27, 'Invalid session', 'invalid-sessionkey', 'SessionKey非法');
    if (!METHODS.has(p.method)) throw new TopFault(22, 'Invalid Method');
    switch (p.method) {
      case 'taobao.trades.sold.increment.get':
        return this.incrementGet(p);
      case 'taobao.trade.fullinfo.get':
        return { trade: this.fullTrade(this.tradeOf(p.tid)) };
      case 'taobao.refund.get':
        return this.refundGet(p);
      case 'taobao.item.quantity.update':
        return this.itemQuantityUpdate(p);
      case 'taobao.skus.quantity.update':
        return this.skusQuantityUpdate(p);
      case 'taobao.items.seller.list.get':
        return this.itemsSellerListGet(p);
      default:
        return this.offlineSend(p);
    }
  }

  /** The sandbox's own reading of notes §3.2: sorted key+value, secret-wrapped md5 or HMAC, hex. */
  private signatureOk(p: Record<string, string>, signMethod: string): boolean {
    const keys = Object.keys(p).filter((k) => k !== 'sign' && p[k] !== '');
    keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    let text = '';
    for (const k of keys) text += k + p[k];
    let expected: Buffer;
    if (signMethod === 'md5') {
      expected = createHash('md5')
        .update(Buffer.from(this.appSecret + text + this.appSecret, 'utf8'))
        .digest();
    } else {
      const algo = signMethod === 'hmac' ? 'md5' : 'sha256';
      expected = createHmac(algo, Buffer.from(this.appSecret, 'utf8'))
        .update(Buffer.from(text, 'utf8'))
        .digest();
    }
    const given = p.sign ?? '';
    // TOP compares the uppercase hex; lowercase is not what the docs produce.
    if (!/^[0-9A-F]+$/.test(given) || given.length !== expected.length * 2) return false;
    return timingSafeEqual(Buffer.from(given, 'hex'), expected);
  }

  private throttle(): void {
    const now = this.opts.now();
    const t = this.opts.throttle;
    if (now < this.bannedUntil) throw this.banFault(now);
    if (!this.bucket.take(now, t)) {
      this.bannedUntil = now + t.banSeconds * 1000;
      throw this.banFault(now);
    }
  }

  private banFault(now: number): TopFault {
    const left = Math.max(1, Math.ceil((this.bannedUntil - now) / 1000));
    return new TopFault(
      7,
      'App Call Limited',
      'accesscontrol.limited-by-app-access-count',
      `This ban will last for ${left} more seconds`,
    );
  }

  private need(p: Record<string, string>, name: string): string {
    const v = p[name];
    if (v === undefined || v === '') {
      throw new TopFault(
        40,
        'Missing Required Arguments',
        `isv.missing-parameter:${name}`,
        `${name} is required`,
      );
    }
    return v;
  }

  private invalid(name: string, why: string): TopFault {
    return new TopFault(41, 'Invalid Arguments', `isv.invalid-parameter:${name}`, why);
  }

  private incrementGet(p: Record<string, string>): Record<string, unknown> {
    const fields = this.need(p, 'fields')
      .split(',')
      .map((f) => f.trim());
    const start = parseGmt8(this.need(p, 'start_modified'));
    const end = parseGmt8(this.need(p, 'end_modified'));
    if (start === undefined) throw this.invalid('start_modified', 'not yyyy-MM-dd HH:mm:ss');
    if (end === undefined) throw this.invalid('end_modified', 'not yyyy-MM-dd HH:mm:ss');
    if (end < start) throw this.invalid('end_modified', 'end_modified must not be before start_modified');
    if (end - start > ONE_DAY_MS)
      throw this.invalid('start_modified', '起始时间和结束时间的间隔不能超过一天');
    if (start < this.opts.now() - 90 * ONE_DAY_MS)
      throw this.invalid('start_modified', '只能查询三个月内的订单');
    const pageNo = p.page_no === undefined ? 1 : Number(p.page_no);
    const pageSize = p.page_size === undefined ? 40 : Number(p.page_size);
    if (!Number.isInteger(pageNo) || pageNo < 1) throw this.invalid('page_no', 'page_no must be >= 1');
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 100) {
      throw this.invalid('page_size', 'page_size must be 1..100');
    }
    const matched = [...this.trades.values()]
      .filter((t) => t.modifiedMs >= start && t.modifiedMs <= end)
      .filter((t) => !p.status || t.status === p.status)
      .sort((a, b) => b.modifiedMs - a.modifiedMs || (BigInt(b.tid) > BigInt(a.tid) ? 1 : -1));
    const slice = matched.slice((pageNo - 1) * pageSize, pageNo * pageSize);
    const out: Record<string, unknown> = {};
    if (p.use_has_next === 'true') out.has_next = pageNo * pageSize < matched.length;
    else out.total_results = matched.length;
    if (slice.length > 0) {
      out.trades = {
        trade: slice.map((t) => {
          const partial = this.partialTrade(t);
          return Object.fromEntries(Object.entries(partial).filter(([k]) => fields.includes(k)));
        }),
      };
    }
    return out;
  }

  private tradeOf(tid: string | undefined): TradeRec {
    if (!tid)
      throw new TopFault(40, 'Missing Required Arguments', 'isv.missing-parameter:tid', 'tid is required');
    const t = this.trades.get(tid);
    if (!t) throw new TopFault(15, 'Remote service error', 'isv.trade-not-exist', `交易${tid}不存在`);
    return t;
  }

  private refundGet(p: Record<string, string>): Record<string, unknown> {
    const r = this.refunds.get(this.need(p, 'refund_id'));
    if (!r) throw new TopFault(15, 'Remote service error', 'isv.refund-not-exist', '退款不存在');
    return {
      refund: {
        refund_id: r.refundId,
        tid: r.tid,
        oid: r.oid,
        status: r.status,
        refund_fee: fen(r.feeFen),
        has_good_return: r.hasGoodReturn,
        num: r.num,
        modified: topTime(r.modifiedMs),
      },
    };
  }

  private itemQuantityUpdate(p: Record<string, string>): Record<string, unknown> {
    const numIid = this.need(p, 'num_iid');
    const quantity = Number(this.need(p, 'quantity'));
    const type = p.type === undefined ? 1 : Number(p.type);
    if (type !== 1 && type !== 2) throw this.invalid('type', 'type must be 1 or 2');
    if (!Number.isInteger(quantity)) throw this.invalid('quantity', 'quantity must be an integer');
    const item =
      this.items.find((i) => i.numIid === numIid) ?? this.giftItems.find((i) => i.numIid === numIid);
    if (!item) throw new TopFault(15, 'Remote service error', 'isv.item-not-exist', `商品${numIid}不存在`);
    let key = numIid;
    if (p.sku_id) {
      if (!item.skus.some((s) => s.skuId === p.sku_id)) {
        throw new TopFault(15, 'Remote service error', 'isv.sku-not-exist', `SKU ${p.sku_id} 不存在`);
      }
      key = `${numIid}:${p.sku_id}`;
    } else if (item.skus.length > 0) {
      throw this.invalid('sku_id', 'this item has SKUs: give sku_id or outer_id');
    }
    const next = type === 1 ? quantity : (this.stock.get(key) ?? 0) + quantity;
    if (next < 0) throw this.invalid('quantity', 'quantity would drop below 0');
    this.stock.set(key, next);
    this.pushes.push({
      numIid,
      ...(p.sku_id ? { skuId: p.sku_id } : {}),
      quantity: next,
      method: 'taobao.item.quantity.update',
      at: this.opts.now(),
    });
    return { item: { num_iid: numIid, num: this.itemTotal(item), modified: topTime(this.opts.now()) } };
  }

  private skusQuantityUpdate(p: Record<string, string>): Record<string, unknown> {
    const numIid = this.need(p, 'num_iid');
    const spec = this.need(p, 'skuid_quantities');
    const type = p.type === undefined ? 1 : Number(p.type);
    if (type !== 1 && type !== 2) throw this.invalid('type', 'type must be 1 or 2');
    const pairs = spec
      .split(';')
      .filter(Boolean)
      .map((x) => x.split(':'));
    if (pairs.length === 0 || pairs.length > 20)
      throw this.invalid('skuid_quantities', '1..20 SKUs per call');
    const item = this.items.find((i) => i.numIid === numIid);
    if (!item) throw new TopFault(15, 'Remote service error', 'isv.item-not-exist', `商品${numIid}不存在`);
    const planned: [string, string, number][] = [];
    for (const pair of pairs) {
      const [sku, q] = pair;
      if (pair.length !== 2 || !sku || !/^-?\d+$/.test(q ?? ''))
        throw this.invalid('skuid_quantities', 'sku:qty;...');
      if (!item.skus.some((s) => s.skuId === sku)) {
        throw new TopFault(15, 'Remote service error', 'isv.sku-not-exist', `SKU ${sku} 不存在`);
      }
      const key = `${numIid}:${sku}`;
      const next = type === 1 ? Number(q) : (this.stock.get(key) ?? 0) + Number(q);
      if (next < 0) throw this.invalid('skuid_quantities', 'quantity would drop below 0');
      planned.push([key, sku, next]);
    }
    for (const [key, sku, next] of planned) {
      this.stock.set(key, next);
      this.pushes.push({
        numIid,
        skuId: sku,
        quantity: next,
        method: 'taobao.skus.quantity.update',
        at: this.opts.now(),
      });
    }
    return { item: { num_iid: numIid, num: this.itemTotal(item), modified: topTime(this.opts.now()) } };
  }

  /**
   * The seller's own items by `num_iids` (<= 20); ids it does not know are left out, not an error.
   * `fields` picks item fields; `sku` returns every SKU field under `skus.sku`, `sku.<f>` only
   * those.
   */
  private itemsSellerListGet(p: Record<string, string>): Record<string, unknown> {
    const fields = this.need(p, 'fields')
      .split(',')
      .map((f) => f.trim());
    const ids = this.need(p, 'num_iids')
      .split(',')
      .map((id) => id.trim());
    if (ids.length > 20) throw this.invalid('num_iids', 'at most 20 num_iids per call');
    const skuFields = fields.filter((f) => f.startsWith('sku.')).map((f) => f.slice(4));
    const pick = (o: Record<string, unknown>, keep: (k: string) => boolean) =>
      Object.fromEntries(Object.entries(o).filter(([k]) => keep(k)));
    const found = [...this.items, ...this.giftItems].filter((i) => ids.includes(i.numIid));
    if (found.length === 0) return {};
    return {
      items: {
        item: found.map((item) => {
          const skus = item.skus.map((k) =>
            pick(
              {
                sku_id: k.skuId,
                num_iid: item.numIid,
                outer_id: k.outerId,
                price: fen(k.priceFen),
                quantity: this.stock.get(this.listingOf(item, k)) ?? 0,
                status: 'normal',
              },
              (f) => fields.includes('sku') || skuFields.includes(f),
            ),
          );
          const full: Record<string, unknown> = {
            num_iid: item.numIid,
            title: item.title,
            outer_id: item.outerId,
            price: fen(item.priceFen),
            num: this.itemTotal(item),
          };
          return {
            ...pick(full, (f) => fields.includes(f)),
            ...(skus.length > 0 && (fields.includes('sku') || skuFields.length > 0)
              ? { skus: { sku: skus } }
              : {}),
          };
        }),
      },
    };
  }

  private offlineSend(p: Record<string, string>): Record<string, unknown> {
    const t = this.tradeOf(this.need(p, 'tid'));
    const outSid = this.need(p, 'out_sid');
    const company = this.need(p, 'company_code');
    if (!/^[A-Z0-9_]{2,20}$/.test(company)) {
      throw new TopFault(15, 'Remote service error', 'isv.logistics-company-not-exist', '物流公司不存在');
    }
    if (t.status !== 'WAIT_SELLER_SEND_GOODS' && t.status !== 'SELLER_CONSIGNED_PART') {
      throw new TopFault(
        15,
        'Remote service error',
        'isv.logistics-offline-service-error:B04',
        '订单状态不允许发货',
      );
    }
    const wanted = p.sub_tid ? new Set(p.sub_tid.split(',')) : undefined;
    const now = this.sec(this.opts.now());
    const open = t.subs.filter((s) => s.status === 'WAIT_SELLER_SEND_GOODS');
    const shipping = open.filter((s) => !wanted || wanted.has(s.oid));
    if (shipping.length === 0) {
      throw new TopFault(
        15,
        'Remote service error',
        'isv.logistics-offline-service-error:B27',
        '没有可发货的子订单',
      );
    }
    for (const s of shipping) {
      s.status = 'WAIT_BUYER_CONFIRM_GOODS';
      s.consignMs = now;
    }
    t.status = shipping.length === open.length ? 'WAIT_BUYER_CONFIRM_GOODS' : 'SELLER_CONSIGNED_PART';
    t.consignMs ??= now;
    t.modifiedMs = now;
    t.shipments.push(outSid);
    return { shipping: { is_success: true } };
  }

  // -- payload building ------------------------------------------------------------------------------

  private subPayment(s: SubRec): number {
    return s.priceFen * s.num + s.adjustFen - s.discountFen;
  }

  private tradePayment(t: TradeRec): number {
    return t.subs.reduce((sum, s) => sum + this.subPayment(s) - s.mjzFen, 0) + t.postFen;
  }

  private partialTrade(t: TradeRec): Record<string, unknown> {
    return {
      tid: t.tid,
      status: t.status,
      modified: topTime(t.modifiedMs),
      created: topTime(t.createdMs),
      payment: fen(this.tradePayment(t)),
      orders: {
        order: t.subs.map((s) => ({ oid: s.oid, num_iid: s.item.numIid, num: s.num, status: s.status })),
      },
    };
  }

  private fullTrade(t: TradeRec): Record<string, unknown> {
    const single = t.subs.length === 1;
    const payment = this.tradePayment(t);
    const details: Record<string, unknown>[] = [];
    for (const s of t.subs) {
      if (s.itemPromo && s.discountFen > 0) {
        details.push({
          id: s.oid,
          promotion_id: s.itemPromo.promotionId,
          promotion_name: s.itemPromo.name,
          promotion_desc: `${s.itemPromo.name}:省${fen(s.discountFen)}元`,
          discount_fee: fen(s.discountFen),
        });
      }
    }
    for (const pr of t.promos) {
      details.push({
        id: pr.id,
        promotion_id: pr.promotionId,
        promotion_name: pr.name,
        discount_fee: fen(pr.discountFen),
        ...(pr.gift
          ? {
              gift_item_id: pr.gift.item.numIid,
              gift_item_name: pr.gift.item.title,
              gift_item_num: String(pr.gift.num),
            }
          : {}),
      });
    }
    return {
      tid: t.tid,
      status: t.status,
      created: topTime(t.createdMs),
      modified: topTime(t.modifiedMs),
      ...(t.payMs ? { pay_time: topTime(t.payMs) } : {}),
      ...(t.consignMs ? { consign_time: topTime(t.consignMs) } : {}),
      seller_nick: this.sellerNick,
      payment: fen(payment),
      post_fee: fen(t.postFen),
      total_fee: fen(t.subs.reduce((x, s) => x + s.priceFen * s.num, 0)),
      discount_fee: fen(t.promos.reduce((x, pr) => x + pr.discountFen, 0)),
      adjust_fee: fen(t.subs.reduce((x, s) => x + s.adjustFen, 0)),
      ...(details.length > 0 ? { promotion_details: { promotion_detail: details } } : {}),
      orders: {
        order: t.subs.map((s) => {
          const linePay = this.subPayment(s);
          return {
            oid: s.oid,
            num_iid: s.item.numIid,
            ...(s.sku ? { sku_id: s.sku.skuId, outer_sku_id: s.sku.outerId } : {}),
            outer_iid: s.item.outerId,
            title: s.item.title,
            price: fen(s.priceFen),
            num: s.num,
            total_fee: fen(s.priceFen * s.num - s.discountFen),
            discount_fee: fen(s.discountFen),
            adjust_fee: fen(s.adjustFen),
            // Single-line trades: the sub-order payment is the trade's (notes §3.4).
            payment: fen(single ? payment : linePay),
            part_mjz_discount: fen(s.mjzFen),
            divide_order_fee: fen(linePay - s.mjzFen),
            status: s.status,
            refund_status: s.refundStatus,
            ...(s.refundId ? { refund_id: s.refundId } : {}),
            ...(s.consignMs ? { consign_time: topTime(s.consignMs) } : {}),
          };
        }),
      },
    };
  }

  // -- generator ----------------------------------------------------------------------------------------

  private buildCatalog(): void {
    let iid = 600_000_000_001;
    let sku = 5_000_000_000_001;
    for (let i = 0; i < this.opts.items; i++) {
      const price = (39 + Math.floor(this.rng() * 200)) * 100;
      const item: Item = {
        numIid: String(iid++),
        title: `${NAMES[i % NAMES.length]} ${i + 1}`,
        outerId: `ITEM-${i + 1}`,
        priceFen: price,
        skus: COLORS.map((_colour, j) => ({
          skuId: String(sku++),
          outerId: `ITEM-${i + 1}-${j + 1}`,
          priceFen: price + j * 500,
        })),
      };
      this.items.push(item);
    }
    this.items.push({
      numIid: String(iid++),
      title: '单规格帆布包',
      outerId: 'BAG-1',
      priceFen: 5900,
      skus: [],
    });
    for (let g = 0; g < 2; g++) {
      this.giftItems.push({
        numIid: String(iid++),
        title: `赠品小样 ${g + 1}`,
        outerId: `GIFT-${g + 1}`,
        priceFen: 0,
        skus: [],
      });
    }
    for (const item of [...this.items, ...this.giftItems]) {
      if (item.skus.length === 0) this.stock.set(item.numIid, this.opts.initialQuantity);
      for (const s of item.skus) this.stock.set(`${item.numIid}:${s.skuId}`, this.opts.initialQuantity);
    }
  }

  private itemTotal(item: Item): number {
    if (item.skus.length === 0) return this.stock.get(item.numIid) ?? 0;
    return item.skus.reduce((n, s) => n + (this.stock.get(`${item.numIid}:${s.skuId}`) ?? 0), 0);
  }

  private sec(ms: number): number {
    return Math.floor(ms / 1000) * 1000;
  }

  private newTrade(createdMs: number, postFen: number): TradeRec {
    const tid = String(this.nextTid);
    this.nextTid += 1_000_003n;
    const t: TradeRec = {
      tid,
      status: 'WAIT_BUYER_PAY',
      createdMs: this.sec(createdMs),
      modifiedMs: this.sec(createdMs),
      postFen,
      subs: [],
      promos: [],
      shipments: [],
      taken: [],
    };
    this.trades.set(tid, t);
    return t;
  }

  private sub(item: Item, sku: Sku | undefined, priceFen: number, num: number, discountFen = 0): SubRec {
    const oid = String(this.nextOid);
    this.nextOid += 7n;
    return {
      oid,
      item,
      ...(sku ? { sku } : {}),
      priceFen,
      num,
      discountFen,
      adjustFen: 0,
      mjzFen: 0,
      status: 'WAIT_BUYER_PAY',
      refundStatus: 'NO_REFUND',
      ...(discountFen > 0
        ? { itemPromo: { promotionId: `Tmall$tmallItemPromotion-${item.numIid}_1`, name: '限时打折' } }
        : {}),
    };
  }

  /** Adds a trade-level promotion and re-splits every trade-level amount over the paying lines. */
  private addTradePromo(t: TradeRec, p: { promotionId: string; name: string; discountFen: number }): void {
    t.promos.push({ id: t.tid, ...p });
    const total = t.promos.reduce((s, x) => s + x.discountFen, 0);
    const paying = t.subs.filter((s) => this.subPayment(s) > 0);
    const base = paying.reduce((s, x) => s + this.subPayment(x), 0);
    let given = 0;
    paying.forEach((s, i) => {
      // Half-up share of each line's payment; the last line takes the remainder (docId 108471).
      s.mjzFen =
        i === paying.length - 1
          ? total - given
          : Math.floor((2 * total * this.subPayment(s) + base) / (2 * base));
      given += s.mjzFen;
    });
  }

  private pay(t: TradeRec, at: number): void {
    t.status = 'WAIT_SELLER_SEND_GOODS';
    t.payMs = this.sec(at);
    t.modifiedMs = t.payMs;
    for (const s of t.subs) s.status = 'WAIT_SELLER_SEND_GOODS';
  }

  private pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.rng() * list.length)]!;
  }

  /** The stock key of an item (and SKU). */
  private listingOf(item: Item, sku: Sku | undefined): string {
    return sku ? `${item.numIid}:${sku.skuId}` : item.numIid;
  }

  /**
   * A generated trade, or undefined when the buyer finds nothing to buy: only listings in stock
   * are shown, and a line asking for more than its listing holds is left out.
   */
  private createTrade(lifecycle: boolean): TradeRec | undefined {
    const inStock = (item: Item, sku?: Sku) => (this.stock.get(this.listingOf(item, sku)) ?? 0) > 0;
    const shownSkus = (item: Item) => item.skus.filter((s) => inStock(item, s));
    const shown = this.items.filter((i) => (i.skus.length === 0 ? inStock(i) : shownSkus(i).length > 0));
    if (shown.length === 0) return undefined;
    const now = this.opts.now();
    const created = now - 120_000 - Math.floor(this.rng() * this.opts.spreadMs);
    const t = this.newTrade(created, this.pick([0, 0, 500, 800]));
    const lines = 1 + Math.floor(this.rng() * 3);
    const used = new Set<string>();
    for (let i = 0; i < lines; i++) {
      const item = this.pick(shown);
      // An earlier line of this trade may have taken a listing's last units.
      const skus = shownSkus(item);
      if (item.skus.length > 0 && skus.length === 0) continue;
      const sku = item.skus.length > 0 ? this.pick(skus) : undefined;
      const key = `${item.numIid}:${sku?.skuId ?? ''}`;
      if (used.has(key)) continue;
      used.add(key);
      const price = sku?.priceFen ?? item.priceFen;
      const num = 1 + Math.floor(this.rng() * 3);
      const discount =
        this.rng() < 0.4 ? Math.floor((price * num * (5 + Math.floor(this.rng() * 25))) / 10_000) * 100 : 0;
      if (!takeUnits(this.stock, t.taken, this.listingOf(item, sku), num)) continue;
      t.subs.push(this.sub(item, sku, price, num, discount));
    }
    if (t.subs.length === 0) {
      this.trades.delete(t.tid);
      return undefined;
    }
    if (this.rng() < 0.15) {
      const first = t.subs[0]!;
      if (this.subPayment(first) > 1000) first.adjustFen = -300; // 改价: the seller took 3.00 off
    }
    if (this.rng() < 0.2) {
      // Tmall gift tool: a zero-price sub-order, sent only while the gift is in stock.
      const gift = this.pick(this.giftItems);
      if (takeUnits(this.stock, t.taken, gift.numIid, 1)) t.subs.push(this.sub(gift, undefined, 0, 1));
    }
    const goods = t.subs.reduce((s, x) => s + this.subPayment(x), 0);
    const r = this.rng();
    if (r < 0.45) {
      const [threshold, off] =
        goods >= 20_000 ? [20_000, 2000] : goods >= 10_000 ? [10_000, 1000] : [5000, 500];
      if (goods >= threshold) {
        this.addTradePromo(t, {
          promotionId: `mjs-${123024 + Math.floor(this.rng() * 9)}_211143`,
          name: `满${threshold / 100}减${off / 100}`,
          discountFen: off,
        });
      }
    }
    if (r > 0.3 && r < 0.55 && goods > 3000) {
      this.addTradePromo(t, {
        promotionId: `shopbonus-${Math.floor(this.rng() * 1e6)}`,
        name: '店铺优惠券',
        discountFen: 300,
      });
    }
    if (this.rng() < 0.12) {
      const gift = this.pick(this.giftItems);
      if (takeUnits(this.stock, t.taken, gift.numIid, 1)) {
        t.promos.push({
          id: t.tid,
          promotionId: `mjs-555001_900${t.promos.length}`,
          name: '满就送赠品',
          discountFen: 0,
          gift: { item: gift, num: 1 },
        });
      }
    }
    if (lifecycle) this.lifecycle(t, now);
    this.settle(t);
    return t;
  }

  private lifecycle(t: TradeRec, now: number): void {
    const step = () => Math.max(1000, Math.floor(((now - t.modifiedMs) * this.rng()) / 3));
    const at = () => this.sec(Math.min(now - 1000, t.modifiedMs + step()));
    const r = this.rng();
    if (r < 0.15) return; // WAIT_BUYER_PAY
    if (r < 0.23) {
      t.status = 'TRADE_CLOSED_BY_TAOBAO';
      for (const s of t.subs) s.status = 'TRADE_CLOSED_BY_TAOBAO';
      t.modifiedMs = at();
      return;
    }
    this.pay(t, at());
    const paid = t.subs.filter((s) => this.subPayment(s) > 0);
    const q = this.rng();
    if (q < 0.3) return; // waiting for shipment
    if (q < 0.42 && paid.length > 0) {
      // Partial refund before shipping (or all of a single-line trade).
      this.refund(t, [paid[0]!], 'SUCCESS', false, at());
      if (paid.length === 1) this.closeAll(t);
      return;
    }
    if (q < 0.5) {
      this.refund(t, paid, 'SUCCESS', false, at());
      this.closeAll(t);
      return;
    }
    const ship = (subs: SubRec[], m: number) => {
      for (const s of subs) {
        s.status = 'WAIT_BUYER_CONFIRM_GOODS';
        s.consignMs = m;
      }
      t.consignMs ??= m;
      t.modifiedMs = m;
    };
    if (q < 0.58 && t.subs.length > 1) {
      ship([t.subs[0]!], at());
      t.status = 'SELLER_CONSIGNED_PART';
      return;
    }
    ship(t.subs, at());
    t.status = 'WAIT_BUYER_CONFIRM_GOODS';
    if (q < 0.75) return;
    if (q < 0.82 && paid.length > 0) {
      this.refund(t, [paid[0]!], 'WAIT_BUYER_RETURN_GOODS', true, at());
      return;
    }
    const done = at();
    t.status = 'TRADE_FINISHED';
    for (const s of t.subs) s.status = 'TRADE_FINISHED';
    t.modifiedMs = done;
  }

  private refund(t: TradeRec, subs: SubRec[], status: string, goods: boolean, at: number): void {
    for (const s of subs) {
      const refundId = String(this.nextRefund++);
      s.refundId = refundId;
      s.refundStatus = status;
      if (status === 'SUCCESS') s.status = 'TRADE_CLOSED';
      this.refunds.set(refundId, {
        refundId,
        tid: t.tid,
        oid: s.oid,
        status,
        feeFen: this.subPayment(s) - s.mjzFen,
        hasGoodReturn: goods,
        num: s.num,
        modifiedMs: at,
      });
    }
    t.modifiedMs = at;
  }

  private closeAll(t: TradeRec): void {
    t.status = 'TRADE_CLOSED';
    for (const s of t.subs) s.status = 'TRADE_CLOSED';
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers (the sandbox's own; nothing shared with the connector)
// ---------------------------------------------------------------------------------------------

/** fen -> "12.34" */
function fen(n: number): string {
  const sign = n < 0 ? '-' : '';
  const a = Math.abs(n);
  return `${sign}${Math.trunc(a / 100)}.${String(a % 100).padStart(2, '0')}`;
}

/** Epoch ms -> `yyyy-MM-dd HH:mm:ss` at GMT+8. */
function topTime(ms: number): string {
  return new Date(ms + GMT8).toISOString().slice(0, 19).replace('T', ' ');
}

/** `yyyy-MM-dd HH:mm:ss` at GMT+8 -> epoch ms. */
function parseGmt8(s: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(s)) return undefined;
  const ms = Date.parse(`${s.replace(' ', 'T')}+08:00`);
  return Number.isNaN(ms) ? undefined : ms;
}

/** JSON as TOP writes it: id fields as bare numbers, even above 2^53. */
function writeTop(payload: unknown): string {
  return JSON.stringify(payload).replace(
    /"(tid|oid|num_iid|sku_id|refund_id|gift_item_id)":"(\d+)"/g,
    '"$1":$2',
  );
}
