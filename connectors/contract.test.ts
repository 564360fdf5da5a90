/**
 * The connector contract, checked once for every registered connector against its own sandbox
 * over real HTTP. A new platform gets these checks by adding its registry line.
 */
import http from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import axios from 'axios';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalOrderSchema } from '../src/domain/order.js';
import { apportionOrder } from '../src/domain/promotions.js';
import {
  type Clock,
  type Connector,
  ConnectorConfigError,
  type OrderPage,
  type SandboxSession,
} from './contract.js';
import { connectors, findConnector, getConnector } from './registry.js';
import { installLeakGuard } from './testing/leak-guard.js';

installLeakGuard();

const clock: Clock = { now: () => new Date() };
const deps = () => ({ http: axios.create(), log: pino({ level: 'silent' }), clock });

describe('registry', () => {
  it('has unique lower-case ids and finds each entry', () => {
    const ids = connectors.map((c) => c.descriptor.id);
    expect(ids.length).toBeGreaterThan(0);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(id).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(getConnector(id).descriptor.id).toBe(id);
    }
    expect(findConnector('nope')).toBeUndefined();
    expect(() => getConnector('nope')).toThrow(/unknown connector "nope"; known: /);
  });
});

describe.each(connectors.map((c) => [c.descriptor.id, c] as const))('contract: %s', (_id, entry) => {
  let session: SandboxSession;
  let connector: Connector;
  let generated: string[] = [];
  const hooks: {
    url: string;
    got: { headers: http.IncomingHttpHeaders; body: Buffer }[];
    server?: http.Server;
  } = {
    url: '',
    got: [],
  };

  beforeAll(async () => {
    hooks.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        hooks.got.push({ headers: req.headers, body: Buffer.concat(chunks) });
        const ack = entry.descriptor.webhook.ack;
        res
          .writeHead(ack.status, ack.contentType ? { 'content-type': ack.contentType } : {})
          .end(ack.body ?? '');
      });
    });
    await new Promise<void>((resolve) => hooks.server!.listen(0, '127.0.0.1', resolve));
    hooks.url = `http://127.0.0.1:${(hooks.server.address() as { port: number }).port}/webhooks/${entry.descriptor.id}`;
    session = await (await entry.sandbox()).start({
      webhookUrl: hooks.url,
      relaxedRateLimits: true,
      seed: 3,
    });
    connector = entry.create(session.config, deps());
    generated = await session.generateOrders(60);
  });

  afterAll(async () => {
    await session?.stop();
    await new Promise<void>((resolve) => {
      if (!hooks.server) return resolve();
      hooks.server.closeAllConnections();
      hooks.server.close(() => resolve());
    });
  });

  it('describes itself: config schema, webhook headers, limits', () => {
    const d = entry.descriptor;
    expect(d.displayName.length).toBeGreaterThan(0);
    expect(d.configSchema.safeParse({}).success).toBe(false);
    expect(d.configSchema.safeParse(session.config).success).toBe(true);
    expect(d.webhook.signatureHeader.length).toBeGreaterThan(0);
    expect(d.limits.concurrency).toBeGreaterThan(0);
    expect(d.limits.intervalCap).toBeGreaterThan(0);
    expect(d.limits.maxStockBatch).toBeGreaterThan(0);
    expect(connector.limits.maxStockBatch).toBeGreaterThan(0);
  });

  it('refuses a bad config with a config error naming the key', () => {
    expect(() => entry.create({ ...(session.config as object), bogusKey: 1 }, deps())).toThrow(
      ConnectorConfigError,
    );
    expect(() => entry.create({}, deps())).toThrow(/invalid .* config: /);
  });

  it('checkConnection succeeds against the sandbox', async () => {
    await expect(connector.checkConnection()).resolves.toMatchObject({ ok: true });
  });

  it('pulls every generated order exactly once, as valid canonical orders that add up', async () => {
    const pages: OrderPage[] = [];
    for await (const p of connector.pullOrders(null)) pages.push(p);
    expect(pages.length).toBeGreaterThan(2);
    const orders = pages.flatMap((p) => p.orders);
    const ids = orders.map((o) => o.platformOrderId);
    expect(ids).toHaveLength(new Set(ids).size);
    expect(new Set(ids)).toEqual(new Set(generated));
    expect(pages.flatMap((p) => p.rejects)).toEqual([]);
    expect(pages.slice(0, -1).every((p) => !p.caughtUp)).toBe(true);
    expect(pages.at(-1)!.caughtUp).toBe(true);
    for (const o of orders) {
      expect(o.platform).toBe(entry.descriptor.id);
      expect(canonicalOrderSchema.safeParse(o).success).toBe(true);
      expect(apportionOrder(o).issues, `order ${o.platformOrderId}`).toEqual([]);
    }
    // Pulling again from the final cursor terminates and is caught up.
    const again: OrderPage[] = [];
    for await (const p of connector.pullOrders(pages.at(-1)!.nextCursor)) again.push(p);
    expect(again.at(-1)?.caughtUp).toBe(true);
  });

  it('fetchOrder returns a pulled order, and null for an unknown one', async () => {
    const one = await connector.fetchOrder(generated[0]!);
    expect(one?.platformOrderId).toBe(generated[0]);
    await expect(connector.fetchOrder('999999999999')).resolves.toBeNull();
  });

  it('pushes stock per item: the sandbox records the good ones, a bad listing fails alone', async () => {
    const listings = session.listings().slice(0, 3);
    const before = session.stockPushes().length;
    const results = await connector.pushStock([
      { listing: listings[0]!.listing, quantity: 11 },
      { listing: { listingId: '000' }, quantity: 1 },
      { listing: listings[1]!.listing, quantity: 12 },
      { listing: listings[2]!.listing, quantity: 0 },
    ]);
    expect(results.map((r) => r.status)).toEqual(['ok', 'failed', 'ok', 'ok']);
    expect(results.map((r) => r.listing)).toEqual([
      listings[0]!.listing,
      { listingId: '000' },
      listings[1]!.listing,
      listings[2]!.listing,
    ]);
    expect(
      session
        .stockPushes()
        .slice(before)
        .map((p) => p.quantity),
    ).toEqual([11, 12, 0]);
  });

  it('reports a compare-and-set mismatch distinctly and applies nothing for it', async (ctx) => {
    if (!entry.descriptor.capabilities.compareAndSet) return ctx.skip();
    const [l] = session.listings().slice(3, 4);
    session.setQuantity(l!.listing, l!.quantity + 5);
    const before = session.stockPushes().length;
    const [r] = await connector.pushStock([{ listing: l!.listing, quantity: 1, expected: l!.quantity }]);
    expect(r).toMatchObject({ status: 'compare_mismatch', expected: l!.quantity });
    expect(session.stockPushes().length).toBe(before);
    if (entry.descriptor.capabilities.readStock) {
      const [reading] = await connector.readStock!([l!.listing]);
      expect(reading).toMatchObject({ ok: true, quantity: l!.quantity + 5 });
    }
  });

  it('confirms a shipment with tracking on an open order', async () => {
    let shipped: string | undefined;
    for (const id of generated) {
      const r = await connector.confirmShipment({
        platformOrderId: id,
        carrier: 'UPS',
        trackingNumber: `TRK-${id}`,
      });
      if (r.ok) {
        shipped = id;
        break;
      }
      expect(r.reason).toBe('nothing_to_ship');
    }
    expect(shipped).toBeDefined();
    expect(session.shipments(shipped!)).toContain(`TRK-${shipped}`);
  });

  it('verifies a webhook the sandbox signed and delivered; rejects tampered body or signature', async () => {
    const id = generated[1]!;
    const n = hooks.got.length;
    await session.deliverOrderWebhook(id);
    const raw = hooks.got[n]!;
    const ok = connector.parseWebhook({ headers: raw.headers, body: new Uint8Array(raw.body) });
    expect(ok.ok).toBe(true);
    if (!ok.ok) return;
    expect(ok.dedupeKey.startsWith(`${entry.descriptor.id}:`)).toBe(true);
    const ids = ok.events.map((e) => (e.kind === 'order' ? e.order.platformOrderId : e.platformOrderId));
    expect(ids).toContain(id);
    // The same delivery parsed twice gives the same key.
    const twice = connector.parseWebhook({ headers: raw.headers, body: raw.body });
    expect(twice.ok && twice.dedupeKey).toBe(ok.dedupeKey);

    const body = Buffer.from(raw.body);
    body.writeUInt8(body.readUInt8(Math.floor(body.length / 2)) ^ 1, Math.floor(body.length / 2));
    expect(connector.parseWebhook({ headers: raw.headers, body })).toMatchObject({ ok: false, status: 401 });
    const sigHeader = entry.descriptor.webhook.signatureHeader.toLowerCase();
    const sig = String(raw.headers[sigHeader]);
    const flipped = `${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`;
    expect(
      connector.parseWebhook({ headers: { ...raw.headers, [sigHeader]: flipped }, body: raw.body }),
    ).toMatchObject({
      ok: false,
      status: 401,
    });
    const { [sigHeader]: _dropped, ...unsigned } = raw.headers;
    expect(connector.parseWebhook({ headers: unsigned, body: raw.body })).toMatchObject({
      ok: false,
      status: 401,
    });
  });

  it('parseWebhook never throws, whatever arrives', () => {
    const sigHeader = entry.descriptor.webhook.signatureHeader;
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 512 }),
        fc.dictionary(fc.string({ maxLength: 30 }), fc.string({ maxLength: 60 }), { maxKeys: 6 }),
        fc.option(fc.string({ maxLength: 60 }), { nil: undefined }),
        (body, headers, sig) => {
          const h = sig === undefined ? headers : { ...headers, [sigHeader]: sig };
          const r = connector.parseWebhook({ headers: h, body });
          expect(typeof r.ok).toBe('boolean');
          if (!r.ok) expect([400, 401, 413]).toContain(r.status);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe.each(connectors.map((c) => [c.descriptor.id, c] as const))('sandbox catalog: %s', (_id, entry) => {
  let session: SandboxSession;
  let connector: Connector;

  beforeAll(async () => {
    session = await (await entry.sandbox()).start({ relaxedRateLimits: true, seed: 5 });
    connector = entry.create(session.config, deps());
  });

  afterAll(async () => {
    await session?.stop();
  });

  it('has one non-empty, unique 商家编码 per entry', () => {
    const catalog = session.catalog();
    expect(catalog.length).toBeGreaterThan(0);
    const codes = catalog.map((c) => c.skuCode);
    for (const c of catalog) {
      expect(c.skuCode.trim(), JSON.stringify(c)).not.toBe('');
      expect(c.title.trim(), JSON.stringify(c)).not.toBe('');
      expect(c.platformItemId, JSON.stringify(c)).not.toBe('');
    }
    expect(new Set(codes).size).toBe(codes.length);
    const ids = catalog.map((c) => `${c.platformItemId}\u0000${c.platformSkuId ?? ''}`);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('maps every line of the generated orders, by ids or by 商家编码', async () => {
    const catalog = session.catalog();
    const byIds = new Set(catalog.map((c) => `${c.platformItemId}\u0000${c.platformSkuId ?? ''}`));
    const byCode = new Set(catalog.map((c) => c.skuCode));
    const generated = await session.generateOrders(20);
    const orders = [];
    for await (const p of connector.pullOrders(null)) orders.push(...p.orders);
    const pulled = orders.filter((o) => generated.includes(o.platformOrderId));
    expect(new Set(pulled.map((o) => o.platformOrderId))).toEqual(new Set(generated));
    const unmapped: string[] = [];
    let checked = 0;
    for (const o of pulled) {
      for (const l of o.lines) {
        if (l.gift && !l.outerSkuId) continue;
        checked++;
        const ok =
          byIds.has(`${l.platformItemId}\u0000${l.platformSkuId ?? ''}`) ||
          (l.outerSkuId !== undefined && byCode.has(l.outerSkuId));
        if (!ok)
          unmapped.push(
            `${o.platformOrderId}/${l.lineId}: item ${l.platformItemId} sku ${l.platformSkuId} code ${l.outerSkuId}`,
          );
      }
    }
    expect(checked).toBeGreaterThan(0);
    expect(unmapped).toEqual([]);
  });

  it('gives each entry the quantity its listing holds', () => {
    const listings = session.listings();
    const catalog = session.catalog();
    let matched = 0;
    for (const c of catalog) {
      const l = listings.find((x) => isDeepStrictEqual(x.listing, c.stockRef));
      if (!l) continue;
      matched++;
      expect(c.quantity, JSON.stringify(c.stockRef)).toBe(l.quantity);
    }
    expect(matched).toBe(catalog.length);
  });

  it('names a stock ref the connector can push to', async () => {
    const [first] = session.catalog();
    const before = session.stockPushes().length;
    const results = await connector.pushStock([{ listing: first!.stockRef, quantity: 7 }]);
    expect(results).toEqual([{ listing: first!.stockRef, status: 'ok', quantity: 7 }]);
    expect(session.stockPushes().slice(before)).toEqual([{ listing: first!.stockRef, quantity: 7 }]);
    expect(session.catalog()[0]!.quantity).toBe(7);
  });
});
