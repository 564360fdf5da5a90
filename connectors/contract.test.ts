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
import type { CanonicalOrder } from '../src/domain/order.js';
import { canonicalOrderSchema } from '../src/domain/order.js';
import { apportionOrder } from '../src/domain/promotions.js';
import {
  type Clock,
  type Connector,
  ConnectorConfigError,
  ConnectorError,
  type ListingRef,
  type OrderPage,
  type RegisteredConnector,
  type SandboxSession,
} from './contract.js';
import { connectors, findConnector, getConnector } from './registry.js';
import { installLeakGuard } from './testing/leak-guard.js';

installLeakGuard();

const clock: Clock = { now: () => new Date() };
const deps = () => ({ http: axios.create(), log: pino({ level: 'silent' }), clock });
/**
 * Five minutes ahead: a pull made "later", past every connector's indexing lag (PDD keeps its
 * window ends at least 3 minutes behind now), so orders placed just now are in its windows. Less
 * than every overlap (>= 5 minutes), so an incremental pull still re-reads from before now.
 */
const later: Clock = { now: () => new Date(Date.now() + 5 * 60_000) };

/** A webhook receiver answering with the platform's expected ack; records what it got. */
async function startReceiver(entry: RegisteredConnector): Promise<{
  url: string;
  got: { headers: http.IncomingHttpHeaders; body: Buffer }[];
  stop(): Promise<void>;
}> {
  const got: { headers: http.IncomingHttpHeaders; body: Buffer }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks) });
      const ack = entry.descriptor.webhook.ack;
      res
        .writeHead(ack.status, ack.contentType ? { 'content-type': ack.contentType } : {})
        .end(ack.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/webhooks/${entry.descriptor.id}`,
    got,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Every order a pull from `cursor` yields, and the last cursor. */
async function pullAll(
  connector: Connector,
  cursor: string | null,
  options: { skipOverlap?: boolean } = {},
): Promise<{ orders: CanonicalOrder[]; cursor: string | null }> {
  const orders: CanonicalOrder[] = [];
  let next = cursor;
  for await (const p of connector.pullOrders(cursor, options)) {
    orders.push(...p.orders);
    next = p.nextCursor;
  }
  return { orders, cursor: next };
}

const refKey = (l: ListingRef) => `${l.listingId}@${l.locationId ?? ''}`;

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
    // Pulling again from the final cursor terminates and is caught up; it re-reads the overlap,
    // unless asked to skip it (a hint-driven pull): then nothing already read comes back.
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

describe.each(connectors.map((c) => [c.descriptor.id, c] as const))(
  'sandbox stock and faults: %s',
  (_id, entry) => {
    let session: SandboxSession;
    let connector: Connector;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;

    beforeAll(async () => {
      receiver = await startReceiver(entry);
      session = await (await entry.sandbox()).start({
        webhookUrl: receiver.url,
        relaxedRateLimits: true,
        seed: 11,
      });
      connector = entry.create(session.config, { ...deps(), clock: later });
    });

    afterAll(async () => {
      await session?.stop();
      await receiver?.stop();
    });

    it('generated orders take their units from the platform quantity and never oversell; same seed, same orders', async () => {
      const catalog = session.catalog();
      for (const c of catalog) session.setQuantity(c.stockRef, 4);
      const before = new Map(session.listings().map((l) => [refKey(l.listing), l.quantity]));
      const twin = await (await entry.sandbox()).start({ relaxedRateLimits: true, seed: 11 });
      try {
        for (const c of catalog) twin.setQuantity(c.stockRef, 4);
        const ids = await session.generateOrders(40);
        expect(ids.length).toBeGreaterThan(0);
        expect(await twin.generateOrders(40)).toEqual(ids);
        expect(twin.listings()).toEqual(session.listings());
      } finally {
        await twin.stop();
      }
      const after = session.listings();
      for (const l of after) expect(l.quantity, refKey(l.listing)).toBeGreaterThanOrEqual(0);

      // What the platform took = the units on the lines of the orders still standing (a cancelled
      // order gave its units back), per catalog listing.
      const { orders } = await pullAll(connector, null);
      expect(orders.length).toBeGreaterThan(0);
      const byIds = new Map(catalog.map((c) => [`${c.platformItemId}\u0000${c.platformSkuId ?? ''}`, c]));
      const byCode = new Map(catalog.map((c) => [c.skuCode, c]));
      const sold = new Map<string, number>();
      const unmapped: string[] = [];
      for (const o of orders) {
        if (o.status === 'cancelled') continue;
        for (const l of o.lines) {
          const c =
            byIds.get(`${l.platformItemId}\u0000${l.platformSkuId ?? ''}`) ??
            (l.outerSkuId === undefined ? undefined : byCode.get(l.outerSkuId));
          if (!c) unmapped.push(`${o.platformOrderId}/${l.lineId}`);
          else sold.set(refKey(c.stockRef), (sold.get(refKey(c.stockRef)) ?? 0) + l.quantity);
        }
      }
      expect(unmapped).toEqual([]);
      expect([...sold.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      // Some were cancelled by the sandbox's lifecycle: their units are back (not counted as sold).
      expect(orders.some((o) => o.status === 'cancelled')).toBe(true);
      for (const l of after) {
        const k = refKey(l.listing);
        expect(before.get(k)! - l.quantity, k).toBe(sold.get(k) ?? 0);
      }
      // The opening stock ran out somewhere: lines were left out rather than oversold.
      expect(catalog.some((c) => session.quantity(c.stockRef) === 0)).toBe(true);
    });

    it('generating never fails nor oversells, whatever the seed and the (small) opening stock', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 2 ** 31 - 1 }),
          fc.integer({ min: 0, max: 3 }),
          fc.integer({ min: 1, max: 25 }),
          async (seed, opening, count) => {
            const s = await (await entry.sandbox()).start({ relaxedRateLimits: true, seed });
            try {
              for (const c of s.catalog()) s.setQuantity(c.stockRef, opening);
              const ids = await s.generateOrders(count);
              expect(ids.length).toBeLessThanOrEqual(count);
              if (opening === 0) expect(ids).toEqual([]);
              for (const c of s.catalog()) {
                expect(s.quantity(c.stockRef)).toBeGreaterThanOrEqual(0);
                expect(s.quantity(c.stockRef)).toBeLessThanOrEqual(opening);
              }
            } finally {
              await s.stop();
            }
          },
        ),
        { numRuns: 10 },
      );
    });

    it('sell takes the units; the pull and fetchOrder find the order with its quantity; no webhook unless asked', async () => {
      const [c] = session.catalog();
      session.setQuantity(c!.stockRef, 5);
      const delivered = receiver.got.length;
      const id = await session.sell(c!.stockRef, 2);
      expect(session.quantity(c!.stockRef)).toBe(3);
      expect(session.listings().find((l) => refKey(l.listing) === refKey(c!.stockRef))?.quantity).toBe(3);
      expect(receiver.got.length).toBe(delivered);

      const fetched = await connector.fetchOrder(id);
      expect(fetched).toMatchObject({ platformOrderId: id, status: 'paid' });
      expect(fetched!.lines.map((l) => [l.platformItemId, l.quantity])).toEqual([[c!.platformItemId, 2]]);
      const pulled = (await pullAll(connector, null)).orders.find((o) => o.platformOrderId === id);
      expect(pulled).toMatchObject({ status: 'paid' });
      expect(pulled!.lines.map((l) => l.quantity)).toEqual([2]);

      // The platform does not sell what it does not hold: nothing placed, nothing taken.
      await expect(session.sell(c!.stockRef, 4)).rejects.toThrow(/only 3/);
      expect(session.quantity(c!.stockRef)).toBe(3);

      const announced = await session.sell(c!.stockRef, 1, { notify: true });
      expect(session.quantity(c!.stockRef)).toBe(2);
      expect(receiver.got.length).toBe(delivered + 1);
      const hook = receiver.got.at(-1)!;
      // Parsed by a connector on the real clock: relayed messages carry a timestamp checked for skew.
      const parsed = entry
        .create(session.config, deps())
        .parseWebhook({ headers: hook.headers, body: new Uint8Array(hook.body) });
      expect(parsed.ok).toBe(true);
      if (parsed.ok) {
        const ids = parsed.events.map((e) =>
          e.kind === 'order' ? e.order.platformOrderId : e.platformOrderId,
        );
        expect(ids).toContain(announced);
      }
    });

    it('cancel gives the units back, and an incremental pull sees the order cancelled', async () => {
      const [, c] = session.catalog();
      session.setQuantity(c!.stockRef, 4);
      const id = await session.sell(c!.stockRef, 3);
      expect(session.quantity(c!.stockRef)).toBe(1);
      const first = await pullAll(connector, null);
      expect(first.orders.find((o) => o.platformOrderId === id)?.status).toBe('paid');

      await session.cancel(id);
      expect(session.quantity(c!.stockRef)).toBe(4);
      const again = await pullAll(connector, first.cursor);
      expect(again.orders.find((o) => o.platformOrderId === id)?.status).toBe('cancelled');
      await expect(session.cancel(id)).rejects.toThrow();
      expect(session.quantity(c!.stockRef)).toBe(4);
    });

    it('a pull re-reads the overlap before its cursor, unless told to skip it', async () => {
      const [, , c] = session.catalog();
      session.setQuantity(c!.stockRef, 4);
      const older = await session.sell(c!.stockRef, 1);
      // Into the next second: a connector whose watermark is the newest change it read
      // (Shopify) re-reads that instant even without the overlap.
      await new Promise((r) => setTimeout(r, 1100));
      const newer = await session.sell(c!.stockRef, 1);
      const { cursor } = await pullAll(connector, null);
      const ids = async (skipOverlap: boolean) =>
        (await pullAll(connector, cursor, { skipOverlap })).orders.map((o) => o.platformOrderId);
      expect(await ids(false)).toEqual(expect.arrayContaining([older, newer]));
      expect(await ids(true)).not.toContain(older);
    });

    it('injected faults (a lost reply too) reach the connector as rate_limited or retry, never config_error; faults(null) ends them', async () => {
      const quick = entry.create(session.config, {
        ...deps(),
        http: axios.create({ timeout: 250 }),
        clock: later,
      });
      const firstPage = async (): Promise<unknown> => {
        try {
          await quick.pullOrders(null).next();
          return undefined;
        } catch (err) {
          return err;
        }
      };
      const counts = session.faultCounts();

      session.faults({ rate429: 1, retryAfterSeconds: 3 });
      const throttled = await firstPage();
      expect(throttled).toBeInstanceOf(ConnectorError);
      expect(throttled).toMatchObject({ action: 'rate_limited', status: 429, retryAfterMs: 3000 });

      session.faults({ rate500: 1 });
      expect(await firstPage()).toMatchObject({ action: 'retry', status: 500 });

      session.faults({ rateTimeout: 1, timeoutMs: 10_000 });
      const timedOut = await firstPage();
      expect(timedOut).toBeInstanceOf(ConnectorError);
      expect(timedOut).toMatchObject({ action: 'retry', status: undefined });

      session.faults({ rateMalformed: 1 });
      const malformed = await firstPage();
      expect(malformed).toBeInstanceOf(ConnectorError);
      expect((malformed as ConnectorError).action).not.toBe('config_error');

      // Served, and the answer lost with the connection: to the client, like a timeout.
      session.faults({ rateLost: 1 });
      const lost = await firstPage();
      expect(lost).toBeInstanceOf(ConnectorError);
      expect(lost).toMatchObject({ action: 'retry', status: undefined });

      // Only the API is hit unless asked otherwise.
      session.faults({ rate500: 1 });
      const elsewhere = await axios.get(`${session.url}/not-the-api`, { validateStatus: () => true });
      expect(elsewhere.status).not.toBe(500);
      session.faults({ rate500: 1, only: 'all' });
      expect((await axios.get(`${session.url}/not-the-api`, { validateStatus: () => true })).status).toBe(
        500,
      );

      session.faults(null);
      await expect(quick.checkConnection()).resolves.toMatchObject({ ok: true });
      await expect(quick.pullOrders(null).next()).resolves.toMatchObject({ done: false });
      expect(session.faultCounts()).toEqual({
        '429': counts['429'] + 1,
        '500': counts['500'] + 2,
        timeout: counts.timeout + 1,
        malformed: counts.malformed + 1,
        lost: counts.lost + 1,
      });
      expect(() => session.faults({ rate500: 2 })).toThrow(RangeError);
    });
  },
);
