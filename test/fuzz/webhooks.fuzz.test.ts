/**
 * Fuzzing `POST /webhooks/:platform/:shopId` for every registered connector, over real HTTP,
 * against one daemon on this file's database (PGlite, or PostgreSQL with TEST_DATABASE_URL).
 *
 * Each platform gets a configured shop and a fixture that signs bodies the way the platform (or
 * stockd's relay) does, with a fixed clock. The properties send arbitrary and forged deliveries
 * and validly signed but mutated ones; the shop's connector itself, built from the same config,
 * is the model of what each delivery should get. Every reply must be the ack or 400/401/404/413
 * with a JSON error naming the problem, never a 5xx; a refused delivery writes nothing, an
 * accepted one stores each of its events once (a redelivery adds nothing); no table other than
 * the inbox ever changes; and the daemon still answers /healthz and /readyz afterwards.
 *
 * A failure prints fast-check's seed and counterexample; `FUZZ_SEED=<seed>` replays the run.
 */
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import axios from 'axios';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connector, RegisteredConnector, WebhookResult } from '../../connectors/contract.js';
import { connectors } from '../../connectors/registry.js';
import { configSchema } from '../../src/config.js';
import { type Daemon, startDaemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { inboxDeliveries } from '../../src/server/webhooks.js';
import { createTestDb, onPostgres, type TestDb } from '../support/db.js';
import {
  changedTables,
  expectJsonError,
  fuzzParams,
  headerText,
  longText,
  mutateJson,
  type Reply,
  reply,
  type Snapshot,
  snapshotter,
  TAINT_ONLY,
} from '../support/fuzz.js';

const NOW = new Date('2026-11-11T08:00:00.000Z');
const clock = { now: () => NOW };
const NOW_S = Math.floor(NOW.getTime() / 1000);
/** Every shop's `maxWebhookBytes`: below the server's body limit, so both 413s are reachable. */
const MAX_WEBHOOK_BYTES = 64 * 1024;
/** `server.bodyLimitBytes` (the default). */
const SERVER_BODY_LIMIT = 1024 * 1024;
const silent = createLogger({ level: 'silent', pretty: false });

type Headers = Record<string, string>;

/** What a fixture gives the properties for one platform. */
interface PlatformFuzz {
  /** The shop's connector settings. */
  config: Record<string, unknown>;
  /** Headers that make `body` a delivery signed the way the platform (or our relay) signs it. */
  sign(body: Uint8Array): Headers;
  /** A delivery the connector accepts with at least one event. */
  valid: fc.Arbitrary<{ payload: unknown; headers: Headers }>;
  /** Headers besides the signature (topic, ids, app id, sign method), valid-looking or garbled. */
  headers: fc.Arbitrary<Headers>;
  /** Signing headers that do not sign `body`: missing, garbled, wrong key, stale, other body. */
  forged(body: Uint8Array): fc.Arbitrary<Partial<Headers>>;
}

// ---------------------------------------------------------------------------------------------
// Signing, as each platform does it (see connectors/<platform>/sandbox.ts)

const hmac = (key: string, ...parts: (string | Uint8Array)[]) => {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
};
const otherBody = (body: Uint8Array) => Buffer.concat([body, Buffer.from(' ')]);
const randomHex = (bytes: number) =>
  fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('hex'));

/** Shopify / WooCommerce: base64 HMAC-SHA256 of the raw body. */
function base64Forgeries(secret: string, body: Uint8Array): fc.Arbitrary<string | undefined> {
  const right = hmac(secret, body);
  return fc.oneof(
    fc.constant(undefined),
    fc.constant(''),
    headerText(80),
    fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('base64')),
    fc.constant(hmac(`${secret}x`, body).toString('base64')),
    fc.constant(hmac(secret, otherBody(body)).toString('base64')),
    fc.constant(right.toString('hex')),
    fc.constant(right.toString('base64').slice(0, 40)),
    fc.constant(Buffer.concat([right, Buffer.from([0])]).toString('base64')),
  );
}

/** stockd's relay scheme (Taobao TMC, PDD PMC, JD): uppercase hex HMAC over `ts\n` + body. */
function relayFixture(opts: {
  relaySecret: string;
  signatureHeader: string;
  timestampHeader: string;
  config: Record<string, unknown>;
  valid: fc.Arbitrary<unknown>;
}): PlatformFuzz {
  const { relaySecret, signatureHeader: sig, timestampHeader: ts } = opts;
  const mac = (t: string, body: Uint8Array) =>
    hmac(relaySecret, `${t}\n`, body).toString('hex').toUpperCase();
  return {
    config: { ...opts.config, relaySecret, maxWebhookBytes: MAX_WEBHOOK_BYTES },
    sign: (body) => ({ [ts]: String(NOW_S), [sig]: mac(String(NOW_S), body) }),
    valid: opts.valid.map((payload) => ({ payload, headers: {} })),
    headers: fc.constant({}),
    forged: (body) =>
      fc.oneof(
        // A wrong signature with a good timestamp.
        fc.record({
          [ts]: fc.constant(String(NOW_S)),
          [sig]: fc.oneof(
            headerText(80),
            randomHex(32).map((h) => h.toUpperCase()),
            fc.constant(mac(String(NOW_S), body).toLowerCase()),
            fc.constant(hmac(`${relaySecret}x`, `${NOW_S}\n`, body).toString('hex').toUpperCase()),
            fc.constant(mac(String(NOW_S), otherBody(body))),
            fc.constant(mac(String(NOW_S + 1), body)),
          ),
        }),
        // The right signature for a timestamp outside the skew, or a garbled timestamp.
        fc
          .oneof(
            fc.integer({ min: 301, max: 10 ** 6 }).map((d) => String(NOW_S - d)),
            fc.integer({ min: 301, max: 10 ** 6 }).map((d) => String(NOW_S + d)),
            fc.constantFrom('', 'abc', '1e9', '-5', '17311234560000', ' '),
          )
          .map((t) => ({ [ts]: t, [sig]: mac(t, body) })),
        // Missing headers.
        fc.constant({ [ts]: String(NOW_S) }),
        fc.constant({ [sig]: mac(String(NOW_S), body) }),
        fc.constant({}),
      ),
  };
}

// ---------------------------------------------------------------------------------------------
// One fixture per registered connector

function jsonFixture(path: string): Record<string, unknown> {
  const raw = JSON.parse(readFileSync(new URL(`../../connectors/${path}`, import.meta.url), 'utf8'));
  delete raw._source;
  return raw;
}

const SHOPIFY_SECRET = 'shopify-fuzz-app-secret';
const WOO_SECRET = 'woo fuzz &amp; secret';
const DOUYIN = { appKey: '7100000000000000001', appSecret: 'douyin-fuzz-app-secret' };

/** Text or object: the relays and Doudian take a message's content either way. */
const textOrObject = (a: fc.Arbitrary<unknown>) =>
  fc.tuple(a, fc.boolean()).map(([v, asText]) => (asText ? (JSON.stringify(v) ?? '') : v));

const orderId = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });

const FIXTURES: Record<string, PlatformFuzz> = {
  shopify: (() => {
    const order = jsonFixture('shopify/fixtures/order-1001.json');
    return {
      config: {
        shopDomain: 'fuzz-shop.myshopify.com',
        accessToken: 'shpat_fuzz',
        apiSecret: SHOPIFY_SECRET,
        maxWebhookBytes: MAX_WEBHOOK_BYTES,
      },
      sign: (body) => ({ 'x-shopify-hmac-sha256': hmac(SHOPIFY_SECRET, body).toString('base64') }),
      valid: fc.oneof(
        fc.tuple(orderId, fc.uuid()).map(([id, event]) => ({
          payload: { ...order, id },
          headers: { 'x-shopify-topic': 'orders/updated', 'x-shopify-event-id': event },
        })),
        fc.tuple(orderId, fc.uuid()).map(([id, event]) => ({
          payload: { id: 1, order_id: id },
          headers: { 'x-shopify-topic': 'refunds/create', 'x-shopify-event-id': event },
        })),
      ),
      headers: fc.record(
        {
          'x-shopify-topic': fc.oneof(
            fc.constantFrom(
              'orders/create',
              'orders/paid',
              'orders/cancelled',
              'refunds/create',
              'orders/edited',
            ),
            fc.constantFrom('products/update', 'app/uninstalled'),
            headerText(40),
          ),
          'x-shopify-event-id': fc.oneof(fc.uuid(), headerText(40), longText(500, 6000)),
          'x-shopify-webhook-id': fc.uuid(),
          'x-shopify-triggered-at': fc.oneof(fc.constant(NOW.toISOString()), headerText(30)),
          'x-shopify-shop-domain': fc.oneof(fc.constant('fuzz-shop.myshopify.com'), headerText(60)),
        },
        { requiredKeys: [] },
      ),
      forged: (body) =>
        base64Forgeries(SHOPIFY_SECRET, body).map((s) =>
          s === undefined ? {} : { 'x-shopify-hmac-sha256': s },
        ),
    };
  })(),

  woocommerce: (() => {
    const order = jsonFixture('woocommerce/fixtures/order-727.json');
    return {
      config: {
        storeUrl: 'https://fuzz-store.example',
        consumerKey: 'ck_fuzz',
        consumerSecret: 'cs_fuzz',
        webhookSecret: WOO_SECRET,
        maxWebhookBytes: MAX_WEBHOOK_BYTES,
      },
      sign: (body) => ({ 'x-wc-webhook-signature': hmac(WOO_SECRET, body).toString('base64') }),
      valid: fc
        .tuple(orderId, fc.date({ min: new Date('2020-01-01'), max: NOW, noInvalidDate: true }))
        .map(([id, at]) => ({
          payload: { ...order, id, date_modified_gmt: at.toISOString().slice(0, 19) },
          headers: { 'x-wc-webhook-topic': 'order.updated', 'x-wc-webhook-id': '17' },
        })),
      headers: fc.record(
        {
          'x-wc-webhook-topic': fc.oneof(
            fc.constantFrom('order.created', 'order.updated', 'order.restored', 'order.deleted'),
            fc.constantFrom('product.updated', 'action.woocommerce_order_status_changed'),
            headerText(40),
          ),
          'x-wc-webhook-id': fc.oneof(fc.nat().map(String), headerText(30), longText(500, 6000)),
          'x-wc-webhook-delivery-id': fc.oneof(randomHex(16), longText(500, 6000)),
          'x-wc-webhook-source': fc.constant('https://fuzz-store.example/'),
        },
        { requiredKeys: [] },
      ),
      forged: (body) =>
        base64Forgeries(WOO_SECRET, body).map((s) =>
          s === undefined ? {} : { 'x-wc-webhook-signature': s },
        ),
    };
  })(),

  douyin: (() => {
    const sign = (body: Uint8Array, secret = DOUYIN.appSecret) =>
      createHash('md5').update(DOUYIN.appKey).update(body).update(secret).digest('hex');
    const message = fc.record({
      tag: fc.constantFrom('100', '101', '105', '109', '110', '200', '206'),
      msg_id: fc.uuid(),
      data: textOrObject(
        fc.record({
          p_id: orderId,
          s_ids: fc.array(orderId, { maxLength: 3 }),
          shop_id: fc.constant(12345678),
          order_status: fc.integer({ min: 1, max: 5 }),
          biz: fc.constant(2),
        }),
      ),
    });
    return {
      config: {
        shopId: '12345678',
        appKey: DOUYIN.appKey,
        appSecret: DOUYIN.appSecret,
        accessToken: 'douyin-fuzz-token',
        maxWebhookBytes: MAX_WEBHOOK_BYTES,
      },
      sign: (body) => ({ 'app-id': DOUYIN.appKey, 'event-sign': sign(body) }),
      valid: fc.array(message, { minLength: 1, maxLength: 3 }).map((payload) => ({ payload, headers: {} })),
      headers: fc.record(
        { 'sign-method': fc.oneof(fc.constantFrom('md5', 'MD5', 'hmac-sha256'), headerText(20)) },
        { requiredKeys: [] },
      ),
      forged: (body) =>
        fc.oneof(
          fc.record(
            {
              'app-id': fc.oneof(fc.constant(DOUYIN.appKey), headerText(30)),
              'event-sign': fc.oneof(
                headerText(64),
                randomHex(16),
                fc.constant(sign(body, `${DOUYIN.appSecret}x`)),
                fc.constant(sign(otherBody(body))),
              ),
            },
            { requiredKeys: [] },
          ),
          // The right signature under a wrong app id or an unsupported sign method.
          fc.constant({ 'app-id': `${DOUYIN.appKey}1`, 'event-sign': sign(body) }),
          fc.constant({ 'app-id': DOUYIN.appKey, 'event-sign': sign(body), 'sign-method': 'hmac-sha256' }),
        ),
    };
  })(),

  taobao: relayFixture({
    relaySecret: 'taobao-relay-fuzz-secret-0123',
    signatureHeader: 'x-top-relay-signature',
    timestampHeader: 'x-top-relay-timestamp',
    config: {
      sellerNick: 'fuzz-nick',
      appKey: '12345678',
      appSecret: 'tb-fuzz-secret',
      session: 'tb-session',
    },
    valid: fc.record({
      id: fc.oneof(orderId, fc.uuid()),
      topic: fc.constantFrom(
        'taobao_trade_TradeCreate',
        'taobao_trade_TradeBuyerPay',
        'taobao_refund_RefundCreated',
      ),
      pub_time: fc.constant('2026-11-11 16:00:00'),
      pub_app_key: fc.constant('12345678'),
      user_id: fc.constant(2200000000001),
      user_nick: fc.constant('fuzz-nick'),
      content: textOrObject(
        fc.record({
          tid: orderId,
          seller_nick: fc.constant('fuzz-nick'),
          status: fc.constant('WAIT_SELLER_SEND_GOODS'),
        }),
      ),
    }),
  }),

  pinduoduo: relayFixture({
    relaySecret: 'pdd-relay-fuzz-secret-0123456',
    signatureHeader: 'x-pdd-relay-signature',
    timestampHeader: 'x-pdd-relay-timestamp',
    config: {
      mallId: '9000001',
      clientId: 'pdd-client',
      clientSecret: 'pdd-secret',
      accessToken: 'pdd-token',
    },
    valid: fc.record({
      id: fc.oneof(orderId, fc.uuid()),
      commandType: fc.constant('Common'),
      time: fc.constant(NOW.getTime()),
      sendTime: fc.constant(NOW.getTime()),
      message: fc.record({
        type: fc.constantFrom(
          'pdd_trade_TradeConfirmed',
          'pdd_trade_TradeSellerShip',
          'pdd_refund_RefundCreated',
        ),
        mallID: fc.constant(9000001),
        content: textOrObject(
          fc.record({
            tid: fc.tuple(fc.integer({ min: 100000, max: 999999 }), orderId).map(([d, n]) => `${d}-${n}`),
            mall_id: fc.constant(9000001),
          }),
        ),
      }),
    }),
  }),

  jd: relayFixture({
    relaySecret: 'jd-relay-fuzz-secret-01234567',
    signatureHeader: 'x-jd-relay-signature',
    timestampHeader: 'x-jd-relay-timestamp',
    config: { venderId: '10001', appKey: 'jd-app', appSecret: 'jd-secret', accessToken: 'jd-token' },
    valid: fc.record({
      id: fc.uuid().map((u) => `jdmsg-${u}`),
      topic: fc.constantFrom('jingdong_order_Create', 'jingdong_afs_Created', 'jingdong_refund_Apply'),
      venderId: fc.constant('10001'),
      timestamp: fc.constant('2026-11-11 16:00:00'),
      content: textOrObject(
        fc.record({
          orderId: orderId.map(String),
          venderId: fc.constant('10001'),
          orderState: fc.constant('WAIT_SELLER_STOCK_OUT'),
        }),
      ),
    }),
  }),
};

// ---------------------------------------------------------------------------------------------
// The daemon and the model

interface Target {
  id: string;
  shopId: string;
  registered: RegisteredConnector;
  fx: PlatformFuzz;
  /** The same connector as the daemon's, as the model of each reply. */
  model: Connector;
  accepted: number;
}

let own: TestDb | undefined;
let daemon: Daemon;
let targets: Target[];
let snapshot: () => Promise<Snapshot>;
/** Inbox keys stored so far (`shop|key`), to tell a new event from a duplicate. */
const storedKeys = new Set<string>();

beforeAll(async () => {
  const missing = connectors.map((c) => c.descriptor.id).filter((id) => !FIXTURES[id]);
  expect(missing, 'each registered connector needs a fuzz fixture in FIXTURES').toEqual([]);
  own = onPostgres ? await createTestDb({ migrate: false }) : undefined;
  targets = connectors.map((registered) => {
    const id = registered.descriptor.id;
    const fx = FIXTURES[id]!;
    // The fixture signs in the header the connector declares.
    expect(Object.keys(fx.sign(Buffer.from('{}'))), id).toContain(
      registered.descriptor.webhook.signatureHeader.toLowerCase(),
    );
    const model = registered.create(fx.config, { http: axios.create(), log: silent, clock });
    // Counterexamples print the platform, not the connector inside.
    return { id, shopId: `${id}-fuzz`, registered, fx, model, accepted: 0, [fc.toStringMethod]: () => id };
  });
  const config = configSchema.parse({
    server: { host: '127.0.0.1', port: 0, bodyLimitBytes: SERVER_BODY_LIMIT },
    database: { url: own?.url ?? 'pglite:memory' },
    log: { level: 'silent' },
    // Nothing processes the inbox here: a re-fetch hint would call the platform.
    sync: { enabled: false },
    shops: targets.map((t) => ({ id: t.shopId, platform: t.id, warehouses: ['FZ'], connector: t.fx.config })),
  });
  daemon = await startDaemon(config, silent, { clock });
  snapshot = await snapshotter(daemon.db);
});

afterAll(async () => {
  await daemon?.stop();
  await own?.drop();
});

const inboxCount = async () =>
  Number(
    (
      await daemon.db.withSession((s) => s.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM inbox_event'))
    )[0]!.n,
  );

async function post(path: string, body: Uint8Array, headers: Headers): Promise<Reply> {
  return reply(await fetch(`${daemon.url}${path}`, { method: 'POST', headers, body }));
}

/**
 * POSTs `chunks` on a connection of its own (node:http): the server may answer an oversized
 * upload early and close the connection, which would break a pooled `fetch` connection.
 */
function rawPost(path: string, chunks: Buffer[], headers: Headers): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${daemon.url}${path}`, { method: 'POST', headers, agent: false }, (res) => {
      const got: Buffer[] = [];
      res.on('data', (b: Buffer) => got.push(b));
      res.on('end', () => {
        const text = Buffer.concat(got).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({
          status: res.statusCode ?? 0,
          contentType: String(res.headers['content-type'] ?? ''),
          text,
          json,
        });
      });
      res.on('error', reject);
    });
    // The server may stop reading once it has answered: a write error after the reply is expected.
    req.on('error', (err) => setTimeout(() => reject(err), 100));
    for (const c of chunks) req.write(c);
    req.end();
  });
}

const bytesOf = (payload: unknown) => Buffer.from(JSON.stringify(payload) ?? '', 'utf8');

const contentType = fc.option(
  fc.oneof(
    fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=fuzz',
      'application/octet-stream',
    ),
    headerText(60),
  ),
  { nil: undefined },
);

/**
 * Records the inbox keys of an accepted delivery (one per event, as the router derives them);
 * returns how many were not stored before.
 */
function remember(t: Target, accepted: WebhookResult): number {
  if (!accepted.ok) return 0;
  let fresh = 0;
  for (const d of inboxDeliveries(t.shopId, accepted)) {
    const key = `${t.shopId}|${d.dedupeKey}`;
    if (!storedKeys.has(key)) fresh++;
    storedKeys.add(key);
  }
  return fresh;
}

/**
 * Sends one delivery and checks the reply against the model: the ack and each new event stored
 * once (a redelivery adds nothing), or the model's refusal with nothing stored. Never a 5xx.
 */
async function deliver(t: Target, body: Uint8Array, headers: Headers): Promise<WebhookResult> {
  const expected = t.model.parseWebhook({ headers, body });
  const before = await inboxCount();
  const r = await post(`/webhooks/${t.id}/${t.shopId}`, body, headers);
  const what = `${t.id}: ${r.status} ${r.text.slice(0, 300)}`;
  expect(r.status, what).toBeLessThan(500);
  const ack = t.registered.descriptor.webhook.ack;
  if (expected.ok) {
    expect(r.status, what).toBe(ack.status);
    if (ack.body !== undefined) expect(r.text, what).toBe(ack.body);
    const fresh = remember(t, expected);
    expect(await inboxCount(), `${what}: stored`).toBe(before + fresh);
    t.accepted++;
    const again = await post(`/webhooks/${t.id}/${t.shopId}`, body, headers);
    expect(again.status, `${t.id}: redelivery`).toBe(ack.status);
    expect(await inboxCount(), `${what}: redelivery stored again`).toBe(before + fresh);
  } else {
    expect([400, 401, 413], what).toContain(r.status);
    expect(r.status, what).toBe(expected.status);
    expectJsonError(r, what);
    expect(r.json, what).toMatchObject({ error: 'webhook_rejected', message: expected.error });
    expect(await inboxCount(), `${what}: a refused delivery stored something`).toBe(before);
  }
  return expected;
}

/** Runs `body` and then checks that no table but the inbox changed and the daemon still answers. */
async function onlyInboxChanges(body: () => Promise<void>): Promise<void> {
  const before = await snapshot();
  await body();
  expect(changedTables(before, await snapshot(), ['inbox_event'])).toEqual([]);
  expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
}

const target = () => fc.integer({ min: 0, max: connectors.length - 1 }).map((i) => targets[i]!);

describe('webhook fuzzing', () => {
  it('validly signed deliveries, as sent and with mutated fields, are stored once or refused with 400/413', async () => {
    await onlyInboxChanges(async () => {
      type Kind = 'valid' | 'mutated' | 'tainted' | 'headers' | 'huge';
      const signedDelivery = target().chain((t) =>
        t.fx.valid.chain((v) => {
          const as =
            (kind: Kind) =>
            (payload: unknown, headers: Headers = v.headers) => ({ kind, payload, headers });
          return fc.record({
            t: fc.constant(t),
            d: fc.oneof(
              fc.constant(as('valid')(v.payload)),
              {
                arbitrary: fc
                  .tuple(mutateJson(v.payload, 1, 4), fc.oneof(fc.constant(v.headers), t.fx.headers))
                  .map(([p, h]) => as('mutated')(p, h)),
                weight: 2,
              },
              { arbitrary: mutateJson(v.payload, 1, 2, TAINT_ONLY).map((p) => as('tainted')(p)), weight: 2 },
              t.fx.headers.map((h) => as('headers')(v.payload, { ...v.headers, ...h })),
              fc
                .integer({ min: MAX_WEBHOOK_BYTES + 1, max: MAX_WEBHOOK_BYTES + 4096 })
                .map((n) => as('huge')([v.payload, 'y'.repeat(n)])),
            ),
            contentType,
          });
        }),
      );
      await fc.assert(
        fc.asyncProperty(signedDelivery, async ({ t, d, contentType: type }) => {
          const body = bytesOf(d.payload);
          const all = { ...d.headers, ...(type ? { 'content-type': type } : {}), ...t.fx.sign(body) };
          const result = await deliver(t, body, all);
          if (d.kind === 'valid') {
            expect(result.ok && result.events.length > 0, `${t.id}: the fixture's valid delivery`).toBe(true);
          }
          if (d.kind === 'huge') expect(result).toMatchObject({ ok: false, status: 413 });
        }),
        fuzzParams(300),
      );
    });
    // Every platform took some deliveries, so the refusals above are not all the test saw.
    expect(targets.filter((t) => t.accepted === 0).map((t) => t.id)).toEqual([]);
  });

  it('arbitrary bodies with missing, garbled or wrong signatures are refused and store nothing', async () => {
    const before = await snapshot();
    const anyBody = (t: Target) =>
      fc.oneof(
        fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)),
        fc.json({ maxDepth: 4 }).map((s) => Buffer.from(s)),
        fc.string({ unit: 'binary', maxLength: 400 }).map((s) => Buffer.from(s)),
        t.fx.valid.chain((v) => mutateJson(v.payload, 0, 3)).map(bytesOf),
        fc.constantFrom(Buffer.from('webhook_id=17'), Buffer.alloc(0), Buffer.from('null')),
        fc
          .integer({ min: MAX_WEBHOOK_BYTES - 16, max: MAX_WEBHOOK_BYTES + 4096 })
          .map((n) => Buffer.alloc(n, 0x7b)),
      );
    const forgedDelivery = target().chain((t) =>
      anyBody(t).chain((body) =>
        fc.record({
          t: fc.constant(t),
          body: fc.constant(body),
          headers: t.fx.headers,
          forged: t.fx.forged(body),
          contentType,
        }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(forgedDelivery, async ({ t, body, headers, forged, contentType: type }) => {
        const all: Headers = { ...headers, ...(type ? { 'content-type': type } : {}) };
        for (const [k, v] of Object.entries(forged)) if (v !== undefined) all[k] = v;
        const result = await deliver(t, body, all);
        // The one unsigned delivery a platform may send: WooCommerce's ping, which stores nothing.
        const ping =
          t.id === 'woocommerce' &&
          !all['x-wc-webhook-signature'] &&
          /^webhook_id=\d+$/.test(body.toString());
        expect(result.ok, `${t.id}: forged delivery accepted`).toBe(ping);
      }),
      fuzzParams(300),
    );
    expect(changedTables(before, await snapshot())).toEqual([]);
    expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
  });

  it('unknown platforms, unknown shops and a shop under another platform are 404, whatever the path', async () => {
    const before = await snapshot();
    const segment = fc.oneof(
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
      fc.constantFrom(
        'shopify',
        'taobao',
        'amazon',
        'douyin-fuzz',
        'shopify-fuzz',
        '%',
        '%zz',
        ' ',
        '..',
        'a/b',
      ),
      headerText(300),
    );
    const route = fc.oneof(
      fc.tuple(target(), segment).map(([t, shop]) => [t.id, shop] as const),
      fc.tuple(segment, target()).map(([p, t]) => [p, t.shopId] as const),
      fc.tuple(target(), target()).map(([a, b]) => [a.id, b.shopId] as const),
      fc.tuple(segment, segment),
    );
    await fc.assert(
      fc.asyncProperty(route, fc.uint8Array({ maxLength: 256 }), async ([platform, shop], body) => {
        const known = targets.some((t) => t.id === platform && t.shopId === shop);
        fc.pre(!known);
        const path = `/webhooks/${encodeURIComponent(platform)}/${encodeURIComponent(shop)}`;
        const r = await post(path, body, { 'content-type': 'application/json' });
        const what = `${path}: ${r.status} ${r.text.slice(0, 200)}`;
        // A NUL in the URL is refused (400) before routing.
        expect(r.status, what).toBe(path.includes('%00') ? 400 : 404);
        expectJsonError(r, what);
      }),
      fuzzParams(100),
    );
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
      const t = targets[0]!;
      const r = await reply(await fetch(`${daemon.url}/webhooks/${t.id}/${t.shopId}`, { method }));
      expect(r.status, method).toBe(404);
      expectJsonError(r, method);
    }
    expect(changedTables(before, await snapshot())).toEqual([]);
  });

  it('huge and deeply nested bodies: 413 past the limits, never a 5xx', async () => {
    await onlyInboxChanges(async () => {
      const deep = Buffer.from(`${'['.repeat(200_000)}${']'.repeat(200_000)}`);
      const deepField = Buffer.from(`{"id":1,"order_id":${'['.repeat(20_000)}1${']'.repeat(20_000)}}`);
      for (const t of targets) {
        // Past the server's limit, with a Content-Length or chunked without one: refused by the
        // app before the connector sees it.
        for (const chunks of [
          [SERVER_BODY_LIMIT + 1],
          [3 * SERVER_BODY_LIMIT],
          [512 * 1024, 512 * 1024, 16],
        ]) {
          const big = chunks.map((n) => Buffer.alloc(n, 0x20));
          const chunked = big.length > 1;
          const r = await rawPost(`/webhooks/${t.id}/${t.shopId}`, big, {
            ...t.fx.sign(Buffer.concat(big)),
            ...(chunked ? {} : { 'content-length': String(chunks[0]) }),
          });
          const what = `${t.id}: ${chunks.join('+')} bytes${chunked ? ', chunked' : ''}`;
          expect(r.status, what).toBe(413);
          expectJsonError(r, what);
          expect(r.json.error, what).toBe('payload_too_large');
        }
        // Deep nesting, validly signed: parsed or refused, never a crash.
        for (const body of [deep, deepField]) {
          const { headers } = fc.sample(t.fx.valid, { numRuns: 1, seed: 1 })[0]!;
          await deliver(t, body, { ...headers, ...t.fx.sign(body) });
        }
      }
    });
  });

  it('ids and text the database cannot hold as they are (long, NUL, half a surrogate pair) are stored once', async () => {
    const byId = new Map(targets.map((t) => [t.id, t]));
    const sample = <T>(a: fc.Arbitrary<T>) => fc.sample(a, 1)[0]!;
    const cases: { t: Target; payload: unknown; headers: Headers }[] = [];
    const shopify = byId.get('shopify');
    if (shopify) {
      const v = sample(shopify.fx.valid.filter((x) => x.headers['x-shopify-topic'] === 'orders/updated'));
      const order = v.payload as { line_items: { title: string }[] };
      for (const bad of ['\u0000', '\ud800', '\udfff']) {
        const p = structuredClone(order);
        p.line_items[0]!.title = `IPod${bad}Nano`;
        cases.push({
          t: shopify,
          payload: p,
          headers: { ...v.headers, 'x-shopify-event-id': sample(fc.uuid()) },
        });
      }
      cases.push({
        t: shopify,
        payload: order,
        headers: { ...v.headers, 'x-shopify-event-id': sample(longText(6000, 7000)) },
      });
    }
    const woo = byId.get('woocommerce');
    if (woo) {
      const v = sample(woo.fx.valid);
      cases.push({
        t: woo,
        payload: v.payload,
        headers: { ...v.headers, 'x-wc-webhook-id': sample(longText(6000, 7000)) },
      });
    }
    const douyin = byId.get('douyin');
    if (douyin) {
      const v = sample(douyin.fx.valid);
      const [m] = v.payload as { msg_id: string }[];
      cases.push({ t: douyin, payload: [{ ...m, msg_id: 'msg\u0000\ud800' }], headers: v.headers });
    }
    for (const id of ['taobao', 'pinduoduo', 'jd']) {
      const t = byId.get(id);
      if (!t) continue;
      const v = sample(t.fx.valid) as { payload: Record<string, unknown>; headers: Headers };
      const withTopic = (topic: string) =>
        id === 'pinduoduo'
          ? { ...v.payload, message: { ...(v.payload.message as object), type: topic } }
          : { ...v.payload, topic };
      const topic = id === 'pinduoduo' ? 'pdd_trade_X' : id === 'taobao' ? 'taobao_trade_X' : 'jd_order_X';
      cases.push({ t, payload: { ...v.payload, id: sample(longText(6000, 7000)) }, headers: v.headers });
      cases.push({ t, payload: { ...v.payload, id: 'id\u0000' }, headers: v.headers });
      cases.push({
        t,
        payload: { ...withTopic(`${topic}\u0000`), id: sample(fc.uuid()) },
        headers: v.headers,
      });
      cases.push({
        t,
        payload: { ...withTopic(`${topic}\ud800`), id: sample(fc.uuid()) },
        headers: v.headers,
      });
    }
    await onlyInboxChanges(async () => {
      for (const c of cases) {
        const body = bytesOf(c.payload);
        const result = await deliver(c.t, body, { ...c.headers, ...c.t.fx.sign(body) });
        expect(result.ok && result.events.length > 0, `${c.t.id}: ${body.toString().slice(0, 200)}`).toBe(
          true,
        );
      }
    });
  });

  it('the same delivery sent twice at once is stored once', async () => {
    for (const t of targets) {
      const { payload, headers } = fc.sample(t.fx.valid, 1)[0]!;
      const body = bytesOf(payload);
      const all = { ...headers, ...t.fx.sign(body) };
      const expected = t.model.parseWebhook({ headers: all, body });
      expect(expected.ok && expected.events.length > 0, t.id).toBe(true);
      const before = await inboxCount();
      const [a, b] = await Promise.all([
        post(`/webhooks/${t.id}/${t.shopId}`, body, all),
        post(`/webhooks/${t.id}/${t.shopId}`, body, all),
      ]);
      const ack = t.registered.descriptor.webhook.ack.status;
      expect([a.status, b.status], `${t.id}: ${a.text} ${b.text}`).toEqual([ack, ack]);
      expect(await inboxCount(), t.id).toBe(before + remember(t, expected));
    }
  });

  it('the daemon still answers /healthz and /readyz', async () => {
    expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${daemon.url}/readyz`)).status).toBe(200);
  });
});
